//! Where the upstream binaries are: built by scripts/build-upstream.sh from the pinned
//! module in upstream/ into `target/upstream/<kubernetes version>/bin/`, or wherever
//! `KPROXY_UPSTREAM_BIN` says.

use std::path::{Path, PathBuf};

/// The programs the script builds.
pub const PROGRAMS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-proxy",
];

/// The pinned module, compiled in so the expected directory follows the pin.
const GO_MOD: &str = include_str!("../../../upstream/go.mod");

/// The pinned `k8s.io/kubernetes` version, e.g. `v1.37.2`.
pub fn kubernetes_version() -> &'static str {
    GO_MOD
        .lines()
        .find_map(|l| l.trim().strip_prefix("k8s.io/kubernetes "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("upstream/go.mod requires k8s.io/kubernetes")
}

#[derive(Clone, Debug)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// The directory with every program in [`PROGRAMS`], or why there is none.
    pub fn locate() -> Result<Self, String> {
        let dir = match std::env::var_os("KPROXY_UPSTREAM_BIN") {
            Some(dir) => PathBuf::from(dir),
            None => std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
                .join("upstream")
                .join(kubernetes_version())
                .join("bin"),
        };
        let missing: Vec<&str> = PROGRAMS
            .into_iter()
            .filter(|p| !dir.join(p).is_file())
            .collect();
        if missing.is_empty() {
            Ok(Self { dir })
        } else {
            Err(format!(
                "{missing:?} not in {} (scripts/build-upstream.sh builds them)",
                dir.display()
            ))
        }
    }

    pub fn path(&self, program: &str) -> PathBuf {
        self.dir.join(program)
    }
}

/// The binaries, or `None` after a loud SKIPPED line when they or root are missing; a
/// panic instead when `KPROXY_REQUIRE_KERNEL=1` (the README's test command), so a run
/// that was meant to include these tests cannot pass without them.
pub fn binaries_or_skip() -> Option<Binaries> {
    let found = if nix::unistd::geteuid().is_root() {
        Binaries::locate()
    } else {
        Err("needs root (network namespaces)".to_string())
    };
    match found {
        Ok(b) => Some(b),
        Err(why) => {
            crate::testing::kernel::unavailable(&format!("the real control plane: {why}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_version_is_a_release() {
        let v = kubernetes_version();
        assert!(v.starts_with("v1.") && v.split('.').count() == 3, "{v}");
    }
}
