//! Gauges kube-proxy computes outside its backends, computed once here for every backend:
//! the changes its trackers hold between syncs, and the service ports with a Local traffic
//! policy and no local endpoint.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::metrics::Metrics;
use crate::model::{Change, ProxyState, ServiceName, ServiceSnapshot};

/// kube-proxy's `…_service_changes_pending` and `…_endpoint_changes_pending`.
#[derive(Debug, Default)]
pub struct PendingCounts {
    /// Services whose Service object changed since the last sync: kube-proxy's service
    /// tracker, which forgets a service changed back to what the last sync saw.
    services: HashSet<ServiceName>,
    /// EndpointSlice changes since the last sync: kube-proxy's endpoint tracker counts
    /// each one, and none back.
    endpoints: usize,
}

/// What a change is about, taken before the state consumes it.
pub enum ChangeKind {
    Service(ServiceName),
    Slice,
    Other,
}

impl ChangeKind {
    pub fn of(change: &Change) -> Self {
        match change {
            Change::ServiceUpdated(svc) => ChangeKind::Service(svc.name.clone()),
            Change::ServiceDeleted(name) => ChangeKind::Service(name.clone()),
            Change::SliceUpdated(_) | Change::SliceDeleted(_) => ChangeKind::Slice,
            Change::NodeUpdated(_) | Change::InitialSyncDone => ChangeKind::Other,
        }
    }
}

impl PendingCounts {
    /// After `state` applied a change of `kind` that changed something.
    pub fn applied(&mut self, kind: ChangeKind, state: &ProxyState, metrics: &Metrics) {
        match kind {
            ChangeKind::Service(name) if state.is_pending(&name) => {
                self.services.insert(name);
            }
            ChangeKind::Service(name) => {
                self.services.remove(&name);
            }
            ChangeKind::Slice => self.endpoints += 1,
            ChangeKind::Other => return,
        }
        self.publish(metrics);
    }

    /// A sync took every pending change (kube-proxy's trackers are emptied as a sync
    /// starts, whether or not it succeeds).
    pub fn taken(&mut self, metrics: &Metrics) {
        self.services.clear();
        self.endpoints = 0;
        self.publish(metrics);
    }

    fn publish(&self, metrics: &Metrics) {
        metrics.set_pending(self.services.len(), self.endpoints);
    }
}

/// kube-proxy's `…_no_local_endpoints_total{traffic_policy}`: service ports that have
/// endpoints but whose internal (or external) policy is Local and that have none on this
/// node, as of the last successful sync. Kept per service, so a sync recounts only the
/// services it covered.
#[derive(Debug, Default)]
pub struct NoLocalEndpoints {
    per_service: HashMap<ServiceName, Counts>,
    total: Counts,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub internal: usize,
    pub external: usize,
}

impl NoLocalEndpoints {
    /// Recounts the services in `changed` (which a sync just programmed) from `state`.
    pub fn update(&mut self, state: &ProxyState, changed: &BTreeSet<ServiceName>) {
        for name in changed {
            let now = state.snapshot(name).map(|s| count(&s)).unwrap_or_default();
            let before = if now == Counts::default() {
                self.per_service.remove(name)
            } else {
                self.per_service.insert(name.clone(), now)
            }
            .unwrap_or_default();
            self.total.internal = self.total.internal - before.internal + now.internal;
            self.total.external = self.total.external - before.external + now.external;
        }
    }

    #[cfg(test)]
    pub fn total(&self) -> Counts {
        self.total
    }

    pub fn publish(&self, metrics: &Metrics) {
        metrics.set_no_local_endpoints(self.total.internal, self.total.external);
    }
}

/// The ports of one service that drop traffic for want of a local endpoint.
fn count(snapshot: &ServiceSnapshot) -> Counts {
    let mut counts = Counts::default();
    for port in snapshot.ports() {
        if !port.has_endpoints() || port.has_local_endpoints() {
            continue;
        }
        counts.internal += usize::from(port.internal_policy_local);
        counts.external += usize::from(port.external_policy_local);
    }
    counts
}

#[cfg(test)]
mod tests;
