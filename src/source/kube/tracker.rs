//! Turns kube-runtime watcher events of one kind into [`Change`]s, like kube-runtime's
//! reflector store: `InitApply` objects are buffered and swapped in whole on `InitDone`,
//! diffed against what was reported, so a relist after 410 Gone reports objects deleted
//! while no watch was open, and nothing downstream sees a half-finished relist. Pure: no
//! I/O, no async.

use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::sync::Arc;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::runtime::watcher::Event;

use crate::metrics::Metrics;
use crate::model::{self, Change, ServiceName, SliceName};
use crate::source::convert::{self, DEFAULT_NAMESPACE, ObjectError};
use crate::source::snapshot::Reported;

/// One kind of object the source reports: how to name it, convert it and report it.
pub trait Kind {
    type Object: Resource;
    type Key: Eq + Hash + Clone + Ord + Display;
    type Value: PartialEq + Clone;
    /// `Service`, `EndpointSlice`: the `kind` label of the rejected-objects metric.
    const KIND: &'static str;
    fn key(namespace: String, name: String) -> Self::Key;
    /// Errors of parts left out of an otherwise valid object (an endpoint with a loopback
    /// address) go to `dropped`.
    fn convert(
        obj: &Self::Object,
        dropped: &mut Vec<ObjectError>,
    ) -> Result<Option<Self::Value>, ObjectError>;
    fn updated(value: Self::Value) -> Change;
    fn deleted(key: Self::Key) -> Change;
}

pub struct Services;

impl Kind for Services {
    type Object = core::Service;
    type Key = ServiceName;
    type Value = Arc<model::Service>;
    const KIND: &'static str = "Service";
    fn key(namespace: String, name: String) -> ServiceName {
        ServiceName::new(namespace, name)
    }
    fn convert(
        obj: &core::Service,
        dropped: &mut Vec<ObjectError>,
    ) -> Result<Option<Self::Value>, ObjectError> {
        Ok(convert::service(obj, dropped)?.map(Arc::new))
    }
    fn updated(value: Self::Value) -> Change {
        Change::service(value)
    }
    fn deleted(key: ServiceName) -> Change {
        Change::ServiceDeleted(key)
    }
}

pub struct Slices;

impl Kind for Slices {
    type Object = discovery::EndpointSlice;
    type Key = SliceName;
    type Value = Arc<model::EndpointSlice>;
    const KIND: &'static str = "EndpointSlice";
    fn key(namespace: String, name: String) -> SliceName {
        SliceName::new(namespace, name)
    }
    fn convert(
        obj: &discovery::EndpointSlice,
        dropped: &mut Vec<ObjectError>,
    ) -> Result<Option<Self::Value>, ObjectError> {
        Ok(convert::endpoint_slice(obj, dropped)?.map(Arc::new))
    }
    fn updated(value: Self::Value) -> Change {
        Change::slice(value)
    }
    fn deleted(key: SliceName) -> Change {
        Change::SliceDeleted(key)
    }
}

/// What was reported of one kind, and the relist in progress.
pub struct Tracker<K: Kind> {
    reported: Reported<K::Key, K::Value>,
    /// Objects of the list in progress (between `Init` and `InitDone`).
    relist: Option<HashMap<K::Key, K::Value>>,
    /// Whether a complete list has been reported at least once.
    listed: bool,
}

impl<K: Kind> Default for Tracker<K> {
    fn default() -> Self {
        Self {
            reported: Reported::default(),
            relist: None,
            listed: false,
        }
    }
}

impl<K: Kind> Tracker<K> {
    /// Whether the initial list is complete and reported.
    pub fn listed(&self) -> bool {
        self.listed
    }

    /// The changes one watcher event leads to.
    ///
    /// An object that no longer converts (invalid, or now ignored such as a service turned
    /// headless) is reported deleted if it had been reported: its old rules would
    /// otherwise outlive the object they were for.
    pub fn handle(&mut self, event: Event<K::Object>, metrics: &Metrics) -> Vec<Change> {
        match event {
            Event::Init => {
                self.relist = Some(HashMap::new());
                Vec::new()
            }
            Event::InitApply(obj) => {
                let (key, value) = accept::<K>(&obj, metrics);
                if let Some(value) = value {
                    self.relist.get_or_insert_default().insert(key, value);
                }
                Vec::new()
            }
            Event::InitDone => {
                let fresh = self.relist.take().unwrap_or_default();
                let delta = self.reported.replace_all(fresh);
                self.listed = true;
                let updated = delta.updated.into_iter().map(K::updated);
                updated
                    .chain(delta.deleted.into_iter().map(K::deleted))
                    .collect()
            }
            Event::Apply(obj) => match accept::<K>(&obj, metrics) {
                (key, Some(value)) => self
                    .reported
                    .upsert(key, value.clone())
                    .then(|| K::updated(value))
                    .into_iter()
                    .collect(),
                (key, None) => self.forget(key),
            },
            Event::Delete(obj) => self.forget(key_of::<K>(obj.meta())),
        }
    }

    fn forget(&mut self, key: K::Key) -> Vec<Change> {
        self.reported
            .remove(&key)
            .then(|| K::deleted(key))
            .into_iter()
            .collect()
    }
}

fn key_of<K: Kind>(meta: &ObjectMeta) -> K::Key {
    let namespace = meta
        .namespace
        .as_deref()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE);
    K::key(namespace.to_string(), meta.name.clone().unwrap_or_default())
}

/// Converts one object; a rejected one is logged once, counted, and yields no value. A
/// part left out (an endpoint) is logged and counted the same way; the rest is kept.
fn accept<K: Kind>(obj: &K::Object, metrics: &Metrics) -> (K::Key, Option<K::Value>) {
    let key = key_of::<K>(obj.meta());
    let mut dropped = Vec::new();
    let converted = K::convert(obj, &mut dropped);
    for e in dropped {
        let kind = K::KIND;
        let reason = e.reason();
        tracing::warn!(kind, object = %key, reason, "{kind} {key}: left out {e}");
        metrics.reject(kind, reason);
    }
    match converted {
        Ok(value) => (key, value),
        Err(e) => {
            let kind = K::KIND;
            let reason = e.reason();
            tracing::warn!(kind, object = %key, reason, "rejected {kind} {key}: {e}");
            metrics.reject(kind, reason);
            (key, None)
        }
    }
}

#[cfg(test)]
mod tests;
