//! Packet flows for each `--detect-local-mode` and for NodePorts on 127.0.0.1, over the
//! address plan of `fixtures` and the services of `flows::all_services`: who is masqueraded
//! on the way to a cluster IP, who gets the `externalTrafficPolicy: Local` short-circuit,
//! and what reaches 127.0.0.1.

use std::net::Ipv4Addr;

use super::fixtures::*;
use crate::backend::iptables::compile::CompileOptions;
use crate::model::{LocalTraffic, Protocol};
use crate::testing::iptables::trace::{Packet, Tracer};

const LB3: Ipv4Addr = Ipv4Addr::new(5, 6, 7, 3);
const BOTH1: &str = "10.180.0.1:80, 10.180.1.1:80";
const BOTH2: &str = "10.180.0.2:80, 10.180.1.2:80";
const BOTH3: &str = "10.180.0.3:80, 10.180.1.3:80";
const LOCAL3: &str = "10.180.0.3:80";

/// `(name, arriving on, src, dst, dport, output, masqueraded)`.
type Flow = (
    &'static str,
    &'static str,
    Ipv4Addr,
    Ipv4Addr,
    u16,
    &'static str,
    bool,
);

fn run(opts: &CompileOptions, flows: &[Flow]) {
    let (services, slices) = super::flows::all_services();
    let tables = compile_parsed(&state(&services, &slices), opts);
    let mut failures = Vec::new();
    for &(name, iface, src, dst, dport, output, masq) in flows {
        let tracer = Tracer::new(&tables, &[NODE_IP]).arriving_on(iface);
        let packet = Packet {
            src,
            proto: Protocol::Tcp,
            dst,
            dport,
        };
        match tracer.trace(packet) {
            Ok(t) if t.output == output && t.masquerade == masq => {}
            Ok(t) => failures.push(format!(
                "{name}: got {:?} masq={}, want {output:?} masq={masq}\n  paths: {:#?}",
                t.output, t.masquerade, t.paths
            )),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn with_local(local: LocalTraffic) -> CompileOptions {
    CompileOptions {
        local_traffic: local,
        ..CompileOptions::default()
    }
}

#[test]
fn node_cidr_tells_this_nodes_pods_only() {
    // NodeCIDR: this node's pod CIDR (10.180.0.0/24); pods of node-b (10.180.1.x) count
    // as off-node clients, as with kube-proxy.
    let opts = with_local(LocalTraffic::FromCidr("10.180.0.0/24".parse().unwrap()));
    let (here, there) = (local_pod(100), remote_pod(100));
    run(
        &opts,
        &[
            (
                "local pod to cluster IP",
                "eth0",
                here,
                svc_ip(41),
                80,
                BOTH1,
                false,
            ),
            (
                "other node's pod to cluster IP",
                "eth0",
                there,
                svc_ip(41),
                80,
                BOTH1,
                true,
            ),
            (
                "outside to cluster IP",
                "eth0",
                OUTSIDE,
                svc_ip(41),
                80,
                BOTH1,
                true,
            ),
            (
                "local pod to ETP Local LB IP",
                "eth0",
                here,
                LB3,
                80,
                BOTH3,
                false,
            ),
            (
                "other node's pod to ETP Local LB IP",
                "eth0",
                there,
                LB3,
                80,
                LOCAL3,
                false,
            ),
        ],
    );
}

#[test]
fn bridge_interface_tells_pods_by_the_bridge_they_arrive_on() {
    let opts = with_local(LocalTraffic::FromInterface("cbr0".into()));
    let pod = local_pod(100);
    run(
        &opts,
        &[
            (
                "pod on cbr0 to cluster IP",
                "cbr0",
                pod,
                svc_ip(41),
                80,
                BOTH1,
                false,
            ),
            (
                "same source on eth0",
                "eth0",
                pod,
                svc_ip(41),
                80,
                BOTH1,
                true,
            ),
            (
                "outside on eth0",
                "eth0",
                OUTSIDE,
                svc_ip(41),
                80,
                BOTH1,
                true,
            ),
            (
                "cbr0 is not a prefix",
                "cbr01",
                pod,
                svc_ip(41),
                80,
                BOTH1,
                true,
            ),
            (
                "node itself (no input interface)",
                "cbr0",
                NODE_IP,
                svc_ip(41),
                80,
                BOTH1,
                true,
            ),
            (
                "pod on cbr0 to ETP Local LB IP",
                "cbr0",
                pod,
                LB3,
                80,
                BOTH3,
                false,
            ),
            (
                "eth0 to ETP Local LB IP",
                "eth0",
                pod,
                LB3,
                80,
                LOCAL3,
                false,
            ),
        ],
    );
}

#[test]
fn interface_name_prefix_tells_pods_by_their_veth() {
    let opts = with_local(LocalTraffic::FromInterfacePrefix("veth".into()));
    let pod = local_pod(100);
    run(
        &opts,
        &[
            (
                "pod on veth1234 to cluster IP",
                "veth1234",
                pod,
                svc_ip(41),
                80,
                BOTH1,
                false,
            ),
            (
                "outside on eth0",
                "eth0",
                OUTSIDE,
                svc_ip(41),
                80,
                BOTH1,
                true,
            ),
            (
                "pod on veth9 to ETP Local LB IP",
                "veth9",
                pod,
                LB3,
                80,
                BOTH3,
                false,
            ),
            (
                "eth0 to ETP Local NodePort",
                "eth0",
                OUTSIDE,
                NODE_IP,
                3003,
                LOCAL3,
                false,
            ),
        ],
    );
}

#[test]
fn localhost_node_ports_answer_and_martians_are_dropped() {
    let on = CompileOptions {
        localhost_node_ports: true,
        ..options()
    };
    let lo = Ipv4Addr::LOCALHOST;
    run(
        &on,
        &[
            (
                "node to 127.0.0.1:NodePort",
                "eth0",
                lo,
                lo,
                3002,
                BOTH2,
                true,
            ),
            (
                "node to 127.0.0.1:ETP Local NodePort",
                "eth0",
                lo,
                lo,
                3003,
                BOTH3,
                true,
            ),
            (
                "node to its own NodePort",
                "eth0",
                NODE_IP,
                NODE_IP,
                3002,
                BOTH2,
                true,
            ),
            // route_localnet lets this packet in; KUBE-FIREWALL drops it (not DNATed).
            (
                "outside to 127.0.0.1, not a NodePort",
                "eth0",
                OUTSIDE,
                lo,
                9999,
                "DROP",
                false,
            ),
            (
                "node to 127.0.0.1, not a NodePort",
                "eth0",
                lo,
                lo,
                9999,
                "127.0.0.1:9999",
                false,
            ),
        ],
    );
    // Off (--iptables-localhost-nodeports=false), or node-port addresses without loopback.
    let off = CompileOptions {
        localhost_node_ports: false,
        ..options()
    };
    let elsewhere = CompileOptions {
        localhost_node_ports: true,
        nodeport_addresses: vec!["192.168.0.0/24".parse().unwrap()],
        ..options()
    };
    for opts in [off, elsewhere] {
        run(
            &opts,
            &[
                (
                    "node to 127.0.0.1:NodePort",
                    "eth0",
                    lo,
                    lo,
                    3002,
                    "127.0.0.1:3002",
                    false,
                ),
                (
                    "node to its own NodePort",
                    "eth0",
                    NODE_IP,
                    NODE_IP,
                    3002,
                    BOTH2,
                    true,
                ),
                (
                    "outside to 127.0.0.1",
                    "eth0",
                    OUTSIDE,
                    lo,
                    9999,
                    "127.0.0.1:9999",
                    false,
                ),
            ],
        );
    }
    // Only loopback listed: NodePorts answer there and nowhere else.
    let only_lo = CompileOptions {
        localhost_node_ports: true,
        nodeport_addresses: vec!["127.0.0.0/8".parse().unwrap()],
        ..options()
    };
    run(
        &only_lo,
        &[
            (
                "node to 127.0.0.1:NodePort",
                "eth0",
                lo,
                lo,
                3002,
                BOTH2,
                true,
            ),
            (
                "outside to NodePort",
                "eth0",
                OUTSIDE,
                NODE_IP,
                3002,
                "192.168.0.2:3002",
                false,
            ),
        ],
    );
}
