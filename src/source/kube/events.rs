//! Events on this node's Node object, as kube-proxy records them (reporting controller
//! `kproxy`, action `StartKubeProxy`): `Starting` when the proxy starts, the start-up
//! warnings upstream records (`KubeProxyDefaultMode`, `IPVSDeprecation`), and
//! `FailedToStartProxierHealthcheck` / `FailedToStartMetricServer` when a server that
//! cannot bind ends the process. Operators see them in `kubectl describe node`. And on a
//! Service, `FailedToStartServiceHealthcheck` when its health-check node port cannot be
//! bound (action `Listen`), as upstream's service health server records it.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::{debug, warn};

/// The action of every node event, upstream's.
const ACTION: &str = "StartKubeProxy";

/// Publishes events about this node. Failure only costs the event: it is logged and ignored.
#[derive(Clone)]
pub struct NodeEvents {
    client: kube::Client,
    node_name: String,
}

impl NodeEvents {
    pub fn new(client: kube::Client, node_name: String) -> Self {
        Self { client, node_name }
    }

    /// A `Warning` event with `reason` and `note`.
    pub async fn warning(&self, reason: &str, note: String) {
        let node = self.node();
        self.publish(&node, EventType::Warning, reason, ACTION, Some(note))
            .await;
    }

    /// `FailedToStartServiceHealthcheck` on the Service `namespace/name`, with upstream's
    /// message.
    pub async fn health_check_failed(&self, namespace: &str, name: &str, port: u16, error: &str) {
        let service = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Service".into()),
            namespace: Some(namespace.to_string()),
            name: Some(name.to_string()),
            ..ObjectReference::default()
        };
        let note = format!(
            "node {} failed to start healthcheck \"{namespace}/{name}\" on port {port}: {error}",
            self.node_name
        );
        let reason = "FailedToStartServiceHealthcheck";
        self.publish(&service, EventType::Warning, reason, "Listen", Some(note))
            .await;
    }

    /// The start-up events, in upstream's order: its warnings, then `Starting`.
    pub async fn record_start(&self, warnings: Vec<(&'static str, String)>) {
        for (reason, note) in warnings {
            self.warning(reason, note).await;
        }
        let note = format!("Starting kproxy {}", env!("CARGO_PKG_VERSION"));
        let node = self.node();
        self.publish(&node, EventType::Normal, "Starting", ACTION, Some(note))
            .await;
    }

    fn node(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(self.node_name.clone()),
            // kube-proxy uses the node name as the UID of its node reference.
            uid: Some(self.node_name.clone()),
            ..ObjectReference::default()
        }
    }

    async fn publish(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: Option<String>,
    ) {
        let reporter = Reporter {
            controller: "kproxy".into(),
            instance: Some(self.node_name.clone()),
        };
        let event = Event {
            type_,
            reason: reason.into(),
            note,
            action: action.into(),
            secondary: None,
        };
        let object = regarding.name.as_deref().unwrap_or_default();
        match Recorder::new(self.client.clone(), reporter)
            .publish(&event, regarding)
            .await
        {
            Ok(()) => debug!(object, reason, "recorded an event"),
            Err(e) => warn!(object, reason, error = %e, "could not record an event"),
        }
    }
}
