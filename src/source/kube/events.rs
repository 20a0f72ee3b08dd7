//! Events on this node's Node object, as kube-proxy records them (reporting controller
//! `kproxy`, action `StartKubeProxy`): `Starting` when the proxy starts, the start-up
//! warnings upstream records (`KubeProxyDefaultMode`, `IPVSDeprecation`), and
//! `FailedToStartProxierHealthcheck` / `FailedToStartMetricServer` when a server that
//! cannot bind ends the process. Operators see them in `kubectl describe node`.

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
        self.publish(EventType::Warning, reason, Some(note)).await;
    }

    /// The start-up events, in upstream's order: its warnings, then `Starting`.
    pub async fn record_start(&self, warnings: Vec<(&'static str, String)>) {
        for (reason, note) in warnings {
            self.warning(reason, note).await;
        }
        let note = format!("Starting kproxy {}", env!("CARGO_PKG_VERSION"));
        self.publish(EventType::Normal, "Starting", Some(note))
            .await;
    }

    async fn publish(&self, type_: EventType, reason: &str, note: Option<String>) {
        let node_name = self.node_name.as_str();
        let reporter = Reporter {
            controller: "kproxy".into(),
            instance: Some(node_name.to_string()),
        };
        let node = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node_name.to_string()),
            // kube-proxy uses the node name as the UID of its node reference.
            uid: Some(node_name.to_string()),
            ..ObjectReference::default()
        };
        let event = Event {
            type_,
            reason: reason.into(),
            note,
            action: ACTION.into(),
            secondary: None,
        };
        match Recorder::new(self.client.clone(), reporter)
            .publish(&event, &node)
            .await
        {
            Ok(()) => debug!(node = node_name, reason, "recorded an event"),
            Err(e) => warn!(node = node_name, reason, error = %e, "could not record an event"),
        }
    }
}
