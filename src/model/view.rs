//! Who gets a service port's traffic, decided once for every backend: kube-proxy's
//! `ServicePort` (addresses, affinity, policies) and `CategorizeEndpoints` (which endpoints
//! each traffic policy uses). The iptables and IPVS compilers read nothing else about a
//! service; nftables (issue #14) is a third reader of the same [`PortView`].
//!
//! Where later features go, each in one place:
//! * Topology hints (issue #11): each [`ServiceEndpoint`] carries how its hints relate to
//!   this node ([`Hint`]: for its zone or name, for others, none), computed by the state
//!   from the node's zone and name, so that a zone change changes the snapshot and the
//!   cache sees it; [`Topology`] filters the cluster list by them (kube-proxy's
//!   `topologyModeFromHints` / `availableForTopology`) before the ready →
//!   serving+terminating fallback. The local list is never filtered.
//! * `loadBalancerSourceRanges`: a [`Service`] field, exposed in [`VirtualAddresses`] next
//!   to the load-balancer IPs it restricts.
//! * `healthCheckNodePort`: a [`Service`] field (set only where kube-proxy serves one),
//!   exposed on every [`PortView`] of the service for the rules that let it in; what it
//!   answers is decided in [`crate::health_check`] from the ready local endpoints (not
//!   [`PortView::has_local_endpoints`]: a node whose endpoints only drain must fail the
//!   check, as kube-proxy's `LocalReadyEndpoints`).
//! * IPv6 / dual-stack (issue #13): [`ServiceSnapshot::read`] takes the IP family and keeps
//!   that family's addresses and endpoints only, so every view (and every compiler run) is
//!   single-family; a dual-stack service is two snapshots.

use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;

use super::{
    Hint, Protocol, ProxyState, Service, ServiceEndpoint, ServiceName, ServicePort,
    ServicePortName, TrafficPolicy,
};

/// One service with the merged endpoints of each of its ports, read from the state in one
/// go: everything a compiled service depends on, and what [`super::ServiceCache`] compares
/// to decide whether a compiled service can be reused.
#[derive(Clone, Debug)]
pub struct ServiceSnapshot {
    /// Shared with the state: a snapshot copies no service.
    service: Arc<Service>,
    /// The endpoints of each of [`Service::distinct_ports`], in that order, each list sorted
    /// by address and unique (as [`ProxyState::endpoints`] gives them).
    endpoints: Vec<Vec<ServiceEndpoint>>,
}

impl PartialEq for ServiceSnapshot {
    fn eq(&self, other: &Self) -> bool {
        (Arc::ptr_eq(&self.service, &other.service) || self.service == other.service)
            && self.endpoints == other.endpoints
    }
}

impl Eq for ServiceSnapshot {}

impl ServiceSnapshot {
    pub fn read(state: &ProxyState, service: &Arc<Service>) -> Self {
        Self {
            service: Arc::clone(service),
            endpoints: service
                .distinct_ports()
                .map(|port| state.endpoints(&service.name, port))
                .collect(),
        }
    }

    pub fn service(&self) -> &Service {
        &self.service
    }

    pub fn name(&self) -> &ServiceName {
        &self.service.name
    }

    /// All endpoints of all ports, usable or not: what kube-proxy counts for its
    /// large-cluster mode.
    pub fn endpoint_count(&self) -> usize {
        self.endpoints.iter().map(Vec::len).sum()
    }

    /// The view of each distinct port, in the service's order.
    pub fn ports(&self) -> impl Iterator<Item = PortView<'_>> {
        self.service
            .distinct_ports()
            .zip(&self.endpoints)
            .map(|(port, endpoints)| PortView::new(&self.service, port, endpoints))
    }
}

/// The addresses a service port answers on, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtualAddresses<'a> {
    pub cluster_ip: Ipv4Addr,
    /// The port on the cluster, external and load-balancer IPs.
    pub port: u16,
    pub external_ips: &'a [Ipv4Addr],
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ips: &'a [Ipv4Addr],
    /// The clients `load_balancer_ips` accept (`loadBalancerSourceRanges`); empty for all.
    /// Node ports and external IPs are never filtered, as in kube-proxy.
    pub source_ranges: &'a [Ipv4Net],
    /// On every node address (that `--nodeport-addresses` allows).
    pub node_port: Option<u16>,
}

