//! Work that follows every successful sync of any backend, as kube-proxy's proxiers end
//! `syncProxyRules` (health-check servers, the `route_localnet` repair): a backend wrapped
//! with an [`AfterSync`] step, which sees the state just programmed.

use std::time::Duration;

use super::{Backend, SyncError, SyncReport};
use crate::model::{PendingChanges, ProxyState};

/// One step after each successful sync. It never fails the sync: the rules are in place,
/// and a step logs its own trouble and tries again after the next sync.
pub trait AfterSync: Send {
    /// `full` says the sync was a full one (the moment to repair drift).
    fn after_sync(&mut self, state: &ProxyState, full: bool);
}

/// `backend`, then `step` after each sync that succeeded.
pub struct WithAfterSync<B, S> {
    backend: B,
    step: S,
}

impl<B: Backend, S: AfterSync> WithAfterSync<B, S> {
    pub fn new(backend: B, step: S) -> Self {
        Self { backend, step }
    }

    pub fn step(&self) -> &S {
        &self.step
    }
}

impl<B: Backend, S: AfterSync> Backend for WithAfterSync<B, S> {
    fn sync(
        &mut self,
        state: &ProxyState,
        changes: &PendingChanges,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        let report = self.backend.sync(state, changes, full)?;
        self.step.after_sync(state, full || report.full);
        Ok(report)
    }

    fn next_wakeup(&self) -> Option<Duration> {
        self.backend.next_wakeup()
    }

    fn wakeup(&mut self) -> Result<SyncReport, SyncError> {
        self.backend.wakeup()
    }
}
