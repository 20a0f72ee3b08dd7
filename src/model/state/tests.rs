use std::net::Ipv4Addr;

use super::*;
use crate::model::{Conditions, Protocol};

const TERMINATING: Conditions = Conditions {
    ready: false,
    serving: true,
    terminating: true,
};

fn web() -> Service {
    Service::new("ns", "web", Ipv4Addr::new(10, 96, 0, 10))
        .with_port("http", 80, Protocol::Tcp, None)
        .with_port("dns", 53, Protocol::Udp, None)
}

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 0, last)
}

#[test]
fn endpoints_merge_across_slices_and_match_ports_by_name_and_protocol() {
    let svc = web();
    let mut state = ProxyState::new("node-a");
    state.apply(Change::service(svc.clone()));
    let a = EndpointSlice::new(&svc.name, "web-a")
        .with_port("http", 8080, Protocol::Tcp)
        .with_endpoint(ip(1), Some("node-a"), Conditions::READY);
    let b = EndpointSlice::new(&svc.name, "web-b")
        .with_port("http", 8080, Protocol::Tcp)
        .with_port("dns", 5353, Protocol::Udp)
        .with_endpoint(ip(2), Some("node-b"), Conditions::READY);
    state.apply(Change::slice(a));
    state.apply(Change::slice(b));

    let http = state.endpoints(&svc.name, &svc.ports[0]);
    assert_eq!(
        http.iter()
            .map(|e| (e.to_string(), e.is_local))
            .collect::<Vec<_>>(),
        vec![
            ("10.244.0.1:8080".to_string(), true),
            ("10.244.0.2:8080".to_string(), false)
        ]
    );
    let dns = state.endpoints(&svc.name, &svc.ports[1]);
    assert_eq!(
        dns.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec!["10.244.0.2:5353"]
    );
}

#[test]
fn duplicate_endpoints_across_slices_collapse_and_ready_wins() {
    let svc = web();
    let mut state = ProxyState::new("node-a");
    state.apply(Change::service(svc.clone()));
    let a = EndpointSlice::new(&svc.name, "a")
        .with_port("http", 8080, Protocol::Tcp)
        .with_endpoint(ip(1), None, TERMINATING);
    let b = EndpointSlice::new(&svc.name, "b")
        .with_port("http", 8080, Protocol::Tcp)
        .with_endpoint(ip(1), None, Conditions::READY);
    state.apply(Change::slice(a));
    state.apply(Change::slice(b));
    let eps = state.endpoints(&svc.name, &svc.ports[0]);
    assert_eq!(eps.len(), 1);
    assert!(eps[0].ready);
}

#[test]
fn dirty_set_tracks_changed_services_only() {
    let svc = web();
    let other = Service::new("ns", "other", Ipv4Addr::new(10, 96, 0, 11)).with_port(
        "",
        80,
        Protocol::Tcp,
        None,
    );
    let mut state = ProxyState::new("node-a");
    assert!(state.apply(Change::service(svc.clone())));
    assert!(state.apply(Change::service(other.clone())));
    state.take_pending();

    // Re-sending an identical object is not a change.
    assert!(!state.apply(Change::service(svc.clone())));
    assert!(!state.has_pending());

    let slice = EndpointSlice::new(&svc.name, "a").with_port("http", 80, Protocol::Tcp);
    assert!(state.apply(Change::slice(slice.clone())));
    let pending = state.take_pending();
    assert_eq!(
        pending.dirty.into_iter().collect::<Vec<_>>(),
        vec![svc.name.clone()]
    );
    assert_eq!(pending.endpoint_changes, 1);

    assert!(state.apply(Change::SliceDeleted(slice.name.clone())));
    assert!(!state.apply(Change::SliceDeleted(slice.name)));
    assert_eq!(state.take_pending().dirty.len(), 1);
}

#[test]
fn a_slice_moved_to_another_service_dirties_both() {
    let svc = web();
    let other = ServiceName::new("ns", "other");
    let mut state = ProxyState::new("node-a");
    let slice = EndpointSlice::new(&svc.name, "s").with_port("http", 80, Protocol::Tcp);
    state.apply(Change::slice(slice.clone()));
    state.take_pending();
    let moved = EndpointSlice {
        service: other.clone(),
        ..slice
    };
    state.apply(Change::slice(moved));
    let dirty = state.take_pending().dirty;
    assert!(dirty.contains(&svc.name) && dirty.contains(&other));
    assert!(state.endpoints(&svc.name, &svc.ports[0]).is_empty());
}

#[test]
fn restored_pending_changes_are_retried() {
    let mut state = ProxyState::new("n");
    state.apply(Change::service(web()));
    let pending = state.take_pending();
    assert!(!state.has_pending());
    state.restore_pending(pending);
    assert!(state.has_pending());
}

#[test]
fn an_update_equal_to_what_is_known_changes_nothing_shared_or_not() {
    let mut state = ProxyState::new("node-a");
    let svc = Arc::new(web());
    assert!(state.apply(Change::ServiceUpdated(svc.clone())));
    state.take_pending();
    // The same allocation, and an equal copy in another one.
    assert!(!state.apply(Change::ServiceUpdated(svc.clone())));
    assert!(!state.apply(Change::service(web())));
    assert!(!state.has_pending());
    let moved = Service::new("ns", "web", Ipv4Addr::new(10, 96, 0, 11));
    assert!(state.apply(Change::from(moved)));
    assert_eq!(
        state.service(&svc.name).unwrap().cluster_ip,
        Ipv4Addr::new(10, 96, 0, 11)
    );
    // The state holds its own reference; the caller's copy is untouched.
    assert_eq!(svc.cluster_ip, Ipv4Addr::new(10, 96, 0, 10));
}

