//! [`LocalTraffic`] spelled as iptables matches, once for both modes (kube-proxy's
//! `IfLocal()` / `IfNotLocal()`). iptables-save prints a source address before `-d` and an
//! input interface after it, so a match comes in those two parts.

use crate::model::LocalTraffic;

/// One side of the detector as rule text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalMatch {
    /// `-s 10.244.0.0/16` / `! -s …`, or empty.
    pub source: String,
    /// `-i cbr0` / `! -i veth+`, or empty.
    pub interface: String,
}

impl LocalMatch {
    /// Both parts as they come in a rule without `-d`: `-s …` then `-i …`.
    pub fn alone(&self) -> String {
        match (self.source.is_empty(), self.interface.is_empty()) {
            (_, true) => self.source.clone(),
            (true, false) => self.interface.clone(),
            (false, false) => format!("{} {}", self.source, self.interface),
        }
    }
}

/// What matches the pods' traffic; `None` when nothing can (the rule is left out). A
/// `0.0.0.0/0` cluster CIDR matches everything, which iptables-save prints as nothing.
pub fn if_local(local: &LocalTraffic) -> Option<LocalMatch> {
    spell(local, "")
}

/// What matches everything else; `None` when that is nothing (no detector, or a
/// `0.0.0.0/0` cluster CIDR, which iptables cannot negate).
pub fn if_not_local(local: &LocalTraffic) -> Option<LocalMatch> {
    if let LocalTraffic::FromCidr(net) = local
        && net.prefix_len() == 0
    {
        return None;
    }
    spell(local, "! ")
}

fn spell(local: &LocalTraffic, not: &str) -> Option<LocalMatch> {
    let m = match local {
        LocalTraffic::Unknown => return None,
        LocalTraffic::FromCidr(net) if net.prefix_len() == 0 => LocalMatch::default(),
        LocalTraffic::FromCidr(net) => LocalMatch {
            source: format!("{not}-s {}", net.trunc()),
            interface: String::new(),
        },
        LocalTraffic::FromInterface(name) => LocalMatch {
            source: String::new(),
            interface: format!("{not}-i {name}"),
        },
        LocalTraffic::FromInterfacePrefix(prefix) => LocalMatch {
            source: String::new(),
            interface: format!("{not}-i {prefix}+"),
        },
    };
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_detector_is_spelled_as_iptables_save_prints_it() {
        let cidr = LocalTraffic::FromCidr("10.244.0.0/16".parse().unwrap());
        assert_eq!(if_local(&cidr).unwrap().alone(), "-s 10.244.0.0/16");
        assert_eq!(if_not_local(&cidr).unwrap().source, "! -s 10.244.0.0/16");
        let bridge = LocalTraffic::FromInterface("cbr0".into());
        assert_eq!(if_local(&bridge).unwrap().alone(), "-i cbr0");
        assert_eq!(if_not_local(&bridge).unwrap().interface, "! -i cbr0");
        let prefix = LocalTraffic::FromInterfacePrefix("veth".into());
        assert_eq!(if_not_local(&prefix).unwrap().interface, "! -i veth+");
        let all = LocalTraffic::FromCidr("0.0.0.0/0".parse().unwrap());
        assert_eq!(if_local(&all), Some(LocalMatch::default()));
        assert_eq!(if_not_local(&all), None);
        assert_eq!(if_local(&LocalTraffic::Unknown), None);
        assert_eq!(if_not_local(&LocalTraffic::Unknown), None);
    }
}
