//! Sources turn Kubernetes objects into plain [`Change`](crate::model::Change) events.
//! Nothing past this module sees a k8s-openapi type.

pub mod convert;
pub mod manifests;
pub mod snapshot;