/// The state after a sync of `web` and `slices`: nothing pending.
fn synced(slices: &[EndpointSlice]) -> (ProxyState, Service) {
    let svc = web();
    let mut state = ProxyState::new("node-a");
    state.apply(Change::service(svc.clone()));
    for slice in slices {
        state.apply(Change::slice(slice.clone()));
    }
    state.take_pending();
    assert!(!state.has_pending());
    (state, svc)
}

/// `web` on another cluster IP.
fn moved(svc: &Service) -> Service {
    Service {
        cluster_ip: Ipv4Addr::new(10, 96, 0, 99),
        ..svc.clone()
    }
}

/// Slice `web-a` (port `http` → 8080) with one endpoint per entry, on no node.
fn web_a(endpoints: &[(u8, Conditions)]) -> EndpointSlice {
    endpoints.iter().fold(
        EndpointSlice::new(&web().name, "web-a").with_port("http", 8080, Protocol::Tcp),
        |slice, &(last, conditions)| slice.with_endpoint(ip(last), None, conditions),
    )
}

#[test]
fn a_service_change_undone_before_the_sync_leaves_nothing_pending() {
    let (mut state, svc) = synced(&[]);
    assert!(state.apply(Change::service(moved(&svc))));
    assert!(state.has_pending());
    // An equal copy, not the same allocation, brings it back.
    assert!(state.apply(Change::service(svc.clone())));
    assert!(!state.has_pending());
    assert!(state.take_pending().dirty.is_empty());

    // Deleted and re-created as it was.
    state.apply(Change::ServiceDeleted(svc.name.clone()));
    assert!(state.has_pending());
    state.apply(Change::service(svc.clone()));
    assert!(!state.has_pending());

    // A service that appears and goes again between two syncs.
    let other = Service::new("ns", "other", Ipv4Addr::new(10, 96, 0, 11));
    state.apply(Change::service(other.clone()));
    state.apply(Change::ServiceDeleted(other.name));
    assert!(!state.has_pending());
}

#[test]
fn an_endpoint_change_undone_before_the_sync_leaves_nothing_pending() {
    let slice = web_a(&[(1, Conditions::READY)]);
    let (mut state, svc) = synced(std::slice::from_ref(&slice));

    // The endpoint starts terminating, then is ready again.
    state.apply(Change::slice(web_a(&[(1, TERMINATING)])));
    assert!(state.has_pending());
    state.apply(Change::slice(slice.clone()));
    assert!(!state.has_pending());

    // The slice is deleted and comes back.
    state.apply(Change::SliceDeleted(slice.name.clone()));
    assert!(state.has_pending());
    state.apply(Change::slice(slice.clone()));
    assert!(!state.has_pending());

    // A second slice added and removed again.
    let extra = EndpointSlice::new(&svc.name, "web-b").with_port("http", 8080, Protocol::Tcp);
    state.apply(Change::slice(extra.clone()));
    state.apply(Change::SliceDeleted(extra.name));
    assert!(!state.has_pending());
    let pending = state.take_pending();
    assert!(pending.dirty.is_empty());
    // The changes still count (kube-proxy's `*_changes_total` counts them too).
    assert_eq!(pending.endpoint_changes, 6);
}

#[test]
fn a_change_that_only_partly_cancels_stays_pending() {
    let (mut state, svc) = synced(&[web_a(&[])]);
    state.apply(Change::service(moved(&svc)));
    state.apply(Change::slice(web_a(&[(1, Conditions::READY)])));
    // The service is back, its endpoints are not.
    state.apply(Change::service(svc));
    assert!(state.has_pending());
    state.apply(Change::slice(web_a(&[])));
    assert!(!state.has_pending());
}

#[test]
fn trigger_times_of_changes_that_cancel_out_are_dropped() {
    let (mut state, _) = synced(&[web_a(&[])]);
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let changed = EndpointSlice {
        trigger_time: Some(at),
        ..web_a(&[(1, Conditions::READY)])
    };
    state.apply(Change::slice(changed.clone()));
    state.apply(Change::slice(web_a(&[])));
    assert!(state.take_pending().trigger_times.is_empty());

    // Kept when the change stays.
    state.apply(Change::slice(changed));
    assert_eq!(state.take_pending().trigger_times, vec![at]);
}

#[test]
fn a_node_change_undone_before_the_sync_leaves_nothing_pending() {
    let (mut state, _) = synced(&[]);
    let original = state.node().clone();
    let zoned = NodeInfo {
        zone: Some("z1".to_string()),
        ..original.clone()
    };
    assert!(state.apply(Change::NodeUpdated(zoned.clone())));
    assert!(state.has_pending());
    state.apply(Change::NodeUpdated(original));
    assert!(!state.has_pending());

    // A node change that stays makes every service pending.
    state.apply(Change::NodeUpdated(zoned));
    assert_eq!(state.take_pending().dirty.len(), 1);
    assert!(!state.has_pending());
}

#[test]
fn changes_handed_back_by_a_failed_sync_do_not_cancel_out() {
    let (mut state, svc) = synced(&[]);
    state.apply(Change::service(moved(&svc)));
    let failed = state.take_pending();
    state.restore_pending(failed);
    // Back to what the last *successful* sync saw, but the failed one may have written
    // part of the change: it must still be synced.
    state.apply(Change::service(svc.clone()));
    assert!(state.has_pending());
    assert_eq!(
        state.take_pending().dirty.into_iter().collect::<Vec<_>>(),
        vec![svc.name]
    );
}
