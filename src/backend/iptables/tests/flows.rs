//! Table-driven packet flows over the compiled rules (see the address plan in `fixtures`).

use std::net::Ipv4Addr;

use super::fixtures::*;
use crate::backend::iptables::compile::CompileOptions;
use crate::backend::iptables::names::{ChainKind, service_chain};
use crate::model::{Conditions, EndpointSlice, Protocol, ProxyState, Service, TrafficPolicy};
use crate::testing::iptables::parse::Tables;
use crate::testing::iptables::trace::{Packet, TraceError, Tracer};

use TrafficPolicy::{Cluster, Local};

const READY: Conditions = Conditions::READY;

/// Every kind of service the flows exercise, each on its own cluster IP.
pub fn all_services() -> (Vec<Service>, Vec<EndpointSlice>) {
    let mut services = Vec::new();
    let mut slices = Vec::new();
    let mut add = |svc: Service, eps: &[(Ipv4Addr, &str, Conditions)]| {
        if !eps.is_empty() {
            slices.push(slice(&svc, eps));
        }
        services.push(svc);
    };
    // ClusterIP, one local and one remote endpoint.
    add(
        service("svc1", 41, None),
        &[
            (local_pod(1), NODE, READY),
            (remote_pod(1), OTHER_NODE, READY),
        ],
    );
    // NodePort.
    add(
        service("svc2", 42, Some(3002)),
        &[
            (local_pod(2), NODE, READY),
            (remote_pod(2), OTHER_NODE, READY),
        ],
    );
    // LoadBalancer, externalTrafficPolicy Local, with a local endpoint.
    let mut svc3 = with_policies(service("svc3", 43, Some(3003)), Local, Cluster);
    svc3.load_balancer_ips = vec![Ipv4Addr::new(5, 6, 7, 3)];
    add(
        svc3,
        &[
            (local_pod(3), NODE, READY),
            (remote_pod(3), OTHER_NODE, READY),
        ],
    );
    // externalTrafficPolicy Local without a local endpoint, NodePort and external IP.
    let mut svc4 = with_policies(service("svc4", 44, Some(3004)), Local, Cluster);
    svc4.external_ips = vec![Ipv4Addr::new(192, 168, 99, 44)];
    add(svc4, &[(remote_pod(4), OTHER_NODE, READY)]);
    // No endpoints at all, NodePort and external IP.
    let mut svc5 = service("svc5", 45, Some(3005));
    svc5.external_ips = vec![Ipv4Addr::new(192, 168, 99, 55)];
    add(svc5, &[(local_pod(5), NODE, NOT_SERVING)]);
    // Only terminating endpoints: the serving one is used.
    add(
        service("svc6", 46, None),
        &[
            (local_pod(6), NODE, TERMINATING),
            (remote_pod(6), OTHER_NODE, NOT_SERVING),
        ],
    );
    // internalTrafficPolicy Local, with and without a local endpoint.
    add(
        with_policies(service("svc7", 47, None), Cluster, Local),
        &[
            (local_pod(7), NODE, READY),
            (remote_pod(7), OTHER_NODE, READY),
        ],
    );
    add(
        with_policies(service("svc8", 48, None), Cluster, Local),
        &[(remote_pod(8), OTHER_NODE, READY)],
    );
    // Session affinity.
    add(
        with_affinity(service("svc9", 49, None), 10800),
        &[
            (local_pod(9), NODE, READY),
            (remote_pod(9), OTHER_NODE, READY),
        ],
    );
    // One endpoint, for hairpin traffic.
    add(service("svc10", 50, None), &[(local_pod(10), NODE, READY)]);
    // SCTP and a multi-protocol service with two ports, on other target ports.
    let sctp =
        Service::new("ns", "svc11", svc_ip(51)).with_port("diameter", 3868, Protocol::Sctp, None);
    slices.push(
        EndpointSlice::new(&sctp.name, "svc11-1")
            .with_port("diameter", 3869, Protocol::Sctp)
            .with_endpoint(remote_pod(11), Some(OTHER_NODE), READY),
    );
    services.push(sctp);
    let dns = Service::new("ns", "svc12", svc_ip(52))
        .with_port("dns", 53, Protocol::Udp, None)
        .with_port("dns-tcp", 53, Protocol::Tcp, None);
    slices.push(
        EndpointSlice::new(&dns.name, "svc12-1")
            .with_port("dns", 5353, Protocol::Udp)
            .with_port("dns-tcp", 5354, Protocol::Tcp)
            .with_endpoint(remote_pod(12), Some(OTHER_NODE), READY),
    );
    services.push(dns);
    (services, slices)
}

