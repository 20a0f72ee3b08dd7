//! Backends turn the state into kernel state, one per `--proxy-mode`. Each splits into a
//! pure compiler and an executor, the only code that touches the kernel.

pub mod after_sync;
pub mod cleanup;
mod error;
pub mod iptables;
pub mod ipvs;
pub mod nftables;

use std::time::Duration;

pub use error::SyncError;

use crate::model::{PendingChanges, ProxyState};

/// What one sync did, for logs and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Whether the sync compared against the kernel and repaired drift (a full sync).
    pub full: bool,
    /// Kernel objects written: chains for iptables, netlink operations for IPVS.
    pub objects_written: usize,
}

/// A proxy mode's way of programming the node.
pub trait Backend: Send {
    /// Programs the kernel to match `state`. `changes` names what changed since the last
    /// successful sync; `full` asks to check the whole kernel state and repair drift.
    fn sync(
        &mut self,
        state: &ProxyState,
        changes: &PendingChanges,
        full: bool,
    ) -> Result<SyncReport, SyncError>;

    /// How long after the last sync or wakeup the backend wants [`Backend::wakeup`] called,
    /// when it has work between syncs (IPVS: destinations draining their connections).
    fn next_wakeup(&self) -> Option<Duration> {
        None
    }

    /// Work between syncs, such as deleting drained destinations. Never called before the
    /// first sync.
    fn wakeup(&mut self) -> Result<SyncReport, SyncError> {
        Ok(SyncReport::default())
    }
}

impl<B: Backend + ?Sized> Backend for Box<B> {
    fn sync(
        &mut self,
        state: &ProxyState,
        changes: &PendingChanges,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        (**self).sync(state, changes, full)
    }

    fn next_wakeup(&self) -> Option<Duration> {
        (**self).next_wakeup()
    }

    fn wakeup(&mut self) -> Result<SyncReport, SyncError> {
        (**self).wakeup()
    }
}
