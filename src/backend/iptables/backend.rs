//! iptables mode's [`Backend`]: compile, compare with what the kernel holds, write the
//! difference in one iptables-restore.

use std::sync::Arc;

use tracing::{error, warn};

use super::compile::{CompileOptions, Compiler};
use super::kernel::{KernelRules, is_owned_chain};
use super::plan::{ChainMap, JumpMap, Plan};
use super::restore::{IptablesRunner, RunnerError};
use super::ruleset::{Chain, Table};
use crate::backend::{Backend, SyncError, SyncReport};
use crate::metrics::Metrics;
use crate::model::{PendingChanges, ProxyState};

pub struct IptablesBackend<R> {
    compiler: Compiler,
    runner: R,
    /// kproxy's chains as last written; `None` when unknown (at start-up, after a failure),
    /// which makes the next sync read the kernel first.
    written: Option<ChainMap>,
    metrics: Metrics,
}

impl<R: IptablesRunner> IptablesBackend<R> {
    pub fn new(options: CompileOptions, runner: R, metrics: Metrics) -> Self {
        Self {
            compiler: Compiler::new(options),
            runner,
            written: None,
            metrics,
        }
    }

    pub fn runner_mut(&mut self) -> &mut R {
        &mut self.runner
    }
}

impl<R: IptablesRunner> Backend for IptablesBackend<R> {
    /// A full sync (or the first one) reads kproxy's chains back with iptables-save and
    /// rewrites only those that differ, so a restart or a periodic resync leaves matching
    /// chains — and their counters — alone, and repairs whatever was changed by hand. A
    /// partial sync compiles only the changed services and writes only the chains whose rules
    /// changed since the last write.
    fn sync(
        &mut self,
        state: &ProxyState,
        changes: &PendingChanges,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        let full = full || self.written.is_none();
        let desired = if full {
            self.compiler.compile_all(state)
        } else {
            self.compiler.compile(state, &changes.dirty)
        };
        let (mut known, jumps) = if full {
            let (chains, jumps) =
                read_kernel(&mut self.runner).map_err(|e| SyncError::Read(e.to_string()))?;
            (chains, Some(jumps))
        } else {
            (self.written.take().unwrap_or_default(), None)
        };
        let plan = Plan::new(&desired, &known, jumps.as_ref());
        let batch = self.runner.max_chains_per_restore().unwrap_or(usize::MAX);
        for input in plan.render_batches(batch) {
            if let Err(e) = self.runner.restore(&input) {
                self.metrics.restore_failures.inc();
                log_restore_failure(&e, &input);
                // What the kernel holds is unknown now: the retry reads it back.
                self.written = None;
                return Err(SyncError::Restore(e.to_string()));
            }
        }
        if full {
            // The kernel now holds exactly `desired`. Remember the compiler's own chains rather
            // than the equal copies read back, so that partial syncs find them by address
            // (`Plan::new`'s fast path) and the copies are freed.
            known = desired.chains.iter().cloned().collect();
        } else {
            for chain in plan.written() {
                known.insert(Arc::clone(chain));
            }
            for (table, name) in plan.deleted() {
                known.remove(table, name);
            }
        }
        self.written = Some(known);
        Ok(SyncReport {
            full,
            objects_written: plan.size(),
        })
    }
}

fn log_restore_failure(e: &RunnerError, input: &str) {
    if let RunnerError::Failed { line: Some(n), .. } = e {
        let text = input
            .lines()
            .nth(n.saturating_sub(1))
            .unwrap_or("<beyond the input>");
        error!(line = n, input = text, error = %e, "iptables-restore rejected a line");
    } else {
        warn!(error = %e, "iptables-restore failed");
    }
}

/// kproxy's chains and the jumps into them, read from the kernel.
pub fn read_kernel(runner: &mut impl IptablesRunner) -> Result<(ChainMap, JumpMap), RunnerError> {
    read_kernel_owned(runner, &is_owned_chain)
}

/// [`read_kernel`] for the chains `is_owned` says kproxy owns (IPVS mode's differ).
pub fn read_kernel_owned(
    runner: &mut (impl IptablesRunner + ?Sized),
    is_owned: &dyn Fn(Table, &str) -> bool,
) -> Result<(ChainMap, JumpMap), RunnerError> {
    let mut kernel = KernelRules::default();
    for table in Table::ALL {
        kernel.add_saved_table_owned(table, &runner.save(table)?, is_owned);
    }
    let chains = kernel
        .chains
        .into_iter()
        .map(|((table, name), rules)| Arc::new(Chain::new(table, name, rules)))
        .collect();
    Ok((chains, kernel.jumps))
}

/// `--cleanup`: removes every chain kproxy owns and every jump into them, in one restore.
/// Returns how many chains and jumps were removed.
pub fn cleanup(runner: &mut impl IptablesRunner) -> Result<usize, RunnerError> {
    cleanup_owned(runner, &is_owned_chain)
}

/// [`cleanup`] of the chains `is_owned` says kproxy owns.
pub fn cleanup_owned(
    runner: &mut (impl IptablesRunner + ?Sized),
    is_owned: &dyn Fn(Table, &str) -> bool,
) -> Result<usize, RunnerError> {
    let (chains, jumps) = read_kernel_owned(runner, is_owned)?;
    let plan = Plan::new(&Default::default(), &chains, Some(&jumps));
    let batch = runner.max_chains_per_restore().unwrap_or(usize::MAX);
    for input in plan.render_batches(batch) {
        runner.restore(&input)?;
    }
    Ok(plan.size())
}

#[cfg(test)]
mod tests;
