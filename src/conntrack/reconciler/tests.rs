//! The executor over a stateful fake table: what it dumps, what it deletes, what it
//! remembers between runs, and the metrics.

use std::net::{IpAddr, Ipv4Addr};

use super::{ConntrackTable, Reconciler};
use crate::backend::{Backend, SyncError, SyncReport};
use crate::conntrack::consts::{AF_INET, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::conntrack::{CleanupAfterSync, ConntrackError, Deleted, Dump, Entry, Tuple};
use crate::metrics::Metrics;
use crate::model::{
    Change, Conditions, EndpointSlice, PendingChanges, Protocol, ProxyState, Service, ServiceName,
};
use crate::netfilter::iptables::runner::RunnerError;

/// A conntrack table in memory: dumps what it holds, deletes what it is told.
#[derive(Default)]
struct FakeTable {
    entries: Vec<Entry>,
    dumps: Vec<u8>,
    fail_dumps: bool,
}

impl ConntrackTable for FakeTable {
    fn dump(&mut self, family: u8, protocol: u8) -> Result<Dump, ConntrackError> {
        if self.fail_dumps {
            return Err(ConntrackError::Kernel {
                op: "dumping",
                code: 1,
            });
        }
        self.dumps.push(protocol);
        Ok(Dump {
            entries: self
                .entries
                .iter()
                .filter(|e| e.family == family && e.orig.protocol == protocol)
                .cloned()
                .collect(),
            interrupted: false,
        })
    }

    fn delete(&mut self, entries: &[Entry]) -> Result<Deleted, ConntrackError> {
        let mut result = Deleted::default();
        for e in entries {
            match self.entries.iter().position(|x| x == e) {
                Some(i) => {
                    self.entries.remove(i);
                    result.deleted += 1;
                }
                None => result.missing += 1,
            }
        }
        Ok(result)
    }
}

const DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

fn pod(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 1, last)
}

fn flow(protocol: u8, client_port: u16, to: Ipv4Addr) -> Entry {
    let client = IpAddr::V4(Ipv4Addr::new(10, 244, 1, 2));
    Entry {
        family: AF_INET,
        orig: Tuple {
            src: client,
            dst: IpAddr::V4(DNS_IP),
            protocol,
            src_port: client_port,
            dst_port: 53,
        },
        reply: Tuple {
            src: IpAddr::V4(to),
            dst: client,
            protocol,
            src_port: 5353,
            dst_port: client_port,
        },
        status: 0,
        timeout: Some(30),
        zone: 0,
        id: None,
        mark: 0,
    }
}

fn dns_state(endpoint: u8) -> ProxyState {
    let mut state = ProxyState::new("node-1");
    let dns = Service::new("kube-system", "dns", DNS_IP).with_port("", 53, Protocol::Udp, None);
    let slice = EndpointSlice::new(&dns.name, "dns-1")
        .with_port("", 5353, Protocol::Udp)
        .with_endpoint(pod(endpoint), None, Conditions::READY);
    state.apply(Change::service(dns));
    state.apply(Change::slice(slice));
    state
}

fn table(entries: Vec<Entry>) -> FakeTable {
    FakeTable {
        entries,
        ..FakeTable::default()
    }
}

