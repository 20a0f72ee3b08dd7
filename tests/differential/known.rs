//! The differences between kube-proxy and kproxy that docs/kube-proxy-differences.md
//! lists, each with its reason there (the `id` is the heading's anchor). Any difference
//! not matched here fails the test.
//!
//! Two kinds: [`REWRITES`] make a kube-proxy rule equal to kproxy's where the two differ
//! only in something without effect on packets or in a feature kproxy leaves out of an
//! otherwise equal rule; [`RULES`] and [`PROBES`] accept rules and probe outcomes only
//! one side has.

use crate::plan::ProbeKey;
use crate::rules::RuleDiff;

/// Applied to kube-proxy's rule text before the comparison: `(id, from, to)`.
pub const REWRITES: &[(&str, &str, &str)] = &[
    // `-m tcp` without options matches every TCP packet; the rule's `-p tcp` says it.
    ("no-op-protocol-match", " -m tcp -j DNAT", " -j DNAT"),
    ("no-op-protocol-match", " -m udp -j DNAT", " -j DNAT"),
    ("no-op-protocol-match", " -m sctp -j DNAT", " -j DNAT"),
    // The packet counters behind two of kube-proxy's metrics.
    (
        "nfacct-counters",
        " -m nfacct --nfacct-name  ct_state_invalid_dropped_pkts",
        "",
    ),
    (
        "nfacct-counters",
        " -m nfacct --nfacct-name  localhost_nps_accepted_pkts",
        "",
    ),
];

/// Applies [`REWRITES`] to one of kube-proxy's rules; returns the ids that applied.
pub fn rewrite(rule: &mut String) -> Vec<&'static str> {
    let mut applied = Vec::new();
    for (id, from, to) in REWRITES {
        if rule.contains(from) {
            *rule = rule.replace(from, to);
            applied.push(*id);
        }
    }
    applied
}

/// A known rule difference: its id, and which rules it covers.
pub struct KnownRule {
    pub id: &'static str,
    pub covers: fn(&RuleDiff) -> bool,
}

fn kube_proxy_only(d: &RuleDiff) -> bool {
    d.side == 0
}

pub const RULES: &[KnownRule] = &[
    KnownRule {
        id: "load-balancer-source-ranges",
        covers: |d| {
            kube_proxy_only(d)
                && (d.chain == "KUBE-PROXY-FIREWALL" || d.rule.ends_with("-j KUBE-PROXY-FIREWALL"))
        },
    },
    KnownRule {
        id: "localhost-node-ports",
        covers: |d| {
            let nat = |chain: &str| d.table == "nat" && d.chain == chain;
            // Since issue 11 item 7 kproxy serves localhost NodePorts as kube-proxy does;
            // what remains is kube-proxy's nfacct-counting `-d 127.0.0.0/8` copy of each
            // NodePort rule. The older differences stay covered for runs against older
            // kproxy builds and --iptables-localhost-nodeports=false.
            (nat("KUBE-SERVICES") && d.rule.ends_with("-j KUBE-NODEPORTS"))
                || (kube_proxy_only(d)
                    && (d.chain == "KUBE-FIREWALL"
                        || d.rule == "-j KUBE-FIREWALL"
                        || (nat("KUBE-NODEPORTS") && d.rule.starts_with("-d 127.0.0.0/8 "))))
        },
    },
    KnownRule {
        id: "health-check-node-ports",
        covers: |d| {
            kube_proxy_only(d)
                && d.table == "filter"
                && (d.rule.contains("health check node port\"")
                    || d.rule.contains("\"kubernetes health check service ports\"")
                    || (d.chain == "KUBE-NODEPORTS" && d.rule == "-N (the chain)"))
        },
    },
];

/// A known probe difference: its id, and which probes it covers.
pub struct KnownProbe {
    pub id: &'static str,
    pub covers: fn(&ProbeKey) -> bool,
}

pub const PROBES: &[KnownProbe] = &[KnownProbe {
    id: "localhost-node-ports",
    covers: |k| k.address == "localhost node port",
}];

/// `KPROXY_DIFF_STRICT=1`: accept no difference (the rewrites still apply), to see
/// every one, e.g. when comparing with another of kube-proxy's settings.
pub fn strict() -> bool {
    std::env::var("KPROXY_DIFF_STRICT").is_ok_and(|v| v.trim() == "1")
}

/// The known difference covering `key`, if any.
pub fn known_probe(key: &ProbeKey) -> Option<&'static KnownProbe> {
    PROBES.iter().find(|k| !strict() && (k.covers)(key))
}

/// The known difference covering `d`, if any.
pub fn known_rule(d: &RuleDiff) -> Option<&'static KnownRule> {
    RULES.iter().find(|k| !strict() && (k.covers)(d))
}

pub fn probe_is_known(key: &ProbeKey) -> bool {
    known_probe(key).is_some()
}
