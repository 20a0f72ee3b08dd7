//! The node the faults hit: three pods behind `web` (10.100.0.10:80 → 8080, outside the
//! generated clusters' 10.96.0.0/16), and kproxy's command line.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use crate::support::e2e::{http_port, write_service};
use crate::support::echo::{Outcome, addr, tcp_request};
use crate::support::kproxy::eventually;
use crate::support::netns::Netns;
use crate::support::topology::{NODE_NAME, Topology};

pub const WEB_IP: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 10);
pub const WAIT: Duration = Duration::from_secs(60);

/// A node with three pods serving 8080.
pub fn topology() -> Topology {
    Topology::new(3, &[8080])
}

/// Writes web, on all three pods.
pub fn write_web(dir: &Path) {
    write_service(dir, "web", WEB_IP, http_port(80), &[0, 1, 2], "");
}

/// `kproxy --once` on `dir`'s manifests in `ns`, as the node (the clean run).
pub fn once_args<'a>(ns: &'a Netns, dir: &'a Path) -> Vec<&'a str> {
    vec![
        "--once",
        "--manifests",
        dir.to_str().expect("UTF-8 path"),
        "--netns",
        &ns.name,
        "--hostname-override",
        NODE_NAME,
        "--cluster-cidr",
        "10.244.0.0/16",
    ]
}

/// Whether a new connection from `from` to web gets an answer.
pub fn web_answers(from: &Netns) -> bool {
    matches!(tcp_request(from, addr(WEB_IP, 80)), Outcome::Reply(_))
}

/// Waits until web answers from `from`.
pub fn wait_for_web(from: &Netns) {
    eventually(WAIT, "web to answer", || web_answers(from).then_some(()));
}

/// `iptables-save` of `ns` without counters or comments, sorted: what two runs on the same
/// objects must agree on.
pub fn sorted_rules(ns: &Netns) -> Vec<String> {
    let save = ns.iptables_save(&[]);
    let mut lines: Vec<String> = save
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.rfind(" [") {
            Some(i) if l.starts_with(':') => l[..i].to_string(),
            _ => l.to_string(),
        })
        .collect();
    lines.sort();
    lines
}

/// The lines only one side has, marked `-` (left) and `+` (right).
pub fn diff(left: &[String], right: &[String]) -> Vec<String> {
    use std::collections::BTreeSet;
    let (l, r): (BTreeSet<_>, BTreeSet<_>) = (left.iter().collect(), right.iter().collect());
    let mut out: Vec<String> = l.difference(&r).map(|s| format!("-{s}")).collect();
    out.extend(r.difference(&l).map(|s| format!("+{s}")));
    out
}
