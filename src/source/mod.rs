//! Sources turn Kubernetes objects into plain [`Change`](crate::model::Change) events.
//! Nothing past this module sees a k8s-openapi type.

pub mod convert;
pub mod kube;
pub mod manifests;
pub mod snapshot;

/// The resources the API source lists and watches, as `(API group, resource)`. The
/// ClusterRole in `deploy/` grants `list` and `watch` on exactly these
/// (checked by `tests/deploy_manifests.rs`).
pub const WATCHED_RESOURCES: &[(&str, &str)] = &[
    ("", "services"),
    ("discovery.k8s.io", "endpointslices"),
    ("", "nodes"),
];
