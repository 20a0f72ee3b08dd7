//! The sync loop decides *when* a backend programs the kernel; the backend decides *what*.
//!
//! Guarantees, as kube-proxy's `BoundedFrequencyRunner` gives them:
//! 1. No sync before every source has delivered its complete initial snapshot, so a restart
//!    never programs an empty rule set over a working node.
//! 2. The first sync happens as soon as (1) holds, and is a full sync.
//! 3. Syncs start at least `min_sync_period` apart; changes arriving in between are batched
//!    into the next sync.
//! 4. A full sync (which compares with the kernel and repairs drift) happens at least once per
//!    `sync_period`, changes or not.
//! 5. A failed sync is retried after `min_sync_period`, as a full sync, with the changes it
//!    could not program put back.
//! 6. Between syncs, a backend that asks for it (`Backend::next_wakeup`) is woken to do
//!    its own housekeeping (IPVS deletes drained destinations); never before the first sync.
//! 7. The backend never runs on a runtime thread: each sync and wakeup runs on tokio's
//!    blocking pool with the state and the backend handed over and back, so however long
//!    the kernel takes (tens of seconds for a first sync at 10k services), signals, the
//!    HTTP servers and the sources go on. Changes queue in the channel meanwhile.
//!
//! Time comes from `tokio::time`, so tests drive the loop with a paused clock (a blocking
//! task in flight holds the paused clock still, so the tests stay exact).

use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::backend::{Backend, SyncError, SyncReport};
use crate::metrics::Metrics;
use crate::model::{Change, PendingChanges, ProxyState};

mod upstream_counts;

use upstream_counts::{ChangeKind, NoLocalEndpoints, PendingCounts};

/// Called around syncs, for the health endpoints.
pub trait SyncObserver: Send {
    /// A change is waiting for the next sync.
    fn queued(&self) {}
    /// A sync succeeded.
    fn synced(&self) {}
}

