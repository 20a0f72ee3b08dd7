//! k8s-openapi objects → validated model objects. Every reason to skip an object is an
//! [`ObjectError`] naming what is wrong; objects kproxy deliberately ignores (headless,
//! ExternalName, IPv6) are `Ok(None)` with a debug line.
//!
//! Errors name the offending field but not the object: callers log them as
//! `"{kind} {namespace}/{name}: {error}"` ([`object_ref`] builds the middle part) and count
//! them with `Metrics::reject(kind, error.reason())`.

mod address;
mod error;
mod names;
mod node;
mod service;
mod slice;
mod source_ranges;
#[cfg(test)]
mod tests;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub use address::{AddressField, SpecialAddress};
pub use error::ObjectError;
pub use names::NameRule;
pub use node::{ZONE_LABEL, node_info};
pub use service::service;
pub use slice::{SERVICE_NAME_LABEL, TRIGGER_TIME_ANNOTATION, endpoint_slice};

/// Namespace of objects that do not say (manifest files); the API server always sets one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// `namespace/name` of an object for log lines, with the defaults conversion applies.
/// Control characters, quotes and backslashes come out escaped (as [`str::escape_debug`]
/// writes them), so a hostile name stays on its one log line.
pub fn object_ref(meta: &ObjectMeta) -> String {
    let name = meta.name.as_deref().unwrap_or("<unnamed>");
    format!("{}/{}", namespace(meta).escape_debug(), name.escape_debug())
}

fn namespace(meta: &ObjectMeta) -> &str {
    meta.namespace
        .as_deref()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE)
}

/// `(namespace, name)`: the namespace a DNS-1123 label, the name following `rule`.
fn names(meta: &ObjectMeta, rule: NameRule) -> Result<(String, String), ObjectError> {
    let name = match meta.name.as_deref() {
        Some(name) if !name.is_empty() => name,
        _ => return Err(ObjectError::MissingName),
    };
    let namespace = namespace(meta);
    if !NameRule::Dns1123Label.allows(namespace) {
        return Err(ObjectError::InvalidNamespace(namespace.to_string()));
    }
    if !rule.allows(name) {
        return Err(ObjectError::InvalidName {
            value: name.to_string(),
            rule,
        });
    }
    Ok((namespace.to_string(), name.to_string()))
}

/// A port's name: empty, or a DNS-1123 label (Services and EndpointSlices alike; the
/// stricter IANA service-name rule is for container ports, which kproxy never reads).
fn port_name(name: &str, label: &str) -> Result<(), ObjectError> {
    if name.is_empty() || NameRule::Dns1123Label.allows(name) {
        Ok(())
    } else {
        Err(ObjectError::InvalidPortName {
            port: label.to_string(),
        })
    }
}

/// Parses Kubernetes' protocol spelling; absent means TCP, as the API server defaults it.
fn protocol(raw: Option<&str>, port: &str) -> Result<crate::model::Protocol, ObjectError> {
    let raw = raw.unwrap_or("TCP");
    crate::model::Protocol::from_kubernetes(raw).ok_or_else(|| ObjectError::UnknownProtocol {
        port: port.to_string(),
        protocol: raw.to_string(),
    })
}

/// `ports[i] ("name")`, or `ports[i]` for an unnamed port: how errors point at a port.
fn port_label(index: usize, name: &str) -> String {
    if name.is_empty() {
        format!("ports[{index}]")
    } else {
        format!("ports[{index}] ({name:?})")
    }
}

/// `ip`, unless it is an address the API server refuses in `field`.
fn ordinary_address(
    field: AddressField,
    ip: std::net::Ipv4Addr,
) -> Result<std::net::Ipv4Addr, ObjectError> {
    match address::special(ip) {
        None => Ok(ip),
        Some(kind) => Err(ObjectError::SpecialAddress {
            field,
            address: ip,
            kind,
        }),
    }
}

/// A port number in 1..=65535.
fn port_number(value: i32) -> Option<u16> {
    u16::try_from(value).ok().filter(|p| *p != 0)
}
