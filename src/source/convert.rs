//! k8s-openapi objects → validated model objects. Every reason to skip an object is an
//! [`ObjectError`] naming what is wrong; objects kproxy deliberately ignores (headless,
//! ExternalName, IPv6) are `Ok(None)` with a debug line.
//!
//! Errors name the offending field but not the object: callers log them as
//! `"{kind} {namespace}/{name}: {error}"` ([`object_ref`] builds the middle part) and count
//! them with `Metrics::reject(kind, error.reason())`.

mod error;
mod service;
mod slice;
#[cfg(test)]
mod tests;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub use error::ObjectError;
pub use service::service;
pub use slice::{SERVICE_NAME_LABEL, TRIGGER_TIME_ANNOTATION, endpoint_slice};

/// Namespace of objects that do not say (manifest files); the API server always sets one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// `namespace/name` of an object for log lines, with the defaults conversion applies.
pub fn object_ref(meta: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        namespace(meta),
        meta.name.as_deref().unwrap_or("<unnamed>")
    )
}

fn namespace(meta: &ObjectMeta) -> &str {
    meta.namespace
        .as_deref()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE)
}

/// `(namespace, name)`, or [`ObjectError::MissingName`].
fn names(meta: &ObjectMeta) -> Result<(String, String), ObjectError> {
    match meta.name.as_deref() {
        Some(name) if !name.is_empty() => Ok((namespace(meta).to_string(), name.to_string())),
        _ => Err(ObjectError::MissingName),
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

/// A port number in 1..=65535.
fn port_number(value: i32) -> Option<u16> {
    u16::try_from(value).ok().filter(|p| *p != 0)
}
