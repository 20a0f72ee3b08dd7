//! Throwaway network namespaces (`kproxy::testing::netns`), and whether this machine can
//! run the tests that need them.

use std::process::Command;

pub use kproxy::testing::netns::Netns;

/// Whether this process may create namespaces and program rules (root, with `ip` and
/// `iptables-restore` installed). Tests that need a kernel skip, loudly, when it may not.
pub fn kernel_tests_possible() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let tools = ["ip", "iptables-restore", "iptables-save"].iter().all(|t| {
        Command::new(t).arg("-V").output().is_ok() || Command::new(t).arg("-h").output().is_ok()
    });
    if !(root && tools) {
        eprintln!(
            "SKIPPED: needs root with iproute2 and iptables installed (run the README's test command)"
        );
    }
    root && tools
}
