//! The two metrics both proxies expose under the same names, read from inside the node's
//! namespace.

use kproxy::testing::controlplane::proxies::METRICS;
use kproxy::testing::netns::Netns;

use crate::support::http_get::{get, metric};

/// When the last sync finished, seconds since the epoch (0 before the first).
pub const LAST_SYNC: &str = "kubeproxy_sync_proxy_rules_last_timestamp_seconds";
/// How many syncs have finished.
pub const SYNCS: &str = "kubeproxy_sync_proxy_rules_duration_seconds_count";

/// The value of the unlabelled sample `name`, `None` until the server answers.
pub fn read(node: &Netns, name: &str) -> Option<f64> {
    let r = get(node, METRICS, "/metrics").filter(|r| r.status == 200)?;
    metric(&r.body, name, &[])
}
