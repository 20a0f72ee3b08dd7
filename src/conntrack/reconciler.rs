//! The executor of the stale-entry cleanup: dumps the UDP and SCTP entries, deletes what
//! [`stale_entries`] picks, and remembers the frontends for the next run (so a deleted
//! service's flows are cleaned once more after it is gone).

use std::time::Instant;

use tracing::{debug, trace};

use super::consts::AF_INET;
use super::entry::Entry;
use super::error::ConntrackError;
use super::handle::{ConntrackHandle, Deleted, Dump};
use super::stale::{Frontends, PROTOCOLS, stale_entries};
use crate::metrics::Metrics;
use crate::model::ProxyState;

/// The conntrack table as the reconciler uses it; [`ConntrackHandle`] is the kernel's.
pub trait ConntrackTable: Send {
    /// The entries of `family`'s table whose transport protocol is `protocol`.
    fn dump(&mut self, family: u8, protocol: u8) -> Result<Dump, ConntrackError>;
    /// Deletes `entries`; those already gone count as missing, not as errors.
    fn delete(&mut self, entries: &[Entry]) -> Result<Deleted, ConntrackError>;
}

impl ConntrackTable for ConntrackHandle {
    fn dump(&mut self, family: u8, protocol: u8) -> Result<Dump, ConntrackError> {
        ConntrackHandle::dump(self, family, protocol)
    }

    fn delete(&mut self, entries: &[Entry]) -> Result<Deleted, ConntrackError> {
        self.delete_all(entries)
    }
}

/// What one reconcile did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Entries of the cleaned protocols in the table.
    pub dumped: usize,
    pub deleted: usize,
    /// Stale, but gone before the delete reached them.
    pub missing: usize,
    /// A dump was interrupted by table changes; what it returned was still cleaned.
    pub interrupted: bool,
}

pub struct Reconciler<T> {
    table: T,
    /// The frontends at the last successful run.
    previous: Frontends,
    metrics: Metrics,
}

impl<T: ConntrackTable> Reconciler<T> {
    pub fn new(table: T, metrics: Metrics) -> Self {
        Self {
            table,
            previous: Frontends::default(),
            metrics,
        }
    }

    /// Deletes the IPv4 entries that are stale against `state`. After a failure the
    /// frontends of the last successful run are kept, so the next run still covers
    /// services deleted since.
    pub fn reconcile(&mut self, state: &ProxyState) -> Result<ReconcileReport, ConntrackError> {
        let started = Instant::now();
        let current = Frontends::from_state(state);
        let frontends = current.clone().with_removed(&self.previous);
        let result = self.clean(&frontends);
        self.metrics
            .conntrack_reconcile_duration
            .observe(started.elapsed().as_secs_f64());
        if let Ok(report) = &result {
            self.metrics
                .conntrack_deleted_entries
                .inc_by(report.deleted as u64);
            self.previous = current;
            if report.deleted > 0 {
                debug!(
                    deleted = report.deleted,
                    missing = report.missing,
                    elapsed = ?started.elapsed(),
                    "deleted stale conntrack entries"
                );
            }
        }
        result
    }

    fn clean(&mut self, frontends: &Frontends) -> Result<ReconcileReport, ConntrackError> {
        let mut report = ReconcileReport::default();
        for protocol in PROTOCOLS {
            if !frontends.has_protocol(protocol) {
                continue;
            }
            let dump = self.table.dump(AF_INET, protocol)?;
            report.dumped += dump.entries.len();
            report.interrupted |= dump.interrupted;
            let stale: Vec<Entry> = stale_entries(&dump.entries, frontends)
                .into_iter()
                .cloned()
                .collect();
            for entry in &stale {
                trace!(%entry, "deleting stale conntrack entry");
            }
            let deleted = self.table.delete(&stale)?;
            report.deleted += deleted.deleted;
            report.missing += deleted.missing;
        }
        Ok(report)
    }

    /// The table, for tests.
    pub fn table(&self) -> &T {
        &self.table
    }
}

#[cfg(test)]
mod tests;
