//! Names of the chains kproxy owns: the fixed ones, and the per-service ones derived from a
//! hash, exactly as kube-proxy names them, so operators' habits and tools keep working.

use std::net::SocketAddrV4;

use data_encoding::BASE32;
use sha2::{Digest, Sha256};

use crate::model::ServicePortName;
use crate::netfilter::iptables::ruleset::Table;

pub use crate::netfilter::iptables::chains::{
    KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_POSTROUTING, KUBE_SERVICES,
};

/// nat: NodePort dispatch, entered from the last rule of nat `KUBE-SERVICES`; filter: lets
/// the health-check node ports in.
pub const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
/// filter: drops traffic to load-balancer IPs from outside their `loadBalancerSourceRanges`
/// (what the nat `KUBE-FW-` chains did not DNAT).
pub const KUBE_PROXY_FIREWALL: &str = "KUBE-PROXY-FIREWALL";
/// filter: REJECT/DROP for external destinations (external IPs, LB IPs, NodePorts).
pub const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";

/// filter: kube-proxy's (and kubelet's) martian-source drop for 127.0.0.0/8, written only
/// while NodePorts answer on 127.0.0.1, and never deleted (kubelet keeps its own copy).
pub const KUBE_FIREWALL: &str = "KUBE-FIREWALL";

/// Every fixed chain kproxy writes, in the order the compiler emits them (kube-proxy's).
pub const FIXED_CHAINS: &[(Table, &str)] = &[
    (Table::Filter, KUBE_SERVICES),
    (Table::Filter, KUBE_EXTERNAL_SERVICES),
    (Table::Filter, KUBE_FORWARD),
    (Table::Filter, KUBE_NODEPORTS),
    (Table::Filter, KUBE_PROXY_FIREWALL),
    (Table::Nat, KUBE_SERVICES),
    (Table::Nat, KUBE_NODEPORTS),
    (Table::Nat, KUBE_POSTROUTING),
    (Table::Nat, KUBE_MARK_MASQ),
];

/// The per-service chain kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainKind {
    /// `KUBE-SVC-`: spreads over the endpoints for `Cluster` traffic policy.
    Svc,
    /// `KUBE-SVL-`: spreads over this node's endpoints for `Local` traffic policy.
    Svl,
    /// `KUBE-EXT-`: entry for external destinations (NodePort, external and LB IPs).
    Ext,
    /// `KUBE-FW-`: `loadBalancerSourceRanges` firewall: the allowed sources go on to
    /// `KUBE-EXT-`.
    Fw,
    /// `KUBE-SEP-`: one endpoint: hairpin masquerade and DNAT.
    Sep(SocketAddrV4),
}

impl ChainKind {
    pub fn prefix(self) -> &'static str {
        match self {
            ChainKind::Svc => "KUBE-SVC-",
            ChainKind::Svl => "KUBE-SVL-",
            ChainKind::Ext => "KUBE-EXT-",
            ChainKind::Fw => "KUBE-FW-",
            ChainKind::Sep(_) => "KUBE-SEP-",
        }
    }
}

/// Prefixes of the chains kproxy creates per service and deletes when stale. `KUBE-XLB-` is
/// the name older kube-proxy versions used for `KUBE-SVL-`; kproxy never creates it but
/// cleans it up when it replaces such a kube-proxy.
const SERVICE_CHAIN_PREFIXES: [&str; 6] = [
    "KUBE-SVC-",
    "KUBE-SEP-",
    "KUBE-EXT-",
    "KUBE-SVL-",
    "KUBE-FW-",
    "KUBE-XLB-",
];

/// kube-proxy's canary: an empty chain in mangle, nat and filter whose disappearance says
/// the tables were flushed (see `backend/watch.rs`).
pub const KUBE_PROXY_CANARY: &str = "KUBE-PROXY-CANARY";

