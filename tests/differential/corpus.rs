//! The generated corpus: Services covering every feature and policy combination kproxy
//! implements, their EndpointSlices, and the scripted edits between steps.
//!
//! The policy product — kind (ClusterIP, ClusterIP with external IPs, NodePort,
//! LoadBalancer, LoadBalancer without node ports) × externalTrafficPolicy ×
//! internalTrafficPolicy × endpoint pattern ([`Pattern`]) — has 180 combinations; a corpus
//! of `n` services holds a few fixed extras (headless, ExternalName, another proxy's
//! service, SCTP, many ports) and then `n - extras` combinations, spread over the product
//! (all 180 from n = 188 on). Port sets and session affinity vary with the index.
//! Everything is deterministic. objects.rs turns a service into API objects, edits.rs
//! changes the corpus between steps.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::support::topology::{NODE_NAME, pod_ip};
use crate::twin::{REMOTE_NODE, remote_pod_ip};

/// The namespace of the corpus.
pub const NS: &str = "diff";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    ClusterIp,
    /// ClusterIP with `externalIPs`.
    ExternalIps,
    NodePort,
    LoadBalancer,
    /// LoadBalancer with `allocateLoadBalancerNodePorts: false`.
    LoadBalancerNoNodePorts,
    /// `clusterIP: None`: neither proxy programs it.
    Headless,
    /// Neither proxy programs it.
    ExternalName,
}

pub const KINDS: [Kind; 5] = [
    Kind::ClusterIp,
    Kind::ExternalIps,
    Kind::NodePort,
    Kind::LoadBalancer,
    Kind::LoadBalancerNoNodePorts,
];

impl Kind {
    pub fn externally_accessible(self) -> bool {
        !matches!(self, Kind::ClusterIp | Kind::Headless | Kind::ExternalName)
    }

    pub fn is_load_balancer(self) -> bool {
        matches!(self, Kind::LoadBalancer | Kind::LoadBalancerNoNodePorts)
    }

    fn has_node_ports(self) -> bool {
        matches!(self, Kind::NodePort | Kind::LoadBalancer)
    }
}

/// Endpoint conditions as the EndpointSlice controller writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Ready,
    /// Not ready, not terminating (a pod failing its readiness probe).
    NotReady,
    /// Terminating but still serving (a deleted pod draining).
    TerminatingServing,
    /// Terminating and no longer serving.
    TerminatingNotServing,
}

/// A pod of the twins' topology: local (`pod-i`, this node) or remote (`remote-i`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pod {
    Local(usize),
    Remote(usize),
}

impl Pod {
    pub fn ip(self) -> Ipv4Addr {
        match self {
            Pod::Local(i) => pod_ip(i),
            Pod::Remote(i) => remote_pod_ip(i),
        }
    }

