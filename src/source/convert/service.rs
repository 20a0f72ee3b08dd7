//! Service → [`model::Service`].

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use k8s_openapi::api::core::v1 as core;

use super::source_ranges::source_ranges;
use super::{
    AddressField, NameRule, ObjectError, names, ordinary_address, port_label, port_name,
    port_number, protocol,
};
use crate::model::{self, ServiceName, ServicePort, TrafficPolicy};

/// Kubernetes' default `sessionAffinityConfig.clientIP.timeoutSeconds` (3 hours).
const DEFAULT_AFFINITY_TIMEOUT_SECS: i32 = 10800;
/// Kubernetes' upper bound for that timeout (one day).
const MAX_AFFINITY_TIMEOUT_SECS: i32 = 86400;

/// Validates a Service. `Ok(None)` for services kproxy does not proxy: ExternalName,
/// headless, and those without an IPv4 cluster IP.
/// A value left out of an otherwise valid service (a source range that is no CIDR) goes to
/// `dropped`, for the source to log and count.
pub fn service(
    obj: &core::Service,
    dropped: &mut Vec<ObjectError>,
) -> Result<Option<model::Service>, ObjectError> {
    let (namespace, name) = names(&obj.metadata, NameRule::Dns1123Label)?;
    let name = ServiceName::new(namespace, name);
    let default_spec = core::ServiceSpec::default();
    let spec = obj.spec.as_ref().unwrap_or(&default_spec);

    match spec.type_.as_deref() {
        None | Some("ClusterIP" | "NodePort" | "LoadBalancer") => {}
        Some("ExternalName") => {
            tracing::debug!(service = %name, "ignoring ExternalName service");
            return Ok(None);
        }
        Some(other) => return Err(ObjectError::InvalidServiceType(other.to_string())),
    }
    let Some(cluster_ip) = cluster_ip(spec, &name)? else {
        return Ok(None);
    };

    let ports = ports(spec.ports.as_deref().unwrap_or_default())?;
    let session_affinity = session_affinity(spec)?;
    let external_traffic_policy = traffic_policy(
        "externalTrafficPolicy",
        spec.external_traffic_policy.as_deref(),
    )?;
    let internal_traffic_policy = traffic_policy(
        "internalTrafficPolicy",
        spec.internal_traffic_policy.as_deref(),
    )?;
    let external_ips = ipv4_only(
        spec.external_ips.iter().flatten().map(String::as_str),
        AddressField::ExternalIp,
        ObjectError::InvalidExternalIp,
    )?;
    let load_balancer_ips = ipv4_only(
        obj.status
            .iter()
            .filter_map(|s| s.load_balancer.as_ref())
            .flat_map(|lb| lb.ingress.iter().flatten())
            // `ipMode: Proxy` (KEP-1860): the load balancer proxies to the nodes, so its IP
            // is not short-circuited on them (kube-proxy's `IsVIPMode`); VIP and unset are.
            .filter(|ingress| ingress.ip_mode.as_deref() != Some("Proxy"))
            .filter_map(|ingress| ingress.ip.as_deref()),
        AddressField::LoadBalancerIp,
        ObjectError::InvalidLoadBalancerIp,
    )?;
    let load_balancer_source_ranges = source_ranges(
        spec.load_balancer_source_ranges
            .as_deref()
            .unwrap_or_default(),
        dropped,
    );
    let annotations = obj
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(key, _)| model::is_kproxy_annotation(key))
        .map(|(key, value)| (key.clone(), value.trim().to_string()))
        .filter(|(_, value)| !value.is_empty())
        .collect();

    let health_check_node_port = health_check_node_port(spec, external_traffic_policy);

    let created = obj
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| std::time::SystemTime::from(t.0));
    let svc = model::Service {
        name,
        created,
        cluster_ip,
        ports,
        session_affinity,
        external_traffic_policy,
        internal_traffic_policy,
        external_ips,
        load_balancer_ips,
        load_balancer_source_ranges,
        health_check_node_port,
        annotations,
    };
    // externalTrafficPolicy is reported as given: the model's port view decides, once, that
    // it means nothing on a port without external destinations (`PortView`).
    Ok(Some(svc))
}

