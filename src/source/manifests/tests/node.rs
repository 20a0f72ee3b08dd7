//! This node's `v1 Node` in the directory: read, others ignored, updated, removed.

use std::net::Ipv4Addr;

use super::watching::start;
use super::{NODE, WEB, write};
use crate::metrics::Metrics;
use crate::model::{Change, NodeInfo};
use crate::source::manifests::load_dir;

/// A Node document named `name` in `zone`, with an internal and a hostname address and
/// a dual-stack pod CIDR list.
fn node_yaml(name: &str, zone: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    \
         topology.kubernetes.io/zone: {zone}\nspec:\n  podCIDRs: [10.244.3.0/24, fd00:1::/64]\n\
         status:\n  addresses:\n  - {{type: Hostname, address: {name}}}\n  \
         - {{type: InternalIP, address: 192.168.1.10}}\n"
    )
}

fn expected(zone: &str) -> NodeInfo {
    NodeInfo {
        name: NODE.into(),
        zone: Some(zone.into()),
        addresses: vec![Ipv4Addr::new(192, 168, 1, 10)],
        pod_cidrs: vec!["10.244.3.0/24".parse().unwrap()],
    }
}

fn bare() -> NodeInfo {
    NodeInfo {
        name: NODE.into(),
        ..NodeInfo::default()
    }
}

#[test]
fn this_nodes_node_gives_zone_addresses_and_pod_cidrs() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "node.yaml", &node_yaml(NODE, "zone-a"));
    write(tmp.path(), "web.yaml", WEB);
    let snap = load_dir(tmp.path(), NODE, &Metrics::new()).unwrap();
    assert_eq!(snap.node, Some(expected("zone-a")));
    assert_eq!(snap.services.len(), 1);
}

#[test]
fn nodes_of_other_names_are_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "other.yaml", &node_yaml("node-2", "zone-b"));
    let snap = load_dir(tmp.path(), NODE, &Metrics::new()).unwrap();
    assert_eq!(snap.node, None);
    // In a NodeList (a `kubectl get nodes -o yaml` dump), this node's item is found.
    let list = "apiVersion: v1\nkind: NodeList\nitems:\n- metadata: {name: node-3}\n\
                - metadata: {name: node-1, labels: {topology.kubernetes.io/zone: zone-a}}\n  \
                spec: {podCIDRs: [10.244.3.0/24]}\n  \
                status: {addresses: [{type: InternalIP, address: 192.168.1.10}]}\n";
    write(tmp.path(), "nodes.yaml", list);
    let snap = load_dir(tmp.path(), NODE, &Metrics::new()).unwrap();
    assert_eq!(snap.node, Some(expected("zone-a")));
}

#[test]
fn a_node_without_a_name_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "node.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {}\n",
    );
    let metrics = Metrics::new();
    let snap = load_dir(tmp.path(), NODE, &metrics).unwrap();
    assert_eq!(snap.node, None);
    assert_eq!(metrics.rejected("Node", "missing_name"), 1);
}

#[tokio::test]
async fn the_node_is_sent_first_then_follows_edits_and_removal() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "node.yaml", &node_yaml(NODE, "zone-a"));
    write(tmp.path(), "web.yaml", WEB);
    let (mut running, initial) = start(tmp.path()).await;
    assert_eq!(initial[0], Change::NodeUpdated(expected("zone-a")));
    assert_eq!(initial.len(), 4, "{initial:#?}");

    write(tmp.path(), "node.yaml", &node_yaml(NODE, "zone-b"));
    let changes = running.until(|c| matches!(c, Change::NodeUpdated(_))).await;
    assert_eq!(changes, [Change::NodeUpdated(expected("zone-b"))]);

    // Another node's object changes nothing.
    write(tmp.path(), "other.yaml", &node_yaml("node-2", "zone-c"));
    running.assert_quiet().await;

    std::fs::remove_file(&path).unwrap();
    let changes = running.until(|c| matches!(c, Change::NodeUpdated(_))).await;
    assert_eq!(changes, [Change::NodeUpdated(bare())]);
    running.assert_quiet().await;
}
