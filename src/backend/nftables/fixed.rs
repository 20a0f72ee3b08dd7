//! The part of the table that does not depend on any service: kube-proxy's base chains at
//! its hooks and priorities (so kproxy coexists with the same firewalls and CNIs), the
//! chains they jump to, and the dispatch maps every service adds its elements to.

use ipnet::Ipv4Net;

use super::Options;
use super::layout::{Action, BaseChain, ChainSpec, Layout, Match, NftRule, SetKind, SetSpec};
use super::names::*;
use crate::nftables::{Hook, priority};

/// kube-proxy's base chains: `(name, type, hook, priority)`. The pre-DNAT filter chains
/// run just before DNAT (`dstnat - 10`), on the addresses the client used.
const BASE_CHAINS: [(&str, &str, Hook, i32); 8] = [
    (
        FILTER_PREROUTING_PRE_DNAT,
        "filter",
        Hook::Prerouting,
        priority::DSTNAT - 10,
    ),
    (
        FILTER_OUTPUT_PRE_DNAT,
        "filter",
        Hook::Output,
        priority::DSTNAT - 10,
    ),
    (FILTER_INPUT, "filter", Hook::Input, priority::FILTER),
    (FILTER_FORWARD, "filter", Hook::Forward, priority::FILTER),
    (FILTER_OUTPUT, "filter", Hook::Output, priority::FILTER),
    (NAT_PREROUTING, "nat", Hook::Prerouting, priority::DSTNAT),
    (NAT_OUTPUT, "nat", Hook::Output, priority::DSTNAT),
    (NAT_POSTROUTING, "nat", Hook::Postrouting, priority::SRCNAT),
];

/// The jumps from base chains: `(from, to, only new connections)`, in kube-proxy's order.
const JUMPS: [(&str, &str, bool); 11] = [
    (FILTER_INPUT, NODEPORT_ENDPOINTS_CHECK, true),
    (FILTER_INPUT, SERVICE_ENDPOINTS_CHECK, true),
    (FILTER_FORWARD, SERVICE_ENDPOINTS_CHECK, true),
    (FILTER_OUTPUT, SERVICE_ENDPOINTS_CHECK, true),
    (FILTER_PREROUTING_PRE_DNAT, FIREWALL_CHECK, true),
    (FILTER_OUTPUT_PRE_DNAT, FIREWALL_CHECK, true),
    (NAT_OUTPUT, SERVICES, false),
    (NAT_PREROUTING, SERVICES, false),
    (NAT_POSTROUTING, MASQUERADING, false),
    (FILTER_FORWARD, CLUSTER_IPS_CHECK, true),
    (FILTER_OUTPUT, CLUSTER_IPS_CHECK, true),
];

/// The sets and maps every service adds to, with kube-proxy's comments.
const SETS: [(&str, SetKind, &str); 7] = [
    (
        HAIRPIN_CONNECTIONS,
        SetKind::Hairpin,
        "service hairpin connections",
    ),
    (CLUSTER_IPS, SetKind::Addrs, "Active ClusterIPs"),
    (
        NO_ENDPOINT_SERVICES,
        SetKind::AddrProtoPortVmap,
        "vmap to drop or reject packets to services with no endpoints",
    ),
    (
        NO_ENDPOINT_NODEPORTS,
        SetKind::ProtoPortVmap,
        "vmap to drop or reject packets to service nodeports with no endpoints",
    ),
    (
        FIREWALL_IPS,
        SetKind::AddrProtoPortVmap,
        "destinations that are subject to LoadBalancerSourceRanges",
    ),
    (
        SERVICE_IPS,
        SetKind::AddrProtoPortVmap,
        "ClusterIP, ExternalIP and LoadBalancer IP traffic",
    ),
    (
        SERVICE_NODEPORTS,
        SetKind::ProtoPortVmap,
        "NodePort traffic",
    ),
];

