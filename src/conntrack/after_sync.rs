//! The cleanup's place in the sync path: any backend, followed by the reconciler after
//! each successful sync, as kube-proxy's proxiers call it at the end of `syncProxyRules`.
//! Backend-neutral: iptables and IPVS mode (with `net.ipv4.vs.conntrack=1`) both leave
//! entries whose reply source is the endpoint.

use std::time::Duration;

use tracing::warn;

use super::handle::ConntrackHandle;
use super::reconciler::{ConntrackTable, Reconciler};
use crate::backend::{Backend, SyncError, SyncReport};
use crate::metrics::Metrics;
use crate::model::{PendingChanges, ProxyState};

/// `backend`, with stale UDP and SCTP entries deleted after each sync that succeeded.
pub struct CleanupAfterSync<B, T = ConntrackHandle> {
    backend: B,
    reconciler: Reconciler<T>,
}

impl<B: Backend, T: ConntrackTable> CleanupAfterSync<B, T> {
    pub fn new(backend: B, reconciler: Reconciler<T>) -> Self {
        Self {
            backend,
            reconciler,
        }
    }

    pub fn reconciler(&self) -> &Reconciler<T> {
        &self.reconciler
    }
}

/// Wraps `backend` with the cleanup, in the calling thread's network namespace; without a
/// netlink socket (a kernel without conntrack netlink) the backend runs alone, with one
/// warning.
pub fn with_conntrack_cleanup(backend: Box<dyn Backend>, metrics: &Metrics) -> Box<dyn Backend> {
    match ConntrackHandle::new() {
        Ok(handle) => Box::new(CleanupAfterSync::new(
            backend,
            Reconciler::new(handle, metrics.clone()),
        )),
        Err(e) => {
            warn!(error = %e, "stale UDP/SCTP conntrack entries will not be cleaned");
            backend
        }
    }
}

impl<B: Backend, T: ConntrackTable> Backend for CleanupAfterSync<B, T> {
    /// A failed cleanup is logged and never fails the sync: the rules are in place, and
    /// the next sync reconciles again.
    fn sync(
        &mut self,
        state: &ProxyState,
        changes: &PendingChanges,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        let report = self.backend.sync(state, changes, full)?;
        if let Err(e) = self.reconciler.reconcile(state) {
            warn!(error = %e, "conntrack cleanup failed; retrying after the next sync");
        }
        Ok(report)
    }

    fn next_wakeup(&self) -> Option<Duration> {
        self.backend.next_wakeup()
    }

    fn wakeup(&mut self) -> Result<SyncReport, SyncError> {
        self.backend.wakeup()
    }
}
