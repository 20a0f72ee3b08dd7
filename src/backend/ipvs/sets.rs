//! The ipsets IPVS mode keeps, with kube-proxy's names and types, so that the iptables
//! rules stay constant whatever the number of services: a service changes set members,
//! never rules.

use std::fmt;

use crate::ipset::SetType;
use crate::model::Protocol;

/// One of IPVS mode's sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpvsSet {
    /// `endpoint,proto:port,endpoint` of this node's endpoints: hairpin traffic to masquerade.
    LoopBack,
    /// `clusterIP,proto:port` of every service port.
    ClusterIp,
    /// `externalIP,proto:port` with `externalTrafficPolicy: Cluster`.
    ExternalIp,
    /// `externalIP,proto:port` with `externalTrafficPolicy: Local`.
    ExternalIpLocal,
    /// `ingressIP,proto:port` of every load-balancer ingress IP.
    LoadBalancer,
    /// The subset of [`IpvsSet::LoadBalancer`] with `externalTrafficPolicy: Local`.
    LoadBalancerLocal,
    /// Every TCP NodePort.
    NodePortTcp,
    /// TCP NodePorts with `externalTrafficPolicy: Local` (not masqueraded).
    NodePortLocalTcp,
    NodePortUdp,
    NodePortLocalUdp,
    /// `nodeIP,sctp:port`: bitmap:port has no protocol, and SCTP ports are rare.
    NodePortSctp,
    NodePortLocalSctp,
    /// Every address bound to kube-ipvs0, to refuse what is not a service port on them.
    IpvsIps,
    /// Health-check node ports (TCP), let in by the filter table.
    HealthCheckNodePort,
    /// `ingressIP,proto:port` of load-balancer IPs with `loadBalancerSourceRanges`.
    LoadBalancerFw,
    /// `ingressIP,proto:port,sourceCIDR`: the clients those accept.
    LoadBalancerSourceCidr,
    /// `ingressIP,proto:port,ingressIP` when a source range holds the node's IP: a VIP
    /// routed locally loops the node's requests back from the VIP itself.
    LoadBalancerSourceIp,
    /// kproxy's own: `address,proto:port` of virtual servers with no endpoints at all, refused
    /// in the filter table so that clients see "connection refused" at once.
    NoEndpoints,
}

impl IpvsSet {
    pub const ALL: [IpvsSet; 18] = [
        IpvsSet::LoopBack,
        IpvsSet::ClusterIp,
        IpvsSet::ExternalIp,
        IpvsSet::ExternalIpLocal,
        IpvsSet::LoadBalancer,
        IpvsSet::LoadBalancerLocal,
        IpvsSet::NodePortTcp,
        IpvsSet::NodePortLocalTcp,
        IpvsSet::NodePortUdp,
        IpvsSet::NodePortLocalUdp,
        IpvsSet::NodePortSctp,
        IpvsSet::NodePortLocalSctp,
        IpvsSet::IpvsIps,
        IpvsSet::HealthCheckNodePort,
        IpvsSet::LoadBalancerFw,
        IpvsSet::LoadBalancerSourceCidr,
        IpvsSet::LoadBalancerSourceIp,
        IpvsSet::NoEndpoints,
    ];

    pub fn name(self) -> &'static str {
        match self {
            IpvsSet::LoopBack => "KUBE-LOOP-BACK",
            IpvsSet::ClusterIp => "KUBE-CLUSTER-IP",
            IpvsSet::ExternalIp => "KUBE-EXTERNAL-IP",
            IpvsSet::ExternalIpLocal => "KUBE-EXTERNAL-IP-LOCAL",
            IpvsSet::LoadBalancer => "KUBE-LOAD-BALANCER",
            IpvsSet::LoadBalancerLocal => "KUBE-LOAD-BALANCER-LOCAL",
            IpvsSet::NodePortTcp => "KUBE-NODE-PORT-TCP",
            IpvsSet::NodePortLocalTcp => "KUBE-NODE-PORT-LOCAL-TCP",
            IpvsSet::NodePortUdp => "KUBE-NODE-PORT-UDP",
            IpvsSet::NodePortLocalUdp => "KUBE-NODE-PORT-LOCAL-UDP",
            IpvsSet::NodePortSctp => "KUBE-NODE-PORT-SCTP",
            IpvsSet::NodePortLocalSctp => "KUBE-NODE-PORT-LOCAL-SCTP",
            IpvsSet::IpvsIps => "KUBE-IPVS-IPS",
            IpvsSet::HealthCheckNodePort => "KUBE-HEALTH-CHECK-NODE-PORT",
            IpvsSet::LoadBalancerFw => "KUBE-LOAD-BALANCER-FW",
            IpvsSet::LoadBalancerSourceCidr => "KUBE-LOAD-BALANCER-SOURCE-CIDR",
            IpvsSet::LoadBalancerSourceIp => "KUBE-LOAD-BALANCER-SOURCE-IP",
            IpvsSet::NoEndpoints => "KPROXY-NO-ENDPOINTS",
        }
    }

    pub fn set_type(self) -> SetType {
        match self {
            IpvsSet::LoopBack | IpvsSet::LoadBalancerSourceIp => SetType::HashIpPortIp,
            IpvsSet::LoadBalancerSourceCidr => SetType::HashIpPortNet,
            IpvsSet::HealthCheckNodePort
            | IpvsSet::NodePortTcp
            | IpvsSet::NodePortLocalTcp
            | IpvsSet::NodePortUdp
            | IpvsSet::NodePortLocalUdp => SetType::ALL_PORTS,
            IpvsSet::IpvsIps => SetType::HashIp,
            _ => SetType::HashIpPort,
        }
    }

    /// The NodePort sets of a protocol: (all, `externalTrafficPolicy: Local`).
    pub fn node_port(protocol: Protocol) -> (IpvsSet, IpvsSet) {
        match protocol {
            Protocol::Tcp => (IpvsSet::NodePortTcp, IpvsSet::NodePortLocalTcp),
            Protocol::Udp => (IpvsSet::NodePortUdp, IpvsSet::NodePortLocalUdp),
            Protocol::Sctp => (IpvsSet::NodePortSctp, IpvsSet::NodePortLocalSctp),
        }
    }

    /// Names of every set IPVS mode may have created, for `--cleanup`.
    pub fn names() -> impl Iterator<Item = &'static str> {
        IpvsSet::ALL.into_iter().map(IpvsSet::name)
    }
}

impl fmt::Display for IpvsSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_fit_ipset_limit() {
        let mut names: Vec<_> = IpvsSet::names().collect();
        assert!(names.iter().all(|n| n.len() < 32), "IPSET_MAXNAMELEN is 32");
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), IpvsSet::ALL.len());
    }
}
