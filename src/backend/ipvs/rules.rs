//! IPVS mode's iptables rules: a constant set (it depends on the flags, never on the
//! services) that matches the ipsets of [`super::sets`], in kube-proxy's IPVS-mode layout and
//! in the exact text `iptables-save` prints, so the iptables executor's plan can compare it
//! with the kernel.
//!
//! What they do: masquerade off-cluster traffic to cluster IPs, NodePort traffic (unless
//! `externalTrafficPolicy: Local`), load-balancer traffic and hairpin traffic; refuse new
//! connections to service ports without endpoints, and to kube-ipvs0 addresses on ports
//! that are not services (kubernetes#72236).

use std::sync::Arc;

use super::sets::IpvsSet;
use crate::backend::iptables::names::is_owned_chain;
use crate::model::{LocalTraffic, Protocol};
use crate::netfilter::iptables::chains::{
    KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_POSTROUTING, KUBE_SERVICES, comment, forward_jump, jump,
    masquerade_chains, masquerade_mark, postrouting_jump, service_portal_jumps,
};
use crate::netfilter::iptables::local_match::if_not_local;
use crate::netfilter::iptables::ruleset::{Chain, Jump, Ruleset, Table};

/// nat: NodePort traffic, entered for local destinations.
pub const KUBE_NODE_PORT: &str = "KUBE-NODE-PORT";
/// nat: load-balancer traffic.
pub const KUBE_LOAD_BALANCER: &str = "KUBE-LOAD-BALANCER";
/// filter: refuses what IPVS would not serve.
pub const KUBE_IPVS_FILTER: &str = "KUBE-IPVS-FILTER";
/// filter: load-balancer IPs with source ranges go on to [`KUBE_SOURCE_RANGES_FIREWALL`].
pub const KUBE_PROXY_FIREWALL: &str = "KUBE-PROXY-FIREWALL";
/// filter: lets the allowed sources through, drops the rest.
pub const KUBE_SOURCE_RANGES_FIREWALL: &str = "KUBE-SOURCE-RANGES-FIREWALL";

/// The chains IPVS mode writes, in the order it writes them.
pub const IPVS_CHAINS: &[(Table, &str)] = &[
    (Table::Filter, KUBE_IPVS_FILTER),
    (Table::Filter, KUBE_FORWARD),
    (Table::Filter, KUBE_NODE_PORT),
    (Table::Filter, KUBE_PROXY_FIREWALL),
    (Table::Filter, KUBE_SOURCE_RANGES_FIREWALL),
    (Table::Nat, KUBE_SERVICES),
    (Table::Nat, KUBE_NODE_PORT),
    (Table::Nat, KUBE_LOAD_BALANCER),
    (Table::Nat, KUBE_POSTROUTING),
    (Table::Nat, KUBE_MARK_MASQ),
];

/// Chains kube-proxy's IPVS mode creates that kproxy does not (the per-service rules that
/// keep the node itself from load-balancer IPs whose source ranges leave it out): removed
/// when kproxy takes over a node.
const KUBE_PROXY_ONLY: &[(Table, &str)] = &[(Table::Filter, "KUBE-IPVS-OUT-FILTER")];

/// Whether IPVS mode owns a chain: its own, and iptables mode's (whose chains a switch of
/// mode must remove, as kube-proxy does).
pub fn is_owned(table: Table, name: &str) -> bool {
    is_owned_chain(table, name) || is_ipvs_chain(table, name)
}

/// Whether a chain is one of IPVS mode's own (kproxy's or kube-proxy's).
pub fn is_ipvs_chain(table: Table, name: &str) -> bool {
    IPVS_CHAINS
        .iter()
        .chain(KUBE_PROXY_ONLY)
        .any(|(t, n)| *t == table && *n == name)
}

/// What the flags say about masquerading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleOptions {
    /// `--masquerade-all`.
    pub masquerade_all: bool,
    /// `--iptables-masquerade-bit`.
    pub masquerade_bit: u8,
    /// `--detect-local-mode` and its setting: which clients are this node's pods.
    pub local_traffic: LocalTraffic,
}

fn set_match(set: IpvsSet, dirs: &str) -> String {
    format!("-m set --match-set {} {dirs}", set.name())
}

/// `text` and a space, or nothing.
fn prefix(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("{text} ")
    }
}

fn chain(table: Table, name: &str, rules: Vec<String>) -> Arc<Chain> {
    Arc::new(Chain::new(table, name, rules))
}

