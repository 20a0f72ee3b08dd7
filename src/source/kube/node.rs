//! This node's Node object → [`NodeInfo`] (its zone and IPv4 addresses), and whether it may
//! receive load-balancer traffic (for `/healthz`).

use k8s_openapi::api::core::v1::Node;

use kube::runtime::watcher::Event;

use crate::health;
use crate::model::{Change, NodeInfo};
pub use crate::source::convert::{ZONE_LABEL, node_info};

/// Upstream's waits for the Node at start (`NewNodeManager`): 30 s for its addresses,
/// 5 minutes for its pod CIDRs in NodeCIDR mode.
const WAIT_FOR_ADDRESSES: std::time::Duration = std::time::Duration::from_secs(30);
const WAIT_FOR_POD_CIDRS: std::time::Duration = std::time::Duration::from_secs(300);

/// Reads this node's Node object once, before the first sync, for the settings that
/// depend on it (`--nodeport-addresses primary`, `--detect-local-mode NodeCIDR`); polls
/// every second while it is missing or has no addresses (up to 30 s: then `Ok(None)` or
/// the node as it is), and with `pod_cidrs` while it has no pod CIDRs (up to 5 minutes:
/// then an error, as kube-proxy fails).
pub async fn read_at_start(
    client: kube::Client,
    name: &str,
    pod_cidrs: bool,
) -> Result<Option<NodeInfo>, String> {
    use kube::api::{Api, ListParams};
    let api = Api::<Node>::all(client);
    let params = ListParams::default().fields(&format!("metadata.name={name}"));
    let start = std::time::Instant::now();
    loop {
        let found = match api.list(&params).await {
            Ok(list) => list.items.first().map(|n| node_info(name, n)),
            Err(e) => {
                tracing::debug!(error = %e, node = name, "cannot read the Node yet");
                None
            }
        };
        let waited = start.elapsed();
        let want_cidrs = pod_cidrs && found.as_ref().is_none_or(|n| n.pod_cidrs.is_empty());
        let want_addresses = found.as_ref().is_none_or(|n| n.addresses.is_empty());
        if want_cidrs {
            if waited >= WAIT_FOR_POD_CIDRS {
                return Err(match found {
                    None => format!("timeout waiting for node {name:?} to exist"),
                    Some(_) => format!("timeout waiting for PodCIDR allocation on node {name:?}"),
                });
            }
        } else if !want_addresses || waited >= WAIT_FOR_ADDRESSES {
            if found.is_none() {
                tracing::error!(node = name, "timed out waiting for the Node to exist");
            }
            return Ok(found);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Whether the node may receive load-balancer traffic, by kube-proxy's rule (`SyncNode`):
/// not being deleted and not tainted for deletion by the cluster autoscaler.
pub fn node_eligible(node: &Node) -> bool {
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default();
    health::node_eligible(
        node.metadata.deletion_timestamp.is_some(),
        taints.iter().map(|t| t.key.as_str()),
    )
}

/// This node's info as last reported. Starts as the bare name, which is what the state
/// starts with, so an unchanged bare node is not reported again.
pub struct NodeTracker {
    last: NodeInfo,
    /// Whether the list in progress contained the node.
    seen_in_list: bool,
    /// [`node_eligible`] of the last Node object seen.
    eligible: bool,
}

impl NodeTracker {
    pub fn new(name: &str) -> Self {
        Self {
            last: NodeInfo {
                name: name.to_string(),
                ..NodeInfo::default()
            },
            seen_in_list: false,
            // Eligible until a Node object says otherwise, as kube-proxy starts.
            eligible: true,
        }
    }

    /// [`node_eligible`] of the last Node object seen (a deleted one included, as
    /// kube-proxy's handler does); `true` before any.
    pub fn eligible(&self) -> bool {
        self.eligible
    }

    /// The change one watcher event leads to. A deleted Node (or one missing from a
    /// relist) leaves only the name.
    pub fn handle(&mut self, event: Event<Node>) -> Option<Change> {
        let name = self.last.name.clone();
        if let Event::InitApply(node) | Event::Apply(node) | Event::Delete(node) = &event {
            self.eligible = node_eligible(node);
        }
        let info = match event {
            Event::Init => {
                self.seen_in_list = false;
                return None;
            }
            Event::InitApply(node) => {
                self.seen_in_list = true;
                node_info(&name, &node)
            }
            Event::Apply(node) => node_info(&name, &node),
            Event::InitDone if self.seen_in_list => return None,
            Event::InitDone | Event::Delete(_) => NodeInfo {
                name,
                ..NodeInfo::default()
            },
        };
        (info != self.last).then(|| {
            self.last = info.clone();
            Change::NodeUpdated(info)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeAddress, NodeStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::net::Ipv4Addr;

    fn addr(type_: &str, address: &str) -> NodeAddress {
        NodeAddress {
            type_: type_.into(),
            address: address.into(),
        }
    }

    #[test]
    fn zone_and_ipv4_internal_then_external_addresses() {
        let node = Node {
            metadata: ObjectMeta {
                name: Some("n1".into()),
                labels: Some([(ZONE_LABEL.to_string(), "zone-a".to_string())].into()),
                ..Default::default()
            },
            status: Some(NodeStatus {
                addresses: Some(vec![
                    addr("Hostname", "n1"),
                    addr("ExternalIP", "203.0.113.7"),
                    addr("InternalIP", "10.0.0.5"),
                    addr("InternalIP", "fd00::5"),
                    addr("InternalIP", "10.0.0.5"),
                ]),
                ..Default::default()
            }),
            spec: Some(k8s_openapi::api::core::v1::NodeSpec {
                pod_cidrs: Some(vec!["fd00:1::/64".into(), "10.244.3.7/24".into()]),
                ..Default::default()
            }),
        };
        assert_eq!(
            node_info("n1", &node),
            NodeInfo {
                name: "n1".into(),
                zone: Some("zone-a".into()),
                addresses: vec![Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(203, 0, 113, 7)],
                pod_cidrs: vec!["10.244.3.0/24".parse().unwrap()],
            }
        );
    }

    #[test]
    fn tracker_reports_changes_only() {
        let mut t = NodeTracker::new("n1");
        let bare = Node::default();
        let mut zoned = Node::default();
        zoned.metadata.labels = Some([(ZONE_LABEL.to_string(), "z".to_string())].into());
        assert_eq!(t.handle(Event::Init), None);
        assert_eq!(t.handle(Event::InitApply(bare.clone())), None);
        assert_eq!(t.handle(Event::InitDone), None);
        let Some(Change::NodeUpdated(info)) = t.handle(Event::Apply(zoned.clone())) else {
            panic!("zone change not reported");
        };
        assert_eq!(info.zone.as_deref(), Some("z"));
        assert_eq!(t.handle(Event::Apply(zoned)), None);
        // Gone while no watch was open: the relist does not contain it.
        t.handle(Event::Init);
        let Some(Change::NodeUpdated(info)) = t.handle(Event::InitDone) else {
            panic!("missing node not reported");
        };
        assert_eq!(
            info,
            NodeInfo {
                name: "n1".into(),
                ..NodeInfo::default()
            }
        );
    }

    #[test]
    fn eligibility_follows_deletion_and_the_autoscaler_taint() {
        use k8s_openapi::api::core::v1::{NodeSpec, Taint};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

        let taint = |key: &str| Taint {
            key: key.into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let tainted = |keys: &[&str]| Node {
            spec: Some(NodeSpec {
                taints: Some(keys.iter().map(|k| taint(k)).collect()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut t = NodeTracker::new("n1");
        assert!(t.eligible());
        t.handle(Event::Apply(tainted(&["node.kubernetes.io/unschedulable"])));
        assert!(t.eligible());
        t.handle(Event::Apply(tainted(&[health::TO_BE_DELETED_TAINT])));
        assert!(!t.eligible());
        t.handle(Event::Apply(Node::default()));
        assert!(t.eligible());
        let mut deleting = Node::default();
        deleting.metadata.deletion_timestamp = Some(Time(Default::default()));
        t.handle(Event::Delete(deleting));
        assert!(!t.eligible());
    }

    #[test]
    fn a_bare_node_has_no_zone_or_addresses() {
        let info = node_info("n1", &Node::default());
        assert_eq!(info.zone, None);
        assert!(info.addresses.is_empty());
    }
}
