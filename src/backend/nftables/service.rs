//! One service port's part of the table, from the model's [`PortView`] alone (who gets
//! the traffic is decided there): its elements in the shared dispatch maps, its chains,
//! and its affinity sets. The layout follows kube-proxy's `syncProxyRules`, with one
//! change: endpoints are picked by a cascade of `numgen random mod N == 0` rules instead
//! of an anonymous `numgen … map { … }` per chain, because the kernel names anonymous
//! sets with a scan of every set in the table (quadratic over a full sync); see
//! docs/nftables.md.

use std::net::SocketAddrV4;

use super::Options;
use super::layout::{
    Action, ChainSpec, ElemKey, ElemVerdict, ElementSpec, Layout, Match, NftRule, SetKind, SetSpec,
};
use super::names::*;
use crate::model::{PortView, ServiceEndpoint, ServiceSnapshot};

/// Every port of a service.
pub fn compile_service(snapshot: &ServiceSnapshot, options: &Options) -> Layout {
    let mut layout = Layout::default();
    for view in snapshot.ports() {
        layout.extend(compile_port(&view, options));
    }
    layout
}

/// The chain names of one service port.
struct Names {
    cluster: String,
    local: String,
    external: String,
    base: crate::model::ServicePortName,
}

impl Names {
    fn endpoint(&self, e: &ServiceEndpoint) -> String {
        format!("{ENDPOINT_PREFIX}{}", endpoint_base(&self.base, e))
    }

    fn affinity(&self, e: &ServiceEndpoint) -> String {
        format!("{AFFINITY_PREFIX}{}", endpoint_base(&self.base, e))
    }
}

pub fn compile_port(view: &PortView, options: &Options) -> Layout {
    let port_name = view.port_name();
    let base = service_base(&port_name);
    let names = Names {
        cluster: format!("{CLUSTER_PREFIX}{base}"),
        local: format!("{LOCAL_PREFIX}{base}"),
        external: format!("{EXTERNAL_PREFIX}{base}"),
        base: port_name.clone(),
    };
    let comment = truncate_comment(port_name.to_string());
    let proto = view.protocol;
    let addrs = view.addresses;
    let cluster = view.cluster_endpoints();
    let local = view.local_endpoints();
    let reachable = view.reachable_endpoints();
    let has_endpoints = view.has_endpoints();
    let mark = options.masquerade_mark();
    let mut out = Layout::default();

    for e in reachable.iter().filter(|e| e.is_local) {
        out.elements.push(ElementSpec::key(
            HAIRPIN_CONNECTIONS,
            ElemKey::Hairpin(e.ip, e.ip, proto, e.port),
        ));
    }

    let uses_cluster_chain = !cluster.is_empty() && view.uses_cluster_endpoints();
    let uses_local_chain = !local.is_empty() && view.uses_local_endpoints();
    let internal_chain = if view.internal_policy_local {
        &names.local
    } else {
        &names.cluster
    };
    let has_internal = has_endpoints && (!view.internal_policy_local || !local.is_empty());
    let external_policy_chain = if view.external_policy_local {
        &names.local
    } else {
        &names.cluster
    };
    let has_external = has_endpoints && (!view.external_policy_local || !local.is_empty());
    let uses_external_chain = view.routes_external_traffic();
    // What the filter chains do with traffic that has nowhere to go: refuse it when the
    // service has no endpoint at all, drop it when only this node has none.
    let (internal_filter, external_filter) = if has_endpoints {
        (ElemVerdict::Drop, ElemVerdict::Drop)
    } else {
        let reject = ElemVerdict::Goto(REJECT_CHAIN.into());
        (reject.clone(), reject)
    };

    out.elements.push(ElementSpec::key(
        CLUSTER_IPS,
        ElemKey::Addr(addrs.cluster_ip),
    ));
    let cluster_key = ElemKey::AddrProtoPort(addrs.cluster_ip, proto, addrs.port);
    if has_internal {
        out.elements.push(ElementSpec::mapped(
            SERVICE_IPS,
            cluster_key,
            ElemVerdict::Goto(internal_chain.clone()),
        ));
    } else {
        out.elements.push(
            ElementSpec::mapped(NO_ENDPOINT_SERVICES, cluster_key, internal_filter)
                .commented(&comment),
        );
    }
    let external_ips = addrs.external_ips.iter().chain(addrs.load_balancer_ips);
    for ip in external_ips {
        let key = ElemKey::AddrProtoPort(*ip, proto, addrs.port);
        if has_endpoints {
            out.elements.push(ElementSpec::mapped(
                SERVICE_IPS,
                key,
                ElemVerdict::Goto(names.external.clone()),
            ));
        }
        if !has_external {
            out.elements.push(
                ElementSpec::mapped(NO_ENDPOINT_SERVICES, key, external_filter.clone())
                    .commented(&comment),
            );
        }
    }
    if let Some(node_port) = addrs.node_port {
        let key = ElemKey::ProtoPort(proto, node_port);
        if has_endpoints {
            out.elements.push(ElementSpec::mapped(
                SERVICE_NODEPORTS,
                key,
                ElemVerdict::Goto(names.external.clone()),
            ));
        }
        if !has_external {
            out.elements.push(
                ElementSpec::mapped(NO_ENDPOINT_NODEPORTS, key, external_filter.clone())
                    .commented(&comment),
            );
        }
    }

    if uses_external_chain {
        let mut rules = Vec::new();
        if !view.external_policy_local {
            rules.push(NftRule::new(vec![], Action::SetMark(mark)).commented("masquerade"));
        } else {
            if let Some(cidr) = options.cluster_cidr {
                rules.push(
                    NftRule::new(
                        vec![Match::Saddr(cidr)],
                        Action::Goto(names.cluster.clone()),
                    )
                    .commented("short-circuit pod traffic"),
                );
            }
            rules.push(
                NftRule::new(vec![Match::FibSaddrLocal], Action::SetMark(mark))
                    .commented("masquerade local traffic"),
            );
            rules.push(
                NftRule::new(
                    vec![Match::FibSaddrLocal],
                    Action::Goto(names.cluster.clone()),
                )
                .commented("short-circuit local traffic"),
            );
        }
        if has_external {
            rules.push(NftRule::new(
                vec![],
                Action::Goto(external_policy_chain.clone()),
            ));
        }
        out.chains.push(ChainSpec::regular(&names.external, rules));
    }

    let affinity = view.affinity_seconds;
    if uses_cluster_chain {
        let rules = endpoint_rules(&names, view, cluster, affinity.is_some());
        out.chains.push(ChainSpec::regular(&names.cluster, rules));
    }
    if uses_local_chain {
        let rules = endpoint_rules(&names, view, local, affinity.is_some());
        out.chains.push(ChainSpec::regular(&names.local, rules));
    }
    if let Some(timeout_seconds) = affinity {
        for e in reachable.iter() {
            out.sets.push(SetSpec {
                name: names.affinity(e),
                kind: SetKind::Affinity { timeout_seconds },
                comment: None,
            });
            let rules = vec![
                NftRule::new(vec![], Action::UpdateAffinity(names.affinity(e))),
                NftRule::new(vec![Match::L4proto(proto)], Action::Dnat(socket(e))),
            ];
            out.chains
                .push(ChainSpec::regular(names.endpoint(e), rules));
        }
    }
    out
}

