//! The fault suite (issue #15): kproxy killed in the middle of a large first sync,
//! restarted 20 times under client load, and its nat table flushed by hand; each time the
//! node's rules end up right and no client notices. Needs root; every namespace is removed
//! when a test ends.
//!
//! The README's test command runs a short version (fewer services and restarts);
//! `scripts/fault-suite.sh` runs the whole suite (`KPROXY_FAULTS=full`) and prints the
//! figures docs/reliability.md records (lines starting `figure:`).

#[path = "../support/mod.rs"]
mod support;

mod flush;
mod kill_mid_sync;
mod node;
mod restarts;

/// The short version's `short`, or the whole suite's `full` under `KPROXY_FAULTS=full`.
fn scale(short: usize, full: usize) -> usize {
    match std::env::var("KPROXY_FAULTS").as_deref() {
        Ok("full") => full,
        _ => short,
    }
}

/// A figure for docs/reliability.md, printed past the test harness's capture.
fn figure(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "figure: {text}");
}
