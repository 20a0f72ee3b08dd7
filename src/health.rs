//! Proxy health, with kube-proxy's semantics (`pkg/proxy/healthcheck/proxier_health.go`):
//! the sync loop reports when a change is queued and when a sync succeeds; `/livez` and
//! `/healthz` turn that into 200 or 503.
//!
//! Healthy unless
//! 1. a change has been queued and no sync has succeeded since, for `timeout` or longer, or
//! 2. no sync has succeeded at all, `timeout` or longer after start-up (kproxy's addition:
//!    kube-proxy stays healthy forever if its first sync never comes, which hides a proxy
//!    that cannot program the kernel).
//!
//! `/healthz` additionally needs the node to be eligible (not being deleted, not tainted
//! by the cluster autoscaler), so load balancers stop sending traffic to a draining node;
//! `/livez` ignores the node, so the kubelet does not restart a proxy that is fine.
//!
//! The clock is injected so tests move time by hand instead of sleeping.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

/// The taint the cluster autoscaler puts on a node it is about to delete.
pub const TO_BE_DELETED_TAINT: &str = "ToBeDeletedByClusterAutoscaler";

/// kube-proxy's health timeout: twice the sync period.
pub fn health_timeout(sync_period: Duration) -> Duration {
    sync_period.saturating_mul(2)
}

/// Whether a node may receive load-balancer traffic: kube-proxy's `SyncNode` rule.
pub fn node_eligible<'a>(
    being_deleted: bool,
    taint_keys: impl IntoIterator<Item = &'a str>,
) -> bool {
    !being_deleted && !taint_keys.into_iter().any(|k| k == TO_BE_DELETED_TAINT)
}

/// A source of monotonic time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<Instant>);

impl Default for ManualClock {
    fn default() -> Self {
        Self(Mutex::new(Instant::now()))
    }
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Shared health state; clones share it (the sync loop holds one, the HTTP server another).
#[derive(Clone)]
pub struct ProxyHealth {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Arc<dyn Clock>,
    timeout: Duration,
    /// The same moment on both clocks, so monotonic instants can be shown as wall time.
    started: Instant,
    started_wall: SystemTime,
    times: Mutex<Times>,
    node_eligible: AtomicBool,
    /// Where queued changes are reported (`..._last_queued_timestamp_seconds`).
    metrics: std::sync::OnceLock<crate::metrics::Metrics>,
}

#[derive(Clone, Copy, Default)]
struct Times {
    /// When the last sync succeeded.
    last_updated: Option<Instant>,
    /// The first change queued since the last successful sync.
    oldest_pending: Option<Instant>,
}

/// One answer of `/healthz` or `/livez`, with kube-proxy's fields (pkg/proxy/healthcheck
/// `ProxyHealth`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// RFC 3339. When healthy this is `currentTime`, as in kube-proxy (older releases
    /// reported the last sync loop run, and clients came to expect a recent time);
    /// when unhealthy, the last successful sync, or Go's zero time if there was none.
    pub last_updated: String,
    pub current_time: String,
    /// Only in `/healthz`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_eligible: Option<bool>,
    pub healthy: bool,
    /// Per IP family (kproxy has one proxier, `IPv4`): its last sync and health.
    pub status: std::collections::BTreeMap<&'static str, ProxierHealth>,
}

/// One proxier's part of a [`HealthReport`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxierHealth {
    pub last_updated: String,
    pub healthy: bool,
}

/// How Go's JSON writes a zero `time.Time`.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl HealthReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a HealthReport always serializes")
    }
}

impl ProxyHealth {
    /// Health on the real clock. Use [`health_timeout`] for kube-proxy's timeout.
    pub fn new(timeout: Duration) -> Self {
        Self::with_clock(timeout, Arc::new(SystemClock))
    }