/// The service's IPv4 cluster IP: the first IPv4 entry of `clusterIPs` (dual-stack services
/// list both families), else `clusterIP`. `None` for headless and IPv6-only services.
fn cluster_ip(
    spec: &core::ServiceSpec,
    name: &ServiceName,
) -> Result<Option<Ipv4Addr>, ObjectError> {
    let listed: Vec<&str> = match spec.cluster_ips.as_deref() {
        Some(ips) if !ips.is_empty() => ips.iter().map(String::as_str).collect(),
        _ => spec.cluster_ip.as_deref().into_iter().collect(),
    };
    match listed.first() {
        None | Some(&"" | &"None") => {
            tracing::debug!(service = %name, "ignoring headless service");
            return Ok(None);
        }
        Some(_) => {}
    }
    let mut v4 = None;
    for raw in listed {
        match raw.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => {
                v4.get_or_insert(ip);
            }
            Ok(IpAddr::V6(_)) => {}
            Err(_) => return Err(ObjectError::InvalidClusterIp(raw.to_string())),
        }
    }
    match v4 {
        Some(ip) => ordinary_address(AddressField::ClusterIp, ip).map(Some),
        None => {
            tracing::debug!(service = %name, "ignoring service without an IPv4 cluster IP");
            Ok(None)
        }
    }
}

fn ports(raw: &[core::ServicePort]) -> Result<Vec<ServicePort>, ObjectError> {
    let mut seen = HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(index, p)| {
            let name = p.name.clone().unwrap_or_default();
            let label = port_label(index, &name);
            port_name(&name, &label)?;
            if !seen.insert(name.clone()) {
                return Err(ObjectError::DuplicatePortName(name));
            }
            let port = port_number(p.port).ok_or_else(|| ObjectError::InvalidPort {
                port: label.clone(),
                value: p.port,
            })?;
            let protocol = protocol(p.protocol.as_deref(), &label)?;
            let node_port = p
                .node_port
                .map(|np| {
                    port_number(np).ok_or(ObjectError::InvalidNodePort {
                        port: label.clone(),
                        value: np,
                    })
                })
                .transpose()?;
            Ok(ServicePort {
                name,
                port,
                protocol,
                node_port,
            })
        })
        .collect()
}

fn session_affinity(spec: &core::ServiceSpec) -> Result<Option<Duration>, ObjectError> {
    match spec.session_affinity.as_deref() {
        None | Some("" | "None") => Ok(None),
        Some("ClientIP") => {
            let secs = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .unwrap_or(DEFAULT_AFFINITY_TIMEOUT_SECS);
            if !(1..=MAX_AFFINITY_TIMEOUT_SECS).contains(&secs) {
                return Err(ObjectError::InvalidAffinityTimeout(secs));
            }
            Ok(Some(Duration::from_secs(secs.unsigned_abs().into())))
        }
        Some(other) => Err(ObjectError::InvalidSessionAffinity(other.to_string())),
    }
}

/// `spec.healthCheckNodePort`, for the services kube-proxy serves one for (its
/// `NeedsHealthCheck`: type LoadBalancer with `externalTrafficPolicy: Local`). Elsewhere the
/// field is ignored, as kube-proxy ignores it (the API server refuses it there anyway). A
/// missing or out-of-range value does not reject the service: only its health check is
/// skipped (logged once and counted by [`crate::health_check`]).
fn health_check_node_port(
    spec: &core::ServiceSpec,
    external_traffic_policy: TrafficPolicy,
) -> Option<model::HealthCheckNodePort> {
    (spec.type_.as_deref() == Some("LoadBalancer")
        && external_traffic_policy == TrafficPolicy::Local)
        .then(|| model::HealthCheckNodePort::from_spec(spec.health_check_node_port))
}

fn traffic_policy(field: &'static str, raw: Option<&str>) -> Result<TrafficPolicy, ObjectError> {
    match raw {
        None | Some("" | "Cluster") => Ok(TrafficPolicy::Cluster),
        Some("Local") => Ok(TrafficPolicy::Local),
        Some(other) => Err(ObjectError::InvalidTrafficPolicy {
            field,
            value: other.to_string(),
        }),
    }
}

/// Parses addresses, keeping the IPv4 ones: kproxy proxies IPv4 only, so IPv6 entries of a
/// dual-stack service are someone else's business, not an error. An address the API
/// server refuses in `field` rejects the service.
fn ipv4_only<'a>(
    raw: impl Iterator<Item = &'a str>,
    field: AddressField,
    invalid: fn(String) -> ObjectError,
) -> Result<Vec<Ipv4Addr>, ObjectError> {
    let mut out = Vec::new();
    for s in raw {
        match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => out.push(ordinary_address(field, ip)?),
            Ok(IpAddr::V6(_)) => {}
            Err(_) => return Err(invalid(s.to_string())),
        }
    }
    Ok(out)
}