/// One service port as every backend sees it.
#[derive(Clone, Debug)]
pub struct PortView<'a> {
    pub service: &'a Service,
    pub port: &'a ServicePort,
    pub protocol: Protocol,
    pub addresses: VirtualAddresses<'a>,
    /// `sessionAffinity: ClientIP` timeout in whole seconds, at least 1: both the kernel's
    /// `-m recent --seconds` and IPVS persistence refuse 0.
    pub affinity_seconds: Option<u32>,
    /// `internalTrafficPolicy: Local`: cluster-IP traffic goes to this node's endpoints only.
    pub internal_policy_local: bool,
    /// `externalTrafficPolicy: Local` on a port reachable from outside (on any other port
    /// the policy means nothing, so it is taken as `Cluster`).
    pub external_policy_local: bool,
    /// The service's valid `healthCheckNodePort` (TCP), which the filter rules let in
    /// (kube-proxy writes one rule per service port).
    pub health_check_node_port: Option<u16>,
    /// Every endpoint of the port, usable or not, sorted by address.
    all: &'a [ServiceEndpoint],
    /// Empty when no traffic of this port uses the Cluster policy.
    cluster: Cow<'a, [ServiceEndpoint]>,
    /// Empty when no traffic of this port uses the Local policy.
    local: Cow<'a, [ServiceEndpoint]>,
    /// Some endpoint anywhere in the cluster is usable.
    any_usable: bool,
}

impl<'a> PortView<'a> {
    fn new(service: &'a Service, port: &'a ServicePort, all: &'a [ServiceEndpoint]) -> Self {
        let external_policy_local = service.external_traffic_policy == TrafficPolicy::Local
            && service.has_external_destinations(port);
        let mut view = Self {
            service,
            port,
            protocol: port.protocol,
            addresses: VirtualAddresses {
                cluster_ip: service.cluster_ip,
                port: port.port,
                external_ips: &service.external_ips,
                load_balancer_ips: &service.load_balancer_ips,
                source_ranges: &service.load_balancer_source_ranges,
                node_port: port.node_port(),
            },
            affinity_seconds: service
                .session_affinity
                .map(|t| u32::try_from(t.as_secs().max(1)).unwrap_or(u32::MAX)),
            internal_policy_local: service.internal_traffic_policy == TrafficPolicy::Local,
            external_policy_local,
            health_check_node_port: service.health_check_port(),
            all,
            cluster: Cow::Borrowed(&[]),
            local: Cow::Borrowed(&[]),
            any_usable: false,
        };
        if view.uses_cluster_endpoints() {
            view.cluster = match Topology::from_hints(all) {
                Topology::All => usable(all, |_| true),
                Topology::SameNode => usable(all, |e| e.node_hint == Hint::Here),
                Topology::SameZone => usable(all, |e| e.zone_hint == Hint::Here),
            };
        }
        if view.uses_local_endpoints() {
            view.local = usable(all, |e| e.is_local);
        }
        view.any_usable = !view.cluster.is_empty() || all.iter().any(is_usable);
        view
    }

    /// `ns/name:port` with the protocol, for logs and listings.
    pub fn port_name(&self) -> ServicePortName {
        self.service.port_name(self.port)
    }

    /// Reachable through a node port, an external or a load-balancer IP (kube-proxy's
    /// `ExternallyAccessible`).
    pub fn externally_accessible(&self) -> bool {
        self.service.has_external_destinations(self.port)
    }

    /// Some traffic of this port uses the Cluster policy (kube-proxy's
    /// `UsesClusterEndpoints`): a port reachable from outside needs the cluster endpoints
    /// even with a Local policy, for traffic from pods and from the node itself.
    pub fn uses_cluster_endpoints(&self) -> bool {
        !self.internal_policy_local || self.externally_accessible()
    }

    /// Some traffic of this port uses the Local policy (kube-proxy's `UsesLocalEndpoints`).
    pub fn uses_local_endpoints(&self) -> bool {
        self.internal_policy_local || self.external_policy_local
    }

    /// Traffic to the load-balancer IPs is filtered by source (kube-proxy's `usesFWChain`):
    /// there are some, with source ranges, and endpoints to send what passes to.
    pub fn filters_load_balancer_sources(&self) -> bool {
        self.any_usable
            && !self.addresses.load_balancer_ips.is_empty()
            && !self.addresses.source_ranges.is_empty()
    }

    /// Whether a source range holds `ip` (the node's own IP: then the load-balancer IPs
    /// are let in as sources too, for a VIP that loops the node's requests back).
    pub fn source_ranges_admit(&self, ip: Ipv4Addr) -> bool {
        self.addresses.source_ranges.iter().any(|r| r.contains(&ip))
    }

    /// Some endpoint anywhere in the cluster is usable; without one, traffic is refused
    /// (rather than dropped for lack of a local endpoint).
    pub fn has_endpoints(&self) -> bool {
        self.any_usable
    }

    /// This node has a usable endpoint, for a port that uses the Local policy.
    pub fn has_local_endpoints(&self) -> bool {
        !self.local.is_empty()
    }

    /// Every endpoint of the port, usable or not, sorted by address (for what concerns
    /// every endpoint on this node, such as hairpin masquerading).
    pub fn all_endpoints(&self) -> &[ServiceEndpoint] {
        self.all
    }

    /// The Cluster policy's endpoints: ready ones, else serving and terminating ones.
    /// Empty when the port never uses that policy.
    pub fn cluster_endpoints(&self) -> &[ServiceEndpoint] {
        &self.cluster
    }