/// The whole iptables ruleset of IPVS mode.
pub fn ruleset(opts: &RuleOptions) -> Ruleset {
    let mark = masquerade_mark(opts.masquerade_bit);
    let reject = "-j REJECT --reject-with icmp-port-unreachable";
    let new = "-m conntrack --ctstate NEW";

    let mut filter = vec![format!(
        "{}{new} {} {reject}",
        comment("kproxy: service port without endpoints"),
        set_match(IpvsSet::NoEndpoints, "dst,dst")
    )];
    for set in [
        IpvsSet::LoadBalancer,
        IpvsSet::ClusterIp,
        IpvsSet::ExternalIp,
        IpvsSet::ExternalIpLocal,
    ] {
        filter.push(format!("{} -j RETURN", set_match(set, "dst,dst")));
    }
    filter.push(format!(
        "{} -j RETURN",
        set_match(IpvsSet::HealthCheckNodePort, "dst")
    ));
    filter.push(format!(
        "{}{new} {} {reject}",
        comment("kproxy: not a service port of a kube-ipvs0 address"),
        set_match(IpvsSet::IpvsIps, "dst")
    ));

    let cluster_comment = comment("Kubernetes service cluster ip + port for masquerade purpose");
    let cluster_masq = match (opts.masquerade_all, if_not_local(&opts.local_traffic)) {
        (true, _) => format!(
            "{cluster_comment}{} -j {KUBE_MARK_MASQ}",
            set_match(IpvsSet::ClusterIp, "dst,dst")
        ),
        // Off-cluster clients (not this node's pods) may have come through another node.
        (false, Some(not_local)) => format!(
            "{}{cluster_comment}{} -j {KUBE_MARK_MASQ}",
            prefix(&not_local.alone()),
            set_match(IpvsSet::ClusterIp, "dst,dst")
        ),
        // Without a detector pod traffic cannot be told apart; masquerade only what the
        // node sends from a service address (kube-proxy's rule).
        (false, None) => format!(
            "{cluster_comment}{} -j {KUBE_MARK_MASQ}",
            set_match(IpvsSet::ClusterIp, "src,dst")
        ),
    };
    let external_comment =
        comment("Kubernetes service external ip + port for masquerade and filter purpose");
    let external_local_comment =
        comment("Kubernetes service external ip + port with externalTrafficPolicy=local");
    let mut services = vec![
        "-s 127.0.0.0/8 -j RETURN".to_string(),
        format!(
            "{}{} -j {KUBE_LOAD_BALANCER}",
            comment("Kubernetes service lb portal"),
            set_match(IpvsSet::LoadBalancer, "dst,dst")
        ),
        cluster_masq,
        format!(
            "{external_comment}{} -j {KUBE_MARK_MASQ}",
            set_match(IpvsSet::ExternalIp, "dst,dst")
        ),
    ];
    for (c, set) in [
        (&external_comment, IpvsSet::ExternalIp),
        (&external_local_comment, IpvsSet::ExternalIpLocal),
    ] {
        // Accept external-IP traffic from off the node and to local addresses; the rest
        // (from pods on a bridge) falls through to IPVS unchanged.
        services.push(format!(
            "{c}{} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT",
            set_match(set, "dst,dst")
        ));
        services.push(format!(
            "{c}{} -m addrtype --dst-type LOCAL -j ACCEPT",
            set_match(set, "dst,dst")
        ));
    }
    services.push(format!("-m addrtype --dst-type LOCAL -j {KUBE_NODE_PORT}"));
    for set in [IpvsSet::ClusterIp, IpvsSet::LoadBalancer] {
        services.push(format!("{} -j ACCEPT", set_match(set, "dst,dst")));
    }

    let mut node_port = Vec::new();
    for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
        let (all, local) = IpvsSet::node_port(protocol);
        let dirs = if protocol == Protocol::Sctp {
            "dst,dst"
        } else {
            "dst"
        };
        let upper = protocol.as_str().to_uppercase();
        node_port.push(format!(
            "-p {protocol} {}{} -j RETURN",
            comment(&format!(
                "Kubernetes nodeport {upper} port with externalTrafficPolicy=local"
            )),
            set_match(local, dirs)
        ));
        node_port.push(format!(
            "-p {protocol} {}{} -j {KUBE_MARK_MASQ}",
            comment(&format!(
                "Kubernetes nodeport {upper} port for masquerade purpose"
            )),
            set_match(all, dirs)
        ));
    }

    let load_balancer = vec![
        format!(
            "{}{} -j RETURN",
            comment("Kubernetes service load balancer ip + port with externalTrafficPolicy=local"),
            set_match(IpvsSet::LoadBalancerLocal, "dst,dst")
        ),
        format!("-j {KUBE_MARK_MASQ}"),
    ];

    // Hairpin traffic (a pod reaching itself through a service) first, as kube-proxy does.
    let hairpin = format!(
        "{}{} -j MASQUERADE",
        comment("Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"),
        set_match(IpvsSet::LoopBack, "dst,dst,src")
    );
    let shared = masquerade_chains(&mark, &[], &[&hairpin]);

    let health_check = vec![format!(
        "{}{} -j ACCEPT",
        comment("Kubernetes health check node port"),
        set_match(IpvsSet::HealthCheckNodePort, "dst")
    )];
    let firewall = vec![format!(
        "{}{} -j {KUBE_SOURCE_RANGES_FIREWALL}",
        comment("Kubernetes service load balancer ip + port for load balancer with sourceRange"),
        set_match(IpvsSet::LoadBalancerFw, "dst,dst")
    )];
    let source_ranges = vec![
        format!(
            "{}{} -j RETURN",
            comment(
                "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"
            ),
            set_match(IpvsSet::LoadBalancerSourceCidr, "dst,dst,src")
        ),
        format!(
            "{}{} -j RETURN",
            comment(
                "Kubernetes service load balancer ip + port + source IP for packet filter purpose"
            ),
            set_match(IpvsSet::LoadBalancerSourceIp, "dst,dst,src")
        ),
        "-j DROP".to_string(),
    ];

    let chains = vec![
        chain(Table::Filter, KUBE_IPVS_FILTER, filter),
        shared.forward,
        chain(Table::Filter, KUBE_NODE_PORT, health_check),
        chain(Table::Filter, KUBE_PROXY_FIREWALL, firewall),
        chain(Table::Filter, KUBE_SOURCE_RANGES_FIREWALL, source_ranges),
        chain(Table::Nat, KUBE_SERVICES, services),
        chain(Table::Nat, KUBE_NODE_PORT, node_port),
        chain(Table::Nat, KUBE_LOAD_BALANCER, load_balancer),
        shared.postrouting,
        shared.mark_masq,
    ];
    Ruleset {
        chains,
        jumps: jumps(),
    }
}