#[test]
fn deletes_stale_entries_only_and_counts_them() {
    let metrics = Metrics::new();
    let keep = flow(IPPROTO_UDP, 40000, pod(5));
    let tcp = flow(IPPROTO_TCP, 40001, pod(6));
    let stale = flow(IPPROTO_UDP, 40002, pod(6));
    let mut r = Reconciler::new(
        table(vec![keep.clone(), tcp.clone(), stale]),
        metrics.clone(),
    );
    let report = r.reconcile(&dns_state(5)).unwrap();
    assert_eq!((report.dumped, report.deleted, report.missing), (2, 1, 0));
    assert_eq!(r.table().entries, vec![keep, tcp]);
    assert_eq!(
        r.table().dumps,
        vec![IPPROTO_UDP],
        "no SCTP service, no SCTP dump"
    );
    let text = metrics.encode();
    assert!(
        text.contains("kubeproxy_conntrack_reconciler_deleted_entries_total{ip_family=\"IPv4\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "kubeproxy_conntrack_reconciler_sync_duration_seconds_count{ip_family=\"IPv4\"} 1"
        ),
        "{text}"
    );
}

#[test]
fn no_udp_or_sctp_service_means_no_dump() {
    let mut r = Reconciler::new(table(vec![]), Metrics::new());
    r.reconcile(&ProxyState::new("node-1")).unwrap();
    assert!(r.table().dumps.is_empty());
}

#[test]
fn a_deleted_service_is_cleaned_in_the_next_run_then_forgotten() {
    let mut r = Reconciler::new(table(vec![]), Metrics::new());
    let mut state = dns_state(5);
    r.reconcile(&state).unwrap();
    state.apply(Change::ServiceDeleted(ServiceName::new(
        "kube-system",
        "dns",
    )));
    // A flow the old rules sent to pod 5 keeps its entry alive after the deletion.
    r.table.entries.push(flow(IPPROTO_UDP, 40000, pod(5)));
    assert_eq!(r.reconcile(&state).unwrap().deleted, 1);
    // Later runs do not look at the gone service's address any more.
    r.table.entries.push(flow(IPPROTO_UDP, 40001, pod(5)));
    r.table.dumps.clear();
    assert_eq!(r.reconcile(&state).unwrap().deleted, 0);
    assert!(r.table().dumps.is_empty());
}

#[test]
fn after_a_failed_run_the_deleted_service_is_still_covered() {
    let mut r = Reconciler::new(table(vec![]), Metrics::new());
    let mut state = dns_state(5);
    r.reconcile(&state).unwrap();
    state.apply(Change::ServiceDeleted(ServiceName::new(
        "kube-system",
        "dns",
    )));
    r.table.fail_dumps = true;
    assert!(r.reconcile(&state).is_err());
    r.table.fail_dumps = false;
    r.table.entries.push(flow(IPPROTO_UDP, 40000, pod(5)));
    assert_eq!(r.reconcile(&state).unwrap().deleted, 1);
}

#[test]
fn sctp_services_are_dumped_and_cleaned_too() {
    let mut state = ProxyState::new("node-1");
    let svc = Service::new("default", "s", DNS_IP).with_port("", 53, Protocol::Sctp, None);
    state.apply(Change::service(svc));
    let stale = flow(IPPROTO_SCTP, 40000, pod(5));
    let mut r = Reconciler::new(table(vec![stale]), Metrics::new());
    assert_eq!(r.reconcile(&state).unwrap().deleted, 1);
    assert_eq!(r.table().dumps, vec![IPPROTO_SCTP]);
}

/// Records syncs; fails them on demand.
#[derive(Default)]
struct RecordingBackend {
    syncs: usize,
    fail: bool,
}

impl Backend for RecordingBackend {
    fn sync(
        &mut self,
        _: &ProxyState,
        _: &PendingChanges,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        self.syncs += 1;
        if self.fail {
            return Err(SyncError::Restore(RunnerError::Spawn {
                program: "test".into(),
                reason: "refused".into(),
            }));
        }
        Ok(SyncReport {
            full,
            objects_written: 1,
        })
    }
}

#[test]
fn cleanup_runs_after_successful_syncs_only_and_never_fails_one() {
    let state = dns_state(5);
    let stale = flow(IPPROTO_UDP, 40000, pod(6));
    let failing = RecordingBackend {
        fail: true,
        ..RecordingBackend::default()
    };
    let mut b = CleanupAfterSync::new(
        failing,
        Reconciler::new(table(vec![stale.clone()]), Metrics::new()),
    );
    assert!(b.sync(&state, &PendingChanges::default(), true).is_err());
    assert_eq!(b.reconciler().table().entries, vec![stale.clone()]);

    let mut b = CleanupAfterSync::new(
        RecordingBackend::default(),
        Reconciler::new(table(vec![stale]), Metrics::new()),
    );
    let report = b.sync(&state, &PendingChanges::default(), false).unwrap();
    assert_eq!(report.objects_written, 1);
    assert!(b.reconciler().table().entries.is_empty());

    let broken = FakeTable {
        fail_dumps: true,
        ..FakeTable::default()
    };
    let mut b = CleanupAfterSync::new(
        RecordingBackend::default(),
        Reconciler::new(broken, Metrics::new()),
    );
    assert!(b.sync(&state, &PendingChanges::default(), false).is_ok());
}
