//! The source's state across its three watches, and when the initial sync is complete.

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use kube::runtime::watcher;

use super::node::NodeTracker;
use super::streak::ErrorStreak;
use super::tracker::{Services, Slices, Tracker};
use crate::metrics::Metrics;
use crate::model::Change;

/// One item of one of the three watch streams.
#[expect(
    clippy::large_enum_variant,
    reason = "one item at a time moves from a stream to `handle`; boxing would only add an allocation"
)]
pub enum Update {
    Services(watcher::Result<watcher::Event<core::Service>>),
    Slices(watcher::Result<watcher::Event<discovery::EndpointSlice>>),
    Node(watcher::Result<watcher::Event<core::Node>>),
}

pub struct SourceState {
    metrics: Metrics,
    services: Tracker<Services>,
    slices: Tracker<Slices>,
    node: NodeTracker,
    service_errors: ErrorStreak,
    slice_errors: ErrorStreak,
    node_errors: ErrorStreak,
    initial_sync_sent: bool,
}

impl SourceState {
    pub fn new(node_name: &str, metrics: Metrics) -> Self {
        Self {
            metrics,
            services: Tracker::default(),
            slices: Tracker::default(),
            node: NodeTracker::new(node_name),
            service_errors: ErrorStreak::new("Service"),
            slice_errors: ErrorStreak::new("EndpointSlice"),
            node_errors: ErrorStreak::new("Node"),
            initial_sync_sent: false,
        }
    }

    /// Whether this node may receive load-balancer traffic (see [`super::node_eligible`]).
    pub fn node_eligible(&self) -> bool {
        self.node.eligible()
    }

    /// The changes to send for one update, in order.
    pub fn handle(&mut self, update: Update) -> Vec<Change> {
        let mut changes = match update {
            Update::Services(item) => match item {
                Ok(event) => {
                    self.service_errors.answered(&event);
                    self.services.handle(event, &self.metrics)
                }
                Err(e) => {
                    self.service_errors.failed(&e);
                    Vec::new()
                }
            },
            Update::Slices(item) => match item {
                Ok(event) => {
                    self.slice_errors.answered(&event);
                    self.slices.handle(event, &self.metrics)
                }
                Err(e) => {
                    self.slice_errors.failed(&e);
                    Vec::new()
                }
            },
            Update::Node(item) => match item {
                Ok(event) => {
                    self.node_errors.answered(&event);
                    self.node.handle(event).into_iter().collect()
                }
                Err(e) => {
                    self.node_errors.failed(&e);
                    Vec::new()
                }
            },
        };
        if !self.initial_sync_sent && self.services.listed() && self.slices.listed() {
            self.initial_sync_sent = true;
            tracing::info!("initial Service and EndpointSlice lists received");
            changes.push(Change::InitialSyncDone);
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher::Event;

    #[test]
    fn initial_sync_waits_for_both_lists_and_is_sent_once() {
        let mut s = SourceState::new("n1", Metrics::new());
        assert!(s.handle(Update::Services(Ok(Event::Init))).is_empty());
        assert!(s.handle(Update::Services(Ok(Event::InitDone))).is_empty());
        assert!(s.handle(Update::Node(Ok(Event::Init))).is_empty());
        assert!(s.handle(Update::Slices(Ok(Event::Init))).is_empty());
        assert_eq!(
            s.handle(Update::Slices(Ok(Event::InitDone))),
            [Change::InitialSyncDone]
        );
        s.handle(Update::Services(Ok(Event::Init)));
        assert!(s.handle(Update::Services(Ok(Event::InitDone))).is_empty());
    }
}
