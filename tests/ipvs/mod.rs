//! Helpers shared by the tests that need a kernel with IPVS (run inside the VM by
//! tests/vm/run-ipvs-tests.sh).

#![allow(dead_code)] // each test binary uses its own subset

pub mod ipvsadm;
pub mod netns;

use kproxy::testing::kernel::{Need, netns_available};

/// Whether the calling test can run: root with iproute2 and iptables, `ipvsadm` and
/// `ipset` to check the kernel with, and a kernel with IPVS. The build machine's kernel has
/// none: there IPVS tests skip, and tests/vm/run-ipvs-tests.sh runs them in a VM where
/// `KPROXY_REQUIRE_IPVS=1` makes a missing IPVS fail them (`kproxy::testing::kernel`).
pub fn ipvs_available() -> bool {
    netns_available(&[Need::Ipvs, Need::Tool("ipvsadm"), Need::Tool("ipset")])
}
