//! One service compiled: its virtual servers, addresses and set members.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use super::{DesiredVs, SCHEDULERS, ServicePlan};
use crate::backend::ipvs::netlink::{ServiceKey, VirtualService};
use crate::backend::ipvs::sets::IpvsSet;
use crate::ipset::Entry;
use crate::model::{
    Protocol, ProxyState, Service, ServiceEndpoint, ServicePort, TrafficPolicy, select_endpoints,
};

/// Compiles `svc`: a virtual server on the cluster IP, on every external and load-balancer
/// IP, and for a NodePort on every address in `node_addresses`, each with the endpoints its
/// traffic policy selects (`internalTrafficPolicy` for the cluster IP,
/// `externalTrafficPolicy` for the rest).
pub fn compile_service(
    svc: &Service,
    state: &ProxyState,
    default_scheduler: &str,
    node_addresses: &[Ipv4Addr],
) -> ServicePlan {
    let mut plan = ServicePlan::default();
    let scheduler = match &svc.ipvs_scheduler {
        Some(s) if SCHEDULERS.contains(&s.as_str()) => s.as_str(),
        Some(bad) => {
            plan.invalid_scheduler = Some(bad.clone());
            default_scheduler
        }
        None => default_scheduler,
    };
    for (i, port) in svc.ports.iter().enumerate() {
        // Two ports with the same name and protocol are one port to the endpoint merge.
        let duplicate = svc.ports[..i]
            .iter()
            .any(|p| p.name == port.name && p.protocol == port.protocol);
        if !duplicate {
            compile_port(svc, port, state, scheduler, node_addresses, &mut plan);
        }
    }
    plan
}

/// The endpoints as real-server addresses.
fn dests(endpoints: &[ServiceEndpoint]) -> BTreeSet<SocketAddrV4> {
    endpoints
        .iter()
        .map(|e| SocketAddrV4::new(e.ip, e.port))
        .collect()
}

fn compile_port(
    svc: &Service,
    port: &ServicePort,
    state: &ProxyState,
    scheduler: &str,
    node_addresses: &[Ipv4Addr],
    plan: &mut ServicePlan,
) {
    let proto = port.protocol;
    let endpoints = state.endpoints(&svc.name, port);
    let selection = select_endpoints(&endpoints);
    let internal = match svc.internal_traffic_policy {
        TrafficPolicy::Cluster => dests(&selection.cluster),
        TrafficPolicy::Local => dests(&selection.local),
    };
    let etp_local = svc.external_traffic_policy == TrafficPolicy::Local;
    let external = if etp_local {
        dests(&selection.local)
    } else {
        dests(&selection.cluster)
    };
    let no_endpoints = selection.cluster.is_empty();
    let port_name = svc.port_name(port);
    let add_vs =
        |plan: &mut ServicePlan, addr: Ipv4Addr, vport: u16, dests: &BTreeSet<SocketAddrV4>| {
            let key = ServiceKey::new(proto, addr, vport);
            let mut service = VirtualService::new(key, scheduler);
            service.persistent_timeout = svc
                .session_affinity
                .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX).max(1));
            plan.virtual_servers.push(Arc::new(DesiredVs {
                service,
                dests: dests.clone(),
                port_name: port_name.clone(),
            }));
            if no_endpoints {
                plan.entries
                    .insert((IpvsSet::NoEndpoints, ip_port(addr, proto, vport)));
            }
        };

    add_vs(plan, svc.cluster_ip, port.port, &internal);
    plan.addresses.insert(svc.cluster_ip);
    plan.entries.insert((
        IpvsSet::ClusterIp,
        ip_port(svc.cluster_ip, proto, port.port),
    ));

    let external_set = if etp_local {
        IpvsSet::ExternalIpLocal
    } else {
        IpvsSet::ExternalIp
    };
    for &ip in &svc.external_ips {
        add_vs(plan, ip, port.port, &external);
        plan.addresses.insert(ip);
        plan.entries
            .insert((external_set, ip_port(ip, proto, port.port)));
    }
    for &ip in &svc.load_balancer_ips {
        add_vs(plan, ip, port.port, &external);
        plan.addresses.insert(ip);
        plan.entries
            .insert((IpvsSet::LoadBalancer, ip_port(ip, proto, port.port)));
        if etp_local {
            plan.entries
                .insert((IpvsSet::LoadBalancerLocal, ip_port(ip, proto, port.port)));
        }
    }
    if let Some(node_port) = port.node_port.filter(|p| *p != 0) {
        let (all, local) = IpvsSet::node_port(proto);
        for &addr in node_addresses {
            add_vs(plan, addr, node_port, &external);
            if proto == Protocol::Sctp {
                plan.entries.insert((all, ip_port(addr, proto, node_port)));
                if etp_local {
                    plan.entries
                        .insert((local, ip_port(addr, proto, node_port)));
                }
            }
        }
        if proto != Protocol::Sctp {
            plan.entries.insert((all, Entry::Port(node_port)));
            if etp_local {
                plan.entries.insert((local, Entry::Port(node_port)));
            }
        }
    }
    // A pod reaching itself through a service needs its source rewritten, or it would
    // answer itself directly and the client would drop the reply.
    for ep in endpoints.iter().filter(|e| e.is_local) {
        plan.entries.insert((
            IpvsSet::LoopBack,
            Entry::IpPortIp {
                ip: ep.ip,
                proto,
                port: ep.port,
                ip2: ep.ip,
            },
        ));
    }
}

fn ip_port(ip: Ipv4Addr, proto: Protocol, port: u16) -> Entry {
    Entry::IpPort { ip, proto, port }
}
