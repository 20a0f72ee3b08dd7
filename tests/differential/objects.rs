//! A corpus service as the API server holds it: its Service (spec, and the status a
//! load-balancer controller would write) and its EndpointSlices.

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::corpus::{Cond, Kind, NS, ServiceSpec, SliceSpec};

impl ServiceSpec {
    /// The Service object, its status (load-balancer ingress) included; the spec and the
    /// status are applied separately (`Admin::apply`, `Admin::apply_status`).
    pub fn object(&self) -> core::Service {
        let mut labels = std::collections::BTreeMap::new();
        if self.other_proxy {
            labels.insert(
                "service.kubernetes.io/service-proxy-name".to_string(),
                "other".to_string(),
            );
        }
        let ports = self
            .ports
            .iter()
            .enumerate()
            .map(|(k, p)| core::ServicePort {
                name: (!p.name.is_empty()).then(|| p.name.to_string()),
                port: i32::from(p.port),
                protocol: Some(p.protocol.kubernetes().into()),
                target_port: Some(IntOrString::Int(i32::from(p.target))),
                node_port: self.node_port(k).map(i32::from),
                ..Default::default()
            })
            .collect();
        let mut spec = core::ServiceSpec {
            ports: Some(ports),
            internal_traffic_policy: Some(if self.itp_local { "Local" } else { "Cluster" }.into()),
            ..Default::default()
        };
        match self.kind {
            Kind::ExternalName => {
                spec.type_ = Some("ExternalName".into());
                spec.external_name = Some("example.com".into());
                spec.internal_traffic_policy = None;
            }
            Kind::Headless => spec.cluster_ip = Some("None".into()),
            _ => {
                let ip = self.cluster_ip().expect("a cluster IP").to_string();
                spec.cluster_ip = Some(ip.clone());
                spec.cluster_ips = Some(vec![ip]);
                spec.type_ = Some(
                    match self.kind {
                        Kind::NodePort => "NodePort",
                        Kind::LoadBalancer | Kind::LoadBalancerNoNodePorts => "LoadBalancer",
                        _ => "ClusterIP",
                    }
                    .into(),
                );
            }
        }
        if self.kind == Kind::LoadBalancerNoNodePorts {
            spec.allocate_load_balancer_node_ports = Some(false);
        }
        let external = self.external_ips();
        if !external.is_empty() {
            spec.external_ips = Some(external.iter().map(Ipv4Addr::to_string).collect());
        }
        if self.kind.externally_accessible() {
            spec.external_traffic_policy =
                Some(if self.etp_local { "Local" } else { "Cluster" }.into());
        }
        spec.health_check_node_port = self.health_check_node_port().map(i32::from);
        if let Some(timeout) = self.affinity {
            spec.session_affinity = Some("ClientIP".into());
            spec.session_affinity_config = timeout.map(|t| core::SessionAffinityConfig {
                client_ip: Some(core::ClientIPConfig {
                    timeout_seconds: Some(t),
                }),
            });
        } else {
            spec.session_affinity = Some("None".into());
        }
        core::Service {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(NS.into()),
                labels: (!labels.is_empty()).then_some(labels),
                ..Default::default()
            },
            spec: Some(spec),
            status: Some(self.status()),
        }
    }

    /// The status a load-balancer controller would write: the ingress IPs (none for other
    /// kinds, which clears what an earlier LoadBalancer kind had).
    pub fn status(&self) -> core::ServiceStatus {
        let ingress = self
            .load_balancer_ips()
            .iter()
            .map(|ip| core::LoadBalancerIngress {
                ip: Some(ip.to_string()),
                ..Default::default()
            })
            .collect();
        core::ServiceStatus {
            load_balancer: Some(core::LoadBalancerStatus {
                ingress: Some(ingress),
            }),
            ..Default::default()
        }
    }

    /// The EndpointSlice objects.
    pub fn slice_objects(&self) -> Vec<discovery::EndpointSlice> {
        self.slices.iter().map(|s| self.slice_object(s)).collect()
    }

    fn slice_object(&self, slice: &SliceSpec) -> discovery::EndpointSlice {
        let ports = self
            .ports
            .iter()
            .map(|p| discovery::EndpointPort {
                name: Some(p.name.to_string()),
                port: Some(i32::from(p.target)),
                protocol: Some(p.protocol.kubernetes().into()),
                ..Default::default()
            })
            .collect();
        let endpoints = slice
            .endpoints
            .iter()
            .map(|(pod, cond)| {
                let (ready, serving, terminating) = match cond {
                    Cond::Ready => (true, true, false),
                    Cond::NotReady => (false, false, false),
                    Cond::TerminatingServing => (false, true, true),
                    Cond::TerminatingNotServing => (false, false, true),
                };
                discovery::Endpoint {
                    addresses: vec![pod.ip().to_string()],
                    conditions: Some(discovery::EndpointConditions {
                        ready: Some(ready),
                        serving: Some(serving),
                        terminating: Some(terminating),
                    }),
                    node_name: Some(pod.node().into()),
                    ..Default::default()
                }
            })
            .collect();
        discovery::EndpointSlice {
            metadata: ObjectMeta {
                name: Some(self.slice_name(slice.suffix)),
                namespace: Some(NS.into()),
                labels: Some(
                    [("kubernetes.io/service-name".to_string(), self.name.clone())].into(),
                ),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            ports: Some(ports),
            endpoints,
        }
    }
}
