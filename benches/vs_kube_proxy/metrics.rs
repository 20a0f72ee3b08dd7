//! The two metrics both proxies expose under the same names, read over HTTP/1.0 from
//! inside the node's namespace (a plain body, no chunking, on either server).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use kproxy::testing::controlplane::proxies::METRICS;
use kproxy::testing::netns::Netns;

/// When the last sync finished, seconds since the epoch (0 before the first).
pub const LAST_SYNC: &str = "kubeproxy_sync_proxy_rules_last_timestamp_seconds";
/// How many syncs have finished.
pub const SYNCS: &str = "kubeproxy_sync_proxy_rules_duration_seconds_count";

/// The value of the unlabelled sample `name`, `None` until the server answers.
pub fn read(node: &Netns, name: &str) -> Option<f64> {
    let body = node.run_in(|| {
        let mut conn = TcpStream::connect_timeout(&METRICS, Duration::from_secs(2)).ok()?;
        conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        conn.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
        let mut raw = String::new();
        conn.read_to_string(&mut raw).ok()?;
        Some(raw)
    })?;
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
