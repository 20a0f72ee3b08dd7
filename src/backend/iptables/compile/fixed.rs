//! The chains and jumps that do not depend on services: masquerading, forwarding, and the
//! jumps from the built-in chains into kproxy's chains.

use std::sync::Arc;

use super::text::push_comment;
use crate::backend::iptables::names::{
    KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING,
    KUBE_SERVICES,
};
use crate::backend::iptables::ruleset::{Chain, Jump, RuleList, Table};

/// The fixed chains whose rules never change while the options stay the same.
pub struct StaticChains {
    pub forward: Arc<Chain>,
    pub postrouting: Arc<Chain>,
    pub mark_masq: Arc<Chain>,
}

/// `mark` is the masquerade bit as iptables-save prints it (`0x4000`).
pub fn static_chains(mark: &str) -> StaticChains {
    let forward = vec![
        // kube-proxy's default (without nf_conntrack_tcp_be_liberal): INVALID packets
        // would otherwise reach pods un-DNATed and draw spurious resets.
        "-m conntrack --ctstate INVALID -j DROP".to_string(),
        comment_rule(
            "",
            "kubernetes forwarding rules",
            &format!(" -m mark --mark {mark}/{mark} -j ACCEPT"),
        ),
        comment_rule(
            "",
            "kubernetes forwarding conntrack rule",
            " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        ),
    ];
    let postrouting = vec![
        format!("-m mark ! --mark {mark}/{mark} -j RETURN"),
        // Clear the mark, so a packet that traverses the stack again is not re-masqueraded.
        format!("-j MARK --set-xmark {mark}/0x0"),
        comment_rule(
            "",
            "kubernetes service traffic requiring SNAT",
            " -j MASQUERADE --random-fully",
        ),
    ];
    let mark_masq = vec![format!("-j MARK --set-xmark {mark}/{mark}")];
    StaticChains {
        forward: chain(Table::Filter, KUBE_FORWARD, forward),
        postrouting: chain(Table::Nat, KUBE_POSTROUTING, postrouting),
        mark_masq: chain(Table::Nat, KUBE_MARK_MASQ, mark_masq),
    }
}

/// The last rules of nat `KUBE-SERVICES`: NodePort traffic to this node goes on to
/// `KUBE-NODEPORTS`. With `--nodeport-addresses`, one rule per CIDR (as iptables-save
/// prints it), limited to this node's own addresses as kube-proxy's per-IP rules are.
pub fn nodeport_tail(cidrs: &[String]) -> RuleList {
    const COMMENT: &str =
        "kubernetes service nodeports; NOTE: this must be the last rule in this chain";
    let tail = format!(" -m addrtype --dst-type LOCAL -j {KUBE_NODEPORTS}");
    let mut rules = RuleList::new();
    if cidrs.is_empty() {
        rules.push_rule(&comment_rule("", COMMENT, &tail));
    }
    for cidr in cidrs {
        rules.push_rule(&comment_rule(&format!("-d {cidr}"), COMMENT, &tail));
    }
    rules
}

/// The rules kproxy needs in built-in chains, kube-proxy's list minus the jumps to chains
/// kproxy does not create (see [`crate::backend::iptables::names::FIXED_CHAINS`]).
pub fn jumps() -> Vec<Jump> {
    let new = "-m conntrack --ctstate NEW";
    let specs: [(Table, &'static str, &str, &str, &str); 8] = [
        (
            Table::Filter,
            "INPUT",
            new,
            "kubernetes externally-visible service portals",
            KUBE_EXTERNAL_SERVICES,
        ),
        (
            Table::Filter,
            "FORWARD",
            new,
            "kubernetes externally-visible service portals",
            KUBE_EXTERNAL_SERVICES,
        ),
        (
            Table::Filter,
            "FORWARD",
            new,
            "kubernetes service portals",
            KUBE_SERVICES,
        ),
        (
            Table::Filter,
            "OUTPUT",
            new,
            "kubernetes service portals",
            KUBE_SERVICES,
        ),
        (
            Table::Filter,
            "FORWARD",
            "",
            "kubernetes forwarding rules",
            KUBE_FORWARD,
        ),
        (
            Table::Nat,
            "OUTPUT",
            "",
            "kubernetes service portals",
            KUBE_SERVICES,
        ),
        (
            Table::Nat,
            "PREROUTING",
            "",
            "kubernetes service portals",
            KUBE_SERVICES,
        ),
        (
            Table::Nat,
            "POSTROUTING",
            "",
            "kubernetes postrouting rules",
            KUBE_POSTROUTING,
        ),
    ];
    specs
        .into_iter()
        .map(|(table, builtin, extra, comment, target)| Jump {
            table,
            chain: builtin,
            rule: comment_rule(extra, comment, &format!(" -j {target}")),
        })
        .collect()
}

/// `<before> -m comment --comment <comment><after>`.
fn comment_rule(before: &str, comment: &str, after: &str) -> String {
    let mut r = String::with_capacity(before.len() + comment.len() + after.len() + 24);
    r.push_str(before);
    push_comment(&mut r, comment);
    r.push_str(after);
    r
}

fn chain(table: Table, name: &str, rules: Vec<String>) -> Arc<Chain> {
    Arc::new(Chain::new(table, name, rules))
}