/// No observer.
impl SyncObserver for () {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Periods {
    pub min_sync: Duration,
    pub sync: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncLoopError {
    #[error("every source stopped")]
    SourcesStopped,
    #[error(transparent)]
    Sync(#[from] SyncError),
}

pub struct SyncLoop<B, O = ()> {
    /// Empty while a backend call has it ([`SyncLoop::off_runtime`]).
    state: ProxyState,
    /// `None` only while a backend call has it.
    backend: Option<B>,
    periods: Periods,
    metrics: Metrics,
    observer: O,
    /// Sources that have not yet sent `InitialSyncDone`.
    sources_pending: usize,
    /// kube-proxy's pending-change gauges.
    pending_counts: PendingCounts,
    /// kube-proxy's no-local-endpoints gauges (moved to the sync's thread and back).
    no_local: NoLocalEndpoints,
}

/// What the first sync of a `--once` run did.
#[derive(Clone, Debug, PartialEq)]
pub struct FirstSync {
    pub report: SyncReport,
    pub elapsed: Duration,
    pub services: usize,
}

impl<B: Backend + 'static, O: SyncObserver> SyncLoop<B, O> {
    pub fn new(
        state: ProxyState,
        backend: B,
        periods: Periods,
        metrics: Metrics,
        observer: O,
        sources: usize,
    ) -> Self {
        Self {
            state,
            backend: Some(backend),
            periods,
            metrics,
            observer,
            sources_pending: sources,
            pending_counts: PendingCounts::default(),
            no_local: NoLocalEndpoints::default(),
        }
    }

    /// Runs until the sources stop. With `once`, returns after the first sync, with its result.
    pub async fn run(
        self,
        changes: mpsc::Receiver<Change>,
        once: bool,
    ) -> Result<(), SyncLoopError> {
        self.drive(changes, once).await.map(drop)
    }

    /// `--once`: returns after the first sync, with what it did.
    pub async fn first_sync(
        self,
        changes: mpsc::Receiver<Change>,
    ) -> Result<FirstSync, SyncLoopError> {
        self.drive(changes, true).await
    }

    /// The loop. Only a `once` run returns `Ok`, after its first sync.
    async fn drive(
        mut self,
        mut changes: mpsc::Receiver<Change>,
        once: bool,
    ) -> Result<FirstSync, SyncLoopError> {
        let mut last_start: Option<Instant> = None;
        let mut next_full = Instant::now();
        let mut need_full = true;
        // When the backend asked to be woken between syncs (see `Backend::next_wakeup`).
        let mut wake_at: Option<Instant> = None;
        // kube-proxy: "synthesize 'last change queued' time as the informers are syncing".
        self.metrics.queued_now();
        loop {
            let due = self.next_sync(last_start, next_full, need_full);
            tokio::select! {
                change = changes.recv() => {
                    let Some(change) = change else { return Err(SyncLoopError::SourcesStopped) };
                    self.apply(change);
                    // Take whatever else is already queued, so one sync covers a burst.
                    while let Ok(change) = changes.try_recv() {
                        self.apply(change);
                    }
                }
                () = sleep_until_opt(due) => {
                    let start = Instant::now();
                    let full = need_full || start >= next_full;
                    let result = self.sync_once(full).await;
                    last_start = Some(start);
                    wake_at = self.backend().next_wakeup().map(|d| Instant::now() + d);
                    match result {
                        Ok((report, elapsed)) => {
                            need_full = false;
                            if full {
                                next_full = start + self.periods.sync;
                            }
                            if once {
                                let services = self.state.service_count();
                                return Ok(FirstSync { report, elapsed, services });
                            }
                        }
                        Err(e) => {
                            error!(error = %e, "sync failed; retrying as a full sync after {:?}", self.periods.min_sync);
                            self.metrics.sync_failures.inc();
                            need_full = true;
                            if once {
                                return Err(e.into());
                            }
                        }
                    }
                }
                () = sleep_until_opt(wake_at) => {
                    match self.off_runtime(|backend, _| backend.wakeup()).await {
                        Ok(report) if report.objects_written > 0 => {
                            debug!(written = report.objects_written, "backend wakeup");
                        }
                        Ok(_) => {}
                        Err(e) => {
                            error!(error = %e, "backend wakeup failed; the next sync is a full sync");
                            need_full = true;
                        }
                    }
                    wake_at = self.backend().next_wakeup().map(|d| Instant::now() + d);
                }
            }
        }
    }

    fn apply(&mut self, change: Change) {
        if change == Change::InitialSyncDone {
            self.sources_pending = self.sources_pending.saturating_sub(1);
            if self.sources_pending == 0 {
                info!(
                    services = self.state.service_count(),
                    "initial snapshot complete"
                );
            }
        } else {
            let kind = ChangeKind::of(&change);
            let changed = self.state.apply(change);
            // Services that lost an address to another (`model::claims`): one line each.
            for r in self.state.take_rejections() {
                let (service, reason) = (&r.service, r.refusal.reason());
                warn!(kind = "Service", object = %service, reason, "rejected Service {service}: {}", r.refusal);
                self.metrics.reject("Service", reason);
            }
            if changed {
                self.metrics.queued_now();
                self.pending_counts
                    .applied(kind, &self.state, &self.metrics);
                self.observer.queued();
            }
        }
    }

    /// When the next sync is due, or `None` while waiting for the initial snapshot.
    fn next_sync(
        &self,
        last_start: Option<Instant>,
        next_full: Instant,
        need_full: bool,
    ) -> Option<Instant> {
        if self.sources_pending > 0 {
            return None;
        }
        let earliest = last_start.map_or_else(Instant::now, |t| t + self.periods.min_sync);
        if need_full || self.state.has_pending() {
            Some(earliest)
        } else {
            Some(next_full.max(earliest))
        }
    }

    async fn sync_once(&mut self, full: bool) -> Result<(SyncReport, Duration), SyncError> {
        let pending = self.state.take_pending();
        self.pending_counts.taken(&self.metrics);
        let mut no_local = std::mem::take(&mut self.no_local);
        let started = std::time::Instant::now();
        let (pending, no_local, result) = self
            .off_runtime(move |backend, state| {
                let result = backend.sync(state, &pending, full);
                if result.is_ok() {
                    no_local.update(state, &pending.dirty);
                }
                (pending, no_local, result)
            })
            .await;
        let elapsed = started.elapsed();
        if result.is_ok() {
            no_local.publish(&self.metrics);
        }
        self.no_local = no_local;
        match result {
            Ok(report) => {
                self.record_success(&pending, elapsed, &report);
                debug!(
                    full = report.full,
                    dirty = pending.dirty.len(),
                    written = report.objects_written,
                    ?elapsed,
                    "synced"
                );
                self.observer.synced();
                Ok((report, elapsed))
            }
            Err(e) => {
                self.state.restore_pending(pending);
                Err(e)
            }
        }
    }

    fn backend(&self) -> &B {
        self.backend
            .as_ref()
            .expect("the backend is back after every call")
    }

    /// Runs `work` on tokio's blocking pool with the backend and the state moved there, and
    /// takes them back when it returns (guarantee 7). Dropping the loop meanwhile (the
    /// process stopping) abandons the call: the caller waits for nothing.
    async fn off_runtime<R: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut B, &ProxyState) -> R + Send + 'static,
    ) -> R {
        let mut backend = self.backend.take().expect("one backend call at a time");
        let state = std::mem::take(&mut self.state);
        let joined = tokio::task::spawn_blocking(move || {
            let result = work(&mut backend, &state);
            (backend, state, result)
        })
        .await;
        match joined {
            Ok((backend, state, result)) => {
                self.backend = Some(backend);
                self.state = state;
                result
            }
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("backend call cancelled: {e}"),
            },
        }
    }

    /// Counts a sync. The sync's own count goes last: whoever reads `/metrics` and sees it
    /// also sees everything else the sync counted (its writes, its changes).
    fn record_success(&self, pending: &PendingChanges, elapsed: Duration, report: &SyncReport) {
        self.metrics
            .count_written(report.full, report.objects_written);
        self.metrics.service_changes.inc_by(pending.service_changes);
        self.metrics
            .endpoint_changes
            .inc_by(pending.endpoint_changes);
        let now = SystemTime::now();
        if let Ok(since_epoch) = now.duration_since(SystemTime::UNIX_EPOCH) {
            self.metrics
                .last_sync_timestamp
                .set(since_epoch.as_secs_f64());
        }
        for trigger in &pending.trigger_times {
            if let Ok(latency) = now.duration_since(*trigger) {
                self.metrics
                    .network_programming_duration
                    .observe(latency.as_secs_f64());
            }
        }
        self.metrics.observe_sync(elapsed, report.full);
    }

    /// The state, for tests and `--dry-run`.
    pub fn state(&self) -> &ProxyState {
        &self.state
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
