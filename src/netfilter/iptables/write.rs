//! The one way kproxy writes iptables, in every mode and in `--cleanup`: a [`Plan`] in the
//! batches the runner takes, each failed restore counted (kube-proxy's
//! `kubeproxy_sync_proxy_rules_iptables_restore_failures_total`) and logged with the input
//! line iptables-restore rejected.

use prometheus_client::metrics::counter::Counter;
use tracing::{error, warn};

use super::plan::Plan;
use super::read_back::read_kernel_owned;
use super::ruleset::Table;
use super::runner::{IptablesRunner, RunnerError};

/// Applies `plan`, in as many restores as the runner wants (see `plan/batches.rs`); returns
/// the plan's size (chains written and deleted, jumps fixed). The first failed restore
/// stops the write and counts once in each of `failures`: what the kernel holds is then
/// unknown, and callers read it back before writing again.
pub fn write_plan(
    runner: &mut (impl IptablesRunner + ?Sized),
    plan: &Plan,
    failures: &[&Counter],
) -> Result<usize, RunnerError> {
    let batch = runner.max_chains_per_restore().unwrap_or(usize::MAX);
    for input in plan.render_batches(batch) {
        if let Err(e) = runner.restore(&input) {
            failures.iter().for_each(|c| {
                c.inc();
            });
            log_failure(&e, &input);
            return Err(e);
        }
    }
    Ok(plan.size())
}

/// Removes every chain `is_owned` says kproxy owns, and every jump into them; returns how
/// many chains and jumps that was.
pub fn remove_owned(
    runner: &mut (impl IptablesRunner + ?Sized),
    is_owned: &dyn Fn(Table, &str) -> bool,
    failures: &Counter,
) -> Result<usize, RunnerError> {
    let (chains, jumps) = read_kernel_owned(runner, is_owned)?;
    let plan = Plan::new(&Default::default(), &chains, Some(&jumps));
    write_plan(runner, &plan, &[failures])
}

/// One log line for a failed restore, naming the rejected line when the tool said which.
fn log_failure(e: &RunnerError, input: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netfilter::iptables::plan::ChainMap;
    use crate::netfilter::iptables::ruleset::{Chain, Ruleset};
    use crate::testing::iptables::fake::FakeRunner;

    /// A runner that takes at most `max` chains per restore and refuses the restore
    /// numbered `refuse` (from 0).
    struct Batched {
        inner: FakeRunner,
        max: usize,
        refuse: Option<usize>,
    }

    impl IptablesRunner for Batched {
        fn restore(&mut self, input: &str) -> Result<(), RunnerError> {
            if self.refuse == Some(self.inner.restores.len()) {
                self.inner.fail_next_restore = true;
            }
            self.inner.restore(input)
        }
        fn save(&mut self, table: Table) -> Result<String, RunnerError> {
            self.inner.save(table)
        }
        fn max_chains_per_restore(&mut self) -> Option<usize> {
            Some(self.max)
        }
    }

    fn ruleset(chains: usize) -> Ruleset {
        Ruleset {
            chains: (0..chains)
                .map(|i| {
                    let name = format!("KUBE-SVC-{i:016}");
                    std::sync::Arc::new(Chain::new(Table::Nat, name, ["-j RETURN"]))
                })
                .collect(),
            jumps: Vec::new(),
        }
    }

    #[test]
    fn writes_in_the_runners_batches_and_counts_nothing_when_all_succeed() {
        let mut runner = Batched {
            inner: FakeRunner::default(),
            max: 2,
            refuse: None,
        };
        let failures = Counter::default();
        let plan = Plan::new(&ruleset(5), &ChainMap::new(), None);
        assert_eq!(write_plan(&mut runner, &plan, &[&failures]), Ok(5));
        assert_eq!(runner.inner.restores.len(), 3, "5 chains, 2 a restore");
        let written = runner.inner.chain_names(Table::Nat);
        assert_eq!(
            written
                .iter()
                .filter(|n| n.starts_with("KUBE-SVC-"))
                .count(),
            5
        );
        assert_eq!(failures.get(), 0);
    }

    #[test]
    fn a_refused_restore_stops_the_write_and_counts_once() {
        let mut runner = Batched {
            inner: FakeRunner::default(),
            max: 2,
            refuse: Some(1),
        };
        let failures = Counter::default();
        let plan = Plan::new(&ruleset(5), &ChainMap::new(), None);
        let err = write_plan(&mut runner, &plan, &[&failures]).unwrap_err();
        assert!(
            matches!(err, RunnerError::Failed { line: Some(1), .. }),
            "{err}"
        );
        assert_eq!(
            runner.inner.restores.len(),
            2,
            "no restore after the refused one"
        );
        assert_eq!(failures.get(), 1);
    }

    #[test]
    fn remove_owned_leaves_other_chains_alone() {
        let mut runner = FakeRunner::default();
        runner
            .restore(
                "*nat\n:KUBE-SVC-A - [0:0]\n:OTHER - [0:0]\n-A PREROUTING -j KUBE-SVC-A\nCOMMIT\n",
            )
            .unwrap();
        let owned = |_: Table, name: &str| name.starts_with("KUBE-");
        let removed = remove_owned(&mut runner, &owned, &Counter::default()).unwrap();
        assert_eq!(removed, 2, "one chain and one jump");
        let left = runner.chain_names(Table::Nat);
        assert!(left.contains(&"OTHER".to_string()), "{left:?}");
        assert!(!left.iter().any(|n| n.starts_with("KUBE-")), "{left:?}");
        let prerouting = runner.kernel.chain("nat", "PREROUTING").unwrap();
        assert!(prerouting.rules.is_empty(), "the jump is gone");
    }
}
