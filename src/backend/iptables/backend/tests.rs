//! The executor against the stateful fake: what each kind of sync writes.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use super::*;
use crate::model::{Change, Conditions, EndpointSlice, Protocol, Service, ServiceName};
use crate::netfilter::iptables::ruleset::Table;
use crate::testing::iptables::fake::FakeRunner;

fn service(name: &str, last: u8) -> Service {
    Service::new("ns", name, Ipv4Addr::new(10, 96, 0, last)).with_port(
        "http",
        80,
        Protocol::Tcp,
        None,
    )
}

fn slice(svc: &Service, pods: &[u8]) -> EndpointSlice {
    pods.iter().fold(
        EndpointSlice::new(&svc.name, &format!("{}-1", svc.name.name)).with_port(
            "http",
            8080,
            Protocol::Tcp,
        ),
        |s, p| {
            s.with_endpoint(
                Ipv4Addr::new(10, 244, 0, *p),
                Some("node-a"),
                Conditions::READY,
            )
        },
    )
}

struct Fixture<R = FakeRunner> {
    state: ProxyState,
    backend: IptablesBackend<R>,
    metrics: Metrics,
}

impl<R: IptablesRunner> Fixture<R> {
    /// Services a and b, synced once through `runner`, other writers noticed by `watch`.
    fn with(runner: R, watch: Watch) -> Self {
        let mut state = ProxyState::new("node-a");
        for (name, last, pods) in [("a", 1, &[1u8, 2][..]), ("b", 2, &[3, 4][..])] {
            let svc = service(name, last);
            state.apply(Change::slice(slice(&svc, pods)));
            state.apply(Change::service(svc));
        }
        let metrics = Metrics::new();
        let backend = IptablesBackend::new(CompileOptions::default(), runner, metrics.clone())
            .watching(watch);
        let mut f = Self {
            state,
            backend,
            metrics,
        };
        f.sync(true).expect("first sync");
        f
    }

    fn sync(&mut self, full: bool) -> Result<SyncReport, SyncError> {
        let pending = self.state.take_pending();
        self.backend.sync(&self.state, &pending, full)
    }

    /// Waits for the drift check the last full sync started, and lets it repair.
    fn finish_drift_check(&mut self) -> SyncReport {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self
            .backend
            .drift_check
            .as_ref()
            .is_some_and(|c| !c.is_done())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "drift check never finished"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(self.backend.next_wakeup().is_some(), "no drift check ran");
        let report = self.backend.wakeup().expect("repair");
        assert!(self.backend.next_wakeup().is_none());
        report
    }
}

impl Fixture {
    fn new() -> Self {
        Self::with(FakeRunner::default(), Watch::Blind)
    }

    fn restores(&self) -> usize {
        self.backend.runner.restores.len()
    }

    fn last_restore(&self) -> &str {
        self.backend
            .runner
            .restores
            .last()
            .map_or("", String::as_str)
    }
}

fn chains_of(input: &str, comment: &str) -> BTreeSet<String> {
    input
        .lines()
        .filter(|l| l.starts_with("-A ") && l.contains(comment))
        .filter_map(|l| l.split_whitespace().nth(1).map(String::from))
        .collect()
}

#[test]
fn an_unchanged_state_writes_nothing_even_on_a_full_sync() {
    let mut f = Fixture::new();
    let before = f.restores();
    assert_eq!(f.sync(true).unwrap().objects_written, 0);
    assert_eq!(f.finish_drift_check().objects_written, 0);
    assert_eq!(f.sync(false).unwrap().objects_written, 0);
    assert_eq!(
        f.restores(),
        before,
        "no iptables-restore when nothing differs"
    );
}

#[test]
fn a_partial_sync_writes_only_the_changed_service_chains() {
    let mut f = Fixture::new();
    let a = service("a", 1);
    f.state.apply(Change::slice(slice(&a, &[1, 5])));
    let report = f.sync(false).unwrap();
    let input = f.last_restore().to_string();
    assert!(
        chains_of(&input, "ns/b:http").is_empty(),
        "service b was rewritten:\n{input}"
    );
    assert!(!chains_of(&input, "ns/a:http").is_empty(), "{input}");
    assert!(
        input.contains("10.244.0.5:8080") && input.contains("-X KUBE-SEP-"),
        "{input}"
    );
    assert!(
        !input.contains(":KUBE-SERVICES"),
        "dispatch did not change:\n{input}"
    );
    assert!(report.objects_written <= 4, "{report:?}");
}

