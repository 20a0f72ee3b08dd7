use std::fmt;
use std::net::Ipv4Addr;
use std::time::SystemTime;

use super::{Protocol, ServiceName};

/// `namespace/name` of an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SliceName {
    pub namespace: String,
    pub name: String,
}

impl SliceName {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for SliceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// EndpointSlice conditions after Kubernetes' defaulting: an absent `ready` is true, an
/// absent `serving` follows `ready`, an absent `terminating` is false.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conditions {
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

impl Conditions {
    pub const READY: Self = Self {
        ready: true,
        serving: true,
        terminating: false,
    };
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointPort {
    /// Matches the service port of the same name; empty for an unnamed port.
    pub name: String,
    pub port: u16,
    pub protocol: Protocol,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub conditions: Conditions,
    pub node_name: Option<String>,
    pub zone: Option<String>,
}

/// A validated IPv4 EndpointSlice of the service named by its `kubernetes.io/service-name` label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSlice {
    pub name: SliceName,
    pub service: ServiceName,
    pub ports: Vec<EndpointPort>,
    pub endpoints: Vec<Endpoint>,
    /// `endpoints.kubernetes.io/last-change-trigger-time`, for the network programming latency metric.
    pub trigger_time: Option<SystemTime>,
}

/// One endpoint of one service port, merged from all the service's slices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceEndpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    /// Whether the endpoint's `nodeName` is this node.
    pub is_local: bool,
}

impl fmt::Display for ServiceEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}