    /// The Local policy's endpoints: this node's ready ones, else its serving and
    /// terminating ones (falling back on its own, so a node whose endpoints all drain
    /// still serves Local traffic). Empty when the port never uses that policy.
    pub fn local_endpoints(&self) -> &[ServiceEndpoint] {
        &self.local
    }

    /// Where cluster-IP traffic goes (by `internalTrafficPolicy`).
    pub fn internal_endpoints(&self) -> &[ServiceEndpoint] {
        if self.internal_policy_local {
            &self.local
        } else {
            &self.cluster
        }
    }

    /// Where traffic from outside to the node port, external and load-balancer IPs goes
    /// (by `externalTrafficPolicy`).
    pub fn external_endpoints(&self) -> &[ServiceEndpoint] {
        if self.external_policy_local {
            &self.local
        } else {
            &self.cluster
        }
    }

    /// External traffic needs handling (kube-proxy's `usesExternalTrafficChain`): the port
    /// is reachable from outside and some endpoint is usable. True even without external
    /// endpoints: with a Local policy, traffic from pods and from the node itself to the
    /// external addresses still goes to the cluster endpoints.
    pub fn routes_external_traffic(&self) -> bool {
        self.any_usable && self.externally_accessible()
    }

    /// The endpoints either policy uses, once each, sorted by address (kube-proxy's
    /// `allReachableEndpoints`).
    pub fn reachable_endpoints(&self) -> Cow<'_, [ServiceEndpoint]> {
        if self.local.is_empty() {
            return Cow::Borrowed(&self.cluster);
        }
        if self.cluster.is_empty() {
            return Cow::Borrowed(&self.local);
        }
        let mut union = Vec::with_capacity(self.cluster.len() + self.local.len());
        let (mut c, mut l) = (self.cluster.iter().peekable(), self.local.iter().peekable());
        loop {
            let next = match (c.peek(), l.peek()) {
                (None, None) => break,
                (Some(_), None) => c.next(),
                (None, Some(_)) => l.next(),
                (Some(a), Some(b)) => match address(a).cmp(&address(b)) {
                    std::cmp::Ordering::Less => c.next(),
                    std::cmp::Ordering::Greater => l.next(),
                    std::cmp::Ordering::Equal => {
                        l.next();
                        c.next()
                    }
                },
            };
            union.extend(next.copied());
        }
        Cow::Owned(union)
    }
}

/// Which ready endpoints the Cluster policy uses, by their hints (kube-proxy's topology
/// mode). Hints count only when every ready endpoint has them and one is for this node
/// (or its zone); otherwise all are used, as with no hints at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Topology {
    All,
    /// `hints.forNodes` (`trafficDistribution: PreferSameNode`), preferred over zones.
    SameNode,
    /// `hints.forZones` (PreferSameZone, PreferClose, `topology-mode: Auto`).
    SameZone,
}

impl Topology {
    fn from_hints(all: &[ServiceEndpoint]) -> Self {
        let mut ready = all.iter().filter(|e| e.ready).peekable();
        if ready.peek().is_none() {
            return Self::All;
        }
        let (mut nodes_all, mut node_here, mut zones_all, mut zone_here) =
            (true, false, true, false);
        for e in ready {
            nodes_all &= e.node_hint != Hint::None;
            node_here |= e.node_hint == Hint::Here;
            zones_all &= e.zone_hint != Hint::None;
            zone_here |= e.zone_hint == Hint::Here;
        }
        if nodes_all && node_here {
            Self::SameNode
        } else if zones_all && zone_here {
            Self::SameZone
        } else {
            Self::All
        }
    }
}

fn address(e: &ServiceEndpoint) -> (Ipv4Addr, u16) {
    (e.ip, e.port)
}

fn is_usable(e: &ServiceEndpoint) -> bool {
    e.ready || (e.serving && e.terminating)
}

/// kube-proxy's rule for the endpoints `pick` admits: the ready ones; only when none is
/// ready, those that are serving and terminating (KEP-1669). Borrows `all` when it keeps
/// every endpoint (the common case: all ready).
fn usable(
    all: &[ServiceEndpoint],
    pick: impl Fn(&ServiceEndpoint) -> bool,
) -> Cow<'_, [ServiceEndpoint]> {
    let ready = |e: &ServiceEndpoint| e.ready && pick(e);
    if all.iter().all(ready) {
        return Cow::Borrowed(all);
    }
    let ready: Vec<ServiceEndpoint> = all.iter().copied().filter(ready).collect();
    if !ready.is_empty() {
        return Cow::Owned(ready);
    }
    let draining = |e: &ServiceEndpoint| e.serving && e.terminating && pick(e);
    Cow::Owned(all.iter().copied().filter(draining).collect())
}

#[cfg(test)]
mod tests;