/// The fixed part of the table for these options.
pub fn fixed_layout(options: &Options) -> Layout {
    let mark = options.masquerade_mark();
    let sets = SETS
        .iter()
        .map(|(name, kind, comment)| SetSpec {
            name: (*name).into(),
            kind: *kind,
            comment: Some(*comment),
        })
        .collect();
    let mut chains: Vec<ChainSpec> = BASE_CHAINS
        .iter()
        .map(|(name, chain_type, hook, priority)| {
            let rules = JUMPS
                .iter()
                .filter(|(from, ..)| from == name)
                .map(|(_, to, new_only)| {
                    let matches = if *new_only {
                        vec![Match::CtStateNew]
                    } else {
                        vec![]
                    };
                    NftRule::new(matches, Action::Jump((*to).into()))
                })
                .collect();
            ChainSpec {
                name: (*name).into(),
                base: Some(BaseChain {
                    chain_type,
                    hook: *hook,
                    priority: *priority,
                }),
                rules,
            }
        })
        .collect();

    let mut services = Vec::new();
    if options.masquerade_all {
        services.push(
            NftRule::new(vec![Match::DaddrInSet(CLUSTER_IPS)], Action::SetMark(mark))
                .commented("masquerade all clusterIP traffic"),
        );
    } else if let Some(cidr) = options.cluster_cidr {
        services.push(
            NftRule::new(
                vec![Match::DaddrInSet(CLUSTER_IPS), Match::NotSaddr(cidr)],
                Action::SetMark(mark),
            )
            .commented("masquerade clusterIP traffic from outside cluster"),
        );
    }
    services.push(NftRule::new(vec![], Action::VmapAddrProtoPort(SERVICE_IPS)));
    for matches in node_port_destinations(&options.nodeport_addresses, true) {
        services.push(NftRule::new(
            matches,
            Action::VmapProtoPort(SERVICE_NODEPORTS),
        ));
    }
    let nodeport_checks = node_port_destinations(&options.nodeport_addresses, false)
        .into_iter()
        .map(|m| NftRule::new(m, Action::VmapProtoPort(NO_ENDPOINT_NODEPORTS)))
        .collect();

    chains.extend([
        ChainSpec::regular(
            MASQUERADING,
            vec![
                NftRule::new(
                    vec![Match::MarkAny(mark)],
                    Action::ClearMarkAndMasquerade(mark),
                ),
                NftRule::new(
                    vec![Match::CtStatusDnat, Match::Hairpin],
                    Action::Masquerade,
                ),
            ],
        ),
        ChainSpec::regular(
            CLUSTER_IPS_CHECK,
            vec![
                NftRule::new(vec![Match::DaddrInSet(CLUSTER_IPS)], Action::Reject)
                    .commented("Reject traffic to invalid ports of ClusterIPs"),
            ],
        ),
        ChainSpec::regular(
            SERVICE_ENDPOINTS_CHECK,
            vec![NftRule::new(
                vec![],
                Action::VmapAddrProtoPort(NO_ENDPOINT_SERVICES),
            )],
        ),
        ChainSpec::regular(NODEPORT_ENDPOINTS_CHECK, nodeport_checks),
        ChainSpec::regular(
            FIREWALL_CHECK,
            vec![NftRule::new(
                vec![],
                Action::VmapAddrProtoPort(FIREWALL_IPS),
            )],
        ),
        ChainSpec::regular(REJECT_CHAIN, vec![NftRule::new(vec![], Action::Reject)]),
        ChainSpec::regular(SERVICES, services),
    ]);
    Layout {
        sets,
        chains,
        elements: Vec::new(),
    }
}

/// The matches for traffic to a node port: to a local address (`fib` only where the
/// chain also sees forwarded traffic), not loopback, and inside `--nodeport-addresses`
/// when given (one rule per CIDR; kube-proxy keeps a `nodeport-ips` set of the node's
/// addresses instead, which needs the interfaces read at every sync).
fn node_port_destinations(cidrs: &[Ipv4Net], with_fib: bool) -> Vec<Vec<Match>> {
    let fib = with_fib.then_some(Match::FibDaddrLocal);
    if cidrs.is_empty() {
        return vec![fib.into_iter().chain([Match::DaddrNotLoopback]).collect()];
    }
    cidrs
        .iter()
        .map(|c| {
            fib.clone()
                .into_iter()
                .chain([Match::Daddr(*c), Match::DaddrNotLoopback])
                .collect()
        })
        .collect()
}
