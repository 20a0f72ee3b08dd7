//! Helpers shared by the tests that need a kernel with IPVS (run inside the VM by
//! tests/vm/run-ipvs-tests.sh).

#![allow(dead_code)] // each test binary uses its own subset

pub mod ipvsadm;
pub mod netns;

use std::io::Write;
use std::path::Path;

/// Whether this kernel has IPVS loaded. The build machine's kernel has none; the VM's does.
/// A test that needs IPVS returns early (and passes) after printing why, uncaptured.
pub fn ipvs_or_skip(test: &str) -> bool {
    if Path::new("/proc/net/ip_vs").exists() {
        return true;
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {test}: no IPVS in this kernel (/proc/net/ip_vs missing); run tests/vm/run-ipvs-tests.sh"
    );
    false
}
