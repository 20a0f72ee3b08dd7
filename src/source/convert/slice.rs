//! EndpointSlice → [`model::EndpointSlice`].

use std::collections::HashSet;
use std::time::SystemTime;

use k8s_openapi::api::discovery::v1 as discovery;

use super::{
    AddressField, NameRule, ObjectError, names, ordinary_address, port_label, port_name,
    port_number, protocol,
};
use crate::model::{self, Conditions, Endpoint, EndpointPort, ServiceName, SliceName};

/// Label naming the Service an EndpointSlice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// When the change that produced this slice happened (RFC 3339), for the latency metric.
pub const TRIGGER_TIME_ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// Validates an EndpointSlice. `Ok(None)` for IPv6 and FQDN slices, which kproxy does not use.
/// An endpoint whose address the API server refuses (loopback, link-local …) is left out
/// and its error pushed to `dropped`, for the caller to log and count; the rest are kept.
pub fn endpoint_slice(
    obj: &discovery::EndpointSlice,
    dropped: &mut Vec<ObjectError>,
) -> Result<Option<model::EndpointSlice>, ObjectError> {
    let (namespace, name) = names(&obj.metadata, NameRule::Dns1123Subdomain)?;
    let name = SliceName::new(namespace, name);
    match obj.address_type.as_str() {
        "IPv4" => {}
        "IPv6" | "FQDN" => {
            tracing::debug!(slice = %name, address_type = %obj.address_type, "ignoring non-IPv4 EndpointSlice");
            return Ok(None);
        }
        other => return Err(ObjectError::InvalidAddressType(other.to_string())),
    }
    let service = obj
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .filter(|s| !s.is_empty())
        .ok_or(ObjectError::MissingServiceName)?;
    if !NameRule::LabelValue.allows(service) {
        return Err(ObjectError::InvalidServiceName(service.clone()));
    }
    let service = ServiceName::new(name.namespace.clone(), service.clone());
    let ports = ports(obj.ports.as_deref().unwrap_or_default())?;
    let mut endpoints = Vec::with_capacity(obj.endpoints.len());
    for (index, ep) in obj.endpoints.iter().enumerate() {
        match endpoint(index, ep) {
            Ok(ep) => endpoints.push(ep),
            Err(e @ ObjectError::SpecialAddress { .. }) => dropped.push(e),
            Err(e) => return Err(e),
        }
    }
    let trigger_time = trigger_time(obj, &name);
    Ok(Some(model::EndpointSlice {
        name,
        service,
        ports,
        endpoints,
        trigger_time,
    }))
}

fn ports(raw: &[discovery::EndpointPort]) -> Result<Vec<EndpointPort>, ObjectError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (index, p) in raw.iter().enumerate() {
        let name = p.name.clone().unwrap_or_default();
        let label = port_label(index, &name);
        port_name(&name, &label)?;
        if !seen.insert(name.clone()) {
            return Err(ObjectError::DuplicatePortName(name));
        }
        // kube-proxy skips ports without a number: the slice controller writes them for
        // services whose targetPort names a port the pod does not have.
        let Some(value) = p.port else { continue };
        let port = port_number(value).ok_or_else(|| ObjectError::InvalidPort {
            port: label.clone(),
            value,
        })?;
        let protocol = protocol(p.protocol.as_deref(), &label)?;
        out.push(EndpointPort {
            name,
            port,
            protocol,
        });
    }
    Ok(out)
}

/// One endpoint; kube-proxy uses its first address only, as the API documents.
fn endpoint(index: usize, ep: &discovery::Endpoint) -> Result<Endpoint, ObjectError> {
    let address = ep
        .addresses
        .first()
        .ok_or(ObjectError::MissingAddress { index })?;
    let ip = address.parse().map_err(|_| ObjectError::InvalidAddress {
        index,
        address: address.clone(),
    })?;
    let ip = ordinary_address(AddressField::Endpoint(index), ip)?;
    let c = ep.conditions.as_ref();
    let ready = c.and_then(|c| c.ready).unwrap_or(true);
    let conditions = Conditions {
        ready,
        serving: c.and_then(|c| c.serving).unwrap_or(ready),
        terminating: c.and_then(|c| c.terminating).unwrap_or(false),
    };
    Ok(Endpoint {
        ip,
        conditions,
        node_name: ep.node_name.clone().filter(|n| !n.is_empty()),
        zone: ep.zone.clone().filter(|z| !z.is_empty()),
        zone_hints: hint_names(
            ep.hints
                .iter()
                .flat_map(|h| h.for_zones.iter().flatten())
                .map(|z| &z.name),
        ),
        node_hints: hint_names(
            ep.hints
                .iter()
                .flat_map(|h| h.for_nodes.iter().flatten())
                .map(|n| &n.name),
        ),
    })
}

/// The names of hints, empty ones left out (no zone or node has an empty name).
fn hint_names<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    names.filter(|n| !n.is_empty()).cloned().collect()
}

/// The trigger time, if present and well-formed. A malformed one only costs a latency
/// sample, so it is logged rather than rejecting the slice's endpoints.
fn trigger_time(obj: &discovery::EndpointSlice, name: &SliceName) -> Option<SystemTime> {
    let raw = obj
        .metadata
        .annotations
        .as_ref()?
        .get(TRIGGER_TIME_ANNOTATION)?;
    match raw.parse::<k8s_openapi::jiff::Timestamp>() {
        Ok(ts) => Some(ts.into()),
        Err(err) => {
            tracing::debug!(slice = %name, value = %raw, %err, "ignoring malformed {TRIGGER_TIME_ANNOTATION}");
            None
        }
    }
}
