//! proptest strategies for random services, slices and options, valid as the model
//! accepts them but otherwise as odd as possible (63-character names, port 0, any IPs).
//! The model takes any string as a name: the sources hold names to the API server's rules,
//! but the compiler must still write rules iptables-restore accepts for names that break
//! them (newlines, quotes, NUL, tabs, unicode, 300 characters, `/` and `:`).

use std::net::Ipv4Addr;
use std::time::Duration;

use proptest::prelude::*;

use super::fixtures::{NODE, OTHER_NODE};
use crate::backend::iptables::compile::CompileOptions;
use crate::model::{Conditions, EndpointSlice, Protocol, Service, TrafficPolicy};

fn dns_label(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z]([-a-z0-9]{0,8}[a-z0-9])?",
        1 => Just("x".repeat(max)),
        1 => Just(format!("{}-0", "z".repeat(max - 2))),
    ]
}

/// Names no API server accepts, built to break rule text: a line of its own, a closed
/// quote, a cut C string, a comment past the kernel's 255 bytes.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("web\nCOMMIT".to_string()),
        Just("x\r\n-A KUBE-SERVICES -j ACCEPT".to_string()),
        Just("q\"uo'te\\".to_string()),
        Just("a/b:c".to_string()),
        Just("nul\0byte".to_string()),
        Just("tab\tbed".to_string()),
        Just("ünï©ode\u{85}\u{202e}".to_string()),
        Just("y".repeat(300)),
        "[ -~]{1,16}",
        "[\\x00-\\x1f\\x7f]{1,4}",
        "\\PC{1,8}",
    ]
}

/// A namespace or service name: mostly as the API server allows, sometimes [`hostile`].
fn name() -> impl Strategy<Value = String> {
    prop_oneof![6 => dns_label(63), 1 => hostile()]
}

pub fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Sctp)
    ]
}

pub fn policy() -> impl Strategy<Value = TrafficPolicy> {
    prop_oneof![Just(TrafficPolicy::Cluster), Just(TrafficPolicy::Local)]
}

pub fn conditions() -> impl Strategy<Value = Conditions> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(ready, serving, terminating)| {
        Conditions {
            ready,
            serving,
            terminating,
        }
    })
}

/// A service and one slice for it, both random.
pub fn service_and_slice() -> impl Strategy<Value = (Service, EndpointSlice)> {
    let ports = prop::collection::vec(
        (
            prop_oneof![4 => Just(String::new()), 4 => "[a-z][-a-z0-9]{0,13}", 1 => hostile()],
            any::<u16>(),
            protocol(),
            prop::option::of(30000u16..=32767),
        ),
        1..4,
    );
    let endpoints = prop::collection::vec(
        (any::<u32>(), any::<u16>(), any::<bool>(), conditions()),
        0..6,
    );
    (
        name(),
        name(),
        any::<u32>(),
        ports,
        prop::option::of(0u64..=86400),
        policy(),
        policy(),
        prop::collection::vec(any::<u32>(), 0..3),
        prop::collection::vec(any::<u32>(), 0..3),
        endpoints,
    )
        .prop_map(|(ns, name, ip, ports, affinity, etp, itp, ext, lb, eps)| {
            let mut svc = Service::new(&ns, &name, Ipv4Addr::from(ip));
            for (port_name, port, proto, node_port) in &ports {
                svc = svc.with_port(port_name, *port, *proto, *node_port);
            }
            svc.session_affinity = affinity.map(Duration::from_secs);
            svc.external_traffic_policy = etp;
            svc.internal_traffic_policy = itp;
            svc.external_ips = ext.into_iter().map(Ipv4Addr::from).collect();
            svc.load_balancer_ips = lb.into_iter().map(Ipv4Addr::from).collect();
            let mut slice = EndpointSlice::new(&svc.name, "slice");
            for (port_name, port, proto, _) in &ports {
                slice = slice.with_port(port_name, port.wrapping_add(1), *proto);
            }
            for &(ip, _, local, cond) in &eps {
                let node = if local { NODE } else { OTHER_NODE };
                slice = slice.with_endpoint(Ipv4Addr::from(ip), Some(node), cond);
            }
            (svc, slice)
        })
}

pub fn compile_options() -> impl Strategy<Value = CompileOptions> {
    let net = (any::<u32>(), 0u8..=32)
        .prop_map(|(ip, len)| ipnet::Ipv4Net::new(Ipv4Addr::from(ip), len).unwrap());
    (
        any::<bool>(),
        0u8..=31,
        prop::option::of(net.clone()),
        prop::collection::vec(net, 0..3),
    )
        .prop_map(
            |(masquerade_all, masquerade_bit, cluster_cidr, nodeport_addresses)| CompileOptions {
                masquerade_all,
                masquerade_bit,
                local_traffic: crate::model::LocalTraffic::from_cidr(cluster_cidr),
                nodeport_addresses,
                node_ip: None,
                // Some with KUBE-FIREWALL and the loopback-less node-port tail.
                localhost_node_ports: masquerade_bit % 3 == 0,
            },
        )
}
