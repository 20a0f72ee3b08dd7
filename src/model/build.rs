//! Terse constructors for tests, benchmarks and examples.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::{
    Conditions, Endpoint, EndpointPort, EndpointSlice, Protocol, Service, ServiceName, ServicePort,
    SliceName, TrafficPolicy,
};

impl Service {
    /// A ClusterIP service with no ports yet.
    pub fn new(namespace: &str, name: &str, cluster_ip: Ipv4Addr) -> Self {
        Self {
            name: ServiceName::new(namespace, name),
            created: None,
            cluster_ip,
            ports: Vec::new(),
            session_affinity: None,
            external_traffic_policy: TrafficPolicy::Cluster,
            internal_traffic_policy: TrafficPolicy::Cluster,
            external_ips: Vec::new(),
            load_balancer_ips: Vec::new(),
            load_balancer_source_ranges: Vec::new(),
            health_check_node_port: None,
            annotations: BTreeMap::new(),
        }
    }

    pub fn with_port(
        mut self,
        name: &str,
        port: u16,
        protocol: Protocol,
        node_port: Option<u16>,
    ) -> Self {
        self.ports.push(ServicePort {
            name: name.to_string(),
            port,
            protocol,
            node_port,
        });
        self
    }
}

impl EndpointSlice {
    /// A slice of `service` with no ports or endpoints yet.
    pub fn new(service: &ServiceName, slice_name: &str) -> Self {
        Self {
            name: SliceName::new(service.namespace.clone(), slice_name),
            service: service.clone(),
            ports: Vec::new(),
            endpoints: Vec::new(),
            trigger_time: None,
        }
    }

    pub fn with_port(mut self, name: &str, port: u16, protocol: Protocol) -> Self {
        self.ports.push(EndpointPort {
            name: name.to_string(),
            port,
            protocol,
        });
        self
    }

    pub fn with_endpoint(
        mut self,
        ip: Ipv4Addr,
        node_name: Option<&str>,
        conditions: Conditions,
    ) -> Self {
        self.endpoints.push(Endpoint {
            ip,
            conditions,
            node_name: node_name.map(str::to_string),
            zone: None,
            zone_hints: Vec::new(),
            node_hints: Vec::new(),
        });
        self
    }
}
