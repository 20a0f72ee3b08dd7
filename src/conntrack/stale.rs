//! Which conntrack entries are stale: kube-proxy's reconciler (`pkg/proxy/conntrack/
//! cleanup.go`), as a pure function of the entries and the state.
//!
//! An entry is stale when its original destination is a service frontend (cluster IP,
//! external IP or load-balancer IP with the service port, or any address with the node
//! port) and its reply source, the address the traffic was DNATed to, is not a serving
//! endpoint (address and target port) of that service port. Only UDP and SCTP: a TCP
//! connection to a gone endpoint ends by itself, a connectionless flow that keeps sending
//! keeps its entry alive forever.
//!
//! As upstream, policies, topology and termination do not count: every serving endpoint
//! is legitimate for existing flows. With upstream's later fixes, a service port without
//! serving endpoints is still reconciled (every entry to it is stale, kubernetes#139629),
//! and so is a frontend that disappeared since the last reconcile (a deleted service or
//! port, a changed address: kubernetes#141371), unless a live service uses it now.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use super::consts::{IPPROTO_SCTP, IPPROTO_UDP};
use super::entry::Entry;
use crate::model::{Protocol, ProxyState};

/// Endpoint address and port.
type Backend = (IpAddr, u16);

/// Every frontend of the UDP and SCTP service ports, each with its serving endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontends {
    /// `(protocol, address, port)` of cluster, external and load-balancer IPs.
    addresses: HashMap<(u8, IpAddr, u16), BTreeSet<Backend>>,
    /// `(protocol, node port)`: on any destination address.
    node_ports: HashMap<(u8, u16), BTreeSet<Backend>>,
}

/// The protocols whose entries the reconciler cleans, as `IPPROTO_*`.
pub const PROTOCOLS: [u8; 2] = [IPPROTO_UDP, IPPROTO_SCTP];

fn protocol_number(protocol: Protocol) -> Option<u8> {
    match protocol {
        Protocol::Udp => Some(IPPROTO_UDP),
        Protocol::Sctp => Some(IPPROTO_SCTP),
        Protocol::Tcp => None,
    }
}

impl Frontends {
    /// The frontends of every UDP and SCTP service port in `state`.
    pub fn from_state(state: &ProxyState) -> Self {
        let mut out = Self::default();
        for service in state.services() {
            for port in &service.ports {
                let Some(protocol) = protocol_number(port.protocol) else {
                    continue;
                };
                let serving: BTreeSet<Backend> = state
                    .endpoints(&service.name, port)
                    .iter()
                    .filter(|e| e.serving)
                    .map(|e| (IpAddr::V4(e.ip), e.port))
                    .collect();
                let addresses = std::iter::once(service.cluster_ip)
                    .chain(service.external_ips.iter().copied())
                    .chain(service.load_balancer_ips.iter().copied());
                for ip in addresses {
                    out.addresses
                        .insert((protocol, IpAddr::V4(ip), port.port), serving.clone());
                }
                if let Some(node_port) = port.node_port {
                    out.node_ports.insert((protocol, node_port), serving);
                }
            }
        }
        out
    }

    /// These frontends plus those of `previous` that are gone, with no endpoints: what
    /// still reaches a removed frontend goes to an endpoint nothing routes to any more.
    pub fn with_removed(mut self, previous: &Frontends) -> Self {
        for key in previous.addresses.keys() {
            self.addresses.entry(*key).or_default();
        }
        for key in previous.node_ports.keys() {
            self.node_ports.entry(*key).or_default();
        }
        self
    }

    /// No UDP or SCTP frontend: nothing can be stale, no dump is needed.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.node_ports.is_empty()
    }

    /// Whether `protocol` has any frontend.
    pub fn has_protocol(&self, protocol: u8) -> bool {
        self.addresses.keys().any(|(p, _, _)| *p == protocol)
            || self.node_ports.keys().any(|(p, _)| *p == protocol)
    }
}

/// The entries to delete.
pub fn stale_entries<'a>(entries: &'a [Entry], frontends: &Frontends) -> Vec<&'a Entry> {
    entries.iter().filter(|e| is_stale(e, frontends)).collect()
}

fn is_stale(entry: &Entry, frontends: &Frontends) -> bool {
    let (orig, reply) = (&entry.orig, &entry.reply);
    let backend = (reply.src, reply.src_port);
    let not_serving = |serving: &BTreeSet<Backend>| !serving.contains(&backend);
    frontends
        .addresses
        .get(&(orig.protocol, orig.dst, orig.dst_port))
        .is_some_and(not_serving)
        || frontends
            .node_ports
            .get(&(orig.protocol, orig.dst_port))
            .is_some_and(not_serving)
}

#[cfg(test)]
mod tests;
