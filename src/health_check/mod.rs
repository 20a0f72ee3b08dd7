//! `spec.healthCheckNodePort`: for each LoadBalancer service with `externalTrafficPolicy:
//! Local`, an HTTP server on that port of the node-port addresses telling load balancers
//! whether this node has a ready endpoint (kube-proxy's `pkg/proxy/healthcheck`
//! service health server). Backend-neutral; the filter rules that let the port in are each
//! backend's (iptables: filter `KUBE-NODEPORTS`; IPVS: the `KUBE-HEALTH-CHECK-NODE-PORT` set).
//!
//! Three parts, as kube-proxy drives its server from the end of each sync:
//! * [`decide`]: pure, which ports to serve and what each answers for;
//! * [`Publisher`]: the [`AfterSync`] step that decides after every successful sync and
//!   publishes the result (logging each invalid or duplicate port once);
//! * [`Servers`]: the listeners, opened and closed to follow what is published.

mod decide;
mod response;
mod servers;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;
use tracing::warn;

use crate::backend::after_sync::AfterSync;
use crate::metrics::Metrics;
use crate::model::{ProxyState, ServiceName};

pub use decide::{Check, Checks, Decision, decide};
pub use response::{ServiceHealthSite, answer};
pub use servers::{FailureReporter, RETRY, Servers, bind_addresses};

/// `kproxy_rejected_objects_total` reasons (kind `Service`): the service is proxied, only
/// its health check is left out.
pub const INVALID_REASON: &str = "invalid_health_check_node_port";
pub const DUPLICATE_REASON: &str = "duplicate_health_check_node_port";

/// Decides after each sync and publishes the checks for [`Servers`].
pub struct Publisher {
    tx: watch::Sender<Arc<Checks>>,
    metrics: Metrics,
    /// What was logged, so each problem is logged once while it lasts.
    invalid: BTreeMap<ServiceName, i32>,
    duplicates: BTreeMap<ServiceName, (u16, ServiceName)>,
}

/// A publisher and the receiving end [`Servers::run`] follows.
pub fn channel(metrics: &Metrics) -> (Publisher, watch::Receiver<Arc<Checks>>) {
    let (tx, rx) = watch::channel(Arc::new(Checks::new()));
    let publisher = Publisher {
        tx,
        metrics: metrics.clone(),
        invalid: BTreeMap::new(),
        duplicates: BTreeMap::new(),
    };
    (publisher, rx)
}

impl Publisher {
    fn report(&mut self, decision: &Decision) {
        for (name, raw) in &decision.invalid {
            if self.invalid.get(name) == Some(raw) {
                continue;
            }
            let why = if *raw == 0 {
                "is missing".to_string()
            } else {
                format!("{raw} is not in 1..=65535")
            };
            warn!(
                kind = "Service", object = %name, reason = INVALID_REASON,
                "Service {name}: spec.healthCheckNodePort {why}; the service has no health check"
            );
            self.metrics.reject("Service", INVALID_REASON);
        }
        for (name, (port, owner)) in &decision.duplicates {
            if self.duplicates.get(name) == Some(&(*port, owner.clone())) {
                continue;
            }
            warn!(
                kind = "Service", object = %name, reason = DUPLICATE_REASON,
                "Service {name}: spec.healthCheckNodePort {port} is already {owner}'s; the service has no health check"
            );
            self.metrics.reject("Service", DUPLICATE_REASON);
        }
        self.invalid.clone_from(&decision.invalid);
        self.duplicates.clone_from(&decision.duplicates);
    }
}

impl AfterSync for Publisher {
    fn after_sync(&mut self, state: &ProxyState, _full: bool) {
        let decision = decide(state);
        self.report(&decision);
        self.tx.send_if_modified(|current| {
            let changed = **current != decision.checks;
            if changed {
                *current = Arc::new(decision.checks);
            }
            changed
        });
    }
}
