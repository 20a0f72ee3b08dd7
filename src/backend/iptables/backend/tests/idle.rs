//! Resyncs on an idle node read nothing back, and other writers are still found: the
//! nf_tables generation (iptables-nft), the canary chain (iptables-legacy), the hourly
//! backstop; and the per-table rule counts kube-proxy reports.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use super::super::watch::{CANARY, FULL_READ_PERIOD, GenerationSource, GenerationWatch, sections};
use super::*;

/// The fake kernel with an nf_tables generation that each table section of a successful
/// restore bumps, as iptables-nft's commits do.
struct NftFake {
    inner: FakeRunner,
    generation: Generation,
}

#[derive(Clone, Default)]
struct Generation(Arc<AtomicU32>);

impl Generation {
    /// Someone else commits.
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl GenerationSource for Generation {
    fn generation(&mut self) -> Result<u32, String> {
        Ok(self.0.load(Ordering::SeqCst))
    }
}

impl IptablesRunner for NftFake {
    fn restore(&mut self, input: &str) -> Result<(), RunnerError> {
        self.inner.restore(input)?;
        let n = u32::try_from(sections(input)).unwrap();
        self.generation.0.fetch_add(n, Ordering::SeqCst);
        Ok(())
    }
    fn save(&mut self, table: Table) -> Result<String, RunnerError> {
        self.inner.save(table)
    }
    fn reader(&self) -> Option<Box<dyn IptablesRunner>> {
        self.inner.reader()
    }
}

use crate::netfilter::iptables::runner::RunnerError;

impl<R: IptablesRunner> Fixture<R> {
    /// A periodic resync: whether it started a drift check, and what that repaired.
    fn resync(&mut self) -> Option<usize> {
        assert_eq!(self.sync(true).unwrap().objects_written, 0);
        self.backend.drift_check.as_ref()?;
        Some(self.finish_drift_check().objects_written)
    }
}

fn nft_node() -> (Fixture<NftFake>, Generation) {
    let generation = Generation::default();
    let runner = NftFake {
        inner: FakeRunner::default(),
        generation: generation.clone(),
    };
    let watch = Watch::Generation(GenerationWatch::new(Box::new(generation.clone())));
    (Fixture::with(runner, watch), generation)
}

#[test]
fn idle_resyncs_read_nothing_back_and_a_foreign_write_is_repaired() {
    let (mut node, generation) = nft_node();
    for _ in 0..3 {
        assert_eq!(node.resync(), None, "read back with nothing changed");
    }
    node.backend.runner.inner.flush(Table::Nat, "KUBE-SERVICES");
    generation.bump();
    assert_eq!(node.resync(), Some(1), "the flushed chain, repaired");
    assert_eq!(node.metrics.drift_repairs.get(), 1);
    assert_eq!(node.resync(), None, "the repair is kproxy's own write");
}

#[test]
fn a_foreign_write_is_not_hidden_by_kproxys_next_write() {
    let (mut node, generation) = nft_node();
    node.backend.runner.inner.flush(Table::Nat, "KUBE-SERVICES");
    generation.bump();
    let a = service("a", 1);
    node.state.apply(Change::slice(slice(&a, &[1, 5])));
    assert!(node.sync(false).unwrap().objects_written > 0);
    assert_eq!(node.resync(), Some(1));
}

#[test]
fn a_write_while_the_drift_check_reads_is_found_by_the_next_resync() {
    let (mut node, generation) = nft_node();
    generation.bump();
    let gate = Arc::clone(&node.backend.runner.inner.save_gate);
    let reading = gate.lock().unwrap();
    node.sync(true).unwrap();
    assert!(node.backend.drift_check.is_some());
    // The check's snapshot is taken; the flush comes after it.
    node.backend.runner.inner.flush(Table::Nat, "KUBE-SERVICES");
    generation.bump();
    drop(reading);
    assert_eq!(node.finish_drift_check().objects_written, 0);
    assert_eq!(node.resync(), Some(1));
}

#[test]
fn the_kernel_is_read_back_at_least_every_full_read_period() {
    let (mut node, _) = nft_node();
    assert_eq!(node.resync(), None);
    let Some(long_ago) = Instant::now().checked_sub(FULL_READ_PERIOD) else {
        return;
    };
    node.backend.last_read = Some(long_ago);
    assert_eq!(node.resync(), Some(0));
    assert_eq!(node.resync(), None);
}

#[test]
fn the_canary_tells_iptables_legacy_resyncs_when_the_tables_were_flushed() {
    let mut node = Fixture::with(FakeRunner::default(), Watch::Canary);
    for table in Table::ALL {
        let names = node.backend.runner.chain_names(table);
        assert!(names.iter().any(|n| n == CANARY), "{table:?}: {names:?}");
    }
    assert_eq!(node.resync(), None);
    // Nothing cheap sees this on iptables-legacy (the backstop does).
    node.backend.runner.flush(Table::Nat, "KUBE-SERVICES");
    assert_eq!(node.resync(), None);
    // A flush of every table takes the canary with it (`iptables -t mangle -F -X`).
    let delete = format!("*mangle\n:{CANARY} - [0:0]\n-X {CANARY}\nCOMMIT\n");
    node.backend.runner.restore(&delete).unwrap();
    assert_eq!(node.resync(), Some(2), "the canary and KUBE-SERVICES");
    assert_eq!(node.resync(), None);
}

#[test]
fn rule_counts_per_table_are_what_the_kernel_holds_and_what_was_written() {
    let mut node = Fixture::new();
    let rules_in_kernel = |node: &mut Fixture<FakeRunner>, table: Table| {
        let save = node.backend.runner.save(table).unwrap();
        save.lines().filter(|l| l.starts_with("-A KUBE-")).count()
    };
    let gauge = |node: &Fixture<FakeRunner>, family: &str, table: &str| {
        let labels = crate::metrics::TableLabels {
            table: table.into(),
        };
        let f = match family {
            "total" => &node.metrics.iptables_rules,
            _ => &node.metrics.iptables_rules_last_sync,
        };
        usize::try_from(f.get_or_create(&labels).get()).unwrap()
    };
    for table in [Table::Filter, Table::Nat] {
        let n = rules_in_kernel(&mut node, table);
        assert!(n > 0);
        assert_eq!(gauge(&node, "total", table.as_str()), n, "{table:?}");
        assert_eq!(gauge(&node, "last", table.as_str()), n, "{table:?}");
    }
    let a = service("a", 1);
    node.state.apply(Change::slice(slice(&a, &[1, 5])));
    node.sync(false).unwrap();
    let written: usize = node
        .backend
        .runner
        .restores
        .last()
        .unwrap()
        .lines()
        .skip_while(|l| !l.starts_with("*nat"))
        .filter(|l| l.starts_with("-A KUBE-"))
        .count();
    assert!(written > 0);
    assert_eq!(gauge(&node, "last", "nat"), written);
    assert_eq!(gauge(&node, "last", "filter"), 0);
    let nat = rules_in_kernel(&mut node, Table::Nat);
    assert_eq!(gauge(&node, "total", "nat"), nat);
}
