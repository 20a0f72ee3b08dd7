use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::SystemTime;

use super::{Change, EndpointSlice, Service, ServiceEndpoint, ServiceName, ServicePort, SliceName};

/// What this node knows of itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    /// `topology.kubernetes.io/zone` of the Node object, once known.
    pub zone: Option<String>,
    /// The Node object's IPv4 addresses, once known.
    pub addresses: Vec<Ipv4Addr>,
}

/// Every service and slice the sources reported, and which services changed since the
/// backends last looked.
#[derive(Debug, Default)]
pub struct ProxyState {
    node: NodeInfo,
    /// Shared with the source that reported them: applying a change clones no object.
    services: BTreeMap<ServiceName, Arc<Service>>,
    slices: BTreeMap<SliceName, Arc<EndpointSlice>>,
    /// Sorted; a `Vec`, not a `BTreeSet`: a service has one or two slices, and a set's
    /// node is ~550 bytes.
    slices_by_service: HashMap<ServiceName, Vec<SliceName>>,
    dirty: BTreeSet<ServiceName>,
    service_changes: u64,
    endpoint_changes: u64,
    trigger_times: Vec<SystemTime>,
}

/// What a sync is about to act on, taken out of the state in one step.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PendingChanges {
    pub dirty: BTreeSet<ServiceName>,
    pub service_changes: u64,
    pub endpoint_changes: u64,
    /// Trigger times of the EndpointSlice changes this sync will program.
    pub trigger_times: Vec<SystemTime>,
}

impl ProxyState {
    pub fn new(node_name: impl Into<String>) -> Self {
        Self {
            node: NodeInfo {
                name: node_name.into(),
                ..NodeInfo::default()
            },
            ..Self::default()
        }
    }

    pub fn node(&self) -> &NodeInfo {
        &self.node
    }

    /// Applies one source event; returns whether anything a backend reads changed.
    pub fn apply(&mut self, change: Change) -> bool {
        match change {
            Change::ServiceUpdated(svc) => {
                if self
                    .services
                    .get(&svc.name)
                    .is_some_and(|old| same(old, &svc))
                {
                    return false;
                }
                self.service_changes += 1;
                self.dirty.insert(svc.name.clone());
                self.services.insert(svc.name.clone(), svc);
                true
            }
            Change::ServiceDeleted(name) => {
                if self.services.remove(&name).is_none() {
                    return false;
                }
                self.service_changes += 1;
                self.dirty.insert(name);
                true
            }
            Change::SliceUpdated(slice) => {
                if self
                    .slices
                    .get(&slice.name)
                    .is_some_and(|old| same(old, &slice))
                {
                    return false;
                }
                self.endpoint_changes += 1;
                if let Some(t) = slice.trigger_time {
                    self.trigger_times.push(t);
                }
                if let Some(old) = self.slices.get(&slice.name) {
                    let old_service = old.service.clone();
                    self.unlink_slice(&old_service, &slice.name);
                }
                self.dirty.insert(slice.service.clone());
                let names = self
                    .slices_by_service
                    .entry(slice.service.clone())
                    .or_default();
                if let Err(at) = names.binary_search(&slice.name) {
                    names.insert(at, slice.name.clone());
                }
                self.slices.insert(slice.name.clone(), slice);
                true
            }
            Change::SliceDeleted(name) => {
                let Some(old) = self.slices.remove(&name) else {
                    return false;
                };
                self.endpoint_changes += 1;
                self.unlink_slice(&old.service, &name);
                true
            }
            Change::NodeUpdated(node) => {
                if node == self.node {
                    return false;
                }
                self.node = node;
                self.dirty.extend(self.services.keys().cloned());
                true
            }
            Change::InitialSyncDone => false,
        }
    }

    fn unlink_slice(&mut self, service: &ServiceName, slice: &SliceName) {
        if let Some(names) = self.slices_by_service.get_mut(service) {
            if let Ok(at) = names.binary_search(slice) {
                names.remove(at);
            }
            if names.is_empty() {
                self.slices_by_service.remove(service);
            }
        }
        self.dirty.insert(service.clone());
    }

    /// Hands the accumulated changes to a sync and starts a new accumulation.
    pub fn take_pending(&mut self) -> PendingChanges {
        PendingChanges {
            dirty: std::mem::take(&mut self.dirty),
            service_changes: std::mem::take(&mut self.service_changes),
            endpoint_changes: std::mem::take(&mut self.endpoint_changes),
            trigger_times: std::mem::take(&mut self.trigger_times),
        }
    }

    /// Whether changes are waiting for a sync.
    pub fn has_pending(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Puts back changes a failed sync could not program, so the retry covers them.
    pub fn restore_pending(&mut self, pending: PendingChanges) {
        self.dirty.extend(pending.dirty);
        self.service_changes += pending.service_changes;
        self.endpoint_changes += pending.endpoint_changes;
        self.trigger_times.extend(pending.trigger_times);
    }

    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.values().map(|s| &**s)
    }

    pub fn service(&self, name: &ServiceName) -> Option<&Service> {
        self.services.get(name).map(|s| &**s)
    }

    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// The endpoints of one service port, merged from all of the service's slices: matched by
    /// port name and protocol, de-duplicated by address (a ready copy wins over one that is
    /// not), sorted by address.
    pub fn endpoints(&self, service: &ServiceName, port: &ServicePort) -> Vec<ServiceEndpoint> {
        let mut merged: BTreeMap<(Ipv4Addr, u16), ServiceEndpoint> = BTreeMap::new();
        let Some(slice_names) = self.slices_by_service.get(service) else {
            return Vec::new();
        };
        for slice in slice_names.iter().filter_map(|n| self.slices.get(n)) {
            let Some(ep_port) = slice
                .ports
                .iter()
                .find(|p| p.name == port.name && p.protocol == port.protocol)
            else {
                continue;
            };
            for ep in &slice.endpoints {
                let candidate = ServiceEndpoint {
                    ip: ep.ip,
                    port: ep_port.port,
                    ready: ep.conditions.ready,
                    serving: ep.conditions.serving,
                    terminating: ep.conditions.terminating,
                    is_local: ep.node_name.as_deref() == Some(self.node.name.as_str()),
                };
                merged
                    .entry((ep.ip, ep_port.port))
                    .and_modify(|existing| {
                        if candidate.ready && !existing.ready {
                            *existing = candidate.clone();
                        }
                    })
                    .or_insert(candidate);
            }
        }
        merged.into_values().collect()
    }
}

/// Equal objects: the same allocation, or equal values.
fn same<T: PartialEq>(a: &Arc<T>, b: &Arc<T>) -> bool {
    Arc::ptr_eq(a, b) || **a == **b
}

#[cfg(test)]
mod tests;
