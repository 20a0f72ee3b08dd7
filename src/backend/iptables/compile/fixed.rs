//! The chains and jumps that do not depend on services: masquerading, forwarding, and the
//! jumps from the built-in chains into kproxy's chains.

use super::localhost::LOOPBACK;
use super::text::push_comment;
use crate::backend::iptables::names::{
    KUBE_EXTERNAL_SERVICES, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL, KUBE_SERVICES,
};
use crate::backend::iptables::ruleset::{Jump, RuleList, Table};
use crate::netfilter::iptables::chains::{
    DROP_INVALID, MasqueradeChains, forward_jump, jump, masquerade_chains, postrouting_jump,
    service_portal_jumps,
};

/// The fixed chains whose rules never change while the options stay the same: the chains
/// both modes share, with iptables mode's INVALID drop first in `KUBE-FORWARD`.
pub type StaticChains = MasqueradeChains;

/// `mark` is the masquerade bit as iptables-save prints it (`0x4000`).
pub fn static_chains(mark: &str) -> StaticChains {
    masquerade_chains(mark, &[DROP_INVALID], &[])
}

/// The last rules of nat `KUBE-SERVICES`: NodePort traffic to this node goes on to
/// `KUBE-NODEPORTS`. With `--nodeport-addresses`, one rule per CIDR (as iptables-save prints
/// it), limited to this node's own addresses as kube-proxy's per-IP rules are.
///
/// Unless `localhost` (NodePorts on 127.0.0.1, with `route_localnet`), loopback
/// destinations never reach `KUBE-NODEPORTS`, as with kube-proxy's
/// `--iptables-localhost-nodeports=false`: DNAT of such a packet to a pod would leave it with
/// a loopback source, dropped as a martian (a TCP client hangs instead of being refused).
/// CIDRs within loopback then get no rule.
pub fn nodeport_tail(cidrs: &[String], localhost: bool) -> RuleList {
    const COMMENT: &str =
        "kubernetes service nodeports; NOTE: this must be the last rule in this chain";
    let tail = format!(" -m addrtype --dst-type LOCAL -j {KUBE_NODEPORTS}");
    let mut rules = RuleList::new();
    if cidrs.is_empty() {
        let loopback = if localhost {
            String::new()
        } else {
            format!("! -d {LOOPBACK}")
        };
        rules.push_rule(&comment_rule(&loopback, COMMENT, &tail));
    }
    let loopback: ipnet::Ipv4Net = LOOPBACK.parse().expect("a CIDR");
    for cidr in cidrs {
        let within_loopback = cidr
            .parse::<ipnet::Ipv4Net>()
            .is_ok_and(|net| loopback.contains(&net));
        if localhost || !within_loopback {
            rules.push_rule(&comment_rule(&format!("-d {cidr}"), COMMENT, &tail));
        }
    }
    rules
}

/// The rules kproxy needs in built-in chains, in kube-proxy's list order (the order it
/// inserts them in, each going first).
pub fn jumps() -> Vec<Jump> {
    let new = "-m conntrack --ctstate NEW";
    let portals = "kubernetes service portals";
    let external = "kubernetes externally-visible service portals";
    let firewall = "kubernetes load balancer firewall";
    let mut jumps = vec![
        jump(
            Table::Filter,
            "INPUT",
            new,
            external,
            KUBE_EXTERNAL_SERVICES,
        ),
        jump(
            Table::Filter,
            "FORWARD",
            new,
            external,
            KUBE_EXTERNAL_SERVICES,
        ),
        jump(
            Table::Filter,
            "INPUT",
            "",
            "kubernetes health check service ports",
            KUBE_NODEPORTS,
        ),
        jump(Table::Filter, "FORWARD", new, portals, KUBE_SERVICES),
        jump(Table::Filter, "OUTPUT", new, portals, KUBE_SERVICES),
        forward_jump(),
    ];
    for builtin in ["INPUT", "OUTPUT", "FORWARD"] {
        jumps.push(jump(
            Table::Filter,
            builtin,
            new,
            firewall,
            KUBE_PROXY_FIREWALL,
        ));
    }
    jumps.extend(service_portal_jumps());
    jumps.push(postrouting_jump());
    jumps
}

/// `<before> -m comment --comment <comment><after>`.
fn comment_rule(before: &str, comment: &str, after: &str) -> String {
    let mut r = String::with_capacity(before.len() + comment.len() + after.len() + 24);
    r.push_str(before);
    push_comment(&mut r, comment);
    r.push_str(after);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_destinations_never_reach_node_ports() {
        let all: Vec<String> = nodeport_tail(&[], false)
            .iter()
            .map(str::to_string)
            .collect();
        assert_eq!(all.len(), 1);
        assert!(all[0].starts_with("! -d 127.0.0.0/8 "), "{all:?}");
        let listed = ["127.0.0.0/8", "127.0.0.1/32", "10.0.0.0/8"].map(String::from);
        let rules: Vec<String> = nodeport_tail(&listed, false)
            .iter()
            .map(str::to_string)
            .collect();
        assert_eq!(rules.len(), 1, "{rules:?}");
        assert!(rules[0].starts_with("-d 10.0.0.0/8 "), "{rules:?}");
        let localhost: Vec<String> = nodeport_tail(&[], true)
            .iter()
            .map(str::to_string)
            .collect();
        assert!(localhost[0].starts_with("-m comment "), "{localhost:?}");
        assert_eq!(nodeport_tail(&listed, true).iter().count(), 3);
    }
}
