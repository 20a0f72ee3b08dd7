//! Differential test: upstream kube-proxy and kproxy, same mode, same API server, twin
//! nodes with identical topology (twin.rs), a generated corpus of Services covering every
//! feature and policy combination kproxy implements (corpus.rs), then scripted edits.
//! After each step, once both proxies have programmed it (bed.rs: their sync metric and a
//! sentinel in their rules), both nodes must give every probe (source, protocol,
//! destination; plan.rs) the same outcome — the same backends answering and the same
//! client address seen by each, or refused, or dropped — and have the same rules once
//! normalised (rules.rs). Differences docs/kube-proxy-differences.md explains are
//! listed in known.rs; any other fails the test.
//!
//! Size: `KPROXY_DIFF_SERVICES` (default 40) and `KPROXY_DIFF_STEPS` (edit steps after
//! the first publication, default 3). `scripts/test-differential.sh` runs the full corpus
//! (200 services, 8 steps). Needs root and the upstream binaries; skipped without them,
//! failed when `KPROXY_REQUIRE_KERNEL=1`.

#[path = "../support/mod.rs"]
mod support;

mod bed;
mod corpus;
mod edits;
mod known;
mod mode;
mod objects;
mod plan;
mod probe;
mod report;
mod rules;
mod runner;
mod twin;

use mode::Mode;

#[test]
fn iptables_mode_routes_and_rules_like_kube_proxy() {
    report::run(Mode::Iptables);
}