/// Whether iptables mode owns (creates, rewrites, deletes) a chain of this name in this
/// table.
pub fn is_owned_chain(table: Table, name: &str) -> bool {
    is_service_chain(name)
        || name == KUBE_PROXY_CANARY
        || FIXED_CHAINS.iter().any(|(t, n)| *t == table && *n == name)
}

/// [`is_owned_chain`], plus filter [`KUBE_FIREWALL`]: what iptables mode owns while it
/// serves NodePorts on 127.0.0.1 (it then rewrites that chain and its jumps).
pub fn is_owned_chain_with_firewall(table: Table, name: &str) -> bool {
    is_owned_chain(table, name) || (table == Table::Filter && name == KUBE_FIREWALL)
}

/// Whether `name` is a per-service chain (kproxy's or a kube-proxy's before it).
pub fn is_service_chain(name: &str) -> bool {
    SERVICE_CHAIN_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The chain of `kind` for a service port, as kube-proxy names it: the prefix, then the first
/// 16 characters of base32(sha256(`ns/name:port` + protocol [+ `ip:port`])).
///
/// iptables chain names are at most 28 characters; the longest prefix (`KUBE-SVC-`, 9)
/// plus 16 hash characters is 25, and a short hash keeps `iptables-save` readable.
///
/// kube-proxy's input is unambiguous only because the API server keeps `/` and `:` out of
/// namespaces, names and port names (the sources reject any other, `source::convert`): with
/// them, namespace `a/b` + Service `c` and namespace `a` + Service `b/c` would share a chain.
/// Should such a name get here anyway, it is hashed length-prefixed ([`unambiguous_input`]),
/// which can equal no kube-proxy input.
pub fn service_chain(kind: ChainKind, port: &ServicePortName) -> String {
    let port_name = unambiguous_input(port).unwrap_or_else(|| port.to_string());
    let protocol = port.protocol.as_str();
    let hash = match kind {
        ChainKind::Sep(endpoint) => hash16(&[
            port_name.as_bytes(),
            protocol.as_bytes(),
            endpoint.to_string().as_bytes(),
        ]),
        _ => hash16(&[port_name.as_bytes(), protocol.as_bytes()]),
    };
    chain_name(kind.prefix(), &hash)
}

/// For a port whose names contain a separator of kube-proxy's hash input: each part
/// length-prefixed, behind a NUL no valid name holds. `None` for names the API server accepts.
fn unambiguous_input(port: &ServicePortName) -> Option<String> {
    let parts = [
        port.service.namespace.as_str(),
        port.service.name.as_str(),
        port.port.as_str(),
    ];
    if !parts.iter().any(|p| p.contains(['/', ':', '\0'])) {
        return None;
    }
    let mut out = String::from("\0");
    for part in parts {
        out.push_str(&format!("{}:{part}", part.len()));
    }
    Some(out)
}

/// The first 16 base32 characters of sha256 over the concatenated `parts`.
pub(crate) fn hash16(parts: &[&[u8]]) -> [u8; 16] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    let digest = hasher.finalize();
    // 10 bytes are exactly 16 base32 characters, with no padding.
    let mut encoded = [0u8; 16];
    BASE32.encode_mut(&digest[..10], &mut encoded);
    encoded
}

