//! The layout as `nft -f` input: `--dry-run` prints it, the golden tests compare it, and
//! `nft -f` of it builds the same table the executor builds over netlink (the CLI floor of
//! the benchmarks). Flat commands in dependency order: table, chains, sets, elements,
//! rules, so that every name is defined before it is used.

use std::fmt::Write;

use ipnet::Ipv4Net;

use super::layout::*;
use super::names::TABLE;
use crate::nftables::Hook;

const TABLE_COMMENT: &str = "rules for kube-proxy";

/// The whole layout as `nft -f` input.
pub fn nft_script(layout: &Layout) -> String {
    let mut s = String::new();
    let t = format!("ip {TABLE}");
    let _ = writeln!(s, "add table {t} {{ comment \"{TABLE_COMMENT}\" ; }}");
    for c in &layout.chains {
        match &c.base {
            Some(b) => {
                let _ = writeln!(
                    s,
                    "add chain {t} {} {{ type {} hook {} priority {} ; policy accept ; }}",
                    c.name,
                    b.chain_type,
                    hook(b.hook),
                    b.priority
                );
            }
            None => {
                let _ = writeln!(s, "add chain {t} {}", c.name);
            }
        }
    }
    for set in &layout.sets {
        let _ = writeln!(s, "{}", set_line(&t, set));
    }
    for e in &layout.elements {
        let _ = writeln!(s, "add element {t} {} {{ {} }}", e.set, element(e));
    }
    for c in &layout.chains {
        for r in &c.rules {
            let _ = writeln!(s, "add rule {t} {} {}", c.name, rule(r));
        }
    }
    s
}

fn hook(h: Hook) -> &'static str {
    match h {
        Hook::Prerouting => "prerouting",
        Hook::Input => "input",
        Hook::Forward => "forward",
        Hook::Output => "output",
        Hook::Postrouting => "postrouting",
        Hook::Ingress => "ingress",
        Hook::Other(_) => "unknown",
    }
}

fn set_line(t: &str, set: &SetSpec) -> String {
    let (what, body) = match set.kind {
        SetKind::Addrs => ("set", "type ipv4_addr ;".to_string()),
        SetKind::AddrProtoPortVmap => (
            "map",
            "type ipv4_addr . inet_proto . inet_service : verdict ;".into(),
        ),
        SetKind::ProtoPortVmap => ("map", "type inet_proto . inet_service : verdict ;".into()),
        SetKind::Hairpin => (
            "set",
            "type ipv4_addr . ipv4_addr . inet_proto . inet_service ;".into(),
        ),
        SetKind::Affinity { timeout_seconds } => (
            "set",
            format!("type ipv4_addr ; flags dynamic,timeout ; timeout {timeout_seconds}s ;"),
        ),
    };
    let comment = set
        .comment
        .map(|c| format!(" comment \"{c}\" ;"))
        .unwrap_or_default();
    format!("add {what} {t} {} {{ {body}{comment} }}", set.name)
}

fn element(e: &ElementSpec) -> String {
    let mut s = match e.key {
        ElemKey::Addr(a) => a.to_string(),
        ElemKey::AddrProtoPort(a, p, port) => format!("{a} . {p} . {port}"),
        ElemKey::ProtoPort(p, port) => format!("{p} . {port}"),
        ElemKey::Hairpin(a, b, p, port) => format!("{a} . {b} . {p} . {port}"),
    };
    if let Some(c) = &e.comment {
        let _ = write!(s, " comment \"{c}\"");
    }
    match &e.verdict {
        Some(ElemVerdict::Goto(c)) => {
            let _ = write!(s, " : goto {c}");
        }
        Some(ElemVerdict::Drop) => s.push_str(" : drop"),
        None => {}
    }
    s
}

/// One rule in nft's syntax.
pub fn rule(r: &NftRule) -> String {
    let mut parts: Vec<String> = r.matches.iter().map(matcher).collect();
    parts.push(action(&r.action));
    if let Some(c) = &r.comment {
        parts.push(format!("comment \"{c}\""));
    }
    parts.join(" ")
}

fn net(n: &Ipv4Net) -> String {
    if n.prefix_len() == 32 {
        n.addr().to_string()
    } else {
        n.trunc().to_string()
    }
}

fn matcher(m: &Match) -> String {
    match m {
        Match::CtStateNew => "ct state new".into(),
        Match::CtStatusDnat => "ct status dnat".into(),
        Match::DaddrInSet(s) => format!("ip daddr @{s}"),
        Match::SaddrInSet(s) => format!("ip saddr @{s}"),
        Match::Daddr(n) => format!("ip daddr {}", net(n)),
        Match::Saddr(n) => format!("ip saddr {}", net(n)),
        Match::NotSaddr(n) => format!("ip saddr != {}", net(n)),
        Match::DaddrNotLoopback => "ip daddr != 127.0.0.0/8".into(),
        Match::FibDaddrLocal => "fib daddr type local".into(),
        Match::FibSaddrLocal => "fib saddr type local".into(),
        Match::MarkAny(m) => format!("meta mark & {m:#010x} != 0"),
        Match::L4proto(p) => format!("meta l4proto {p}"),
        Match::OneIn(n) => format!("numgen random mod {n} == 0"),
        Match::Hairpin => {
            format!(
                "ip saddr . ip daddr . meta l4proto . th dport @{}",
                super::names::HAIRPIN_CONNECTIONS
            )
        }
    }
}

fn action(a: &Action) -> String {
    match a {
        Action::Jump(c) => format!("jump {c}"),
        Action::Goto(c) => format!("goto {c}"),
        Action::Drop => "drop".into(),
        Action::Reject => "reject".into(),
        Action::VmapAddrProtoPort(m) => format!("ip daddr . meta l4proto . th dport vmap @{m}"),
        Action::VmapProtoPort(m) => format!("meta l4proto . th dport vmap @{m}"),
        Action::SetMark(m) => format!("meta mark set meta mark | {m:#010x}"),
        Action::ClearMarkAndMasquerade(m) => {
            format!("meta mark set meta mark ^ {m:#010x} masquerade fully-random")
        }
        Action::Masquerade => "masquerade fully-random".into(),
        Action::Dnat(to) => format!("dnat to {to}"),
        Action::UpdateAffinity(s) => format!("update @{s} {{ ip saddr }}"),
    }
}
