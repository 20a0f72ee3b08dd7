use thiserror::Error;

use std::net::Ipv4Addr;

use super::address::{AddressField, SpecialAddress};
use super::names::NameRule;

/// Why an object was rejected. None is retryable: the object is skipped until it changes.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ObjectError {
    #[error("metadata.name is missing")]
    MissingName,
    #[error("metadata.name {value:?} is not {rule}")]
    InvalidName { value: String, rule: NameRule },
    #[error("metadata.namespace {0:?} is not {rule}", rule = NameRule::Dns1123Label)]
    InvalidNamespace(String),
    #[error("spec.clusterIP {0:?} is not an IP address")]
    InvalidClusterIp(String),
    #[error("spec.type {0:?} is not ClusterIP, NodePort, LoadBalancer or ExternalName")]
    InvalidServiceType(String),
    #[error("{port}: port {value} is not in 1..=65535")]
    InvalidPort { port: String, value: i32 },
    #[error("{port}: nodePort {value} is not in 1..=65535")]
    InvalidNodePort { port: String, value: i32 },
    #[error("{port}: unknown protocol {protocol:?} (expected TCP, UDP or SCTP)")]
    UnknownProtocol { port: String, protocol: String },
    #[error("port name {0:?} is used by more than one port")]
    DuplicatePortName(String),
    #[error("spec.sessionAffinity {0:?} is not None or ClientIP")]
    InvalidSessionAffinity(String),
    #[error("spec.sessionAffinityConfig.clientIP.timeoutSeconds {0} is not in 1..=86400")]
    InvalidAffinityTimeout(i32),
    #[error("spec.{field} {value:?} is not Cluster or Local")]
    InvalidTrafficPolicy { field: &'static str, value: String },
    #[error("spec.externalIPs: {0:?} is not an IP address")]
    InvalidExternalIp(String),
    #[error("status.loadBalancer.ingress: {0:?} is not an IP address")]
    InvalidLoadBalancerIp(String),
    #[error("spec.loadBalancerSourceRanges {0:?} is not a CIDR")]
    InvalidSourceRange(String),
    #[error("label kubernetes.io/service-name is missing")]
    MissingServiceName,
    #[error("label kubernetes.io/service-name {0:?} is not {rule}", rule = NameRule::LabelValue)]
    InvalidServiceName(String),
    #[error("{port}: the name is not {rule}", rule = NameRule::Dns1123Label)]
    InvalidPortName { port: String },
    #[error("addressType {0:?} is not IPv4, IPv6 or FQDN")]
    InvalidAddressType(String),
    #[error("endpoints[{index}]: {address:?} is not an IPv4 address")]
    InvalidAddress { index: usize, address: String },
    #[error("endpoints[{index}] has no addresses")]
    MissingAddress { index: usize },
    #[error("{field}: {address} is {kind}, which the API server refuses")]
    SpecialAddress {
        field: AddressField,
        address: Ipv4Addr,
        kind: SpecialAddress,
    },
}

impl ObjectError {
    /// Short label for the `kproxy_rejected_objects_total{reason}` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingName => "missing_name",
            Self::InvalidName { .. } => "invalid_name",
            Self::InvalidNamespace(_) => "invalid_namespace",
            Self::InvalidClusterIp(_) => "invalid_cluster_ip",
            Self::InvalidServiceType(_) => "invalid_service_type",
            Self::InvalidPort { .. } => "invalid_port",
            Self::InvalidNodePort { .. } => "invalid_node_port",
            Self::UnknownProtocol { .. } => "unknown_protocol",
            Self::DuplicatePortName(_) => "duplicate_port_name",
            Self::InvalidSessionAffinity(_) => "invalid_session_affinity",
            Self::InvalidAffinityTimeout(_) => "invalid_session_affinity",
            Self::InvalidTrafficPolicy { .. } => "invalid_traffic_policy",
            Self::InvalidExternalIp(_) => "invalid_external_ip",
            Self::InvalidLoadBalancerIp(_) => "invalid_load_balancer_ip",
            Self::InvalidSourceRange(_) => "invalid_load_balancer_source_range",
            Self::MissingServiceName => "missing_service_name",
            Self::InvalidServiceName(_) => "invalid_service_name",
            Self::InvalidPortName { .. } => "invalid_port_name",
            Self::InvalidAddressType(_) => "invalid_address_type",
            Self::InvalidAddress { .. } | Self::MissingAddress { .. } => "invalid_address",
            Self::SpecialAddress { field, .. } => field.reason(),
        }
    }
}
