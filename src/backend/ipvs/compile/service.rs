//! One service compiled: its virtual servers, addresses and set members.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use super::{DesiredVs, SCHEDULER_ANNOTATION, SCHEDULERS, ServicePlan};
use crate::backend::ipvs::netlink::{ServiceKey, VirtualService};
use crate::backend::ipvs::sets::IpvsSet;
use crate::ipset::Entry;
use crate::model::{PortView, Protocol, ServiceEndpoint, ServiceSnapshot};

/// Compiles a service: a virtual server on the cluster IP, on every external and
/// load-balancer IP, and for a NodePort on every address in `node_addresses`, each with the
/// endpoints the view gives that traffic (internal for the cluster IP, external for the
/// rest).
pub fn compile_service(
    snapshot: &ServiceSnapshot,
    default_scheduler: &str,
    node_addresses: &[Ipv4Addr],
    node_ip: Option<Ipv4Addr>,
) -> ServicePlan {
    let mut plan = ServicePlan::default();
    let scheduler = match snapshot.service().annotations.get(SCHEDULER_ANNOTATION) {
        Some(s) if SCHEDULERS.contains(&s.as_str()) => s.as_str(),
        Some(bad) => {
            plan.invalid_scheduler = Some(bad.clone());
            default_scheduler
        }
        None => default_scheduler,
    };
    for view in snapshot.ports() {
        compile_port(&view, scheduler, node_addresses, node_ip, &mut plan);
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
    view: &PortView,
    scheduler: &str,
    node_addresses: &[Ipv4Addr],
    node_ip: Option<Ipv4Addr>,
    plan: &mut ServicePlan,
) {
    let proto = view.protocol;
    let addresses = &view.addresses;
    let internal = dests(view.internal_endpoints());
    let external = if view.externally_accessible() {
        dests(view.external_endpoints())
    } else {
        BTreeSet::new()
    };
    let etp_local = view.external_policy_local;
    let no_endpoints = !view.has_endpoints();
    let port_name = view.port_name();
    let add_vs =
        |plan: &mut ServicePlan, addr: Ipv4Addr, vport: u16, dests: &BTreeSet<SocketAddrV4>| {
            let key = ServiceKey::new(proto, addr, vport);
            let mut service = VirtualService::new(key, scheduler);
            service.persistent_timeout = view.affinity_seconds;
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

    let (cluster_ip, port) = (addresses.cluster_ip, addresses.port);
    add_vs(plan, cluster_ip, port, &internal);
    plan.addresses.insert(cluster_ip);
    plan.entries
        .insert((IpvsSet::ClusterIp, ip_port(cluster_ip, proto, port)));

    let external_set = if etp_local {
        IpvsSet::ExternalIpLocal
    } else {
        IpvsSet::ExternalIp
    };
    for &ip in addresses.external_ips {
        add_vs(plan, ip, port, &external);
        plan.addresses.insert(ip);
        plan.entries
            .insert((external_set, ip_port(ip, proto, port)));
    }
    for &ip in addresses.load_balancer_ips {
        add_vs(plan, ip, port, &external);
        plan.addresses.insert(ip);
        plan.entries
            .insert((IpvsSet::LoadBalancer, ip_port(ip, proto, port)));
        if etp_local {
            plan.entries
                .insert((IpvsSet::LoadBalancerLocal, ip_port(ip, proto, port)));
        }
        if view.filters_load_balancer_sources() {
            source_range_entries(view, ip, node_ip, plan);
        }
    }
    if let Some(port) = view.health_check_node_port {
        plan.entries
            .insert((IpvsSet::HealthCheckNodePort, Entry::Port(port)));
    }
    if let Some(node_port) = addresses.node_port {
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
    // answer itself directly and the client would drop the reply. Every endpoint on this
    // node, usable or not: a member too many costs nothing.
    for ep in view.all_endpoints().iter().filter(|e| e.is_local) {
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

/// The members that filter a load-balancer IP by source: the IP in
/// [`IpvsSet::LoadBalancerFw`], each allowed range with it, and the IP itself as a source
/// when a range holds the node's IP (kube-proxy's `allowFromNode`).
fn source_range_entries(
    view: &PortView,
    ip: Ipv4Addr,
    node_ip: Option<Ipv4Addr>,
    plan: &mut ServicePlan,
) {
    let (proto, port) = (view.protocol, view.addresses.port);
    plan.entries
        .insert((IpvsSet::LoadBalancerFw, ip_port(ip, proto, port)));
    for &net in view.addresses.source_ranges {
        let entry = Entry::IpPortNet {
            ip,
            proto,
            port,
            net,
        };
        plan.entries
            .insert((IpvsSet::LoadBalancerSourceCidr, entry));
    }
    if node_ip.is_some_and(|n| view.source_ranges_admit(n)) {
        let entry = Entry::IpPortIp {
            ip,
            proto,
            port,
            ip2: ip,
        };
        plan.entries.insert((IpvsSet::LoadBalancerSourceIp, entry));
    }
}

fn ip_port(ip: Ipv4Addr, proto: Protocol, port: u16) -> Entry {
    Entry::IpPort { ip, proto, port }
}
