//! iptables mode's [`Backend`]: compile, compare with what the kernel holds, write the
//! difference with iptables-restore.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::compile::{CompileOptions, Compiler, serves_localhost_node_ports};
use super::names::{is_owned_chain, is_owned_chain_with_firewall};
use crate::backend::{Backend, SyncError, SyncReport};
use crate::metrics::Metrics;
use crate::model::{PendingChanges, ProxyState};
use crate::netfilter::iptables::plan::{ChainMap, JumpMap, Plan};
use crate::netfilter::iptables::read_back::read_kernel_against;
use crate::netfilter::iptables::ruleset::{Chain, Ruleset, Table};
use crate::netfilter::iptables::runner::IptablesRunner;
use crate::netfilter::iptables::write::write_plan;

mod drift_check;
pub mod watch;

use drift_check::DriftCheck;
use watch::{Counting, FULL_READ_PERIOD, Watch};

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
    /// Tells a resync whether anyone else wrote since kproxy last looked.
    watch: Watch,
    /// When the kernel was last read back.
    last_read: Option<Instant>,
    /// kube-proxy's canary chains, added to every desired ruleset.
    canaries: Vec<Arc<Chain>>,
    /// The chains this backend reads back, rewrites and deletes.
    owns: fn(Table, &str) -> bool,
    metrics: Metrics,
}

impl<R: IptablesRunner> IptablesBackend<R> {
    /// The backend, noticing other writers as `runner`'s iptables allows (see
    /// [`watch`]); an nf_tables socket opens in the calling thread's network namespace.
    pub fn new(options: CompileOptions, mut runner: R, metrics: Metrics) -> Self {
        let watch = Watch::for_runner(&mut runner);
        let owns = if serves_localhost_node_ports(&options) {
            is_owned_chain_with_firewall
        } else {
            is_owned_chain
        };
        Self {
            owns,
            compiler: Compiler::new(options),
            runner,
            written: None,
            desired: Ruleset::default(),
            drift_check: None,
            watch,
            last_read: None,
            canaries: watch::canaries(),
            metrics,
        }
    }

    /// The same backend with another way of noticing other writers (tests).
    pub fn watching(mut self, watch: Watch) -> Self {
        self.watch = watch;
        self
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
        let result = if plan.is_empty() {
            Ok(0)
        } else {
            self.watch.before_write();
            let mut counting = Counting {
                inner: &mut self.runner,
                sections: 0,
            };
            let result = write_plan(&mut counting, &plan, &failures);
            let sections = counting.sections;
            self.watch.after_write(sections);
            result
        };
        if let Err(e) = result {
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
        self.record_rule_counts(&kernel, &plan);
        self.written = Some(kernel);
        Ok(plan.size())
    }

    /// kube-proxy's `iptables_total` and `iptables_last` per table: the rules of kproxy's
    /// chains in the kernel now, and of the chains this write wrote.
    fn record_rule_counts(&self, kernel: &ChainMap, plan: &Plan) {
        let rules_of = |table: Table, chains: &mut dyn Iterator<Item = &Arc<Chain>>| -> usize {
            chains
                .filter(|c| c.table() == table)
                .map(|c| c.rules().len())
                .sum()
        };
        for table in [Table::Filter, Table::Nat] {
            let total = rules_of(table, &mut kernel.iter());
            let written = rules_of(table, &mut plan.written());
            self.metrics
                .set_iptables_rules(table.as_str(), total, written);
        }
    }

    /// Whether a resync should read the kernel back: someone else may have written since
    /// kproxy last looked, or the last read-back is [`FULL_READ_PERIOD`] old.
    fn read_back_due(&mut self) -> bool {
        let backstop = self
            .last_read
            .is_none_or(|t| t.elapsed() >= FULL_READ_PERIOD);
        if backstop || self.watch.may_have_changed(&mut self.runner) {
            return true;
        }
        debug!("nobody wrote iptables since kproxy last looked; not reading it back");
        false
    }

    /// Notes that the kernel is read back from now on.
    fn reading(&mut self) {
        self.watch.reading();
        self.last_read = Some(Instant::now());
    }

    fn start_drift_check(&mut self) {
        if self.drift_check.is_some() {
            return;
        }
        let Some(reader) = self.runner.reader() else {
            return;
        };
        if self.read_back_due() {
            self.reading();
            self.drift_check = DriftCheck::start(reader, self.desired.chains.clone(), self.owns);
        }
    }
}

impl<R: IptablesRunner> Backend for IptablesBackend<R> {
    /// The first sync (and the first after a failure) compiles everything, reads kproxy's
    /// chains back with iptables-save and rewrites only those that differ, so a restart
    /// leaves matching chains — and their counters — alone. Other syncs compile only the
    /// changed services and write only the chains whose rules changed since the last write.
    /// A full sync also starts a drift check that reads the kernel back beside the syncs,
    /// when the [`Watch`] says someone else may have written since kproxy last looked (or
    /// the last read-back is an hour old); a wakeup repairs whatever it found changed by
    /// hand (without a reader, the full sync reads the kernel itself).
    fn sync(
        &mut self,
        state: &ProxyState,
        changes: &PendingChanges,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        let cold = self.written.is_none();
        let read_here = cold || (full && self.runner.reader().is_none() && self.read_back_due());
        let mut desired = if cold {
            self.compiler.compile_all(state)
        } else {
            self.compiler.compile(state, &changes.dirty)
        };
        desired.chains.extend(self.canaries.iter().cloned());
        let (known, jumps) = if read_here {
            self.drift_check = None;
            self.reading();
            let (chains, jumps) =
                read_kernel_against(&mut self.runner, &desired.chains, &self.owns)
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
