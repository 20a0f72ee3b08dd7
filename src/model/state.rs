use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::SystemTime;

use super::claims::{Claims, Rejection, Verdict};
use super::{
    Change, EndpointSlice, Hint, Service, ServiceEndpoint, ServiceName, ServicePort,
    ServiceSnapshot, SliceName,
};

/// What this node knows of itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    /// `topology.kubernetes.io/zone` of the Node object, once known.
    pub zone: Option<String>,
    /// The Node object's IPv4 addresses, once known.
    pub addresses: Vec<Ipv4Addr>,
    /// The Node object's IPv4 `spec.podCIDRs` (for `--detect-local-mode NodeCIDR`).
    pub pod_cidrs: Vec<ipnet::Ipv4Net>,
}

/// Every service and slice the sources reported, and which services changed since the
/// backends last looked.
#[derive(Debug, Default)]
pub struct ProxyState {
    node: NodeInfo,
    /// The node as the last sync saw it: when `node` differs, every service is pending.
    synced_node: NodeInfo,
    /// Every reported service, and which of them hold the addresses they claim.
    claims: Claims,
    /// The admitted services ([`Claims`]), shared with the source that reported them:
    /// applying a change clones no object.
    services: BTreeMap<ServiceName, Arc<Service>>,
    slices: BTreeMap<SliceName, Arc<EndpointSlice>>,
    /// Sorted; a `Vec`, not a `BTreeSet`: a service has one or two slices, and a set's
    /// node is ~550 bytes.
    slices_by_service: HashMap<ServiceName, Vec<SliceName>>,
    /// Services changed since the last sync, each with what it was then, so that changes
    /// which cancel out (A → B → A) leave nothing pending, as in kube-proxy's trackers.
    dirty: BTreeMap<ServiceName, Pending>,
    service_changes: u64,
    endpoint_changes: u64,
    /// Trigger times of changes a failed sync handed back.
    restored_trigger_times: Vec<SystemTime>,
}

/// One changed service: what it was at the last sync, and the trigger times of the
/// EndpointSlice changes since.
#[derive(Debug)]
struct Pending {
    /// `None` when unknown (handed back by a failed sync): then it is synced whatever
    /// happens to it.
    was: Option<Was>,
    trigger_times: Vec<SystemTime>,
}

/// A service and its slices as the last sync saw them.
#[derive(Debug)]
struct Was {
    service: Option<Arc<Service>>,
    /// In name order.
    slices: Box<[Arc<EndpointSlice>]>,
}

