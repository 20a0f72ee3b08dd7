//! Whether the conntrack kernel tests can run, for `tests/conntrack_*.rs`.

use super::netns::kernel_tests_possible;

/// Root with iproute2 and iptables, and conntrack-tools when `need_tool` (the tests that
/// make or observe entries with it). With `KPROXY_REQUIRE_KERNEL=1` a missing
/// prerequisite fails the test instead of skipping it.
pub fn conntrack_tests_possible(need_tool: bool) -> bool {
    let tool = !need_tool
        || std::process::Command::new("conntrack")
            .arg("--version")
            .output()
            .is_ok();
    let possible = kernel_tests_possible() && tool;
    if !possible {
        eprintln!("SKIPPED: needs root, iproute2, iptables and conntrack-tools");
        assert!(
            std::env::var("KPROXY_REQUIRE_KERNEL").as_deref() != Ok("1"),
            "KPROXY_REQUIRE_KERNEL=1 but the conntrack kernel tests cannot run"
        );
    }
    possible
}
