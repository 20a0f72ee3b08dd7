//! The Kubernetes API source: watches Services, EndpointSlices and this node's Node object
//! with kube-runtime's `watcher` (list, then watch from the list's resourceVersion; resume
//! after a dropped connection; relist after 410 Gone) with client-go's backoff on errors
//! ([`backoff`]), and sends plain [`Change`]s downstream.
//!
//! [`Change::InitialSyncDone`] is sent once, after the initial lists of both Services and
//! EndpointSlices are complete; later relists arrive as ordinary updates and deletes.

mod backoff;
mod client;
mod events;
mod node;
mod state;
mod streak;
mod tracker;

use std::path::PathBuf;

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use kube::Api;
use kube::runtime::watcher;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::model::Change;

pub use client::client;
pub use events::NodeEvents;
pub use node::{ZONE_LABEL, node_eligible, node_info, read_at_start};

use backoff::{Backoff, with_backoff};
use state::{SourceState, Update};

/// kube-proxy's label selector for Services and EndpointSlices (cmd/kube-proxy/app/server.go):
/// skip objects that another proxy implementation claims and headless services' slices.
pub const PROXY_LABEL_SELECTOR: &str =
    "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name";

/// Why the source could not start or stopped. Client construction errors are fatal
/// (bad flags or files); watch errors never reach here, they are retried with backoff.
#[derive(Debug, Error)]
pub enum KubeSourceError {
    #[error("kubeconfig {0}: {1}")]
    Kubeconfig(PathBuf, #[source] kube::config::KubeconfigError),
    #[error("--master {0:?} is not a valid URL: {1}")]
    InvalidMaster(String, #[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("no --kubeconfig or --master, and no in-cluster service account: {0}")]
    InCluster(#[source] kube::config::InClusterError),
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    #[error("the watch streams ended")]
    WatchEnded,
}

/// Watches until `tx`'s receiver is dropped (then returns `Ok` at once, even while idle).
/// Never gives up on API errors: they are logged once per streak and retried with
/// client-go's backoff (800 ms doubling to 30 s, with jitter; see [`backoff`]), after kube's
/// client has retried 429/503/504 responses itself.
pub async fn run(
    client: kube::Client,
    node_name: String,
    tx: mpsc::Sender<Change>,
    metrics: Metrics,
) -> Result<(), KubeSourceError> {
    run_reporting_eligibility(client, node_name, tx, metrics, |_| {}).await
}

/// [`run`], also calling `eligible` whenever [`node_eligible`] of this node's Node object
/// changes (kube-proxy's `NodeEligibleHandler`, which feeds `/healthz`). It is not a
/// [`Change`]: it changes no rule, only what the health endpoint tells load balancers.
pub async fn run_reporting_eligibility(
    client: kube::Client,
    node_name: String,
    tx: mpsc::Sender<Change>,
    metrics: Metrics,
    mut eligible: impl FnMut(bool) + Send,
) -> Result<(), KubeSourceError> {
    let labels = watcher::Config::default().labels(PROXY_LABEL_SELECTOR);
    let services = watcher(Api::<core::Service>::all(client.clone()), labels.clone());
    let services = with_backoff(services, Backoff::from_clock()).map(Update::Services);
    let slices = watcher(Api::<discovery::EndpointSlice>::all(client.clone()), labels);
    let slices = with_backoff(slices, Backoff::from_clock()).map(Update::Slices);
    let node_fields = format!("metadata.name={node_name}");
    let node = watcher(
        Api::<core::Node>::all(client),
        watcher::Config::default().fields(&node_fields),
    );
    let node = with_backoff(node, Backoff::from_clock()).map(Update::Node);
    let mut updates = stream::select_all([services.boxed(), slices.boxed(), node.boxed()]);
    let mut state = SourceState::new(&node_name, metrics);
    let mut was_eligible = state.node_eligible();
    loop {
        let update = tokio::select! {
            () = tx.closed() => return Ok(()),
            update = updates.next() => update.ok_or(KubeSourceError::WatchEnded)?,
        };
        let changes = state.handle(update);
        if state.node_eligible() != was_eligible {
            was_eligible = state.node_eligible();
            tracing::info!(
                node = %node_name,
                eligible = was_eligible,
                "node eligibility for load-balancer traffic changed"
            );
            eligible(was_eligible);
        }
        for change in changes {
            if tx.send(change).await.is_err() {
                return Ok(());
            }
        }
    }
}