/// kube-proxy's IPVS-mode jumps from the built-in chains.
fn jumps() -> Vec<Jump> {
    let mut jumps = service_portal_jumps().to_vec();
    jumps.push(postrouting_jump());
    jumps.push(forward_jump());
    jumps.push(jump(
        Table::Filter,
        "INPUT",
        "",
        "kubernetes ipvs access filter",
        KUBE_IPVS_FILTER,
    ));
    jumps.push(jump(
        Table::Filter,
        "INPUT",
        "",
        "kubernetes health check rules",
        KUBE_NODE_PORT,
    ));
    for builtin in ["INPUT", "FORWARD"] {
        jumps.push(jump(
            Table::Filter,
            builtin,
            "",
            "kube-proxy firewall rules",
            KUBE_PROXY_FIREWALL,
        ));
    }
    jumps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(cidr: Option<&str>, all: bool) -> RuleOptions {
        RuleOptions {
            masquerade_all: all,
            masquerade_bit: 14,
            local_traffic: LocalTraffic::from_cidr(cidr.map(|c| c.parse().unwrap())),
        }
    }

    #[test]
    fn the_ruleset_does_not_depend_on_services_and_every_set_is_matched() {
        let rules = ruleset(&opts(Some("10.244.0.0/16"), false));
        let text = rules.to_restore_input();
        for set in IpvsSet::ALL {
            assert!(
                text.contains(&format!("--match-set {} ", set.name())),
                "{set} is never matched"
            );
        }
        let jumps_to_own = rules.jumps.iter().all(|j| {
            IPVS_CHAINS
                .iter()
                .any(|(t, n)| *t == j.table && j.rule.ends_with(n))
        });
        assert!(jumps_to_own);
        let total: usize = rules.chains.iter().map(|c| c.rules().len()).sum();
        assert_eq!(total, 38, "a constant number of rules");
    }

    #[test]
    fn cluster_ip_masquerade_follows_the_flags() {
        let rule = |o: &RuleOptions| {
            ruleset(o)
                .chain(Table::Nat, KUBE_SERVICES)
                .unwrap()
                .rules()
                .find(|r| r.contains("KUBE-CLUSTER-IP") && r.contains(KUBE_MARK_MASQ))
                .unwrap()
                .to_string()
        };
        assert!(
            rule(&opts(Some("10.244.0.0/16"), false)).starts_with("! -s 10.244.0.0/16 -m comment")
        );
        assert!(rule(&opts(None, false)).contains("KUBE-CLUSTER-IP src,dst"));
        let all = rule(&opts(Some("10.244.0.0/16"), true));
        assert!(all.contains("KUBE-CLUSTER-IP dst,dst") && !all.contains("! -s"));
        for (local, want) in [
            (
                LocalTraffic::FromInterface("cbr0".into()),
                "! -i cbr0 -m comment",
            ),
            (
                LocalTraffic::FromInterfacePrefix("veth".into()),
                "! -i veth+ -m comment",
            ),
        ] {
            let o = RuleOptions {
                local_traffic: local,
                ..opts(None, false)
            };
            let r = rule(&o);
            assert!(
                r.starts_with(want) && r.contains("KUBE-CLUSTER-IP dst,dst"),
                "{r}"
            );
        }
    }

    #[test]
    fn ownership_covers_both_modes() {
        assert!(is_owned(Table::Nat, KUBE_NODE_PORT));
        assert!(is_owned(Table::Filter, KUBE_IPVS_FILTER));
        assert!(is_owned(Table::Nat, "KUBE-NODEPORTS"));
        assert!(is_owned(Table::Nat, "KUBE-SVC-ABCDEFGHIJKLMNOP"));
        assert!(is_owned(Table::Filter, "KUBE-EXTERNAL-SERVICES"));
        assert!(!is_owned(Table::Filter, "KUBE-FIREWALL"));
        assert!(!is_owned(Table::Nat, KUBE_IPVS_FILTER));
    }
}
