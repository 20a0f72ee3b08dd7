//! Whether the conntrack kernel tests can run, for `tests/conntrack_*.rs`.

use kproxy::testing::kernel::{Need, netns_available};

/// Root with iproute2 and iptables, and conntrack-tools when `need_tool` (the tests that
/// make or observe entries with it). With `KPROXY_REQUIRE_KERNEL=1` a missing
/// prerequisite fails the test instead of skipping it (`kproxy::testing::kernel`).
pub fn conntrack_tests_possible(need_tool: bool) -> bool {
    let tool: &[Need] = if need_tool {
        &[Need::Tool("conntrack")]
    } else {
        &[]
    };
    netns_available(tool)
}
