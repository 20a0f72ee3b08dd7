//! Packet flows for issue #11's traffic features: `loadBalancerSourceRanges`, topology
//! hints and `ipMode: Proxy` load balancers (the model decides; these check the rules).

use std::net::Ipv4Addr;

use super::fixtures::*;
use super::flows::{flow, run_flows};
use crate::backend::iptables::compile::CompileOptions;
use crate::model::{Conditions, Service};

const LB: Ipv4Addr = Ipv4Addr::new(5, 6, 7, 60);
const ALLOWED: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 77);

/// A load balancer accepting 203.0.113.64/26 (not [`OUTSIDE`]) and the node's own network.
fn ranged() -> Service {
    let mut svc = service("ranged", 60, Some(3060));
    svc.load_balancer_ips = vec![LB];
    svc.load_balancer_source_ranges = vec![
        "203.0.113.64/26".parse().unwrap(),
        "192.168.0.0/24".parse().unwrap(),
    ];
    svc
}

fn ranged_state() -> crate::model::ProxyState {
    let svc = ranged();
    let eps = slice(&svc, &[(remote_pod(60), OTHER_NODE, Conditions::READY)]);
    state(&[svc], &[eps])
}

#[test]
fn source_ranges_admit_only_their_clients_to_the_load_balancer_ip() {
    let tables = compile_parsed(
        &ranged_state(),
        &CompileOptions {
            node_ip: Some(NODE_IP),
            ..options()
        },
    );
    let ep = "10.180.1.60:80";
    run_flows(
        &tables,
        &[
            flow("allowed client to LB IP", ALLOWED, LB, 80, ep, true),
            flow("other client to LB IP", OUTSIDE, LB, 80, "DROP", false),
            flow("pod to LB IP", local_pod(100), LB, 80, "DROP", false),
            flow("node (in a range) to LB IP", NODE_IP, LB, 80, ep, true),
            // A VIP routed locally loops the node's request back from the VIP itself.
            flow("LB IP itself as source", LB, LB, 80, ep, true),
            // Node ports are never filtered, as upstream.
            flow("other client to NodePort", OUTSIDE, NODE_IP, 3060, ep, true),
            flow(
                "other client to cluster IP",
                OUTSIDE,
                svc_ip(60),
                80,
                ep,
                true,
            ),
        ],
    );
}

#[test]
fn without_the_node_ip_in_a_range_the_lb_ip_is_no_allowed_source() {
    let mut svc = ranged();
    svc.load_balancer_source_ranges = vec!["203.0.113.64/26".parse().unwrap()];
    let eps = slice(&svc, &[(remote_pod(60), OTHER_NODE, Conditions::READY)]);
    let tables = compile_parsed(
        &state(&[svc], &[eps]),
        &CompileOptions {
            node_ip: Some(NODE_IP),
            ..options()
        },
    );
    run_flows(
        &tables,
        &[
            flow("allowed client", ALLOWED, LB, 80, "10.180.1.60:80", true),
            flow("LB IP as source", LB, LB, 80, "DROP", false),
            flow("node to LB IP", NODE_IP, LB, 80, "DROP", false),
        ],
    );
}

/// `ns/hinted`: a local and a remote endpoint with these zone and node hints, on a node in
/// `zone`.
fn hinted(
    zone: Option<&str>,
    local: (&[&str], &[&str]),
    remote: (&[&str], &[&str]),
) -> crate::model::ProxyState {
    let svc = service("hinted", 61, None);
    let mut eps = slice(
        &svc,
        &[
            (local_pod(61), NODE, Conditions::READY),
            (remote_pod(61), OTHER_NODE, Conditions::READY),
        ],
    );
    for (ep, (zones, nodes)) in eps.endpoints.iter_mut().zip([local, remote]) {
        ep.zone_hints = zones.iter().map(|z| z.to_string()).collect();
        ep.node_hints = nodes.iter().map(|n| n.to_string()).collect();
    }
    let mut st = state(&[svc], &[eps]);
    st.apply(crate::model::Change::NodeUpdated(crate::model::NodeInfo {
        name: NODE.to_string(),
        zone: zone.map(str::to_string),
        addresses: vec![NODE_IP],
        pod_cidrs: vec![],
    }));
    st
}

#[test]
fn topology_hints_pick_the_endpoints_for_this_zone_or_node() {
    let (here, there) = ("10.180.0.61:80", "10.180.1.61:80");
    let both = "10.180.0.61:80, 10.180.1.61:80";
    let cases: [(&str, crate::model::ProxyState, &str); 6] = [
        (
            "zone hints, one for this zone",
            hinted(Some("zone-a"), (&["zone-a"], &[]), (&["zone-b"], &[])),
            here,
        ),
        (
            "zone hints sending this zone elsewhere",
            hinted(
                Some("zone-a"),
                (&["zone-b"], &[]),
                (&["zone-a", "zone-b"], &[]),
            ),
            there,
        ),
        (
            "an endpoint without hints: all are used",
            hinted(Some("zone-a"), (&["zone-a"], &[]), (&[], &[])),
            both,
        ),
        (
            "no hint for this zone: all are used",
            hinted(Some("zone-c"), (&["zone-a"], &[]), (&["zone-b"], &[])),
            both,
        ),
        (
            "node without a zone: all are used",
            hinted(None, (&["zone-a"], &[]), (&["zone-b"], &[])),
            both,
        ),
        (
            "node hints (PreferSameNode) win over zone hints",
            hinted(
                Some("zone-a"),
                (&["zone-a"], &[OTHER_NODE]),
                (&["zone-b"], &[NODE]),
            ),
            there,
        ),
    ];
    for (name, st, want) in cases {
        let tables = compile_parsed(&st, &options());
        run_flows(
            &tables,
            &[flow(name, local_pod(100), svc_ip(61), 80, want, false)],
        );
    }
}
