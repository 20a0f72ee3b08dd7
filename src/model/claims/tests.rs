//! Who keeps a claimed address, through the state as the sync loop applies changes.

use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

use crate::model::{Change, NodeInfo, Protocol, ProxyState, Service, ServiceName};

fn svc(
    name: &str,
    ip_last: u8,
    port: u16,
    node_port: Option<u16>,
    age_secs: Option<u64>,
) -> Service {
    let mut s = Service::new("demo", name, Ipv4Addr::new(10, 96, 0, ip_last)).with_port(
        "http",
        port,
        Protocol::Tcp,
        node_port,
    );
    s.created = age_secs.map(|a| SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 - a));
    s
}

fn admitted(state: &ProxyState) -> Vec<String> {
    state.services().map(|s| s.name.name.clone()).collect()
}

fn reasons(state: &mut ProxyState) -> Vec<(String, &'static str, String)> {
    state
        .take_rejections()
        .into_iter()
        .map(|r| (r.service.name, r.refusal.reason(), r.refusal.to_string()))
        .collect()
}

#[test]
fn the_older_service_keeps_a_cluster_ip_port_and_the_newer_waits() {
    let mut state = ProxyState::new("node-a");
    // `young` arrives first but was created later.
    assert!(state.apply(Change::service(svc("young", 9, 80, None, Some(10)))));
    assert!(state.apply(Change::service(svc("old", 9, 80, None, Some(500)))));
    assert_eq!(admitted(&state), ["old"]);
    assert_eq!(
        reasons(&mut state),
        [(
            "young".to_string(),
            "cluster_ip_conflict",
            "10.96.0.9:80/tcp is already demo/old's".to_string()
        )]
    );
    // Logged once: the same refusal again is not a new line.
    state.apply(Change::service(svc("young", 9, 80, None, Some(10))));
    assert_eq!(reasons(&mut state), []);
    // Another protocol or port on the same IP is another claim.
    let mut udp = svc("udp", 9, 80, None, Some(1));
    udp.ports[0].protocol = Protocol::Udp;
    state.apply(Change::service(udp));
    assert_eq!(admitted(&state), ["old", "udp"]);
    // When the holder goes, the one waiting gets it.
    assert!(state.apply(Change::ServiceDeleted(ServiceName::new("demo", "old"))));
    assert_eq!(admitted(&state), ["udp", "young"]);
    assert!(state.is_pending(&ServiceName::new("demo", "young")));
}

#[test]
fn without_timestamps_namespace_and_name_decide_and_dated_ones_come_first() {
    let mut state = ProxyState::new("node-a");
    state.apply(Change::service(svc("b", 9, 80, None, None)));
    state.apply(Change::service(svc("a", 9, 80, None, None)));
    assert_eq!(admitted(&state), ["a"]);
    state.apply(Change::service(svc("z", 9, 80, None, Some(1))));
    assert_eq!(admitted(&state), ["z"]);
    let got: Vec<_> = reasons(&mut state).into_iter().map(|r| r.0).collect();
    // `b` is logged again: its holder changed from `a` to `z`.
    assert_eq!(got, ["b", "a", "b"]);
}

#[test]
fn a_node_port_is_one_services_whatever_the_protocol() {
    let mut state = ProxyState::new("node-a");
    let mut dns = svc("dns", 10, 53, Some(30053), Some(100));
    dns = dns.with_port("dns-udp", 53, Protocol::Udp, Some(30053));
    state.apply(Change::service(dns));
    let mut other = svc("other", 11, 53, None, Some(50));
    other = other.with_port("x", 54, Protocol::Udp, Some(30053));
    state.apply(Change::service(other));
    assert_eq!(admitted(&state), ["dns"]);
    assert_eq!(
        reasons(&mut state),
        [(
            "other".to_string(),
            "node_port_conflict",
            "nodePort 30053 is already demo/dns's".to_string()
        )]
    );
    // Giving up the node port admits it.
    state.apply(Change::service(svc("other", 11, 53, None, Some(50))));
    assert_eq!(admitted(&state), ["dns", "other"]);
}

#[test]
fn an_update_that_takes_anothers_address_withdraws_the_newer_one() {
    let mut state = ProxyState::new("node-a");
    state.apply(Change::service(svc("old", 9, 80, None, Some(500))));
    state.apply(Change::service(svc("young", 8, 80, None, Some(10))));
    state.take_pending();
    // `old` moves onto `young`'s address: `young` loses it.
    assert!(state.apply(Change::service(svc("old", 8, 80, None, Some(500)))));
    assert_eq!(admitted(&state), ["old"]);
    assert!(state.is_pending(&ServiceName::new("demo", "young")));
    assert_eq!(reasons(&mut state).len(), 1);
}

#[test]
fn a_cluster_ip_that_is_the_nodes_own_address_is_refused_while_it_is() {
    let mut state = ProxyState::new("node-a");
    state.apply(Change::service(svc("web", 9, 80, None, None)));
    let node = NodeInfo {
        name: "node-a".into(),
        zone: None,
        addresses: vec![Ipv4Addr::new(10, 96, 0, 9)],
        pod_cidrs: vec![],
    };
    state.apply(Change::NodeUpdated(node.clone()));
    assert_eq!(admitted(&state), Vec::<String>::new());
    assert_eq!(
        reasons(&mut state),
        [(
            "web".to_string(),
            "cluster_ip_is_node_address",
            "spec.clusterIP 10.96.0.9 is one of this node's addresses".to_string()
        )]
    );
    state.apply(Change::NodeUpdated(NodeInfo {
        addresses: vec![Ipv4Addr::new(192, 168, 0, 2)],
        ..node
    }));
    assert_eq!(admitted(&state), ["web"]);
}

#[test]
fn deleting_a_refused_service_changes_nothing_a_backend_reads() {
    let mut state = ProxyState::new("node-a");
    state.apply(Change::service(svc("old", 9, 80, None, Some(500))));
    state.apply(Change::service(svc("young", 9, 80, None, Some(10))));
    state.take_pending();
    assert!(!state.apply(Change::ServiceDeleted(ServiceName::new("demo", "young"))));
    assert!(!state.has_pending());
    assert_eq!(admitted(&state), ["old"]);
}
