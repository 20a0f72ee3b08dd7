//! Placeholder until the compiler's chain naming lands.
use super::ruleset::Table;

pub fn is_service_chain(name: &str) -> bool {
    [
        "KUBE-SVC-",
        "KUBE-SEP-",
        "KUBE-EXT-",
        "KUBE-SVL-",
        "KUBE-FW-",
        "KUBE-XLB-",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

pub const FIXED_CHAINS: &[(Table, &str)] = &[
    (Table::Nat, "KUBE-SERVICES"),
    (Table::Nat, "KUBE-NODEPORTS"),
    (Table::Nat, "KUBE-POSTROUTING"),
    (Table::Nat, "KUBE-MARK-MASQ"),
    (Table::Filter, "KUBE-SERVICES"),
    (Table::Filter, "KUBE-EXTERNAL-SERVICES"),
    (Table::Filter, "KUBE-FORWARD"),
    (Table::Filter, "KUBE-NODEPORTS"),
    (Table::Filter, "KUBE-PROXY-FIREWALL"),
];
