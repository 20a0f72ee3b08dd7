//! The reconciler's decision, table-driven: entries as the kernel would hold them after
//! traffic to each kind of frontend, and whether each one is stale.

use std::net::{IpAddr, Ipv4Addr};

use super::{Frontends, stale_entries};
use crate::conntrack::consts::{AF_INET, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::conntrack::{Entry, Tuple};
use crate::model::{Change, Conditions, EndpointSlice, Protocol, ProxyState, Service, ServiceName};

// Address plan: dns 10.96.0.10:53/UDP → pods .5 and .6 on 5353, external IP 192.0.2.10,
// load-balancer IP 198.51.100.10, node port 30053; sctp 10.96.0.11:9000/SCTP → pod .7;
// web 10.96.0.12:80/TCP → pod .8; a client 10.244.1.2 and the node 192.168.100.1.
const DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const EXTERNAL_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const LB_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const SCTP_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 11);
const WEB_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 12);
const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 2);

fn pod(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 1, last)
}

const NOT_SERVING: Conditions = Conditions {
    ready: false,
    serving: false,
    terminating: true,
};
const SERVING_TERMINATING: Conditions = Conditions {
    ready: false,
    serving: true,
    terminating: true,
};

fn dns_service() -> Service {
    let mut s =
        Service::new("kube-system", "dns", DNS_IP).with_port("dns", 53, Protocol::Udp, Some(30053));
    s.external_ips = vec![EXTERNAL_IP];
    s.load_balancer_ips = vec![LB_IP];
    s
}

fn state(dns_endpoints: &[(u8, Conditions)]) -> ProxyState {
    let mut state = ProxyState::new("node-1");
    let dns = dns_service();
    let mut slice = EndpointSlice::new(&dns.name, "dns-1").with_port("dns", 5353, Protocol::Udp);
    for (last, conditions) in dns_endpoints {
        slice = slice.with_endpoint(pod(*last), Some("node-2"), *conditions);
    }
    state.apply(Change::service(dns));
    state.apply(Change::slice(slice));
    let sctp = Service::new("default", "sctp", SCTP_IP).with_port("", 9000, Protocol::Sctp, None);
    let sctp_slice = EndpointSlice::new(&sctp.name, "sctp-1")
        .with_port("", 9000, Protocol::Sctp)
        .with_endpoint(pod(7), None, Conditions::READY);
    state.apply(Change::service(sctp));
    state.apply(Change::slice(sctp_slice));
    let web = Service::new("default", "web", WEB_IP).with_port("", 80, Protocol::Tcp, None);
    let web_slice = EndpointSlice::new(&web.name, "web-1")
        .with_port("", 8080, Protocol::Tcp)
        .with_endpoint(pod(8), None, Conditions::READY);
    state.apply(Change::service(web));
    state.apply(Change::slice(web_slice));
    state
}

/// An entry for traffic from `client` to `dst:dport` that the kernel sent to `to:to_port`.
fn entry(protocol: u8, client: Ipv4Addr, dst: Ipv4Addr, dport: u16, to: (Ipv4Addr, u16)) -> Entry {
    let v4 = IpAddr::V4;
    Entry {
        family: AF_INET,
        orig: Tuple {
            src: v4(client),
            dst: v4(dst),
            protocol,
            src_port: 40000,
            dst_port: dport,
        },
        reply: Tuple {
            src: v4(to.0),
            dst: v4(client),
            protocol,
            src_port: to.1,
            dst_port: 40000,
        },
        status: 0,
        timeout: Some(30),
        zone: 0,
        id: Some(1),
        mark: 0,
    }
}

fn udp(dst: Ipv4Addr, dport: u16, to: (Ipv4Addr, u16)) -> Entry {
    entry(IPPROTO_UDP, CLIENT, dst, dport, to)
}

/// Each case: an entry and whether it is stale, against `state`.
fn check(state: &ProxyState, cases: &[(&str, Entry, bool)]) {
    let frontends = Frontends::from_state(state);
    let entries: Vec<Entry> = cases.iter().map(|(_, e, _)| e.clone()).collect();
    let stale = stale_entries(&entries, &frontends);
    for (name, entry, expected) in cases {
        assert_eq!(stale.contains(&entry), *expected, "{name}: {entry}");
    }
}

