//! NodePorts on 127.0.0.1 (`--iptables-localhost-nodeports`, kube-proxy's default): they
//! need `route_localnet` (set at start, see `crate::sys::route_localnet`), which also lets
//! packets from elsewhere reach 127.0.0.0/8; kube-proxy's `KUBE-FIREWALL` rule drops those
//! unless conntrack DNATed them (kubernetes#90259). kubelet writes the same chain, so kproxy
//! writes it when it serves localhost NodePorts and never deletes it otherwise.

use std::sync::Arc;

use ipnet::Ipv4Net;

use super::text::push_comment;
use crate::backend::iptables::names::KUBE_FIREWALL;
use crate::backend::iptables::ruleset::{Chain, Jump, Table};

/// IPv4 loopback.
pub const LOOPBACK: &str = "127.0.0.0/8";

/// Whether the node-port addresses (every address when empty) include loopback, as
/// kube-proxy's `ContainsIPv4Loopback`.
pub fn includes_loopback(nodeport_addresses: &[Ipv4Net]) -> bool {
    let loopback: Ipv4Net = LOOPBACK.parse().expect("a CIDR");
    nodeport_addresses.is_empty()
        || nodeport_addresses
            .iter()
            .any(|n| n.contains(&loopback.network()) || loopback.contains(&n.network()))
}

/// filter `KUBE-FIREWALL` with kube-proxy's martian-source rule, as iptables-save prints it.
pub fn firewall_chain() -> Arc<Chain> {
    let mut rule = format!("! -s {LOOPBACK} -d {LOOPBACK}");
    push_comment(&mut rule, "block incoming localnet connections");
    rule.push_str(" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP");
    Arc::new(Chain::new(Table::Filter, KUBE_FIREWALL, [rule.as_str()]))
}

/// filter `INPUT` and `OUTPUT` into `KUBE-FIREWALL`, without comment (kube-proxy's and
/// kubelet's jumps, first in their chains).
pub fn firewall_jumps() -> [Jump; 2] {
    ["INPUT", "OUTPUT"].map(|chain| Jump {
        table: Table::Filter,
        chain,
        rule: format!("-j {KUBE_FIREWALL}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_included_by_default_and_by_cidrs_that_overlap_it() {
        let nets = |s: &[&str]| -> Vec<Ipv4Net> { s.iter().map(|c| c.parse().unwrap()).collect() };
        assert!(includes_loopback(&[]));
        assert!(includes_loopback(&nets(&["0.0.0.0/0"])));
        assert!(includes_loopback(&nets(&["10.0.0.0/8", "127.0.0.1/32"])));
        assert!(includes_loopback(&nets(&["127.0.0.0/8"])));
        assert!(!includes_loopback(&nets(&["192.168.0.0/16"])));
    }
}
