//! Which probes a step sends: for every port of every service (present, or deleted since
//! the last step), every address it has or had — cluster IP, node port (the node's
//! address, and 127.0.0.1 from the node itself), external IPs, load-balancer IPs — from
//! each source: pod-0 (a pod on the node, and a backend of many services: hairpin), the
//! node itself, and the outside client.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::corpus::{Protocol, ServiceSpec};
use crate::probe::{Proto, Target};
use crate::support::topology::NODE_IP;

/// The probe sources, in the order of [`crate::twin::Twin::sources`].
pub const SOURCES: [&str; 3] = ["pod-0", "node", "client"];
const NODE: usize = 1;

/// What a probe is, for reports and for the list of known differences.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProbeKey {
    /// `s017:http`, or `s017` for an unnamed port.
    pub port: String,
    /// `cluster IP`, `node port`, `localhost node port`, `external IP`, `load-balancer IP`.
    pub address: &'static str,
    pub source: usize,
    pub proto: Proto,
    pub dst: SocketAddrV4,
}

impl fmt::Display for ProbeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?} {} ({}) from {}",
            self.port, self.proto, self.dst, self.address, SOURCES[self.source]
        )
    }
}

/// The probes of a step: `now` is the corpus as published, `before` as it was (each
/// service's addresses of either).
pub fn probes(before: &[ServiceSpec], now: &[ServiceSpec]) -> Vec<(ProbeKey, Target)> {
    let mut out: BTreeMap<(usize, Proto, SocketAddrV4), (ProbeKey, Target)> = BTreeMap::new();
    for (svc, old) in now.iter().zip(before) {
        let max_backends = if svc.present { svc.pods().len() } else { 0 };
        let affinity = svc.present && svc.affinity.is_some();
        for spec in [svc, old] {
            for (key, dst_source) in addresses(spec) {
                let target = Target {
                    proto: key.proto,
                    dst: key.dst,
                    source: dst_source,
                    max_backends,
                    affinity,
                };
                out.entry((dst_source, key.proto, key.dst))
                    .or_insert((key, target));
            }
        }
    }
    out.into_values().collect()
}

/// Every (probe, source) of one version of a service.
fn addresses(svc: &ServiceSpec) -> Vec<(ProbeKey, usize)> {
    let Some(cluster_ip) = svc.cluster_ip() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, port) in svc.ports.iter().enumerate() {
        let proto = match port.protocol {
            Protocol::Tcp => Proto::Tcp,
            Protocol::Udp => Proto::Udp,
            // The host kernel has no SCTP sockets: rule text only.
            Protocol::Sctp => continue,
        };
        let name = if port.name.is_empty() {
            svc.name.clone()
        } else {
            format!("{}:{}", svc.name, port.name)
        };
        let mut add = |address: &'static str, ip: Ipv4Addr, number: u16, sources: &[usize]| {
            for &source in sources {
                out.push((
                    ProbeKey {
                        port: name.clone(),
                        address,
                        source,
                        proto,
                        dst: SocketAddrV4::new(ip, number),
                    },
                    source,
                ));
            }
        };
        let all = [0, 1, 2];
        add("cluster IP", cluster_ip, port.port, &all);
        if let Some(node_port) = svc.node_port(k) {
            add("node port", NODE_IP, node_port, &all);
            add(
                "localhost node port",
                Ipv4Addr::LOCALHOST,
                node_port,
                &[NODE],
            );
        }
        for ip in svc.external_ips() {
            add("external IP", ip, port.port, &all);
        }
        for ip in svc.load_balancer_ips() {
            add("load-balancer IP", ip, port.port, &all);
        }
    }
    out
}