#[test]
fn entries_to_endpoints_that_no_longer_serve_are_stale_on_every_frontend() {
    // pod 5 serves; pod 6 has stopped serving; pod 9 is gone from the slice.
    let s = state(&[(5, Conditions::READY), (6, NOT_SERVING)]);
    let serving = (pod(5), 5353);
    let cases = [
        (
            "cluster IP → serving endpoint",
            udp(DNS_IP, 53, serving),
            false,
        ),
        (
            "cluster IP → endpoint no longer serving",
            udp(DNS_IP, 53, (pod(6), 5353)),
            true,
        ),
        (
            "cluster IP → removed endpoint",
            udp(DNS_IP, 53, (pod(9), 5353)),
            true,
        ),
        (
            "cluster IP → serving address, old target port",
            udp(DNS_IP, 53, (pod(5), 53)),
            true,
        ),
        (
            "cluster IP, not DNATed (sent before the rules existed)",
            udp(DNS_IP, 53, (DNS_IP, 53)),
            true,
        ),
        (
            "external IP → serving",
            udp(EXTERNAL_IP, 53, serving),
            false,
        ),
        (
            "external IP → removed",
            udp(EXTERNAL_IP, 53, (pod(9), 5353)),
            true,
        ),
        ("load-balancer IP → serving", udp(LB_IP, 53, serving), false),
        (
            "load-balancer IP → removed",
            udp(LB_IP, 53, (pod(9), 5353)),
            true,
        ),
        (
            "node port on the node IP → serving",
            udp(NODE_IP, 30053, serving),
            false,
        ),
        (
            "node port on any address → removed",
            udp(NODE_IP, 30053, (pod(9), 5353)),
            true,
        ),
        (
            "other port on the cluster IP",
            udp(DNS_IP, 54, (pod(9), 5353)),
            false,
        ),
        (
            "not a service address",
            udp(pod(9), 5353, (pod(9), 5353)),
            false,
        ),
        (
            "TCP to the cluster IP and port is never touched",
            entry(IPPROTO_TCP, CLIENT, DNS_IP, 53, (pod(9), 5353)),
            false,
        ),
        (
            "TCP service, removed endpoint",
            entry(IPPROTO_TCP, CLIENT, WEB_IP, 80, (pod(9), 8080)),
            false,
        ),
        (
            "SCTP → serving",
            entry(IPPROTO_SCTP, CLIENT, SCTP_IP, 9000, (pod(7), 9000)),
            false,
        ),
        (
            "SCTP → removed",
            entry(IPPROTO_SCTP, CLIENT, SCTP_IP, 9000, (pod(9), 9000)),
            true,
        ),
        (
            "UDP entry to the SCTP service's address and port",
            udp(SCTP_IP, 9000, (pod(9), 9000)),
            false,
        ),
    ];
    check(&s, &cases);
}

#[test]
fn serving_terminating_endpoints_keep_their_flows() {
    let s = state(&[(5, Conditions::READY), (6, SERVING_TERMINATING)]);
    check(
        &s,
        &[(
            "terminating but serving",
            udp(DNS_IP, 53, (pod(6), 5353)),
            false,
        )],
    );
}

/// kubernetes#139629: a service port that lost every endpoint is still reconciled.
#[test]
fn a_service_without_serving_endpoints_has_every_entry_stale() {
    let s = state(&[(6, NOT_SERVING)]);
    check(
        &s,
        &[
            ("cluster IP", udp(DNS_IP, 53, (pod(5), 5353)), true),
            ("node port", udp(NODE_IP, 30053, (pod(5), 5353)), true),
        ],
    );
    let none = state(&[]);
    check(
        &none,
        &[("no slice at all", udp(DNS_IP, 53, (pod(5), 5353)), true)],
    );
}

/// kubernetes#141371: the frontends of a deleted service stay reconciled (with no
/// endpoints) in the reconcile after the deletion; a live service using the same address
/// wins.
#[test]
fn a_deleted_service_frontends_are_reconciled_once_with_no_endpoints() {
    let before = state(&[(5, Conditions::READY)]);
    let previous = Frontends::from_state(&before);
    let mut after = state(&[(5, Conditions::READY)]);
    after.apply(Change::ServiceDeleted(ServiceName::new(
        "kube-system",
        "dns",
    )));
    let sctp = ServiceName::new("default", "sctp");
    // The SCTP service moves to another port: its old frontend is gone.
    let moved = Service::new("default", "sctp", SCTP_IP).with_port("", 9001, Protocol::Sctp, None);
    after.apply(Change::service(moved));
    assert!(after.service(&sctp).is_some());

    let frontends = Frontends::from_state(&after).with_removed(&previous);
    let entries = [
        udp(DNS_IP, 53, (pod(5), 5353)),
        udp(NODE_IP, 30053, (pod(5), 5353)),
        udp(LB_IP, 53, (pod(5), 5353)),
        entry(IPPROTO_SCTP, CLIENT, SCTP_IP, 9000, (pod(7), 9000)),
        entry(IPPROTO_SCTP, CLIENT, SCTP_IP, 9001, (pod(7), 9000)),
    ];
    let stale = stale_entries(&entries, &frontends);
    assert_eq!(stale.len(), 4, "{stale:?}");
    assert!(!stale.contains(&&entries[4]), "the live port's flow stays");

    // Without the previous frontends, a deleted service's flows are not looked at.
    let only_live = Frontends::from_state(&after);
    assert!(stale_entries(&entries[..3], &only_live).is_empty());

    // A new service on the deleted one's cluster IP: its own endpoints decide.
    let mut reused = after;
    let new = Service::new("default", "dns2", DNS_IP).with_port("", 53, Protocol::Udp, None);
    let slice = EndpointSlice::new(&new.name, "dns2-1")
        .with_port("", 5353, Protocol::Udp)
        .with_endpoint(pod(5), None, Conditions::READY);
    reused.apply(Change::service(new));
    reused.apply(Change::slice(slice));
    let frontends = Frontends::from_state(&reused).with_removed(&previous);
    assert!(stale_entries(&entries[..1], &frontends).is_empty());
}

#[test]
fn only_tcp_services_need_no_dump() {
    let mut s = ProxyState::new("node-1");
    let web = Service::new("default", "web", WEB_IP).with_port("", 80, Protocol::Tcp, Some(30080));
    s.apply(Change::service(web));
    let frontends = Frontends::from_state(&s);
    assert!(frontends.is_empty());
    let with_udp = Frontends::from_state(&state(&[]));
    assert!(with_udp.has_protocol(IPPROTO_UDP) && with_udp.has_protocol(IPPROTO_SCTP));
    assert!(!with_udp.has_protocol(IPPROTO_TCP));
}
