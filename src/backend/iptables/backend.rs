//! iptables mode's [`Backend`]: compile, compare with what the kernel holds, write the
//! difference with iptables-restore.

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn};

use super::compile::{CompileOptions, Compiler};
use super::names::is_owned_chain;
use crate::backend::{Backend, SyncError, SyncReport};
use crate::metrics::Metrics;
use crate::model::{PendingChanges, ProxyState};
use crate::netfilter::iptables::plan::{ChainMap, JumpMap, Plan};
use crate::netfilter::iptables::read_back::read_kernel_against;
use crate::netfilter::iptables::ruleset::Ruleset;
use crate::netfilter::iptables::runner::IptablesRunner;
use crate::netfilter::iptables::write::write_plan;

mod drift_check;

use drift_check::DriftCheck;

pub struct IptablesBackend<R> {
    compiler: Compiler,
    runner: R,
    /// kproxy's chains as last written; `None` when unknown (at start-up, after a failure),
    /// which makes the next sync read the kernel first.
    written: Option<ChainMap>,
    /// The ruleset last compiled, which a finished drift check is compared with.
    desired: Ruleset,
    /// A periodic resync's read-back, running beside the syncs.
    drift_check: Option<DriftCheck>,
    metrics: Metrics,
}

impl<R: IptablesRunner> IptablesBackend<R> {
    pub fn new(options: CompileOptions, runner: R, metrics: Metrics) -> Self {
        Self {
            compiler: Compiler::new(options),
            runner,
            written: None,
            desired: Ruleset::default(),
            drift_check: None,
            metrics,
        }
    }

    pub fn runner_mut(&mut self) -> &mut R {
        &mut self.runner
    }

    /// The kernel's view from a finished drift check, if one is done.
    fn finished_drift_check(&mut self) -> Option<(ChainMap, JumpMap)> {
        if !self.drift_check.as_ref().is_some_and(DriftCheck::is_done) {
            return None;
        }
        let check = self.drift_check.take()?;
        match check.finish(self.written.as_ref()?) {
            Ok((chains, jumps, took)) => {
                debug!(?took, chains = chains.len(), "drift check read the kernel");
                self.metrics
                    .drift_check_duration
                    .observe(took.as_secs_f64());
                Some((chains, jumps))
            }
            Err(e) => {
                warn!(error = %e, "drift check could not read the kernel; the next resync retries");
                None
            }
        }
    }

    /// Writes what `desired` needs over `kernel`. With `kernel_jumps`, `kernel` was read
    /// back (not remembered) and the built-in chains' jumps are repaired too.
    fn write(
        &mut self,
        desired: &Ruleset,
        mut kernel: ChainMap,
        kernel_jumps: Option<&JumpMap>,
    ) -> Result<usize, SyncError> {
        let plan = Plan::new(desired, &kernel, kernel_jumps);
        // A partial sync's failed write is retried as a full sync; kube-proxy counts it in
        // both counters.
        let partial = &self.metrics.partial_restore_failures;
        let failures = match kernel_jumps {
            Some(_) => vec![&self.metrics.restore_failures],
            None => vec![&self.metrics.restore_failures, partial],
        };
        if let Err(e) = write_plan(&mut self.runner, &plan, &failures) {
            // What the kernel holds is unknown now: the retry reads it back.
            self.written = None;
            self.drift_check = None;
            return Err(SyncError::Restore(e));
        }
        if let Some(check) = &mut self.drift_check {
            check.touch(plan.written().map(|c| (c.table(), c.name())));
            check.touch(plan.deleted());
        }
        if kernel_jumps.is_some() {
            // The kernel now holds exactly `desired`. Remember the compiler's own chains (the
            // read-back returns them for chains that were equal already), so that partial
            // syncs find them by address (`Plan::new`'s fast path).
            kernel = desired.chains.iter().cloned().collect();
        } else {
            for chain in plan.written() {
                kernel.insert(Arc::clone(chain));
            }
            for (table, name) in plan.deleted() {
                kernel.remove(table, name);
            }
        }
        self.written = Some(kernel);
        Ok(plan.size())
    }

    fn start_drift_check(&mut self) {
        if self.drift_check.is_some() {
            return;
        }
        if let Some(reader) = self.runner.reader() {
            self.drift_check = DriftCheck::start(reader, self.desired.chains.clone());
        }
    }
}

impl<R: IptablesRunner> Backend for IptablesBackend<R> {
    /// The first sync (and the first after a failure) compiles everything, reads kproxy's
    /// chains back with iptables-save and rewrites only those that differ, so a restart
    /// leaves matching chains — and their counters — alone. Other syncs compile only the
    /// changed services and write only the chains whose rules changed since the last write.
    /// A full sync also starts a drift check that reads the kernel back beside the syncs; a
    /// wakeup repairs whatever it found changed by hand (without a reader, the full sync
    /// reads the kernel itself).
    fn sync(
        &mut self,
        state: &ProxyState,
        changes: &PendingChanges,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        let cold = self.written.is_none();
        let read_here = cold || (full && self.runner.reader().is_none());
        let desired = if cold {
            self.compiler.compile_all(state)
        } else {
            self.compiler.compile(state, &changes.dirty)
        };
        let (known, jumps) = if read_here {
            self.drift_check = None;
            let (chains, jumps) =
                read_kernel_against(&mut self.runner, &desired.chains, &is_owned_chain)
                    .map_err(SyncError::Read)?;
            (chains, Some(jumps))
        } else {
            (self.written.take().unwrap_or_default(), None)
        };
        let objects_written = self.write(&desired, known, jumps.as_ref())?;
        self.desired = desired;
        if full && !read_here {
            self.start_drift_check();
        }
        Ok(SyncReport {
            full: full || cold,
            objects_written,
        })
    }

    fn next_wakeup(&self) -> Option<Duration> {
        self.drift_check.as_ref().map(|_| drift_check::POLL)
    }

    /// Repairs what a finished drift check found.
    fn wakeup(&mut self) -> Result<SyncReport, SyncError> {
        let Some((known, jumps)) = self.finished_drift_check() else {
            return Ok(SyncReport::default());
        };
        let desired = std::mem::take(&mut self.desired);
        let result = self.write(&desired, known, Some(&jumps));
        self.desired = desired;
        let objects_written = result?;
        if objects_written > 0 {
            self.metrics.drift_repairs.inc_by(objects_written as u64);
            info!(
                objects_written,
                "drift check found rules that differ; repaired"
            );
        }
        Ok(SyncReport {
            full: true,
            objects_written,
        })
    }
}

#[cfg(test)]
mod tests;
