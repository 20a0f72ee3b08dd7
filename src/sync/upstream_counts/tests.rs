use std::net::Ipv4Addr;

use super::*;
use crate::model::{Conditions, EndpointSlice, Protocol, Service, TrafficPolicy};

fn service(name: &str, last: u8) -> Service {
    Service::new("ns", name, Ipv4Addr::new(10, 96, 0, last)).with_port(
        "http",
        80,
        Protocol::Tcp,
        Some(30000 + u16::from(last)),
    )
}

/// `service`'s slice with one ready endpoint on `node`.
fn slice_on(svc: &Service, node: &str) -> EndpointSlice {
    EndpointSlice::new(&svc.name, &format!("{}-1", svc.name.name))
        .with_port("http", 8080, Protocol::Tcp)
        .with_endpoint(Ipv4Addr::new(10, 244, 0, 9), Some(node), Conditions::READY)
}

fn gauges(m: &Metrics) -> (i64, i64) {
    (
        m.service_changes_pending.get(),
        m.endpoint_changes_pending.get(),
    )
}

/// Applies `change` as the sync loop does.
fn apply(state: &mut ProxyState, counts: &mut PendingCounts, m: &Metrics, change: Change) {
    let kind = ChangeKind::of(&change);
    if state.apply(change) {
        counts.applied(kind, state, m);
    }
}

#[test]
fn pending_changes_count_as_kube_proxys_trackers_do() {
    let m = Metrics::new();
    let mut state = ProxyState::new("node-a");
    let mut counts = PendingCounts::default();
    let a = service("a", 1);
    apply(&mut state, &mut counts, &m, Change::service(a.clone()));
    apply(
        &mut state,
        &mut counts,
        &m,
        Change::service(service("b", 2)),
    );
    apply(
        &mut state,
        &mut counts,
        &m,
        Change::slice(slice_on(&a, "node-a")),
    );
    apply(
        &mut state,
        &mut counts,
        &m,
        Change::slice(slice_on(&a, "node-b")),
    );
    assert_eq!(gauges(&m), (2, 2), "services a and b; two slice changes");
    // The same object again is no change.
    apply(&mut state, &mut counts, &m, Change::service(a.clone()));
    assert_eq!(gauges(&m), (2, 2));
    // A sync takes them all.
    state.take_pending();
    counts.taken(&m);
    assert_eq!(gauges(&m), (0, 0));
    // A change undone before the next sync leaves nothing pending, as in kube-proxy's
    // service tracker.
    let mut changed = a.clone();
    changed.cluster_ip = Ipv4Addr::new(10, 96, 1, 1);
    apply(&mut state, &mut counts, &m, Change::service(changed));
    assert_eq!(gauges(&m), (1, 0));
    apply(&mut state, &mut counts, &m, Change::service(a));
    assert_eq!(gauges(&m), (0, 0));
}

#[test]
fn no_local_endpoints_counts_local_policy_ports_without_a_local_endpoint() {
    let mut state = ProxyState::new("node-a");
    let mut internal = service("internal", 1);
    internal.internal_traffic_policy = TrafficPolicy::Local;
    let mut external = service("external", 2);
    external.external_traffic_policy = TrafficPolicy::Local;
    let mut both = service("both", 3);
    both.internal_traffic_policy = TrafficPolicy::Local;
    both.external_traffic_policy = TrafficPolicy::Local;
    // Local, but no endpoints at all: rejected, not "no local endpoints".
    let mut empty = service("empty", 4);
    empty.internal_traffic_policy = TrafficPolicy::Local;
    let cluster = service("cluster", 5);
    for svc in [&internal, &external, &both, &cluster] {
        state.apply(Change::slice(slice_on(svc, "node-b")));
    }
    for svc in [&internal, &external, &both, &empty, &cluster] {
        state.apply(Change::service(svc.clone()));
    }
    let mut no_local = NoLocalEndpoints::default();
    let pending = state.take_pending();
    no_local.update(&state, &pending.dirty);
    let want = |internal, external| Counts { internal, external };
    assert_eq!(no_local.total(), want(2, 2));

    // `both` gets an endpoint here; `internal` is deleted.
    state.apply(Change::slice(slice_on(&both, "node-a")));
    state.apply(Change::ServiceDeleted(internal.name.clone()));
    let pending = state.take_pending();
    no_local.update(&state, &pending.dirty);
    assert_eq!(no_local.total(), want(0, 1));

    let m = Metrics::new();
    no_local.publish(&m);
    let gauge = |policy: &str| {
        m.no_local_endpoints
            .get_or_create(&crate::metrics::TrafficPolicyLabels {
                traffic_policy: policy.into(),
            })
            .get()
    };
    assert_eq!((gauge("internal"), gauge("external")), (0, 1));
}
