//! k8s-openapi objects → validated model objects. Every reason to skip an object is an
//! [`ObjectError`] naming what is wrong; objects kproxy deliberately ignores (headless,
//! ExternalName, IPv6) are `Ok(None)`.

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use thiserror::Error;

use crate::model;

/// Why an object was rejected. None is retryable: the object is skipped until it changes.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ObjectError {
    #[error("placeholder")]
    Placeholder,
}

impl ObjectError {
    /// Short label for the `kproxy_rejected_objects_total{reason}` metric.
    pub fn reason(&self) -> &'static str {
        "placeholder"
    }
}

pub fn service(_obj: &core::Service) -> Result<Option<model::Service>, ObjectError> {
    todo!("being written")
}

pub fn endpoint_slice(
    _obj: &discovery::EndpointSlice,
) -> Result<Option<model::EndpointSlice>, ObjectError> {
    todo!("being written")
}
