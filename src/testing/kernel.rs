//! Whether this machine can run a kernel test, decided in one place for the unit tests,
//! the integration tests and the benches.
//!
//! A test that cannot run here says why on stderr (`SKIPPED <test>: …`) and passes, so that
//! `cargo test` works anywhere, unless the run asks for the kernel:
//! * `KPROXY_REQUIRE_KERNEL=1` (set by `scripts/test-all.sh`, the README's test command):
//!   a missing root, `ip`, `iptables-restore`, `ipset`, `ipvsadm` … fails the test.
//! * `KPROXY_REQUIRE_IPVS=1` (set by `tests/vm/run-ipvs-tests.sh` in the VM): a kernel
//!   without IPVS fails the test too. The host has no IPVS; its IPVS tests run in the VM.

use std::io::Write as _;
use std::path::Path;

/// What a kernel test needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Root, to create network namespaces and program them.
    Root,
    /// A program on `PATH`.
    Tool(&'static str),
    /// A kernel with IPVS (`/proc/net/ip_vs`).
    Ipvs,
}

/// Root with iproute2 and iptables: what every namespace test needs.
pub const NETNS: [Need; 4] = [
    Need::Root,
    Need::Tool("ip"),
    Need::Tool("iptables-restore"),
    Need::Tool("iptables-save"),
];

/// The variable that turns a skip into a failure.
pub const REQUIRE_KERNEL: &str = "KPROXY_REQUIRE_KERNEL";
/// The variable that turns a skip for want of IPVS into a failure.
pub const REQUIRE_IPVS: &str = "KPROXY_REQUIRE_IPVS";

impl Need {
    /// Why this machine does not meet the need, if it does not.
    fn unmet(self) -> Option<String> {
        match self {
            Self::Root => (!nix::unistd::geteuid().is_root()).then(|| "not root".to_string()),
            Self::Tool(tool) => (!on_path(tool)).then(|| format!("{tool} is not installed")),
            Self::Ipvs => (!Path::new("/proc/net/ip_vs").exists()).then(|| {
                "no IPVS in this kernel (tests/vm/run-ipvs-tests.sh runs it in a VM)".to_string()
            }),
        }
    }

    /// The variable that makes this need a failure when unmet.
    fn required_by(self) -> &'static str {
        match self {
            Self::Ipvs => REQUIRE_IPVS,
            _ => REQUIRE_KERNEL,
        }
    }
}

/// Whether the calling test can run here. If not: panics when the run requires the kernel
/// (see the module doc), otherwise prints why, uncaptured, and returns `false` for the test
/// to return. The test is named after its thread, as libtest names it.
pub fn available(needs: &[Need]) -> bool {
    let unmet: Vec<(Need, String)> = needs
        .iter()
        .filter_map(|need| need.unmet().map(|why| (*need, why)))
        .collect();
    if unmet.is_empty() {
        return true;
    }
    let why = unmet
        .iter()
        .map(|(_, why)| why.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let var = unmet
        .iter()
        .map(|(need, _)| need.required_by())
        .find(|var| required(var));
    skip(&why, var)
}

/// For a need [`Need`] does not name (the real control plane's binaries, say): skips the
/// calling test with `why`, or fails it under `KPROXY_REQUIRE_KERNEL=1`. Returns `false`.
pub fn unavailable(why: &str) -> bool {
    skip(why, Some(REQUIRE_KERNEL).filter(|var| required(var)))
}

/// Panics when `required_by` (a set variable) asks for the test, else says why it skips.
fn skip(why: &str, required_by: Option<&str>) -> bool {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    if let Some(var) = required_by {
        panic!("{test} cannot run: {why} ({var}=1 makes that a failure)");
    }
    // Straight to stderr: libtest captures `eprintln!` of passing tests.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    false
}

/// [`available`] for a test that needs a network namespace and `extra`.
pub fn netns_available(extra: &[Need]) -> bool {
    let needs: Vec<Need> = NETNS.iter().chain(extra).copied().collect();
    available(&needs)
}

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .any(|dir| std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_found_on_path() {
        assert!(on_path("sh"));
        assert!(!on_path("kproxy-no-such-tool"));
    }

    #[test]
    fn a_missing_need_skips_or_fails_as_the_run_asks() {
        let missing = [Need::Tool("kproxy-no-such-tool")];
        if required(REQUIRE_KERNEL) {
            let run = std::panic::catch_unwind(|| available(&missing));
            assert!(run.is_err(), "a required kernel test must fail");
        } else {
            assert!(!available(&missing));
        }
        assert!(available(&[]));
    }
}
