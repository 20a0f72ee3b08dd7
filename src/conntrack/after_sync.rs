//! The cleanup's place in the sync path: any backend, followed by the reconciler after
//! each successful sync (an [`AfterSync`] step), as kube-proxy's proxiers call it at the end of `syncProxyRules`.
//! Backend-neutral: iptables and IPVS mode (with `net.ipv4.vs.conntrack=1`) both leave
//! entries whose reply source is the endpoint.

use tracing::warn;

use super::handle::ConntrackHandle;
use super::reconciler::{ConntrackTable, Reconciler};
use crate::backend::Backend;
use crate::backend::after_sync::{AfterSync, WithAfterSync};
use crate::metrics::Metrics;
use crate::model::ProxyState;

/// `backend`, with stale UDP and SCTP entries deleted after each sync that succeeded.
pub type CleanupAfterSync<B, T = ConntrackHandle> = WithAfterSync<B, Reconciler<T>>;

impl<B: Backend, T: ConntrackTable> CleanupAfterSync<B, T> {
    pub fn reconciler(&self) -> &Reconciler<T> {
        self.step()
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

impl<T: ConntrackTable> AfterSync for Reconciler<T> {
    /// A failed cleanup is logged and never fails the sync: the rules are in place, and
    /// the next sync reconciles again.
    fn after_sync(&mut self, state: &ProxyState, _full: bool) {
        if let Err(e) = self.reconcile(state) {
            warn!(error = %e, "conntrack cleanup failed; retrying after the next sync");
        }
    }
}