/// Spreads new connections evenly: rule `i` of `n` takes 1/(n-i) of what reaches it, the
/// last one takes the rest. With affinity, a known client goes back to its endpoint first.
fn endpoint_rules(
    names: &Names,
    view: &PortView,
    endpoints: &[ServiceEndpoint],
    affinity: bool,
) -> Vec<NftRule> {
    let n = endpoints.len() as u32;
    let pick = |i: usize| -> Vec<Match> {
        let left = n - i as u32;
        if left > 1 {
            vec![Match::OneIn(left)]
        } else {
            vec![]
        }
    };
    let mut rules = Vec::new();
    if affinity {
        for e in endpoints {
            rules.push(NftRule::new(
                vec![Match::SaddrInSet(names.affinity(e))],
                Action::Goto(names.endpoint(e)),
            ));
        }
        for (i, e) in endpoints.iter().enumerate() {
            rules.push(NftRule::new(pick(i), Action::Goto(names.endpoint(e))));
        }
    } else {
        for (i, e) in endpoints.iter().enumerate() {
            let mut matches = pick(i);
            matches.push(Match::L4proto(view.protocol));
            rules.push(NftRule::new(matches, Action::Dnat(socket(e))));
        }
    }
    rules
}

/// `nft` refuses comments over 128 bytes (kube-proxy's `truncateNFTablesComment`); names
/// are ASCII, so any byte is a character boundary.
fn truncate_comment(mut s: String) -> String {
    s.truncate(COMMENT_MAX);
    s
}

const COMMENT_MAX: usize = 128;

fn socket(e: &ServiceEndpoint) -> SocketAddrV4 {
    SocketAddrV4::new(e.ip, e.port)
}