#[test]
fn a_full_sync_repairs_a_flushed_chain_and_only_that() {
    let mut f = Fixture::new();
    f.backend.runner_mut().flush(Table::Nat, "KUBE-SERVICES");
    assert_eq!(
        f.sync(false).unwrap().objects_written,
        0,
        "a partial sync trusts its memory"
    );
    let before = f.restores();
    let report = f.sync(true).unwrap();
    assert_eq!(
        (report.objects_written, f.restores()),
        (0, before),
        "the read-back runs beside the syncs"
    );
    let report = f.finish_drift_check();
    assert!(report.full);
    assert_eq!(report.objects_written, 1);
    assert_eq!(f.metrics.drift_repairs.get(), 1);
    assert!(f.last_restore().contains(":KUBE-SERVICES"));
    let services = f
        .backend
        .runner
        .kernel
        .chain("nat", "KUBE-SERVICES")
        .unwrap();
    assert!(!services.rules.is_empty());
}

#[test]
fn a_deleted_service_loses_its_chains() {
    let mut f = Fixture::new();
    f.state
        .apply(Change::ServiceDeleted(ServiceName::new("ns", "b")));
    f.sync(false).unwrap();
    let names = f.backend.runner.chain_names(Table::Nat);
    let svc_chains = names.iter().filter(|n| n.starts_with("KUBE-SVC-")).count();
    assert_eq!(svc_chains, 1, "{names:?}");
    assert!(!f.last_restore().contains("ns/b:http"));
}

#[test]
fn a_failed_restore_is_counted_and_the_next_sync_reads_the_kernel() {
    let mut f = Fixture::new();
    f.backend.runner_mut().fail_next_restore = true;
    f.state.apply(Change::service(service("c", 3)));
    let pending = f.state.take_pending();
    assert!(f.backend.sync(&f.state, &pending, false).is_err());
    assert_eq!(f.metrics.restore_failures.get(), 1);
    f.state.restore_pending(pending);
    // The retry is asked for as partial but must be full: the kernel state is unknown.
    let report = f.sync(false).unwrap();
    assert!(report.full);
    assert!(f.last_restore().contains("ns/c:http has no endpoints"));
}

#[test]
fn cleanup_removes_every_chain_and_jump() {
    let mut f = Fixture::new();
    let removed = crate::backend::cleanup::remove_chains(f.backend.runner_mut()).unwrap();
    assert!(removed > 5);
    for table in Table::ALL {
        let names = f.backend.runner.chain_names(table);
        assert!(names.iter().all(|n| !n.starts_with("KUBE-")), "{names:?}");
        let save = f.backend.runner_mut().save(table).unwrap();
        assert!(!save.contains("KUBE-"), "{save}");
    }
}

#[test]
fn chains_written_while_the_drift_check_reads_are_not_undone() {
    let mut f = Fixture::new();
    f.backend.runner_mut().flush(Table::Nat, "KUBE-SERVICES");
    let gate = Arc::clone(&f.backend.runner.save_gate);
    let reading = gate.lock().unwrap();
    // The check's snapshot is taken here, before the endpoint change is written, and it
    // is still reading while the change is written.
    f.sync(true).unwrap();
    let a = service("a", 1);
    f.state.apply(Change::slice(slice(&a, &[1, 5])));
    f.sync(false).unwrap();
    assert!(f.last_restore().contains("ns/a:http"));
    let after_change = f.backend.runner.kernel.clone();
    drop(reading);
    let repair = f.finish_drift_check();
    assert_eq!(repair.objects_written, 1, "{}", f.last_restore());
    let declared: Vec<&str> = f
        .last_restore()
        .lines()
        .filter(|l| l.starts_with(':') || l.starts_with("-X"))
        .collect();
    assert_eq!(
        declared,
        [":KUBE-SERVICES - [0:0]"],
        "service a's chains were rewritten or deleted from the stale read-back"
    );
    let nat = |k: &crate::testing::iptables::parse::Tables| {
        let mut names: Vec<String> = k.table("nat").unwrap().chains.keys().cloned().collect();
        names.sort();
        names
    };
    assert_eq!(nat(&f.backend.runner.kernel), nat(&after_change));
    // And the repaired state is what a fresh read-back finds: nothing more to write.
    f.sync(true).unwrap();
    assert_eq!(f.finish_drift_check().objects_written, 0);
}

#[test]
fn a_failed_write_cancels_the_drift_check_and_the_retry_reads_the_kernel() {
    let mut f = Fixture::new();
    f.sync(true).unwrap();
    assert!(f.backend.next_wakeup().is_some());
    f.backend.runner_mut().fail_next_restore = true;
    f.state.apply(Change::service(service("c", 3)));
    assert!(f.sync(false).is_err());
    assert!(f.backend.next_wakeup().is_none(), "check still pending");
}

mod idle;