    pub fn node(self) -> &'static str {
        match self {
            Pod::Local(_) => NODE_NAME,
            Pod::Remote(_) => REMOTE_NODE,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceSpec {
    pub suffix: &'static str,
    pub endpoints: Vec<(Pod, Cond)>,
}

/// Which endpoints a service starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    NoSlice,
    EmptySlice,
    LocalReady,
    RemoteReady,
    Mixed,
    TerminatingOnly,
    /// Local endpoint terminating (serving), a remote one ready: Local policies fall back
    /// to the terminating one.
    LocalTerminatingRemoteReady,
    /// Nothing usable: not ready, and terminating without serving.
    NothingUsable,
    /// Two slices, one endpoint in both.
    TwoSlicesOverlapping,
}

pub const PATTERNS: [Pattern; 9] = [
    Pattern::NoSlice,
    Pattern::EmptySlice,
    Pattern::LocalReady,
    Pattern::RemoteReady,
    Pattern::Mixed,
    Pattern::TerminatingOnly,
    Pattern::LocalTerminatingRemoteReady,
    Pattern::NothingUsable,
    Pattern::TwoSlicesOverlapping,
];

impl Pattern {
    /// The slices of the pattern; `r` rotates which pods are used.
    pub fn slices(self, r: usize) -> Vec<SliceSpec> {
        use Cond::*;
        let l = |k: usize| Pod::Local((r + k) % 3);
        let rm = |k: usize| Pod::Remote((r + k) % 3);
        let one = |endpoints: Vec<(Pod, Cond)>| {
            vec![SliceSpec {
                suffix: "a",
                endpoints,
            }]
        };
        match self {
            Pattern::NoSlice => vec![],
            Pattern::EmptySlice => one(vec![]),
            Pattern::LocalReady => one(vec![(l(0), Ready), (l(1), Ready)]),
            Pattern::RemoteReady => one(vec![(rm(0), Ready), (rm(1), Ready)]),
            Pattern::Mixed => one(vec![(l(0), Ready), (rm(0), Ready), (rm(1), Ready)]),
            Pattern::TerminatingOnly => one(vec![
                (l(1), TerminatingServing),
                (rm(1), TerminatingServing),
                (rm(2), TerminatingNotServing),
            ]),
            Pattern::LocalTerminatingRemoteReady => {
                one(vec![(l(0), TerminatingServing), (rm(0), Ready)])
            }
            Pattern::NothingUsable => one(vec![(l(2), NotReady), (rm(2), TerminatingNotServing)]),
            Pattern::TwoSlicesOverlapping => vec![
                SliceSpec {
                    suffix: "a",
                    endpoints: vec![(l(0), Ready), (rm(0), Ready)],
                },
                SliceSpec {
                    suffix: "b",
                    endpoints: vec![(rm(0), Ready), (l(2), NotReady), (l(1), Ready)],
                },
            ],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn kubernetes(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// Empty for a single unnamed port.
    pub name: &'static str,
    pub port: u16,
    pub protocol: Protocol,
    /// The pods' port ([`crate::twin::TARGET_PORTS`]).
    pub target: u16,
}

const fn port(name: &'static str, port: u16, protocol: Protocol, target: u16) -> PortSpec {
    PortSpec {
        name,
        port,
        protocol,
        target,
    }
}

/// The port sets services rotate through.
const PORT_SETS: [&[PortSpec]; 5] = [
    &[port("", 80, Protocol::Tcp, 8080)],
    &[port("http", 80, Protocol::Tcp, 8080)],
    &[port("", 53, Protocol::Udp, 8081)],
    &[
        port("http", 80, Protocol::Tcp, 8080),
        port("dns", 53, Protocol::Udp, 8081),
    ],
    &[
        port("dns-tcp", 53, Protocol::Tcp, 8081),
        port("dns", 53, Protocol::Udp, 8081),
        port("metrics", 9153, Protocol::Tcp, 8080),
    ],
];

/// `sessionAffinity` choices: none (two thirds of the services), ClientIP with the
/// default timeout, ClientIP 60 s.
pub const AFFINITIES: [Option<Option<i32>>; 6] =
    [None, Some(None), None, None, Some(Some(60)), None];

/// One Service of the corpus, as it currently is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub index: usize,
    pub name: String,
    pub kind: Kind,
    pub etp_local: bool,
    pub itp_local: bool,
    /// `Some(timeout)` for ClientIP affinity (`None` inside: the default timeout).
    pub affinity: Option<Option<i32>>,
    pub ports: Vec<PortSpec>,
    pub slices: Vec<SliceSpec>,
    /// `service.kubernetes.io/service-proxy-name: other`: neither proxy may program it.
    pub other_proxy: bool,
    /// Whether it exists in the API server now.
    pub present: bool,
}

impl ServiceSpec {
    pub fn cluster_ip(&self) -> Option<Ipv4Addr> {
        match self.kind {
            Kind::Headless | Kind::ExternalName => None,
            _ => Some(Ipv4Addr::new(
                10,
                96,
                10 + (self.index / 200) as u8,
                (self.index % 200 + 1) as u8,
            )),
        }
    }

    pub fn external_ips(&self) -> Vec<Ipv4Addr> {
        let count = match self.kind {
            Kind::ExternalIps => 1 + self.index % 2,
            Kind::NodePort | Kind::LoadBalancer if self.index.is_multiple_of(3) => 1,
            _ => 0,
        };
        (0..count).map(|k| self.address(18, k)).collect()
    }

    pub fn load_balancer_ips(&self) -> Vec<Ipv4Addr> {
        if !self.kind.is_load_balancer() {
            return Vec::new();
        }
        (0..1 + self.index % 2)
            .map(|k| self.address(19, k))
            .collect()
    }

    /// `198.<block>.<…>.<…>`: unique per service and `k`.
    fn address(&self, block: u8, k: usize) -> Ipv4Addr {
        let i = self.index;
        Ipv4Addr::new(198, block, (k * 4 + i / 250) as u8, (i % 250 + 1) as u8)
    }

    /// The node port of port number `k`, when the kind has node ports.
    pub fn node_port(&self, k: usize) -> Option<u16> {
        self.kind
            .has_node_ports()
            .then(|| 30000 + (self.index * 5 + k) as u16)
    }

    pub fn health_check_node_port(&self) -> Option<u16> {
        (self.kind.is_load_balancer() && self.etp_local)
            .then(|| 30000 + (self.index * 5 + 4) as u16)
    }

    /// The endpoints' distinct pods: at most this many backends can answer.
    pub fn pods(&self) -> BTreeSet<Pod> {
        self.slices
            .iter()
            .flat_map(|s| s.endpoints.iter().map(|(p, _)| *p))
            .collect()
    }

    pub fn slice_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.name)
    }

