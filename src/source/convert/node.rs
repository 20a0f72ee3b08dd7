//! A Node object → [`NodeInfo`], shared by the API source (this node's Node) and the
//! manifest directory (a `v1 Node` named after this node).

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Node;

use crate::model::NodeInfo;

/// The well-known topology label kube-proxy reads for topology-aware routing.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// Zone from the topology label; IPv4 `InternalIP` then `ExternalIP` addresses, in the
/// object's order within each type, without duplicates. Other address types (Hostname,
/// InternalDNS…) and IPv6 addresses are not proxy addresses and are left out.
pub fn node_info(name: &str, node: &Node) -> NodeInfo {
    let zone = node
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(ZONE_LABEL))
        .filter(|z| !z.is_empty())
        .cloned();
    let reported = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_deref())
        .unwrap_or_default();
    let mut addresses: Vec<Ipv4Addr> = Vec::new();
    for wanted in ["InternalIP", "ExternalIP"] {
        for a in reported.iter().filter(|a| a.type_ == wanted) {
            if let Ok(ip) = a.address.parse::<Ipv4Addr>()
                && !addresses.contains(&ip)
            {
                addresses.push(ip);
            }
        }
    }
    let pod_cidrs = node
        .spec
        .as_ref()
        .and_then(|s| s.pod_cidrs.as_deref())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.parse::<ipnet::Ipv4Net>().ok())
        .map(|c| c.trunc())
        .collect();
    NodeInfo {
        name: name.to_string(),
        zone,
        addresses,
        pod_cidrs,
    }
}
