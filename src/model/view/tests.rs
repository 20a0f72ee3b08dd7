//! The view of each policy combination, the ready → serving+terminating fallback, the port
//! de-duplication and the affinity clamp.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;
use crate::model::{Change, Conditions, EndpointSlice, TrafficPolicy};

use TrafficPolicy::{Cluster, Local};

const NODE: &str = "node-a";
const READY: Conditions = Conditions::READY;
const TERMINATING: Conditions = Conditions {
    ready: false,
    serving: true,
    terminating: true,
};
const GONE: Conditions = Conditions {
    ready: false,
    serving: false,
    terminating: true,
};

fn local(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 0, last)
}

fn remote(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 1, last)
}

fn web(node_port: Option<u16>) -> Service {
    Service::new("ns", "web", Ipv4Addr::new(10, 96, 0, 10)).with_port(
        "http",
        80,
        Protocol::Tcp,
        node_port,
    )
}

/// The snapshot of `svc` with one slice of these endpoints (target port 8080); an
/// address in 10.244.0.0/24 is on this node.
fn snapshot(svc: Service, eps: &[(Ipv4Addr, Conditions)]) -> ServiceSnapshot {
    let mut slice = EndpointSlice::new(&svc.name, "web-1").with_port("http", 8080, Protocol::Tcp);
    for &(ip, conditions) in eps {
        let node = if ip.octets()[2] == 0 { NODE } else { "node-b" };
        slice = slice.with_endpoint(ip, Some(node), conditions);
    }
    let mut state = ProxyState::new(NODE);
    let name = svc.name.clone();
    state.apply(Change::service(svc));
    state.apply(Change::slice(slice));
    state.snapshot(&name).unwrap()
}

fn ips(eps: &[ServiceEndpoint]) -> Vec<Ipv4Addr> {
    eps.iter().map(|e| e.ip).collect()
}

fn policies(mut svc: Service, etp: TrafficPolicy, itp: TrafficPolicy) -> Service {
    svc.external_traffic_policy = etp;
    svc.internal_traffic_policy = itp;
    svc
}

/// What a view says, in one comparable line per fact.
#[derive(Debug, PartialEq, Eq)]
struct Facts {
    cluster: Vec<Ipv4Addr>,
    local: Vec<Ipv4Addr>,
    internal: Vec<Ipv4Addr>,
    external: Vec<Ipv4Addr>,
    reachable: Vec<Ipv4Addr>,
    has_endpoints: bool,
    has_local: bool,
    routes_external: bool,
}

fn facts(view: &PortView) -> Facts {
    Facts {
        cluster: ips(view.cluster_endpoints()),
        local: ips(view.local_endpoints()),
        internal: ips(view.internal_endpoints()),
        external: ips(view.external_endpoints()),
        reachable: ips(&view.reachable_endpoints()),
        has_endpoints: view.has_endpoints(),
        has_local: view.has_local_endpoints(),
        routes_external: view.routes_external_traffic(),
    }
}

#[test]
fn each_policy_combination_picks_its_endpoints() {
    let both = [(local(1), READY), (remote(2), READY)];
    let (l, r) = (local(1), remote(2));
    #[rustfmt::skip]
    let cases: Vec<(&str, Service, Facts)> = vec![
        ("ClusterIP, Cluster/Cluster: everything everywhere", web(None), Facts {
            cluster: vec![l, r], local: vec![], internal: vec![l, r], external: vec![l, r],
            reachable: vec![l, r], has_endpoints: true, has_local: false, routes_external: false }),
        ("NodePort, Cluster/Cluster", web(Some(30080)), Facts {
            cluster: vec![l, r], local: vec![], internal: vec![l, r], external: vec![l, r],
            reachable: vec![l, r], has_endpoints: true, has_local: false, routes_external: true }),
        ("NodePort, ETP Local: outside traffic stays on this node", policies(web(Some(30080)), Local, Cluster), Facts {
            cluster: vec![l, r], local: vec![l], internal: vec![l, r], external: vec![l],
            reachable: vec![l, r], has_endpoints: true, has_local: true, routes_external: true }),
        ("ClusterIP, ITP Local: no cluster list at all", policies(web(None), Cluster, Local), Facts {
            cluster: vec![], local: vec![l], internal: vec![l], external: vec![],
            reachable: vec![l], has_endpoints: true, has_local: true, routes_external: false }),
        ("NodePort, ITP Local: outside traffic keeps the cluster list", policies(web(Some(30080)), Cluster, Local), Facts {
            cluster: vec![l, r], local: vec![l], internal: vec![l], external: vec![l, r],
            reachable: vec![l, r], has_endpoints: true, has_local: true, routes_external: true }),
        ("NodePort, Local/Local", policies(web(Some(30080)), Local, Local), Facts {
            cluster: vec![l, r], local: vec![l], internal: vec![l], external: vec![l],
            reachable: vec![l, r], has_endpoints: true, has_local: true, routes_external: true }),
        ("ClusterIP, ETP Local means nothing: taken as Cluster", policies(web(None), Local, Cluster), Facts {
            cluster: vec![l, r], local: vec![], internal: vec![l, r], external: vec![l, r],
            reachable: vec![l, r], has_endpoints: true, has_local: false, routes_external: false }),
    ];
    for (name, svc, want) in cases {
        let snap = snapshot(svc, &both);
        let view = snap.ports().next().unwrap();
        assert_eq!(facts(&view), want, "{name}");
    }
}

