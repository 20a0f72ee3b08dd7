//! The chains and jumps both proxy modes write, defined once: `KUBE-MARK-MASQ` marks a
//! packet for masquerading, `KUBE-POSTROUTING` masquerades marked packets, `KUBE-FORWARD`
//! accepts forwarded service traffic even when the FORWARD policy drops, and the jumps from
//! the built-in chains into them and into `KUBE-SERVICES`.
//!
//! As in kube-proxy, a mode may put rules of its own in front of the shared ones: iptables
//! mode drops INVALID packets in `KUBE-FORWARD` ([`DROP_INVALID`]); IPVS mode masquerades
//! hairpin traffic (matched by an ipset) first in `KUBE-POSTROUTING`.

use std::sync::Arc;

use super::push_quoted;
use super::ruleset::{Chain, Jump, Table};

/// Entry chain for service traffic (nat: DNAT or IPVS dispatch; filter in iptables mode:
/// REJECT/DROP for services without endpoints).
pub const KUBE_SERVICES: &str = "KUBE-SERVICES";
/// nat: masquerades what `KUBE-MARK-MASQ` marked.
pub const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
/// nat: sets the masquerade mark bit.
pub const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
/// filter: accepts forwarded service traffic even when the FORWARD policy is DROP.
pub const KUBE_FORWARD: &str = "KUBE-FORWARD";

/// iptables mode's first `KUBE-FORWARD` rule (kube-proxy's default, without
/// `nf_conntrack_tcp_be_liberal`): INVALID packets would otherwise reach pods un-DNATed and
/// draw spurious resets. kube-proxy's IPVS mode has no such rule.
pub const DROP_INVALID: &str = "-m conntrack --ctstate INVALID -j DROP";

/// The masquerade mark for `--iptables-masquerade-bit` as iptables-save prints it
/// (`0x4000` for bit 14).
pub fn masquerade_mark(bit: u8) -> String {
    format!("{:#x}", 1u32 << bit.min(31))
}

/// `-m comment --comment <text> ` as iptables-save prints it, with a trailing space.
pub fn comment(text: &str) -> String {
    let mut out = String::from("-m comment --comment ");
    push_quoted(&mut out, text);
    out.push(' ');
    out
}

/// The three chains both modes write, built once per masquerade mark.
#[derive(Clone, Debug)]
pub struct MasqueradeChains {
    pub forward: Arc<Chain>,
    pub postrouting: Arc<Chain>,
    pub mark_masq: Arc<Chain>,
}

/// The shared chains for `mark` (from [`masquerade_mark`]), with the mode's own rules
/// first in `KUBE-FORWARD` and `KUBE-POSTROUTING`.
pub fn masquerade_chains(
    mark: &str,
    forward_first: &[&str],
    postrouting_first: &[&str],
) -> MasqueradeChains {
    let forward = [
        format!(
            "{}-m mark --mark {mark}/{mark} -j ACCEPT",
            comment("kubernetes forwarding rules")
        ),
        format!(
            "{}-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            comment("kubernetes forwarding conntrack rule")
        ),
    ];
    let postrouting = [
        format!("-m mark ! --mark {mark}/{mark} -j RETURN"),
        // Clear the mark, so a packet that traverses the stack again is not re-masqueraded.
        format!("-j MARK --set-xmark {mark}/0x0"),
        format!(
            "{}-j MASQUERADE --random-fully",
            comment("kubernetes service traffic requiring SNAT")
        ),
    ];
    let chain = |table, name, first: &[&str], shared: &[String]| {
        let rules = first
            .iter()
            .copied()
            .chain(shared.iter().map(String::as_str));
        Arc::new(Chain::new(table, name, rules))
    };
    MasqueradeChains {
        forward: chain(Table::Filter, KUBE_FORWARD, forward_first, &forward),
        postrouting: chain(
            Table::Nat,
            KUBE_POSTROUTING,
            postrouting_first,
            &postrouting,
        ),
        mark_masq: chain(
            Table::Nat,
            KUBE_MARK_MASQ,
            &[],
            &[format!("-j MARK --set-xmark {mark}/{mark}")],
        ),
    }
}

/// A rule in a built-in chain that jumps to `target`: `[matches ]-m comment --comment
/// <comment> -j <target>`, as iptables-save prints it.
pub fn jump(table: Table, builtin: &'static str, matches: &str, text: &str, target: &str) -> Jump {
    let mut rule = String::with_capacity(matches.len() + text.len() + target.len() + 28);
    if !matches.is_empty() {
        rule.push_str(matches);
        rule.push(' ');
    }
    rule.push_str(&comment(text));
    rule.push_str("-j ");
    rule.push_str(target);
    Jump {
        table,
        chain: builtin,
        rule,
    }
}

/// nat `OUTPUT` and `PREROUTING` into `KUBE-SERVICES`, in that order.
pub fn service_portal_jumps() -> [Jump; 2] {
    ["OUTPUT", "PREROUTING"].map(|builtin| {
        jump(
            Table::Nat,
            builtin,
            "",
            "kubernetes service portals",
            KUBE_SERVICES,
        )
    })
}

/// nat `POSTROUTING` into `KUBE-POSTROUTING`.
pub fn postrouting_jump() -> Jump {
    jump(
        Table::Nat,
        "POSTROUTING",
        "",
        "kubernetes postrouting rules",
        KUBE_POSTROUTING,
    )
}

/// filter `FORWARD` into `KUBE-FORWARD`.
pub fn forward_jump() -> Jump {
    jump(
        Table::Filter,
        "FORWARD",
        "",
        "kubernetes forwarding rules",
        KUBE_FORWARD,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_printed_as_iptables_save_prints_it() {
        assert_eq!(masquerade_mark(14), "0x4000");
        assert_eq!(masquerade_mark(0), "0x1");
        assert_eq!(masquerade_mark(31), "0x80000000");
        assert_eq!(masquerade_mark(40), "0x80000000", "clamped to the last bit");
    }

    #[test]
    fn mode_rules_go_first_and_the_shared_rules_are_the_same() {
        let plain = masquerade_chains("0x4000", &[], &[]);
        let own = masquerade_chains("0x4000", &[DROP_INVALID], &["-j HAIRPIN"]);
        assert_eq!(own.forward.rules().next(), Some(DROP_INVALID));
        assert!(own.forward.rules().skip(1).eq(plain.forward.rules()));
        assert_eq!(own.postrouting.rules().next(), Some("-j HAIRPIN"));
        assert!(
            own.postrouting
                .rules()
                .skip(1)
                .eq(plain.postrouting.rules())
        );
        assert_eq!(own.mark_masq, plain.mark_masq);
        assert_eq!(
            plain.mark_masq.rules().collect::<Vec<_>>(),
            ["-j MARK --set-xmark 0x4000/0x4000"]
        );
    }

    #[test]
    fn jumps_read_as_iptables_save_prints_them() {
        assert_eq!(
            jump(
                Table::Filter,
                "INPUT",
                "-m conntrack --ctstate NEW",
                "a b",
                "X"
            )
            .rule,
            "-m conntrack --ctstate NEW -m comment --comment \"a b\" -j X"
        );
        assert_eq!(
            forward_jump().rule,
            "-m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD"
        );
    }
}