fn flow_state() -> ProxyState {
    let (services, slices) = all_services();
    state(&services, &slices)
}

pub(super) struct Flow {
    name: &'static str,
    src: Ipv4Addr,
    proto: Protocol,
    dst: Ipv4Addr,
    dport: u16,
    output: &'static str,
    masq: bool,
}

pub(super) fn flow(
    name: &'static str,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dport: u16,
    output: &'static str,
    masq: bool,
) -> Flow {
    Flow {
        name,
        src,
        proto: Protocol::Tcp,
        dst,
        dport,
        output,
        masq,
    }
}

pub(super) fn run_flows(tables: &Tables, flows: &[Flow]) {
    let tracer = Tracer::new(tables, &[NODE_IP]);
    let mut failures = Vec::new();
    for f in flows {
        let packet = Packet {
            src: f.src,
            proto: f.proto,
            dst: f.dst,
            dport: f.dport,
        };
        match tracer.trace(packet) {
            Ok(t) if t.output == f.output && t.masquerade == f.masq => {}
            Ok(t) => failures.push(format!(
                "{}: got {:?} masq={}, want {:?} masq={}\n  paths: {:#?}",
                f.name, t.output, t.masquerade, f.output, f.masq, t.paths
            )),
            Err(e) => failures.push(format!("{}: {e}", f.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const LB3: Ipv4Addr = Ipv4Addr::new(5, 6, 7, 3);
const EXT4: Ipv4Addr = Ipv4Addr::new(192, 168, 99, 44);
const EXT5: Ipv4Addr = Ipv4Addr::new(192, 168, 99, 55);

#[test]
fn packet_flows_with_cluster_cidr() {
    let tables = compile_parsed(&flow_state(), &options());
    let pod = local_pod(100);
    let both1 = "10.180.0.1:80, 10.180.1.1:80";
    let both2 = "10.180.0.2:80, 10.180.1.2:80";
    let both3 = "10.180.0.3:80, 10.180.1.3:80";
    run_flows(
        &tables,
        &[
            flow("pod to cluster IP", pod, svc_ip(41), 80, both1, false),
            flow(
                "pod to cluster IP, wrong port",
                pod,
                svc_ip(41),
                81,
                "172.30.0.41:81",
                false,
            ),
            flow("node to cluster IP", NODE_IP, svc_ip(41), 80, both1, true),
            flow(
                "outside to cluster IP",
                OUTSIDE,
                svc_ip(41),
                80,
                both1,
                true,
            ),
            flow("outside to NodePort", OUTSIDE, NODE_IP, 3002, both2, true),
            flow("pod to NodePort", pod, NODE_IP, 3002, both2, true),
            flow(
                "node to its own NodePort",
                NODE_IP,
                NODE_IP,
                3002,
                both2,
                true,
            ),
            // Not DNATed (kproxy serves no localhost NodePorts): delivered to the node,
            // where nothing listens, so the client is refused instead of hanging.
            flow(
                "node to 127.0.0.1:NodePort",
                Ipv4Addr::LOCALHOST,
                Ipv4Addr::LOCALHOST,
                3002,
                "127.0.0.1:3002",
                false,
            ),
            flow(
                "outside to unknown NodePort",
                OUTSIDE,
                NODE_IP,
                3999,
                "192.168.0.2:3999",
                false,
            ),
            flow(
                "ETP Local: outside to NodePort",
                OUTSIDE,
                NODE_IP,
                3003,
                "10.180.0.3:80",
                false,
            ),
            flow(
                "ETP Local: outside to LB IP",
                OUTSIDE,
                LB3,
                80,
                "10.180.0.3:80",
                false,
            ),
            flow(
                "ETP Local: pod to LB IP short-circuits",
                pod,
                LB3,
                80,
                both3,
                false,
            ),
            flow(
                "ETP Local: node to NodePort",
                NODE_IP,
                NODE_IP,
                3003,
                both3,
                true,
            ),
            flow(
                "ETP Local: pod to cluster IP",
                pod,
                svc_ip(43),
                80,
                both3,
                false,
            ),
            flow(
                "ETP Local, no local endpoint: outside to NodePort",
                OUTSIDE,
                NODE_IP,
                3004,
                "DROP",
                false,
            ),
            flow(
                "ETP Local, no local endpoint: outside to external IP",
                OUTSIDE,
                EXT4,
                80,
                "DROP",
                false,
            ),
            flow(
                "ETP Local, no local endpoint: pod to external IP",
                pod,
                EXT4,
                80,
                "10.180.1.4:80",
                false,
            ),
            flow(
                "ETP Local, no local endpoint: node to NodePort",
                NODE_IP,
                NODE_IP,
                3004,
                "10.180.1.4:80",
                true,
            ),
            flow(
                "ETP Local, no local endpoint: pod to cluster IP",
                pod,
                svc_ip(44),
                80,
                "10.180.1.4:80",
                false,
            ),
            flow(
                "no endpoints: pod to cluster IP",
                pod,
                svc_ip(45),
                80,
                "REJECT",
                false,
            ),
            flow(
                "no endpoints: node to cluster IP",
                NODE_IP,
                svc_ip(45),
                80,
                "REJECT",
                false,
            ),
            flow(
                "no endpoints: outside to NodePort",
                OUTSIDE,
                NODE_IP,
                3005,
                "REJECT",
                false,
            ),
            flow(
                "no endpoints: outside to external IP",
                OUTSIDE,
                EXT5,
                80,
                "REJECT",
                false,
            ),
            flow(
                "terminating only: serving one is used",
                pod,
                svc_ip(46),
                80,
                "10.180.0.6:80",
                false,
            ),
            flow(
                "ITP Local: pod to cluster IP",
                pod,
                svc_ip(47),
                80,
                "10.180.0.7:80",
                false,
            ),
            flow(
                "ITP Local, no local endpoint",
                pod,
                svc_ip(48),
                80,
                "DROP",
                false,
            ),
            flow(
                "affinity, new client: all endpoints",
                pod,
                svc_ip(49),
                80,
                "10.180.0.9:80, 10.180.1.9:80",
                false,
            ),
            flow(
                "hairpin: pod to itself is masqueraded",
                local_pod(10),
                svc_ip(50),
                80,
                "10.180.0.10:80",
                true,
            ),
            flow(
                "hairpin: other pod is not",
                local_pod(11),
                svc_ip(50),
                80,
                "10.180.0.10:80",
                false,
            ),
            Flow {
                proto: Protocol::Sctp,
                ..flow("SCTP", pod, svc_ip(51), 3868, "10.180.1.11:3869", false)
            },
            Flow {
                proto: Protocol::Tcp,
                ..flow(
                    "SCTP port does not catch TCP",
                    pod,
                    svc_ip(51),
                    3868,
                    "172.30.0.51:3868",
                    false,
                )
            },
            Flow {
                proto: Protocol::Udp,
                ..flow(
                    "multi-port: UDP",
                    pod,
                    svc_ip(52),
                    53,
                    "10.180.1.12:5353",
                    false,
                )
            },
            flow(
                "multi-port: TCP",
                pod,
                svc_ip(52),
                53,
                "10.180.1.12:5354",
                false,
            ),
        ],
    );
}

#[test]
fn session_affinity_sticks_to_the_recorded_endpoint() {
    let tables = compile_parsed(&flow_state(), &options());
    let pod = local_pod(100);
    let port = service("svc9", 49, None);
    let port = port.port_name(&port.ports[0]);
    let remote = service_chain(ChainKind::Sep("10.180.1.9:80".parse().unwrap()), &port);
    let tracer = Tracer::new(&tables, &[NODE_IP]).with_recent(&remote, pod);
    let packet = Packet {
        src: pod,
        proto: Protocol::Tcp,
        dst: svc_ip(49),
        dport: 80,
    };
    assert_eq!(tracer.trace(packet).unwrap().output, "10.180.1.9:80");
    // Another client has no affinity yet.
    let other = Packet {
        src: local_pod(101),
        ..packet
    };
    assert_eq!(
        tracer.trace(other).unwrap().output,
        "10.180.0.9:80, 10.180.1.9:80"
    );
}

#[test]
fn packet_flows_with_masquerade_all() {
    let opts = CompileOptions {
        masquerade_all: true,
        ..options()
    };
    let tables = compile_parsed(&flow_state(), &opts);
    let pod = local_pod(100);
    run_flows(
        &tables,
        &[
            flow(
                "pod to cluster IP",
                pod,
                svc_ip(41),
                80,
                "10.180.0.1:80, 10.180.1.1:80",
                true,
            ),
            flow(
                "ETP Local: outside to NodePort",
                OUTSIDE,
                NODE_IP,
                3003,
                "10.180.0.3:80",
                false,
            ),
        ],
    );
}

#[test]
fn packet_flows_without_cluster_cidr() {
    let tables = compile_parsed(&flow_state(), &CompileOptions::default());
    let pod = local_pod(100);
    run_flows(
        &tables,
        &[
            // Without a cluster CIDR nothing tells pods from outside clients.
            flow(
                "outside to cluster IP",
                OUTSIDE,
                svc_ip(41),
                80,
                "10.180.0.1:80, 10.180.1.1:80",
                false,
            ),
            flow(
                "ETP Local: pod to LB IP gets no short-circuit",
                pod,
                LB3,
                80,
                "10.180.0.3:80",
                false,
            ),
            flow(
                "ETP Local: node to NodePort",
                NODE_IP,
                NODE_IP,
                3003,
                "10.180.0.3:80, 10.180.1.3:80",
                true,
            ),
            flow(
                "outside to NodePort",
                OUTSIDE,
                NODE_IP,
                3002,
                "10.180.0.2:80, 10.180.1.2:80",
                true,
            ),
        ],
    );
}

#[test]
fn nodeport_addresses_limit_where_node_ports_answer() {
    let opts = CompileOptions {
        nodeport_addresses: vec!["192.168.0.0/24".parse().unwrap()],
        ..options()
    };
    let tables = compile_parsed(&flow_state(), &opts);
    let other_local = Ipv4Addr::new(10, 0, 0, 2);
    let tracer_ips = [NODE_IP, other_local];
    let tracer = Tracer::new(&tables, &tracer_ips);
    let to = |dst| Packet {
        src: OUTSIDE,
        proto: Protocol::Tcp,
        dst,
        dport: 3002,
    };
    assert_eq!(
        tracer.trace(to(NODE_IP)).unwrap().output,
        "10.180.0.2:80, 10.180.1.2:80"
    );
    assert_eq!(
        tracer.trace(to(other_local)).unwrap().output,
        "10.0.0.2:3002"
    );
}

#[test]
fn tracer_refuses_undefined_chains_and_unknown_matches() {
    let undefined =
        Tables::parse("*nat\n:KUBE-A - [0:0]\n-A PREROUTING -j KUBE-A\nCOMMIT\n").unwrap();
    // The parser refuses a jump to an undeclared chain, as iptables-restore does, so build
    // the dangling jump by deleting the chain behind the parser's back.
    let mut dangling = undefined.clone();
    dangling
        .tables
        .get_mut("nat")
        .unwrap()
        .chains
        .remove("KUBE-A");
    let packet = Packet {
        src: OUTSIDE,
        proto: Protocol::Tcp,
        dst: NODE_IP,
        dport: 80,
    };
    let err = Tracer::new(&dangling, &[NODE_IP])
        .trace(packet)
        .unwrap_err();
    assert!(
        matches!(err, TraceError::UndefinedChain { ref target, .. } if target == "KUBE-A"),
        "{err}"
    );

    for rule in [
        "-m limit --limit 5/sec -j ACCEPT",
        "-o eth0 -j ACCEPT",
        "-m addrtype --dst-type UNICAST -j ACCEPT",
        "-p tcp -m tcp --sport 80 -j ACCEPT",
        "-j LOG",
    ] {
        let tables = Tables::parse(&format!("*nat\n-A PREROUTING {rule}\nCOMMIT\n")).unwrap();
        let err = Tracer::new(&tables, &[NODE_IP]).trace(packet).unwrap_err();
        assert!(
            matches!(err, TraceError::Unsupported { .. }),
            "{rule}: {err}"
        );
    }
}
