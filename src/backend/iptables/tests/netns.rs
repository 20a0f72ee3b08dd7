//! Whether a unit test can have a throwaway namespace ([`crate::testing::netns::Netns`],
//! deleted on drop, also when the test fails): [`crate::testing::kernel`] decides, and
//! fails the test instead of skipping it under `KPROXY_REQUIRE_KERNEL=1`.

use crate::testing::kernel;
use crate::testing::netns::Netns;

/// A fresh namespace, or `None` (after saying why) when this machine cannot provide one
/// and the run does not require it.
pub fn create() -> Option<Netns> {
    kernel::netns_available(&[]).then(|| Netns::new("iptables-unit"))
}