impl Was {
    fn is_nothing(&self) -> bool {
        self.service.is_none() && self.slices.is_empty()
    }
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
        let node = NodeInfo {
            name: node_name.into(),
            ..NodeInfo::default()
        };
        Self {
            synced_node: node.clone(),
            node,
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
                let verdicts = self.claims.update(svc);
                self.carry_out(verdicts)
            }
            Change::ServiceDeleted(name) => {
                let verdicts = self.claims.delete(&name);
                self.carry_out(verdicts)
            }
            Change::SliceUpdated(slice) => {
                let old = self.slices.get(&slice.name);
                if old.is_some_and(|old| same(old, &slice)) {
                    return false;
                }
                self.endpoint_changes += 1;
                let old_service = old.map(|o| o.service.clone());
                let shared = Arc::clone(&slice);
                let service = &shared.service;
                if let Some(old_service) = &old_service {
                    self.mark(old_service, None);
                }
                let had_nothing = self.mark(service, slice.trigger_time);
                if let Some(old_service) = &old_service {
                    self.unlink_slice(old_service, &slice.name);
                }
                let names = match self.slices_by_service.get_mut(service) {
                    Some(names) => names,
                    None => self.slices_by_service.entry(service.clone()).or_default(),
                };
                if let Err(at) = names.binary_search(&slice.name) {
                    names.insert(at, slice.name.clone());
                }
                self.slices.insert(slice.name.clone(), slice);
                if let Some(old_service) = &old_service {
                    self.settle(old_service);
                }
                if !had_nothing {
                    self.settle(service);
                }
                true
            }
            Change::SliceDeleted(name) => {
                let Some(service) = self.slices.get(&name).map(|s| s.service.clone()) else {
                    return false;
                };
                self.endpoint_changes += 1;
                self.mark(&service, None);
                self.slices.remove(&name);
                self.unlink_slice(&service, &name);
                self.settle(&service);
                true
            }
            Change::NodeUpdated(node) => {
                if node == self.node {
                    return false;
                }
                let verdicts = self.claims.set_node_addresses(&node.addresses);
                self.node = node;
                self.carry_out(verdicts);
                true
            }
            Change::InitialSyncDone => false,
        }
    }

    /// Puts in or takes out the services [`Claims`] decided on; whether anything changed.
    fn carry_out(&mut self, verdicts: Vec<Verdict>) -> bool {
        let mut changed = false;
        for verdict in verdicts {
            changed |= match verdict {
                Verdict::Admit(svc) => self.put_service(svc),
                Verdict::Withdraw(name) => self.remove_service(name),
            };
        }
        changed
    }

    fn put_service(&mut self, svc: Arc<Service>) -> bool {
        if self
            .services
            .get(&svc.name)
            .is_some_and(|old| same(old, &svc))
        {
            return false;
        }
        self.service_changes += 1;
        let had_nothing = self.mark(&svc.name, None);
        let shared = Arc::clone(&svc);
        self.services.insert(svc.name.clone(), svc);
        if !had_nothing {
            self.settle(&shared.name);
        }
        true
    }

    fn remove_service(&mut self, name: ServiceName) -> bool {
        if !self.services.contains_key(&name) {
            return false;
        }
        self.service_changes += 1;
        self.mark(&name, None);
        self.services.remove(&name);
        self.settle(&name);
        true
    }

    /// Services refused for an address another holds, since the last call: the caller
    /// logs and counts each once.
    pub fn take_rejections(&mut self) -> Vec<Rejection> {
        self.claims.take_rejections()
    }

    /// Notes what `service` is now, before a change to it, unless it already changed since
    /// the last sync; and the change's trigger time. Returns whether the service had
    /// nothing (no service, no slice) at the last sync: then only a removal can bring it
    /// back to that.
    fn mark(&mut self, service: &ServiceName, trigger: Option<SystemTime>) -> bool {
        let had_nothing = match self.dirty.get(service) {
            Some(pending) => pending.was.as_ref().is_some_and(Was::is_nothing),
            None => {
                let was = Was {
                    service: self.services.get(service).cloned(),
                    slices: self.slices_of(service).cloned().collect(),
                };
                let had_nothing = was.is_nothing();
                let pending = Pending {
                    was: Some(was),
                    trigger_times: Vec::new(),
                };
                self.dirty.insert(service.clone(), pending);
                had_nothing
            }
        };
        if let Some(t) = trigger
            && let Some(pending) = self.dirty.get_mut(service)
        {
            // Most services see one trigger between two syncs.
            pending.trigger_times.reserve_exact(1);
            pending.trigger_times.push(t);
        }
        had_nothing
    }

    /// Forgets the change to `service` if it is back to what the last sync saw.
    fn settle(&mut self, service: &ServiceName) {
        let Some(Pending { was: Some(was), .. }) = self.dirty.get(service) else {
            return;
        };
        let same_service = match (&was.service, self.services.get(service)) {
            (None, None) => true,
            (Some(a), Some(b)) => same(a, b),
            _ => false,
        };
        let same_slices = same_service
            && self.slices_of(service).count() == was.slices.len()
            && self
                .slices_of(service)
                .zip(&*was.slices)
                .all(|(a, b)| same(a, b));
        if same_slices {
            self.dirty.remove(service);
        }
    }

    /// The service's slices, in name order.
    fn slices_of(&self, service: &ServiceName) -> impl Iterator<Item = &Arc<EndpointSlice>> {
        self.slices_by_service
            .get(service)
            .into_iter()
            .flatten()
            .filter_map(|name| self.slices.get(name))
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
    }

    /// Hands the accumulated changes to a sync and starts a new accumulation.
    pub fn take_pending(&mut self) -> PendingChanges {
        let mut trigger_times = std::mem::take(&mut self.restored_trigger_times);
        let mut names = Vec::with_capacity(self.dirty.len());
        for (name, pending) in std::mem::take(&mut self.dirty) {
            trigger_times.extend(pending.trigger_times);
            names.push(name);
        }
        let mut dirty: BTreeSet<ServiceName> = names.into_iter().collect();
        if self.node != self.synced_node {
            // Which endpoints are local (and later, in which zone) changed for all.
            dirty.extend(self.services.keys().cloned());
            self.synced_node = self.node.clone();
        }
        PendingChanges {
            dirty,
            service_changes: std::mem::take(&mut self.service_changes),
            endpoint_changes: std::mem::take(&mut self.endpoint_changes),
            trigger_times,
        }
    }

    /// Whether `service` changed since the last sync (and did not change back).
    pub fn is_pending(&self, service: &ServiceName) -> bool {
        self.dirty.contains_key(service)
    }

    /// Whether changes are waiting for a sync.
    pub fn has_pending(&self) -> bool {
        !self.dirty.is_empty() || (self.node != self.synced_node && !self.services.is_empty())
    }

    /// Puts back changes a failed sync could not program, so the retry covers them
    /// whatever happens to them meanwhile.
    pub fn restore_pending(&mut self, pending: PendingChanges) {
        for name in pending.dirty {
            self.dirty
                .entry(name)
                .or_insert_with(|| Pending {
                    was: None,
                    trigger_times: Vec::new(),
                })
                .was = None;
        }
        self.service_changes += pending.service_changes;
        self.endpoint_changes += pending.endpoint_changes;
        self.restored_trigger_times.extend(pending.trigger_times);
    }

    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.values().map(|s| &**s)
    }

    /// The services as shared with the sources, for [`ServiceSnapshot::read`].
    pub fn shared_services(&self) -> impl Iterator<Item = &Arc<Service>> {
        self.services.values()
    }

    pub fn service(&self, name: &ServiceName) -> Option<&Service> {
        self.services.get(name).map(|s| &**s)
    }

    /// The service with the endpoints of each of its ports, as a compiler reads it.
    pub fn snapshot(&self, name: &ServiceName) -> Option<ServiceSnapshot> {
        self.services
            .get(name)
            .map(|svc| ServiceSnapshot::read(self, svc))
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
                    zone_hint: Hint::of(&ep.zone_hints, self.node.zone.as_deref()),
                    node_hint: Hint::of(&ep.node_hints, Some(&self.node.name)),
                };
                merged
                    .entry((ep.ip, ep_port.port))
                    .and_modify(|existing| {
                        if candidate.ready && !existing.ready {
                            *existing = candidate;
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
