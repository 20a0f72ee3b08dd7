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
    /// `hints.forZones[].name`: the zones whose nodes should use this endpoint.
    pub zone_hints: Vec<String>,
    /// `hints.forNodes[].name`: the nodes that should use it (`PreferSameNode`).
    pub node_hints: Vec<String>,
}

/// How one topology hint of an endpoint relates to this node (its zone or its name).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hint {
    /// The endpoint has no such hints.
    #[default]
    None,
    /// Hinted for this node's zone (or for this node).
    Here,
    /// Hinted, for others only.
    Elsewhere,
}

impl Hint {
    /// From an endpoint's hint list and this node's zone or name (`None`: unknown, which
    /// no hint names).
    pub fn of(hints: &[String], this: Option<&str>) -> Self {
        if hints.is_empty() {
            Self::None
        } else if this.is_some_and(|t| hints.iter().any(|h| h == t)) {
            Self::Here
        } else {
            Self::Elsewhere
        }
    }
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
    /// Its `hints.forZones` against this node's zone.
    pub zone_hint: Hint,
    /// Its `hints.forNodes` against this node's name.
    pub node_hint: Hint,
}

impl fmt::Display for ServiceEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}
