//! The model's view is what both compilers implement: for random services and endpoints,
//! the endpoints each kind of traffic reaches in the iptables rules (traced packet by
//! packet) and in the IPVS desired state (read per virtual server) are those the view
//! gives for that traffic's policy, and a port the view drops (a repeated name and
//! protocol) has no rules in either.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use proptest::prelude::*;

use super::arbitrary::{conditions, policy, protocol};
use super::fixtures::*;
use crate::backend::iptables::compile::compile;
use crate::backend::ipvs::compile::{self as ipvs, Desired};
use crate::backend::ipvs::netlink::ServiceKey;
use crate::backend::ipvs::sets::IpvsSet;
use crate::ipset::Entry;
use crate::model::{
    Conditions, EndpointSlice, PortView, Protocol, ProxyState, Service, ServiceEndpoint,
    TrafficPolicy,
};
use crate::testing::iptables::trace::{Packet, Tracer};

/// A pod of the cluster CIDR that is no endpoint (traffic from pods).
const POD: Ipv4Addr = Ipv4Addr::new(10, 180, 2, 200);

/// What happens to new connections of one kind of traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Fate {
    /// No endpoint anywhere: refused.
    Refused,
    /// Endpoints exist, but none for this traffic's (Local) policy.
    Dropped,
    /// Spread over these endpoints.
    To(BTreeSet<SocketAddrV4>),
    /// Not a service address: delivered as sent.
    Untouched(SocketAddrV4),
}

/// The fate the view prescribes for traffic whose policy uses `endpoints`.
fn prescribed(view: &PortView, endpoints: &[ServiceEndpoint]) -> Fate {
    if !view.has_endpoints() {
        Fate::Refused
    } else if endpoints.is_empty() {
        Fate::Dropped
    } else {
        Fate::To(addrs(endpoints))
    }
}

fn addrs(endpoints: &[ServiceEndpoint]) -> BTreeSet<SocketAddrV4> {
    endpoints
        .iter()
        .map(|e| SocketAddrV4::new(e.ip, e.port))
        .collect()
}

/// The fate the iptables rules give a packet, over every random branch.
fn traced(tracer: &Tracer, src: Ipv4Addr, proto: Protocol, dst: Ipv4Addr, dport: u16) -> Fate {
    let packet = Packet {
        src,
        proto,
        dst,
        dport,
    };
    let trace = tracer
        .trace(packet)
        .unwrap_or_else(|e| panic!("{packet:?}: {e}"));
    let outputs: BTreeSet<&str> = trace.paths.iter().map(|p| p.output.as_str()).collect();
    match outputs.iter().copied().collect::<Vec<_>>().as_slice() {
        ["REJECT"] => Fate::Refused,
        ["DROP"] => Fate::Dropped,
        _ => {
            let to: BTreeSet<SocketAddrV4> = outputs
                .iter()
                .map(|o| {
                    o.parse()
                        .unwrap_or_else(|_| panic!("{packet:?}: {outputs:?}"))
                })
                .collect();
            let sent = SocketAddrV4::new(dst, dport);
            if to == BTreeSet::from([sent]) {
                Fate::Untouched(sent)
            } else {
                Fate::To(to)
            }
        }
    }
}

/// The fate IPVS gives connections to `addr:port`, from its desired state.
fn ipvs_fate(desired: &Desired, proto: Protocol, addr: Ipv4Addr, port: u16) -> Fate {
    let key = ServiceKey::new(proto, addr, port);
    let Some(vs) = desired.virtual_servers.get(&key) else {
        return Fate::Untouched(SocketAddrV4::new(addr, port));
    };
    let refused = desired.sets[&IpvsSet::NoEndpoints].contains(&Entry::IpPort {
        ip: addr,
        proto,
        port,
    });
    match (refused, vs.dests.is_empty()) {
        (true, true) => Fate::Refused,
        (false, true) => Fate::Dropped,
        (false, false) => Fate::To(vs.dests.clone()),
        (true, false) => panic!("{key}: marked without endpoints, but has {:?}", vs.dests),
    }
}

/// One service (addresses from the fixtures' plan, so that kinds never collide) with up to
/// three slices over a small pool of pods, so that endpoints repeat across slices. Port
/// names and protocols come from small sets, so that some ports repeat an earlier one.
fn service_and_slices() -> impl Strategy<Value = (Service, Vec<EndpointSlice>)> {
    let ports = prop::collection::vec(
        (
            prop::sample::select(vec!["a", "b"]),
            prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)],
            any::<bool>(),
        ),
        1..4,
    );
    let slice = (
        0u16..3,
        prop::collection::vec((any::<bool>(), 1u8..4, conditions()), 0..5),
    );
    (
        ports,
        protocol(),
        prop::option::of(0u64..=86400),
        policy(),
        policy(),
        0usize..3,
        0usize..3,
        prop::collection::vec(slice, 0..4),
    )
        .prop_map(
            |(ports, first_protocol, affinity, etp, itp, ext, lb, slices)| {
                let mut svc = Service::new("ns", "svc", svc_ip(1));
                for (i, (name, proto, node_port)) in ports.iter().enumerate() {
                    // The first port may be SCTP; its number and node port are unique.
                    let proto = if i == 0 { first_protocol } else { *proto };
                    let i = u16::try_from(i).unwrap();
                    let node_port = node_port.then_some(30000 + i);
                    svc = svc.with_port(name, 80 + i, proto, node_port);
                }
                svc.session_affinity = affinity.map(Duration::from_secs);
                svc.external_traffic_policy = etp;
                svc.internal_traffic_policy = itp;
                svc.external_ips = (1..=ext as u8)
                    .map(|n| Ipv4Addr::new(192, 168, 99, n))
                    .collect();
                svc.load_balancer_ips = (1..=lb as u8).map(|n| Ipv4Addr::new(5, 6, 7, n)).collect();
                let slices = slices
                    .into_iter()
                    .enumerate()
                    .map(|(n, (target_offset, endpoints))| {
                        let mut slice = EndpointSlice::new(&svc.name, &format!("svc-{n}"));
                        for p in &svc.ports {
                            slice = slice.with_port(&p.name, 8080 + target_offset, p.protocol);
                        }
                        for (local, pod, conditions) in endpoints {
                            let (ip, node) = if local {
                                (local_pod(pod), NODE)
                            } else {
                                (remote_pod(pod), OTHER_NODE)
                            };
                            slice = slice.with_endpoint(ip, Some(node), conditions);
                        }
                        slice
                    })
                    .collect();
                (svc, slices)
            },
        )
}