#[test]
fn a_local_policy_without_local_endpoints_still_knows_endpoints_exist() {
    let snap = snapshot(
        policies(web(Some(30080)), Local, Local),
        &[(remote(2), READY)],
    );
    let view = snap.ports().next().unwrap();
    assert!(view.has_endpoints());
    assert!(!view.has_local_endpoints());
    assert!(view.internal_endpoints().is_empty() && view.external_endpoints().is_empty());
    assert!(
        view.routes_external_traffic(),
        "pods and the node still reach it"
    );

    // ITP Local on a ClusterIP service computes no cluster list, and still sees the remote one.
    let snap = snapshot(
        policies(web(None), Cluster, Local),
        &[(remote(2), TERMINATING)],
    );
    let view = snap.ports().next().unwrap();
    assert!(view.has_endpoints());
    assert!(view.cluster_endpoints().is_empty());
}

#[test]
fn ready_endpoints_win_over_terminating_ones() {
    let snap = snapshot(web(None), &[(local(1), READY), (remote(2), TERMINATING)]);
    let view = snap.ports().next().unwrap();
    assert_eq!(ips(view.cluster_endpoints()), [local(1)]);
}

#[test]
fn serving_terminating_endpoints_are_the_fallback() {
    let snap = snapshot(
        web(None),
        &[
            (local(1), TERMINATING),
            (local(2), GONE),
            (
                remote(3),
                Conditions {
                    ready: false,
                    serving: false,
                    terminating: false,
                },
            ),
        ],
    );
    let view = snap.ports().next().unwrap();
    assert_eq!(ips(view.cluster_endpoints()), [local(1)]);
    assert_eq!(
        view.all_endpoints().len(),
        3,
        "unusable ones are still listed"
    );
}

#[test]
fn the_local_list_falls_back_on_its_own() {
    // A ready remote endpoint keeps the cluster list ready-only, while this node's only
    // endpoint is draining: Local traffic goes there, and both are reachable.
    let snap = snapshot(
        policies(web(Some(30080)), Local, Cluster),
        &[(local(1), TERMINATING), (remote(2), READY)],
    );
    let view = snap.ports().next().unwrap();
    assert_eq!(ips(view.cluster_endpoints()), [remote(2)]);
    assert_eq!(ips(view.local_endpoints()), [local(1)]);
    assert_eq!(ips(&view.reachable_endpoints()), [local(1), remote(2)]);
}

#[test]
fn nothing_usable_means_no_endpoints() {
    let snap = snapshot(
        policies(web(Some(30080)), Local, Local),
        &[(local(1), GONE)],
    );
    let view = snap.ports().next().unwrap();
    assert!(!view.has_endpoints());
    assert!(!view.routes_external_traffic());
    assert!(view.reachable_endpoints().is_empty());
}

#[test]
fn a_port_repeating_a_name_and_protocol_is_viewed_once() {
    let svc = web(None)
        .with_port("http", 81, Protocol::Tcp, None)
        .with_port("http", 80, Protocol::Udp, None);
    let snap = snapshot(svc, &[(local(1), READY)]);
    let ports: Vec<(u16, Protocol)> = snap
        .ports()
        .map(|p| (p.addresses.port, p.protocol))
        .collect();
    assert_eq!(ports, [(80, Protocol::Tcp), (80, Protocol::Udp)]);
    assert_eq!(snap.endpoint_count(), 1, "the UDP port has no endpoints");
}

#[test]
fn affinity_is_clamped_to_what_the_kernel_accepts() {
    for (timeout, want) in [
        (None, None),
        (Some(Duration::ZERO), Some(1)),
        (Some(Duration::from_millis(1500)), Some(1)),
        (Some(Duration::from_secs(10800)), Some(10800)),
        (Some(Duration::from_secs(u64::MAX)), Some(u32::MAX)),
    ] {
        let mut svc = web(None);
        svc.session_affinity = timeout;
        let snap = snapshot(svc, &[]);
        assert_eq!(
            snap.ports().next().unwrap().affinity_seconds,
            want,
            "{timeout:?}"
        );
    }
}

#[test]
fn addresses_come_by_kind_and_node_port_zero_is_none() {
    let mut svc = web(Some(0));
    svc.external_ips = vec![Ipv4Addr::new(192, 0, 2, 1)];
    svc.load_balancer_ips = vec![Ipv4Addr::new(198, 51, 100, 7)];
    let snap = snapshot(svc, &[]);
    let view = snap.ports().next().unwrap();
    assert_eq!(
        view.addresses,
        VirtualAddresses {
            cluster_ip: Ipv4Addr::new(10, 96, 0, 10),
            port: 80,
            external_ips: &[Ipv4Addr::new(192, 0, 2, 1)],
            load_balancer_ips: &[Ipv4Addr::new(198, 51, 100, 7)],
            source_ranges: &[],
            node_port: None,
        }
    );
    assert!(view.externally_accessible());
    assert!(
        !snapshot(web(Some(0)), &[])
            .ports()
            .next()
            .unwrap()
            .externally_accessible()
    );
}

#[test]
fn all_ready_borrows_instead_of_copying() {
    let snap = snapshot(web(None), &[(local(1), READY), (remote(2), READY)]);
    let view = snap.ports().next().unwrap();
    assert!(matches!(view.cluster, Cow::Borrowed(_)));
    assert!(matches!(view.reachable_endpoints(), Cow::Borrowed(_)));
}

#[test]
fn snapshots_compare_by_service_and_endpoints() {
    let a = snapshot(web(None), &[(local(1), READY)]);
    assert_eq!(a, snapshot(web(None), &[(local(1), READY)]));
    assert_ne!(a, snapshot(web(None), &[(local(1), TERMINATING)]));
    assert_ne!(a, snapshot(web(Some(30080)), &[(local(1), READY)]));
}
