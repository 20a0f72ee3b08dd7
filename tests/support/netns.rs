//! Throwaway network namespaces (`kproxy::testing::netns`), and whether this machine can
//! run the tests that need them (`kproxy::testing::kernel`: a test that cannot run skips,
//! or fails under `KPROXY_REQUIRE_KERNEL=1`).

// Some binaries include this file alone (by path) and use only `Netns`.
#[allow(unused_imports)]
pub use kproxy::testing::kernel::netns_available;
pub use kproxy::testing::netns::Netns;