/// Checks every kind of traffic of every port of `svc`, as `viewed` says, in the rules
/// both compilers make of `compiled`; returns the disagreements.
fn disagreements(compiled: &ProxyState, viewed: &ProxyState, svc: &Service) -> Vec<String> {
    let tables = parsed(&compile(compiled, &options()));
    let tracer = Tracer::new(&tables, &[NODE_IP]);
    let mut compiler = ipvs::Compiler::new(ipvs::CompileOptions::default());
    compiler.set_local_addresses(&[NODE_IP]);
    let desired = compiler.compile_all(compiled).desired;

    let snapshot = viewed.snapshot(&svc.name).unwrap();
    let mut problems = Vec::new();
    let mut check = |what: String, want: Fate, iptables: Fate, ipvs: Option<Fate>| {
        if iptables != want {
            problems.push(format!("{what}: view {want:?}, iptables {iptables:?}"));
        }
        if let Some(ipvs) = ipvs
            && ipvs != want
        {
            problems.push(format!("{what}: view {want:?}, IPVS {ipvs:?}"));
        }
    };
    let mut viewed = BTreeSet::new();
    for view in snapshot.ports() {
        let (proto, a) = (view.protocol, view.addresses);
        viewed.insert(a.port);
        let internal = prescribed(&view, view.internal_endpoints());
        let external = prescribed(&view, view.external_endpoints());
        let cluster = prescribed(&view, view.cluster_endpoints());
        check(
            format!("{proto} outside → cluster IP {}:{}", a.cluster_ip, a.port),
            internal.clone(),
            traced(&tracer, OUTSIDE, proto, a.cluster_ip, a.port),
            Some(ipvs_fate(&desired, proto, a.cluster_ip, a.port)),
        );
        let outside_addresses = a.external_ips.iter().chain(a.load_balancer_ips);
        let node_port = a.node_port.map(|p| (NODE_IP, p));
        for (ip, port) in outside_addresses.map(|&ip| (ip, a.port)).chain(node_port) {
            check(
                format!("{proto} outside → {ip}:{port}"),
                external.clone(),
                traced(&tracer, OUTSIDE, proto, ip, port),
                Some(ipvs_fate(&desired, proto, ip, port)),
            );
            // Pods reach external addresses with the Cluster policy whatever the external
            // one (kube-proxy's short circuit); kproxy's IPVS mode does not do this.
            check(
                format!("{proto} pod → {ip}:{port}"),
                cluster.clone(),
                traced(&tracer, POD, proto, ip, port),
                None,
            );
        }
    }
    // Ports the view leaves out have no rules at all.
    for port in svc.ports.iter().filter(|p| !viewed.contains(&p.port)) {
        let untouched = Fate::Untouched(SocketAddrV4::new(svc.cluster_ip, port.port));
        check(
            format!("{} repeated port {}", port.protocol, port.port),
            untouched,
            traced(&tracer, OUTSIDE, port.protocol, svc.cluster_ip, port.port),
            Some(ipvs_fate(
                &desired,
                port.protocol,
                svc.cluster_ip,
                port.port,
            )),
        );
    }
    problems
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn both_compilers_send_each_traffic_where_the_view_says(
        (svc, slices) in service_and_slices(),
    ) {
        let st = state(std::slice::from_ref(&svc), &slices);
        let problems = disagreements(&st, &st, &svc);
        prop_assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}

/// The property's checks can fail: compilers that ignored `internalTrafficPolicy` would be
/// caught (played here by rules compiled from the service with the other policy).
#[test]
fn a_compiler_that_ignored_a_policy_would_disagree() {
    let svc = Service {
        internal_traffic_policy: TrafficPolicy::Local,
        ..service("svc", 1, None)
    };
    let eps = [
        (local_pod(1), NODE, Conditions::READY),
        (remote_pod(1), OTHER_NODE, Conditions::READY),
    ];
    let cluster_policy = Service {
        internal_traffic_policy: TrafficPolicy::Cluster,
        ..svc.clone()
    };
    let compiled_from = state(&[cluster_policy], &[slice(&svc, &eps)]);
    let viewed = state(std::slice::from_ref(&svc), &[slice(&svc, &eps)]);
    let problems = disagreements(&compiled_from, &viewed, &svc);
    assert_eq!(problems.len(), 2, "iptables and IPVS: {problems:?}");
    assert!(disagreements(&viewed, &viewed, &svc).is_empty());
}