    /// One line for reports.
    pub fn describe(&self) -> String {
        let ports: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("{}{}/{:?}", p.name, p.port, p.protocol))
            .collect();
        let slices: Vec<String> = self
            .slices
            .iter()
            .map(|s| format!("{}={:?}", s.suffix, s.endpoints))
            .collect();
        format!(
            "{} {:?} etp={} itp={} affinity={:?} ports=[{}] slices=[{}]{}{}",
            self.name,
            self.kind,
            if self.etp_local { "Local" } else { "Cluster" },
            if self.itp_local { "Local" } else { "Cluster" },
            self.affinity,
            ports.join(" "),
            slices.join(" "),
            if self.other_proxy { " other-proxy" } else { "" },
            if self.present { "" } else { " (deleted)" },
        )
    }
}

/// A base service: combination `combo` of the policy product, varied by `index`.
fn combination(index: usize, combo: usize) -> ServiceSpec {
    let kind = KINDS[combo % 5];
    let etp_local = (combo / 5) % 2 == 1;
    let itp_local = (combo / 10) % 2 == 1;
    let pattern = PATTERNS[(combo / 20) % 9];
    ServiceSpec {
        index,
        name: format!("s{index:03}"),
        kind,
        etp_local,
        itp_local,
        affinity: AFFINITIES[(index / 5) % AFFINITIES.len()],
        ports: PORT_SETS[index % 5].to_vec(),
        slices: pattern.slices(index % 3),
        other_proxy: false,
        present: true,
    }
}

/// The fixed extras every corpus starts with.
fn extras() -> Vec<ServiceSpec> {
    let sctp = port("sctp", 9000, Protocol::Sctp, 8080);
    let mixed = Pattern::Mixed.slices(0);
    let base = |index: usize, kind: Kind| ServiceSpec {
        index,
        name: format!("s{index:03}"),
        kind,
        etp_local: false,
        itp_local: false,
        affinity: None,
        ports: PORT_SETS[1].to_vec(),
        slices: mixed.clone(),
        other_proxy: false,
        present: true,
    };
    vec![
        base(0, Kind::Headless),
        base(1, Kind::ExternalName),
        ServiceSpec {
            other_proxy: true,
            ..base(2, Kind::NodePort)
        },
        ServiceSpec {
            ports: vec![sctp],
            ..base(3, Kind::ClusterIp)
        },
        ServiceSpec {
            ports: vec![port("http", 80, Protocol::Tcp, 8080), sctp],
            etp_local: true,
            affinity: Some(None),
            ..base(4, Kind::LoadBalancer)
        },
        ServiceSpec {
            // Four ports, two protocols, every pod as an endpoint.
            ports: [&PORT_SETS[3][..1], PORT_SETS[4]].concat(),
            slices: vec![SliceSpec {
                suffix: "a",
                endpoints: (0..3)
                    .flat_map(|i| [(Pod::Local(i), Cond::Ready), (Pod::Remote(i), Cond::Ready)])
                    .collect(),
            }],
            ..base(5, Kind::NodePort)
        },
    ]
}

/// The policy product's size.
pub const COMBINATIONS: usize = 5 * 2 * 2 * 9;

/// A corpus of `n` services (at least the extras).
pub fn generate(n: usize) -> Vec<ServiceSpec> {
    let mut corpus = extras();
    let first = corpus.len();
    let wanted = n.saturating_sub(first);
    for j in 0..wanted {
        // 47 is prime to 180: the first 180 cover the product, spread over it.
        let combo = (j * 47) % COMBINATIONS;
        corpus.push(combination(first + j, combo));
    }
    corpus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_hundred_services_cover_the_policy_product() {
        let base = 200 - extras().len();
        let combos: BTreeSet<usize> = (0..base).map(|j| (j * 47) % COMBINATIONS).collect();
        assert_eq!(combos.len(), COMBINATIONS);
    }

    #[test]
    fn node_ports_are_unique() {
        let corpus = generate(500);
        let mut seen = BTreeSet::new();
        for svc in &corpus {
            for k in 0..svc.ports.len() {
                assert!(svc.node_port(k).is_none_or(|p| seen.insert(p)));
            }
            assert!(svc.health_check_node_port().is_none_or(|p| seen.insert(p)));
            assert!(svc.node_port(4).is_none_or(|p| p <= 32767));
        }
    }
}
