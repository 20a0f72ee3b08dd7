//! Terse k8s-openapi objects for tests and benchmarks against the test API server.

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;

fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        ..ObjectMeta::default()
    }
}

/// A ClusterIP Service; `ports` are `(name, port, protocol)`, target port = port.
pub fn service(
    namespace: &str,
    name: &str,
    cluster_ip: &str,
    ports: &[(&str, i32, &str)],
) -> core::Service {
    core::Service {
        metadata: meta(Some(namespace), name),
        spec: Some(core::ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: Some(cluster_ip.into()),
            cluster_ips: Some(vec![cluster_ip.into()]),
            ports: Some(
                ports
                    .iter()
                    .map(|&(port_name, port, protocol)| core::ServicePort {
                        name: (!port_name.is_empty()).then(|| port_name.to_string()),
                        port,
                        protocol: Some(protocol.into()),
                        ..core::ServicePort::default()
                    })
                    .collect(),
            ),
            ..core::ServiceSpec::default()
        }),
        ..core::Service::default()
    }
}

/// An IPv4 EndpointSlice of `service` with one port `(name, port, protocol)` and ready
/// endpoints `(address, node name)`.
pub fn slice(
    namespace: &str,
    name: &str,
    service: &str,
    port: (&str, i32, &str),
    endpoints: &[(&str, Option<&str>)],
) -> discovery::EndpointSlice {
    let mut metadata = meta(Some(namespace), name);
    metadata.labels = Some(
        [(
            "kubernetes.io/service-name".to_string(),
            service.to_string(),
        )]
        .into(),
    );
    discovery::EndpointSlice {
        metadata,
        address_type: "IPv4".into(),
        ports: Some(vec![discovery::EndpointPort {
            name: Some(port.0.to_string()),
            port: Some(port.1),
            protocol: Some(port.2.into()),
            ..discovery::EndpointPort::default()
        }]),
        endpoints: endpoints
            .iter()
            .map(|&(address, node)| discovery::Endpoint {
                addresses: vec![address.into()],
                conditions: Some(discovery::EndpointConditions {
                    ready: Some(true),
                    serving: Some(true),
                    terminating: Some(false),
                }),
                node_name: node.map(str::to_string),
                ..discovery::Endpoint::default()
            })
            .collect(),
    }
}

/// A Node with an optional `topology.kubernetes.io/zone` label and `(type, address)` addresses.
pub fn node(name: &str, zone: Option<&str>, addresses: &[(&str, &str)]) -> core::Node {
    let mut metadata = meta(None, name);
    metadata.labels =
        zone.map(|z| [("topology.kubernetes.io/zone".to_string(), z.to_string())].into());
    core::Node {
        metadata,
        status: Some(core::NodeStatus {
            addresses: Some(
                addresses
                    .iter()
                    .map(|&(type_, address)| core::NodeAddress {
                        type_: type_.into(),
                        address: address.into(),
                    })
                    .collect(),
            ),
            ..core::NodeStatus::default()
        }),
        ..core::Node::default()
    }
}

/// `obj` with one more label.
pub fn with_label<T: Resource>(mut obj: T, key: &str, value: &str) -> T {
    obj.meta_mut()
        .labels
        .get_or_insert_default()
        .insert(key.to_string(), value.to_string());
    obj
}