    pub fn with_clock(timeout: Duration, clock: Arc<dyn Clock>) -> Self {
        let started = clock.now();
        Self {
            inner: Arc::new(Inner {
                clock,
                timeout,
                started,
                started_wall: SystemTime::now(),
                times: Mutex::new(Times::default()),
                // Eligible while starting up, until a Node event says otherwise.
                node_eligible: AtomicBool::new(true),
                metrics: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Also sets `kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds` when a change
    /// is queued.
    pub fn reporting_to(self, metrics: &crate::metrics::Metrics) -> Self {
        let _ = self.inner.metrics.set(metrics.clone());
        self
    }

    /// A change was received that the backend has not applied yet.
    pub fn queued_update(&self) {
        let now = self.inner.clock.now();
        self.times().oldest_pending.get_or_insert(now);
        if let Some(m) = self.inner.metrics.get() {
            m.queued_now();
        }
    }

    /// The backend now reflects every change queued so far.
    pub fn updated(&self) {
        let now = self.inner.clock.now();
        let mut t = self.times();
        t.oldest_pending = None;
        t.last_updated = Some(now);
    }

    /// Records whether this node may receive load-balancer traffic (see [`node_eligible`]).
    pub fn set_node_eligible(&self, eligible: bool) {
        self.inner.node_eligible.store(eligible, Ordering::Relaxed);
    }

    /// The proxier's own health, ignoring the node: what `/livez` reports.
    pub fn is_healthy(&self) -> bool {
        self.assess().0
    }

    /// The answer for `/livez`.
    pub fn livez(&self) -> HealthReport {
        let (healthy, times, now) = self.assess();
        self.report(healthy, times, now, None)
    }

    /// The answer for `/healthz`: the proxier's health and the node's eligibility.
    pub fn healthz(&self) -> HealthReport {
        let eligible = self.inner.node_eligible.load(Ordering::Relaxed);
        let (healthy, times, now) = self.assess();
        self.report(healthy, times, now, Some(eligible))
    }

    fn times(&self) -> std::sync::MutexGuard<'_, Times> {
        // Times is two plain values, always consistent; a poisoned lock is still usable.
        self.inner
            .times
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn assess(&self) -> (bool, Times, Instant) {
        let times = *self.times();
        let now = self.inner.clock.now();
        let late = |since: Instant| now.saturating_duration_since(since) >= self.inner.timeout;
        let healthy = match (times.oldest_pending, times.last_updated) {
            (Some(queued), _) => !late(queued),
            (None, Some(_)) => true,
            (None, None) => !late(self.inner.started),
        };
        (healthy, times, now)
    }

    fn report(
        &self,
        proxier_healthy: bool,
        times: Times,
        now: Instant,
        node: Option<bool>,
    ) -> HealthReport {
        let current_time = self.wall(now);
        let synced = times
            .last_updated
            .map_or_else(|| ZERO_TIME.to_string(), |t| self.wall(t));
        let healthy = proxier_healthy && node.unwrap_or(true);
        let last_updated = if healthy {
            current_time.clone()
        } else {
            synced.clone()
        };
        let status = [(
            crate::metrics::IP_FAMILY,
            ProxierHealth {
                last_updated: synced,
                healthy: proxier_healthy,
            },
        )]
        .into();
        HealthReport {
            last_updated,
            current_time,
            node_eligible: node,
            healthy,
            status,
        }
    }

    fn wall(&self, t: Instant) -> String {
        let since_start = t.saturating_duration_since(self.inner.started);
        humantime::format_rfc3339_nanos(self.inner.started_wall + since_start).to_string()
    }
}

/// The sync loop reports into the health state.
impl crate::sync::SyncObserver for ProxyHealth {
    fn queued(&self) {
        self.queued_update();
    }
    fn synced(&self) {
        self.updated();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(60);

    fn fixture() -> (ProxyHealth, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        (ProxyHealth::with_clock(TIMEOUT, clock.clone()), clock)
    }

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn timeout_is_twice_the_sync_period() {
        assert_eq!(health_timeout(Duration::from_secs(30)), TIMEOUT);
    }

    #[test]
    fn healthy_during_start_up_then_unhealthy_without_a_first_sync() {
        let (h, clock) = fixture();
        assert!(h.is_healthy());
        clock.advance(TIMEOUT - SEC);
        assert!(h.is_healthy());
        clock.advance(SEC);
        assert!(!h.is_healthy());
        h.updated();
        assert!(h.is_healthy());
    }

    #[test]
    fn queued_change_becomes_late_after_the_timeout() {
        let (h, clock) = fixture();
        h.updated();
        h.queued_update();
        clock.advance(TIMEOUT - SEC);
        assert!(h.is_healthy());
        clock.advance(SEC);
        assert!(!h.is_healthy());
        h.updated();
        assert!(h.is_healthy());
    }

    #[test]
    fn the_oldest_queued_change_counts_not_the_newest() {
        let (h, clock) = fixture();
        h.updated();
        h.queued_update();
        clock.advance(TIMEOUT - SEC);
        h.queued_update(); // must not restart the timer
        clock.advance(SEC);
        assert!(!h.is_healthy());
    }

    #[test]
    fn idle_proxy_stays_healthy_long_after_its_last_sync() {
        let (h, clock) = fixture();
        h.updated();
        clock.advance(TIMEOUT * 10);
        assert!(h.is_healthy());
    }

    #[test]
    fn a_queued_change_during_start_up_is_judged_from_when_it_was_queued() {
        let (h, clock) = fixture();
        clock.advance(TIMEOUT / 2);
        h.queued_update();
        clock.advance(TIMEOUT / 2 + SEC);
        assert!(h.is_healthy(), "queued {}s ago", TIMEOUT.as_secs() / 2 + 1);
        clock.advance(TIMEOUT / 2);
        assert!(!h.is_healthy());
    }

    #[test]
    fn clones_share_state() {
        let (h, clock) = fixture();
        let server_side = h.clone();
        h.updated();
        h.queued_update();
        clock.advance(TIMEOUT);
        assert!(!server_side.is_healthy());
    }

    #[test]
    fn healthz_needs_an_eligible_node_livez_does_not() {
        let (h, _clock) = fixture();
        h.updated();
        h.set_node_eligible(false);
        assert!(!h.healthz().healthy);
        assert_eq!(h.healthz().node_eligible, Some(false));
        assert!(h.livez().healthy);
        h.set_node_eligible(true);
        assert!(h.healthz().healthy);
    }

    #[test]
    fn node_eligibility_follows_deletion_and_the_autoscaler_taint() {
        assert!(node_eligible(false, ["node.kubernetes.io/unschedulable"]));
        assert!(!node_eligible(true, []));
        assert!(!node_eligible(false, ["a", TO_BE_DELETED_TAINT]));
    }

    #[test]
    fn healthy_report_shows_current_time_as_last_updated() {
        let (h, clock) = fixture();
        h.updated();
        clock.advance(SEC * 5);
        let r = h.livez();
        assert!(r.healthy);
        assert_eq!(r.last_updated, r.current_time);
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["lastUpdated"], json["currentTime"]);
        assert!(json.get("nodeEligible").is_none(), "{json}");
    }

    #[test]
    fn unhealthy_report_shows_the_last_successful_sync() {
        let (h, clock) = fixture();
        clock.advance(SEC);
        h.updated();
        let synced_at = h.livez().current_time;
        h.queued_update();
        clock.advance(TIMEOUT + SEC * 2);
        let r = h.healthz();
        assert!(!r.healthy);
        assert_eq!(r.last_updated, synced_at);
        let synced: SystemTime = humantime::parse_rfc3339(&synced_at).unwrap();
        let now: SystemTime = humantime::parse_rfc3339(&r.current_time).unwrap();
        assert_eq!(now.duration_since(synced).unwrap(), TIMEOUT + SEC * 2);
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["nodeEligible"], true);
    }

    #[test]
    fn unhealthy_before_any_sync_reports_go_zero_time() {
        let (h, clock) = fixture();
        clock.advance(TIMEOUT);
        let json: serde_json::Value = serde_json::from_str(&h.livez().to_json()).unwrap();
        assert_eq!(json["lastUpdated"], ZERO_TIME, "{json}");
        assert_eq!(json["healthy"], false, "{json}");
        assert_eq!(json["status"]["IPv4"]["healthy"], false, "{json}");
    }

    /// The real sync loop, with `ProxyHealth` as its observer: a backend that keeps failing
    /// turns health 503 after the timeout; its first success turns it back.
    #[tokio::test(start_paused = true)]
    async fn sync_loop_drives_health() {
        use std::net::Ipv4Addr;
        use std::sync::atomic::AtomicBool;

        use crate::backend::{Backend, SyncError, SyncReport};
        use crate::metrics::Metrics;
        use crate::model::{Change, PendingChanges, Protocol, ProxyState, Service};
        use crate::netfilter::iptables::runner::RunnerError;
        use crate::sync::{Periods, SyncLoop};

        struct Flaky(Arc<AtomicBool>);
        impl Backend for Flaky {
            fn sync(
                &mut self,
                _: &ProxyState,
                _: &PendingChanges,
                full: bool,
            ) -> Result<SyncReport, SyncError> {
                if self.0.load(Ordering::SeqCst) {
                    return Err(SyncError::Restore(RunnerError::Spawn {
                        program: "test".into(),
                        reason: "injected".into(),
                    }));
                }
                Ok(SyncReport {
                    full,
                    objects_written: 0,
                })
            }
        }

        let (h, clock) = fixture();
        let failing = Arc::new(AtomicBool::new(false));
        let periods = Periods {
            min_sync: SEC,
            sync: TIMEOUT / 2,
        };
        let sync = SyncLoop::new(
            ProxyState::new("n"),
            Flaky(failing.clone()),
            periods,
            Metrics::new(),
            h.clone(),
            1,
        );
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(sync.run(rx, false));

        tx.send(Change::InitialSyncDone).await.unwrap();
        tokio::time::sleep(SEC).await;
        assert_eq!(
            h.times().last_updated,
            Some(clock.now()),
            "first sync reported"
        );

        failing.store(true, Ordering::SeqCst);
        let svc = Service::new("ns", "a", Ipv4Addr::new(10, 96, 0, 1)).with_port(
            "",
            80,
            Protocol::Tcp,
            None,
        );
        tx.send(Change::service(svc)).await.unwrap();
        tokio::time::sleep(SEC * 5).await;
        assert!(h.times().oldest_pending.is_some(), "queued change reported");
        clock.advance(TIMEOUT);
        assert!(!h.is_healthy());

        failing.store(false, Ordering::SeqCst);
        tokio::time::sleep(SEC * 5).await;
        assert!(h.is_healthy(), "the retry succeeded and was reported");
    }
}
