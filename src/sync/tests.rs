use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use super::*;
use crate::backend::SyncReport;
use crate::model::{Protocol, Service, ServiceName};
use crate::netfilter::iptables::runner::RunnerError;

#[derive(Debug, Clone)]
struct Call {
    at: Duration,
    full: bool,
    dirty: BTreeSet<ServiceName>,
}

#[derive(Clone)]
struct FakeBackend {
    epoch: Instant,
    calls: Arc<Mutex<Vec<Call>>>,
    failures_left: Arc<Mutex<usize>>,
    /// How many more wakeups the backend asks for (each 500 ms after the last).
    wakeups_left: Arc<Mutex<usize>>,
    wakeups: Arc<Mutex<Vec<Duration>>>,
}

impl FakeBackend {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            calls: Arc::default(),
            failures_left: Arc::default(),
            wakeups_left: Arc::default(),
            wakeups: Arc::default(),
        }
    }
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

impl Backend for FakeBackend {
    fn sync(
        &mut self,
        _: &ProxyState,
        changes: &PendingChanges,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        self.calls.lock().unwrap().push(Call {
            at: Instant::now() - self.epoch,
            full,
            dirty: changes.dirty.clone(),
        });
        let mut failures = self.failures_left.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
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

    fn next_wakeup(&self) -> Option<Duration> {
        (*self.wakeups_left.lock().unwrap() > 0).then_some(Duration::from_millis(500))
    }

    fn wakeup(&mut self) -> Result<SyncReport, SyncError> {
        self.wakeups
            .lock()
            .unwrap()
            .push(Instant::now() - self.epoch);
        *self.wakeups_left.lock().unwrap() -= 1;
        Ok(SyncReport::default())
    }
}

const PERIODS: Periods = Periods {
    min_sync: Duration::from_secs(1),
    sync: Duration::from_secs(30),
};

fn svc(name: &str, last: u8) -> Change {
    Change::service(
        Service::new("ns", name, Ipv4Addr::new(10, 96, 0, last)).with_port(
            "",
            80,
            Protocol::Tcp,
            None,
        ),
    )
}

/// A loop over (a clone of) `backend` with one source, not started, and its channel.
fn new_loop<B: Backend + Clone + 'static>(
    backend: &B,
) -> (mpsc::Sender<Change>, mpsc::Receiver<Change>, SyncLoop<B>) {
    let (tx, rx) = mpsc::channel(64);
    let sync = SyncLoop::new(
        ProxyState::new("n"),
        backend.clone(),
        PERIODS,
        Metrics::new(),
        (),
        1,
    );
    (tx, rx, sync)
}

fn start(backend: &FakeBackend) -> mpsc::Sender<Change> {
    let (tx, rx, sync) = new_loop(backend);
    tokio::spawn(sync.run(rx, false));
    tx
}

/// Lets the paused clock run forward until every task is idle.
async fn run_for(d: Duration) {
    tokio::time::sleep(d).await;
}

#[tokio::test(start_paused = true)]
async fn nothing_syncs_before_the_initial_snapshot_is_complete() {
    let backend = FakeBackend::new();
    let tx = start(&backend);
    tx.send(svc("a", 1)).await.unwrap();
    run_for(Duration::from_secs(120)).await;
    assert!(backend.calls().is_empty());

    tx.send(Change::InitialSyncDone).await.unwrap();
    run_for(Duration::from_millis(10)).await;
    let calls = backend.calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].full);
    assert_eq!(calls[0].at, Duration::from_secs(120));
}