/// `prefix` followed by a [`hash16`].
pub(crate) fn chain_name(prefix: &str, hash: &[u8; 16]) -> String {
    let mut out = Vec::with_capacity(prefix.len() + 16);
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(hash);
    String::from_utf8(out).expect("base32 is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, ServiceName};

    fn spn(ns: &str, name: &str, port: &str, protocol: Protocol) -> ServicePortName {
        ServicePortName {
            service: ServiceName::new(ns, name),
            port: port.to_string(),
            protocol,
        }
    }

    /// Expected values computed independently with coreutils:
    /// `printf '%s' 'ns1/svc1:p80tcp' | sha256sum | cut -c1-64 | xxd -r -p | base32 | cut -c1-16`.
    #[test]
    fn chain_names_match_kube_proxy_hashing() {
        let ep = |s: &str| ChainKind::Sep(s.parse().unwrap());
        let cases = [
            (
                ChainKind::Svc,
                spn("ns1", "svc1", "p80", Protocol::Tcp),
                "KUBE-SVC-XPGD46QRK7WJZT7O",
            ),
            (
                ChainKind::Svl,
                spn("ns1", "svc1", "p80", Protocol::Tcp),
                "KUBE-SVL-XPGD46QRK7WJZT7O",
            ),
            (
                ChainKind::Ext,
                spn("ns2", "svc2", "", Protocol::Udp),
                "KUBE-EXT-GUEUWVKGZ4WHNBUY",
            ),
            (
                ChainKind::Fw,
                spn("ns3", "svc3", "dns", Protocol::Sctp),
                "KUBE-FW-MFP5PVMEEJW367XL",
            ),
            (
                ep("10.180.0.1:80"),
                spn("ns1", "svc1", "p80", Protocol::Tcp),
                "KUBE-SEP-SXIVWICOYRO3J4NJ",
            ),
            // The chain every kube-proxy cluster has for CoreDNS over TCP.
            (
                ChainKind::Svc,
                spn("kube-system", "kube-dns", "dns-tcp", Protocol::Tcp),
                "KUBE-SVC-ERIFXISQEP7F7OF4",
            ),
        ];
        for (kind, port, expected) in cases {
            let name = service_chain(kind, &port);
            assert_eq!(name, expected);
            assert!(name.len() <= 28, "{name} is longer than iptables allows");
            assert!(is_service_chain(&name));
        }
    }

    #[test]
    fn names_with_separators_never_share_a_chain() {
        let kinds = [
            ChainKind::Svc,
            ChainKind::Sep("10.0.0.1:80".parse().unwrap()),
        ];
        for kind in kinds {
            let pairs = [
                (
                    spn("a/b", "c", "", Protocol::Tcp),
                    spn("a", "b/c", "", Protocol::Tcp),
                ),
                (
                    spn("a", "b:c", "", Protocol::Tcp),
                    spn("a", "b", "c", Protocol::Tcp),
                ),
                (
                    spn("a", "b", "c:d", Protocol::Tcp),
                    spn("a", "b:c", "d", Protocol::Tcp),
                ),
            ];
            for (one, other) in pairs {
                assert_ne!(
                    service_chain(kind, &one),
                    service_chain(kind, &other),
                    "{one} vs {other}"
                );
            }
        }
        // Such names are refused before they get here: the sources hold names to the API
        // server's rules, which allow neither '/' nor ':'.
        use crate::source::convert::NameRule;
        for name in ["a/b", "b/c", "b:c"] {
            assert!(!NameRule::Dns1123Label.allows(name), "{name}");
        }
    }

    #[test]
    fn known_kube_proxy_chain_names() {
        // From kube-proxy's own tests (pkg/proxy/iptables/proxier_test.go).
        assert_eq!(
            service_chain(ChainKind::Svc, &spn("ns1", "svc1", "p80", Protocol::Tcp)),
            "KUBE-SVC-XPGD46QRK7WJZT7O"
        );
        assert_eq!(
            service_chain(
                ChainKind::Sep("10.180.0.1:80".parse().unwrap()),
                &spn("ns1", "svc1", "p80", Protocol::Tcp)
            ),
            "KUBE-SEP-SXIVWICOYRO3J4NJ"
        );
    }

    #[test]
    fn fixed_chains_are_not_service_chains() {
        for (_, name) in FIXED_CHAINS {
            assert!(!is_service_chain(name), "{name}");
        }
        assert!(is_service_chain("KUBE-XLB-ABCDEFGHIJKLMNOP"));
        assert!(!is_service_chain("KUBE-FIREWALL"));
    }
}
