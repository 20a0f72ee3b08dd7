//! The `Starting kproxy` event on this node's Node object, as kube-proxy records
//! `Starting kube-proxy`: operators see in `kubectl describe node` when the proxy restarted.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::{debug, warn};

/// Records the start-up event. Failure only costs the event: it is logged and ignored.
pub async fn record_start(client: kube::Client, node_name: String) {
    let node_name = node_name.as_str();
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
        type_: EventType::Normal,
        reason: "Starting".into(),
        note: Some(format!("Starting kproxy {}", env!("CARGO_PKG_VERSION"))),
        action: "Starting".into(),
        secondary: None,
    };
    match Recorder::new(client, reporter).publish(&event, &node).await {
        Ok(()) => debug!(node = node_name, "recorded the Starting event"),
        Err(e) => warn!(node = node_name, error = %e, "could not record the Starting event"),
    }
}