#[tokio::test(start_paused = true)]
async fn changes_within_min_sync_period_are_batched() {
    let backend = FakeBackend::new();
    let tx = start(&backend);
    tx.send(Change::InitialSyncDone).await.unwrap();
    run_for(Duration::from_millis(100)).await;
    tx.send(svc("a", 1)).await.unwrap();
    run_for(Duration::from_millis(100)).await;
    tx.send(svc("b", 2)).await.unwrap();
    run_for(Duration::from_secs(2)).await;

    let calls = backend.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        calls[1].at,
        Duration::from_secs(1),
        "second sync waits for min_sync_period"
    );
    assert!(!calls[1].full);
    assert_eq!(calls[1].dirty.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_change_after_a_quiet_period_syncs_at_once() {
    let backend = FakeBackend::new();
    let tx = start(&backend);
    tx.send(Change::InitialSyncDone).await.unwrap();
    run_for(Duration::from_secs(5)).await;
    tx.send(svc("a", 1)).await.unwrap();
    run_for(Duration::from_millis(1)).await;
    let calls = backend.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].at, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_full_resync_happens_every_sync_period_without_changes() {
    let backend = FakeBackend::new();
    let _tx = start(&backend);
    _tx.send(Change::InitialSyncDone).await.unwrap();
    run_for(Duration::from_secs(95)).await;
    let at: Vec<_> = backend
        .calls()
        .iter()
        .map(|c| (c.at.as_secs(), c.full))
        .collect();
    assert_eq!(at, vec![(0, true), (30, true), (60, true), (90, true)]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_sync_is_retried_in_full_with_its_changes() {
    let backend = FakeBackend::new();
    let tx = start(&backend);
    tx.send(Change::InitialSyncDone).await.unwrap();
    run_for(Duration::from_secs(3)).await;
    *backend.failures_left.lock().unwrap() = 1;
    tx.send(svc("a", 1)).await.unwrap();
    run_for(Duration::from_secs(3)).await;

    let calls = backend.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        !calls[1].full,
        "the change first goes out as a partial sync"
    );
    assert!(calls[2].full, "the retry is a full sync");
    assert_eq!(calls[2].at - calls[1].at, Duration::from_secs(1));
    assert_eq!(
        calls[2].dirty, calls[1].dirty,
        "the retry covers the failed changes"
    );
}

#[tokio::test(start_paused = true)]
async fn once_returns_the_first_sync_result() {
    let backend = FakeBackend::new();
    *backend.failures_left.lock().unwrap() = 1;
    let (tx, rx, sync) = new_loop(&backend);
    tx.send(Change::InitialSyncDone).await.unwrap();
    assert!(sync.run(rx, true).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_backend_is_woken_between_syncs_while_it_asks() {
    let backend = FakeBackend::new();
    *backend.wakeups_left.lock().unwrap() = 3;
    let tx = start(&backend);
    run_for(Duration::from_secs(5)).await;
    assert!(
        backend.wakeups.lock().unwrap().is_empty(),
        "no wakeup before the first sync"
    );
    tx.send(Change::InitialSyncDone).await.unwrap();
    run_for(Duration::from_secs(10)).await;
    let at: Vec<u128> = backend
        .wakeups
        .lock()
        .unwrap()
        .iter()
        .map(Duration::as_millis)
        .collect();
    assert_eq!(at, vec![5500, 6000, 6500]);
    assert_eq!(backend.calls().len(), 1, "wakeups are not syncs");
}

/// A backend whose syncs block until the test opens the gate: a kernel taking its time.
/// The gate opens by itself after [`SlowBackend::GIVE_UP`], so that a loop that blocks its
/// runtime fails the test rather than hanging it.
#[derive(Clone, Default)]
struct SlowBackend {
    started: Arc<Mutex<usize>>,
    gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl SlowBackend {
    const GIVE_UP: Duration = Duration::from_secs(10);

    fn new() -> Self {
        let backend = Self::default();
        let watchdog = backend.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Self::GIVE_UP);
            watchdog.open();
        });
        backend
    }

    fn open(&self) {
        let (open, wake) = &*self.gate;
        *open.lock().unwrap() = true;
        wake.notify_all();
    }

    fn is_open(&self) -> bool {
        *self.gate.0.lock().unwrap()
    }

    /// Polls (on the runtime, every 10 ms) until the first sync is in the backend.
    async fn wait_until_started(&self) {
        let deadline = std::time::Instant::now() + Self::GIVE_UP;
        while *self.started.lock().unwrap() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the sync never started"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Backend for SlowBackend {
    fn sync(
        &mut self,
        _: &ProxyState,
        _: &PendingChanges,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        *self.started.lock().unwrap() += 1;
        let (open, wake) = &*self.gate;
        let _open = wake
            .wait_while(open.lock().unwrap(), |open| !*open)
            .unwrap();
        Ok(SyncReport {
            full,
            objects_written: 0,
        })
    }
}

/// One runtime thread, as a worst case: a sync that held it would stall this test until the
/// watchdog opens the gate.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_sync_leaves_the_runtime_free_and_the_loop_can_stop_meanwhile() {
    let backend = SlowBackend::new();
    let (tx, rx, sync) = new_loop(&backend);
    let running = tokio::spawn(sync.run(rx, false));
    tx.send(Change::InitialSyncDone).await.unwrap();
    backend.wait_until_started().await;
    assert!(
        !backend.is_open(),
        "this task only ran once the sync was over"
    );

    // While the backend is stuck, sources can still queue changes, and stopping the loop
    // (what SIGTERM does) takes effect at once.
    for i in 0..10 {
        tx.send(svc(&format!("s{i}"), i)).await.unwrap();
    }
    running.abort();
    let stopped = tokio::time::timeout(Duration::from_secs(2), running).await;
    let ended = stopped.expect("the loop did not stop within 2 s");
    assert!(
        ended.unwrap_err().is_cancelled(),
        "the loop ended on its own"
    );
    assert!(!backend.is_open(), "the loop stopped only after the sync");
    backend.open();
}

#[tokio::test(flavor = "current_thread")]
async fn the_state_comes_back_from_a_slow_sync() {
    let backend = SlowBackend::new();
    let (tx, rx, sync) = new_loop(&backend);
    let first = tokio::spawn(sync.first_sync(rx));
    tx.send(svc("a", 1)).await.unwrap();
    tx.send(Change::InitialSyncDone).await.unwrap();
    backend.wait_until_started().await;
    backend.open();
    let first = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .expect("the first sync returned")
        .unwrap()
        .unwrap();
    assert!(first.report.full);
    assert_eq!(
        first.services, 1,
        "the state came back from the backend call"
    );
}

/// The gauges kube-proxy computes around its syncs move as kube-proxy's do: pending changes
/// while they wait, zero once a sync took them; the last queued time with each change; the
/// Local-policy ports without a local endpoint after each sync.
#[tokio::test(start_paused = true)]
async fn upstreams_pending_queued_and_no_local_gauges_move_with_the_syncs() {
    let backend = FakeBackend::new();
    let metrics = Metrics::new();
    let (tx, rx) = mpsc::channel(64);
    let sync = SyncLoop::new(
        ProxyState::new("n"),
        backend.clone(),
        PERIODS,
        metrics.clone(),
        (),
        1,
    );
    tokio::spawn(sync.run(rx, false));
    let pending = || {
        (
            metrics.service_changes_pending.get(),
            metrics.endpoint_changes_pending.get(),
        )
    };
    let no_local = |policy: &str| {
        metrics
            .no_local_endpoints
            .get_or_create(&crate::metrics::TrafficPolicyLabels {
                traffic_policy: policy.into(),
            })
            .get()
    };
    run_for(Duration::from_millis(10)).await;
    let started = metrics.last_queued_timestamp.get();
    assert!(started > 0.0, "set as the loop starts");

    let mut local = Service::new("ns", "local", Ipv4Addr::new(10, 96, 0, 9)).with_port(
        "",
        80,
        Protocol::Tcp,
        None,
    );
    local.internal_traffic_policy = crate::model::TrafficPolicy::Local;
    let slice = crate::model::EndpointSlice::new(&local.name, "local-1")
        .with_port("", 8080, Protocol::Tcp)
        .with_endpoint(
            Ipv4Addr::new(10, 244, 0, 9),
            Some("elsewhere"),
            crate::model::Conditions::READY,
        );
    tx.send(svc("a", 1)).await.unwrap();
    tx.send(Change::service(local)).await.unwrap();
    tx.send(Change::slice(slice)).await.unwrap();
    run_for(Duration::from_millis(10)).await;
    assert_eq!(pending(), (2, 1));
    assert_eq!(no_local("internal"), 0, "not synced yet");

    tx.send(Change::InitialSyncDone).await.unwrap();
    run_for(Duration::from_millis(10)).await;
    assert_eq!(backend.calls().len(), 1);
    assert_eq!(pending(), (0, 0));
    assert_eq!((no_local("internal"), no_local("external")), (1, 0));

    run_for(Duration::from_secs(5)).await;
    let before = metrics.last_queued_timestamp.get();
    tx.send(Change::ServiceDeleted(ServiceName::new("ns", "local")))
        .await
        .unwrap();
    run_for(Duration::from_millis(1)).await;
    assert!(metrics.last_queued_timestamp.get() >= before);
    run_for(Duration::from_secs(2)).await;
    assert_eq!(backend.calls().len(), 2);
    assert_eq!(no_local("internal"), 0);
}
