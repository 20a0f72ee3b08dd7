//! What kproxy's `/metrics` says about its syncs: the signal tests and benches wait on
//! (log lines are for people; their wording may change). kproxy serves `/metrics` inside
//! the node namespace. Shared with the benches (included by path), hence no `crate::` paths.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use kproxy::testing::netns::Netns;

use super::http_get::{get_here, metric};

/// Where the tests' kproxy serves `/metrics` in its node namespace (kube-proxy's default).
pub const METRICS: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 10249));
/// Where it serves `/healthz` and `/livez`.
pub const HEALTHZ: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 10256));

/// kproxy's sync counters, as of one read of `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Syncs {
    /// Successful full syncs, and the seconds they took together.
    pub full: u64,
    pub full_seconds: f64,
    /// Successful partial syncs, and the seconds they took together.
    pub partial: u64,
    pub partial_seconds: f64,
    /// Kernel objects the full and the partial syncs wrote.
    pub full_written: u64,
    pub partial_written: u64,
    /// Service and EndpointSlice changes programmed.
    pub changes: u64,
    /// iptables mode: finished drift checks, their seconds, and the chains they repaired.
    pub drift_checks: u64,
    pub drift_check_seconds: f64,
    pub drift_repairs: u64,
}

impl Syncs {
    /// The counters in OpenMetrics text; absent ones are zero.
    pub fn parse(text: &str) -> Self {
        let value = |name: &str, labels: &[(&str, &str)]| metric(text, name, labels).unwrap_or(0.0);
        let count = |name: &str, labels: &[(&str, &str)]| value(name, labels) as u64;
        let full = "kubeproxy_sync_full_proxy_rules_duration_seconds";
        let partial = "kubeproxy_sync_partial_proxy_rules_duration_seconds";
        let written = "kproxy_sync_objects_written_total";
        let drift = "kproxy_drift_check_duration_seconds";
        Self {
            full: count(&format!("{full}_count"), &[]),
            full_seconds: value(&format!("{full}_sum"), &[]),
            partial: count(&format!("{partial}_count"), &[]),
            partial_seconds: value(&format!("{partial}_sum"), &[]),
            full_written: count(written, &[("sync", "full")]),
            partial_written: count(written, &[("sync", "partial")]),
            changes: count("kubeproxy_sync_proxy_rules_service_changes_total", &[])
                + count("kubeproxy_sync_proxy_rules_endpoint_changes_total", &[]),
            drift_checks: count(&format!("{drift}_count"), &[]),
            drift_check_seconds: value(&format!("{drift}_sum"), &[]),
            drift_repairs: count("kproxy_drift_repairs_total", &[]),
        }
    }

    /// Reads `/metrics` from inside `node`; `None` while nothing answers there.
    pub fn read(node: &Netns) -> Option<Self> {
        node.run_in(Self::read_here)
    }

    /// [`Syncs::read`] from a thread already inside the node namespace.
    pub fn read_here() -> Option<Self> {
        let response = get_here(METRICS, "/metrics").filter(|r| r.status == 200)?;
        Some(Self::parse(&response.body))
    }

    /// Successful syncs of either kind.
    pub fn total(&self) -> u64 {
        self.full + self.partial
    }
}

/// Polls `/metrics` in `node` until `done` holds; panics after `timeout`, naming `what` and
/// the last counters seen.
pub fn wait_for_syncs(
    node: &Netns,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Syncs) -> bool,
) -> Syncs {
    let timeout = scaled(timeout);
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        if let Some(syncs) = Syncs::read(node) {
            if done(&syncs) {
                return syncs;
            }
            last = Some(syncs);
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last counters: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `timeout` times `KPROXY_TEST_TIMEOUT_SCALE` (default 1): the VM runner raises it, since
/// an emulated (TCG) guest on a busy host syncs many times slower than the host does.
pub fn scaled(timeout: Duration) -> Duration {
    let scale = std::env::var("KPROXY_TEST_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    timeout * scale
}
