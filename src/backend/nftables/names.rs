//! Names in table `ip kube-proxy`, exactly as kube-proxy's nftables mode spells them, so
//! `nft list table ip kube-proxy` reads the way operators know it.

use data_encoding::BASE32;
use sha2::{Digest, Sha256};

use crate::model::{ServiceEndpoint, ServicePortName};

pub use crate::backend::cleanup::NFTABLES_TABLE as TABLE;

// Base chains: `${type}-${hook}`.
pub const FILTER_PREROUTING_PRE_DNAT: &str = "filter-prerouting-pre-dnat";
pub const FILTER_OUTPUT_PRE_DNAT: &str = "filter-output-pre-dnat";
pub const FILTER_INPUT: &str = "filter-input";
pub const FILTER_FORWARD: &str = "filter-forward";
pub const FILTER_OUTPUT: &str = "filter-output";
pub const NAT_PREROUTING: &str = "nat-prerouting";
pub const NAT_OUTPUT: &str = "nat-output";
pub const NAT_POSTROUTING: &str = "nat-postrouting";

// Regular chains jumped to from the base chains.
pub const SERVICES: &str = "services";
pub const MASQUERADING: &str = "masquerading";
pub const CLUSTER_IPS_CHECK: &str = "cluster-ips-check";
pub const SERVICE_ENDPOINTS_CHECK: &str = "service-endpoints-check";
pub const NODEPORT_ENDPOINTS_CHECK: &str = "nodeport-endpoints-check";
pub const FIREWALL_CHECK: &str = "firewall-check";
pub const REJECT_CHAIN: &str = "reject-chain";

// Sets and maps shared by all services.
pub const SERVICE_IPS: &str = "service-ips";
pub const SERVICE_NODEPORTS: &str = "service-nodeports";
pub const NO_ENDPOINT_SERVICES: &str = "no-endpoint-services";
pub const NO_ENDPOINT_NODEPORTS: &str = "no-endpoint-nodeports";
pub const FIREWALL_IPS: &str = "firewall-ips";
pub const CLUSTER_IPS: &str = "cluster-ips";
pub const HAIRPIN_CONNECTIONS: &str = "hairpin-connections";

/// Per-service chain prefixes (kube-proxy's `servicePort*ChainNamePrefix`).
pub const CLUSTER_PREFIX: &str = "service-";
pub const LOCAL_PREFIX: &str = "local-";
pub const EXTERNAL_PREFIX: &str = "external-";
pub const ENDPOINT_PREFIX: &str = "endpoint-";
pub const AFFINITY_PREFIX: &str = "affinity-";

/// Longest name the kernel takes (`NFT_NAME_MAXLEN` - 1) less the longest prefix.
const BASE_LENGTH_MAX: usize = 256 - 16;

/// `HASH-name`: the first 8 characters of base32(sha256(name)), then the name, truncated
/// with `...` past [`BASE_LENGTH_MAX`] (kube-proxy's `hashAndTruncate`). The hash keeps a
/// truncated name unique and tells apart names that differ in one digit.
pub fn hash_and_truncate(name: &str) -> String {
    let hash = BASE32.encode(&Sha256::digest(name.as_bytes()));
    let mut out = format!("{}-{name}", &hash[..8]);
    if out.len() > BASE_LENGTH_MAX {
        out.truncate(BASE_LENGTH_MAX - 3);
        out.push_str("...");
    }
    out
}

/// `HASH-ns/name/proto/port`: the base of a service port's chain names.
pub fn service_base(port: &ServicePortName) -> String {
    hash_and_truncate(&format!(
        "{}/{}/{}/{}",
        port.service.namespace, port.service.name, port.protocol, port.port
    ))
}

/// `HASH-ns/name/proto/port__ip/port`: the base of an endpoint's chain and affinity set.
pub fn endpoint_base(port: &ServicePortName, endpoint: &ServiceEndpoint) -> String {
    hash_and_truncate(&format!(
        "{}/{}/{}/{}__{}/{}",
        port.service.namespace,
        port.service.name,
        port.protocol,
        port.port,
        endpoint.ip,
        endpoint.port
    ))
}

/// Whether a chain of this name is one kproxy creates per service (and deletes when stale).
pub fn is_service_chain(name: &str) -> bool {
    [
        CLUSTER_PREFIX,
        LOCAL_PREFIX,
        EXTERNAL_PREFIX,
        ENDPOINT_PREFIX,
        "firewall-",
    ]
    .iter()
    .any(|p| name.starts_with(p) && name.as_bytes().get(p.len() + 8) == Some(&b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, ServiceName};

    fn port(ns: &str, name: &str, proto: Protocol, port: &str) -> ServicePortName {
        ServicePortName {
            service: ServiceName::new(ns, name),
            port: port.into(),
            protocol: proto,
        }
    }

    fn ep(ip: [u8; 4], port: u16) -> ServiceEndpoint {
        ServiceEndpoint {
            ip: ip.into(),
            port,
            ready: true,
            serving: true,
            terminating: false,
            is_local: false,
            zone_hint: crate::model::Hint::None,
            node_hint: crate::model::Hint::None,
        }
    }

    #[test]
    fn names_match_kube_proxy() {
        // From kube-proxy's nftables proxier tests.
        let p = port("ns1", "svc1", Protocol::Tcp, "p80");
        assert_eq!(service_base(&p), "ULMVA6XW-ns1/svc1/tcp/p80");
        assert_eq!(
            endpoint_base(&p, &ep([10, 180, 0, 1], 80)),
            "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
        );
        let p2 = port("ns2", "svc2", Protocol::Tcp, "p80");
        assert_eq!(
            endpoint_base(&p2, &ep([10, 180, 0, 2], 80)),
            "SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80"
        );
    }

    #[test]
    fn long_names_are_truncated_and_service_chains_recognised() {
        let long = "x".repeat(300);
        let name = hash_and_truncate(&long);
        assert_eq!(name.len(), BASE_LENGTH_MAX);
        assert!(name.ends_with("..."));
        assert!(is_service_chain("service-ULMVA6XW-ns1/svc1/tcp/p80"));
        assert!(is_service_chain(
            "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
        ));
        assert!(!is_service_chain("service-endpoints-check"));
        assert!(!is_service_chain("services"));
    }
}
