use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

use ipnet::Ipv4Net;

/// Transport protocol of a service port, as the kernel's rules name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// Parses Kubernetes' spelling (`TCP`, `UDP`, `SCTP`).
    pub fn from_kubernetes(s: &str) -> Option<Self> {
        match s {
            "TCP" => Some(Self::Tcp),
            "UDP" => Some(Self::Udp),
            "SCTP" => Some(Self::Sctp),
            _ => None,
        }
    }

    /// Lower-case name used by iptables (`-p tcp`) and ipvsadm.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `namespace/name` of a Service.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName {
    pub namespace: String,
    pub name: String,
}

impl ServiceName {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One port of one service: kube-proxy's unit of load balancing and of rule comments.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServicePortName {
    pub service: ServiceName,
    /// The port's name; empty for a single unnamed port.
    pub port: String,
    pub protocol: Protocol,
}

impl fmt::Display for ServicePortName {
    /// `ns/name:port`, or `ns/name` for an unnamed port, as kube-proxy's comments.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port.is_empty() {
            write!(f, "{}", self.service)
        } else {
            write!(f, "{}:{}", self.service, self.port)
        }
    }
}

/// `externalTrafficPolicy` / `internalTrafficPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    Local,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServicePort {
    /// Port name, empty when the service has one unnamed port.
    pub name: String,
    pub port: u16,
    pub protocol: Protocol,
    pub node_port: Option<u16>,
}

/// A validated, IPv4, non-headless, non-ExternalName Service.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Service {
    pub name: ServiceName,
    /// `metadata.creationTimestamp`: who keeps an address two services claim (`claims`).
    pub created: Option<SystemTime>,
    pub cluster_ip: Ipv4Addr,
    pub ports: Vec<ServicePort>,
    /// `sessionAffinity: ClientIP` with its `timeoutSeconds`; `None` for no affinity.
    pub session_affinity: Option<Duration>,
    pub external_traffic_policy: TrafficPolicy,
    pub internal_traffic_policy: TrafficPolicy,
    pub external_ips: Vec<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// `spec.loadBalancerSourceRanges`, IPv4 ones, host bits cleared: the only clients the
    /// load-balancer IPs accept. Empty for everyone (a `/0` among them also means everyone,
    /// as in kube-proxy).
    pub load_balancer_source_ranges: Vec<Ipv4Net>,
    /// `spec.healthCheckNodePort` of a service kube-proxy serves a health check for (type
    /// LoadBalancer with `externalTrafficPolicy: Local`); `None` for every other service,
    /// whose field kube-proxy ignores, as kproxy does.
    pub health_check_node_port: Option<HealthCheckNodePort>,
    /// The service's annotations under kproxy's own domain ([`is_kproxy_annotation`]),
    /// values trimmed, unvalidated: the backend that reads one knows what it means (the IPVS
    /// backend reads `ipvs.kproxy.dev/scheduler`). Other annotations are not kept: a
    /// `last-applied-configuration` can be as large as the object.
    pub annotations: BTreeMap<String, String>,
}

/// `spec.healthCheckNodePort` of a service that needs one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HealthCheckNodePort {
    Port(u16),
    /// Missing (0) or out of range, as the object gives it: the service keeps working
    /// without a health check, and [`crate::health_check`] logs it once (kube-proxy logs
    /// "Service has no healthcheck nodeport" on every sync).
    Invalid(i32),
}

impl HealthCheckNodePort {
    /// From the object's value: a port in 1..=65535, else [`HealthCheckNodePort::Invalid`].
    pub fn from_spec(raw: Option<i32>) -> Self {
        let raw = raw.unwrap_or(0);
        match u16::try_from(raw) {
            Ok(port) if port != 0 => Self::Port(port),
            _ => Self::Invalid(raw),
        }
    }

    pub fn port(self) -> Option<u16> {
        match self {
            Self::Port(port) => Some(port),
            Self::Invalid(_) => None,
        }
    }
}

/// Whether an annotation key is kproxy's (its prefix is `kproxy.dev` or a subdomain of it),
/// and so is kept in [`Service::annotations`].
pub fn is_kproxy_annotation(key: &str) -> bool {
    key.split_once('/')
        .is_some_and(|(prefix, _)| prefix == "kproxy.dev" || prefix.ends_with(".kproxy.dev"))
}

impl Service {
    pub fn port_name(&self, port: &ServicePort) -> ServicePortName {
        ServicePortName {
            service: self.name.clone(),
            port: port.name.clone(),
            protocol: port.protocol,
        }
    }

    /// Whether the port is reachable from outside the cluster (NodePort, external or
    /// load-balancer IPs), which is where `externalTrafficPolicy` applies (kube-proxy's
    /// `ExternallyAccessible`).
    pub fn has_external_destinations(&self, port: &ServicePort) -> bool {
        port.node_port().is_some()
            || !self.external_ips.is_empty()
            || !self.load_balancer_ips.is_empty()
    }

    /// The health-check node port to serve and let in, when the service has a valid one.
    pub fn health_check_port(&self) -> Option<u16> {
        self.health_check_node_port
            .and_then(HealthCheckNodePort::port)
    }

    /// The ports that get rules, in the service's order: a port repeating an earlier one's
    /// name and protocol is the same port to the endpoint merge, so it is skipped (the API
    /// server refuses such a service; the compilers must still never emit a chain twice).
    pub fn distinct_ports(&self) -> impl Iterator<Item = &ServicePort> {
        self.ports.iter().enumerate().filter_map(|(i, port)| {
            let repeated = self.ports[..i]
                .iter()
                .any(|p| p.name == port.name && p.protocol == port.protocol);
            (!repeated).then_some(port)
        })
    }
}

impl ServicePort {
    /// The node port, if any (0 means none).
    pub fn node_port(&self) -> Option<u16> {
        self.node_port.filter(|&p| p != 0)
    }
}
