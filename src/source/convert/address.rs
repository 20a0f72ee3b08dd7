//! The API server's rules for the IPv4 addresses kproxy reads (`ValidateNonSpecialIP` in
//! `pkg/apis/core/validation` for external IPs and endpoint addresses; the service IP
//! allocator never hands out such an address as a cluster IP). A manifest can still write
//! one: a cluster IP of 127.0.0.1 or 0.0.0.0 would take the node's own traffic, a multicast
//! or broadcast one would catch packets no service owns.

use std::fmt;
use std::net::Ipv4Addr;

/// Which field an address came from: how an error names it, and its metric reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressField {
    ClusterIp,
    ExternalIp,
    LoadBalancerIp,
    /// `endpoints[i].addresses[0]`.
    Endpoint(usize),
}

impl AddressField {
    /// The `kproxy_rejected_objects_total{reason}` label, shared with unparsable values.
    pub fn reason(self) -> &'static str {
        match self {
            Self::ClusterIp => "invalid_cluster_ip",
            Self::ExternalIp => "invalid_external_ip",
            Self::LoadBalancerIp => "invalid_load_balancer_ip",
            Self::Endpoint(_) => "invalid_address",
        }
    }
}

impl fmt::Display for AddressField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClusterIp => f.write_str("spec.clusterIP"),
            Self::ExternalIp => f.write_str("spec.externalIPs"),
            Self::LoadBalancerIp => f.write_str("status.loadBalancer.ingress"),
            Self::Endpoint(index) => write!(f, "endpoints[{index}]"),
        }
    }
}

/// The kind of address no service may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecialAddress {
    Unspecified,
    Loopback,
    LinkLocal,
    Multicast,
    Broadcast,
}

impl fmt::Display for SpecialAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "the unspecified address",
            Self::Loopback => "a loopback address",
            Self::LinkLocal => "a link-local address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
        })
    }
}

/// Why `ip` may not be a service's or an endpoint's address, if it may not.
pub fn special(ip: Ipv4Addr) -> Option<SpecialAddress> {
    if ip.is_unspecified() {
        Some(SpecialAddress::Unspecified)
    } else if ip.is_loopback() {
        Some(SpecialAddress::Loopback)
    } else if ip.is_link_local() {
        Some(SpecialAddress::LinkLocal)
    } else if ip.is_multicast() {
        Some(SpecialAddress::Multicast)
    } else if ip.is_broadcast() {
        Some(SpecialAddress::Broadcast)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_addresses_are_those_the_api_server_refuses() {
        let cases = [
            ("0.0.0.0", Some(SpecialAddress::Unspecified)),
            ("127.0.0.1", Some(SpecialAddress::Loopback)),
            ("127.255.0.9", Some(SpecialAddress::Loopback)),
            ("169.254.169.254", Some(SpecialAddress::LinkLocal)),
            ("224.0.0.1", Some(SpecialAddress::Multicast)),
            ("239.255.255.250", Some(SpecialAddress::Multicast)),
            ("255.255.255.255", Some(SpecialAddress::Broadcast)),
            ("10.96.0.1", None),
            ("192.168.1.255", None),
            ("240.0.0.1", None),
            ("1.1.1.1", None),
        ];
        for (ip, want) in cases {
            assert_eq!(special(ip.parse().unwrap()), want, "{ip}");
        }
    }
}
