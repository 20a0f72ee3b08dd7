//! This node's zone and addresses, from its Node object on the real server, through the
//! API source itself (kproxy's library, on a thread in the node namespace) with kproxy's
//! service-account identity. (The Node's podCIDRs are not used by kproxy yet.)

use std::net::Ipv4Addr;
use std::time::Duration;

use kproxy::metrics::Metrics;
use kproxy::model::{Change, NodeInfo};
use kproxy::source::kube::{client, run};
use kproxy::testing::controlplane::Options;
use kproxy::testing::objects::node;
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::cluster::{Cluster, KPROXY_SA, WAIT};
use crate::support::topology::NODE_NAME;

#[test]
fn zone_and_addresses_of_this_node_only() {
    let Some(c) = Cluster::new(Options::default()) else {
        return;
    };
    c.apply_rbac();
    c.put_node(&node(
        NODE_NAME,
        Some("zone-a"),
        &[
            ("Hostname", NODE_NAME),
            ("InternalIP", "10.0.0.5"),
            ("ExternalIP", "203.0.113.7"),
        ],
    ));
    c.put_node(&node(
        "node-2",
        Some("zone-b"),
        &[("InternalIP", "10.0.0.6")],
    ));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    c.cp.service_account_kubeconfig(KPROXY_SA.0, KPROXY_SA.1, &kubeconfig);

    let _ = tracing_subscriber::fmt()
        .with_env_filter("kproxy=debug")
        .with_test_writer()
        .try_init();
    // The source's sockets must be opened in the node namespace: its runtime runs there.
    c.topo.node.run_in(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = client(Some(&kubeconfig), None).await.unwrap();
            let (tx, mut rx) = mpsc::channel(64);
            let source = tokio::spawn(run(client, NODE_NAME.into(), tx, Metrics::new()));
            let mut next = async || {
                timeout(WAIT, rx.recv())
                    .await
                    .expect("no change before the deadline")
                    .expect("the source stopped")
            };

            // The Node may come before or after the initial Service and EndpointSlice lists.
            let (mut nodes, mut synced) = (Vec::new(), false);
            while nodes.is_empty() || !synced {
                match next().await {
                    Change::NodeUpdated(info) => nodes.push(info),
                    Change::InitialSyncDone => synced = true,
                    // The API server's own Service (default/kubernetes) and its slice.
                    _ => {}
                }
            }
            assert_eq!(
                nodes,
                [NodeInfo {
                    name: NODE_NAME.into(),
                    zone: Some("zone-a".into()),
                    addresses: vec![Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(203, 0, 113, 7)],
                    pod_cidrs: Vec::new(),
                }]
            );

            // Another node's change is not this node's; this node's zone change is.
            c.put_node(&node(
                "node-2",
                Some("zone-c"),
                &[("InternalIP", "10.0.0.6")],
            ));
            c.put_node(&node(
                NODE_NAME,
                Some("zone-d"),
                &[("InternalIP", "10.0.0.5")],
            ));
            let mut changes = Vec::new();
            let want = NodeInfo {
                name: NODE_NAME.into(),
                zone: Some("zone-d".into()),
                addresses: vec![Ipv4Addr::new(10, 0, 0, 5)],
                pod_cidrs: Vec::new(),
            };
            // Applying the labels and the status are two updates: the first may show the
            // new zone with the old addresses.
            while changes.last() != Some(&Change::NodeUpdated(want.clone())) {
                match next().await {
                    Change::NodeUpdated(info) => changes.push(Change::NodeUpdated(info)),
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert!(
                changes
                    .iter()
                    .all(|c| matches!(c, Change::NodeUpdated(n) if n.name == NODE_NAME)),
                "{changes:?}"
            );
            source.abort();
            let _ = timeout(Duration::from_secs(5), source).await;
        });
    });
    let node_requests: Vec<_> = c
        .kproxy_requests()
        .into_iter()
        .filter(|e| e.resource == "nodes" && e.verb != "get")
        .collect();
    assert!(
        node_requests
            .iter()
            .all(|e| e.uri.contains("fieldSelector=metadata.name%3Dnode-1")),
        "{node_requests:#?}"
    );
}
