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

fn start(backend: &FakeBackend) -> mpsc::Sender<Change> {
    let (tx, rx) = mpsc::channel(64);
    let sync = SyncLoop::new(
        ProxyState::new("n"),
        backend.clone(),
        PERIODS,
        Metrics::new(),
        (),
        1,
    );
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
    let (tx, rx) = mpsc::channel(4);
    tx.send(Change::InitialSyncDone).await.unwrap();
    let sync = SyncLoop::new(
        ProxyState::new("n"),
        backend.clone(),
        PERIODS,
        Metrics::new(),
        (),
        1,
    );
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
