//! The API server failing every request (lists and watches) from the start: the watches back
//! off as client-go's do, say so once, and pick up what changed once the server answers.
//! A failed list is the case kube-runtime's own backoff got wrong: its watcher emits `Init`
//! before every list attempt, which reset that backoff. (A failed watch, after a good list,
//! is retried without a new `Init`.)

use std::time::Duration;

use kproxy::testing::{Resource, TestApiServer};
use tokio::time::Instant;

use crate::harness::{Harness, Logs, is_update_of, web};

/// How long the test watches the failing server. With the backoff (0.8–1.6 s, then 1.6–3.2 s,
/// 3.2–6.4 s, 6.4–12.8 s) one watch sends at most 4 requests in it; retrying every ~1.2 s,
/// as kube-runtime's `default_backoff` did (its `Init` event reset it), it sends 7.
const WINDOW: Duration = Duration::from_secs(8);
const MAX_IN_WINDOW: usize = 4;
/// The backoff's cap, and slack for the request itself.
const RESUME_WITHIN: Duration = Duration::from_secs(31);

fn failed_service_requests(server: &TestApiServer) -> usize {
    server
        .requests_for(Resource::Services)
        .iter()
        .filter(|r| r.status == Some(500))
        .count()
}

#[tokio::test]
async fn a_failing_server_is_retried_with_backoff_and_one_line_per_streak() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let server = TestApiServer::start().await.unwrap();
    // 500 is not retried inside kube's client: every retry is the watcher's.
    server.fail_requests(Some(500));
    let mut h = Harness::start(server).await;
    h.wait_for("a failed Service list", |s| failed_service_requests(s) >= 1)
        .await;
    let streak_start = Instant::now();
    // A window to count requests in, not a synchronisation: nothing is awaited here.
    while Instant::now() < streak_start + WINDOW {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed = failed_service_requests(&h.server);
    assert!(
        (2..=MAX_IN_WINDOW).contains(&failed),
        "{failed} failed Service requests in {WINDOW:?}: {:?}",
        h.requests_for(Resource::Services)
    );
    assert_eq!(
        logs.count("WARN", "Service watch failed"),
        1,
        "one line per streak"
    );
    assert_eq!(
        logs.count("INFO", "Service watch recovered"),
        0,
        "no recovery before the server answers (Init is not one)"
    );

    h.server.fail_requests(None);
    let cleared = Instant::now();
    h.server.put_service(&web("a", "10.96.0.10", 80));
    let changes = h.initial_sync().await;
    assert!(changes.iter().any(|c| is_update_of(c, "a")), "{changes:?}");
    assert!(cleared.elapsed() < RESUME_WITHIN, "{:?}", cleared.elapsed());
    assert_eq!(logs.count("WARN", "Service watch failed"), 1);
    assert_eq!(logs.count("INFO", "Service watch recovered"), 1);
}
