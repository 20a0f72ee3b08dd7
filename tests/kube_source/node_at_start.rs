//! The Node read once at start, for `--nodeport-addresses primary` and
//! `--detect-local-mode NodeCIDR`: its addresses and IPv4 pod CIDRs, waited for while the
//! Node has none yet.

use std::net::Ipv4Addr;
use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use kproxy::source::kube::read_at_start;
use kproxy::testing::objects::node;
use kproxy::testing::{Resource, TestApiServer};

use super::harness::NODE;

fn with_pod_cidrs(mut n: core::Node, cidrs: &[&str]) -> core::Node {
    n.spec = Some(core::NodeSpec {
        pod_cidrs: Some(cidrs.iter().map(|c| c.to_string()).collect()),
        ..core::NodeSpec::default()
    });
    n
}

#[tokio::test]
async fn the_node_is_read_with_its_pod_cidrs_once_they_are_allocated() {
    let server = TestApiServer::start().await.unwrap();
    // Another node's pod CIDRs are not this node's.
    server.put_node(&with_pod_cidrs(
        node("node-2", None, &[("InternalIP", "10.0.0.6")]),
        &["10.244.9.0/24"],
    ));
    server.put_node(&node(NODE, None, &[("InternalIP", "10.0.0.5")]));
    let client = server.client();
    let read = tokio::spawn(async move { read_at_start(client, NODE, true).await });
    // Still waiting after a second look: the Node has no pod CIDRs yet.
    let lists = || {
        server
            .requests()
            .iter()
            .filter(|r| r.resource() == Some(Resource::Nodes) && !r.is_watch())
            .count()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while lists() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Node was read once only"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!read.is_finished());
    server.put_node(&with_pod_cidrs(
        node(NODE, None, &[("InternalIP", "10.0.0.5")]),
        &["fd00:5::/64", "10.244.5.0/24"],
    ));
    let info = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("read once the pod CIDRs are there")
        .unwrap()
        .unwrap()
        .expect("the node exists");
    assert_eq!(info.addresses, [Ipv4Addr::new(10, 0, 0, 5)]);
    assert_eq!(info.pod_cidrs, ["10.244.5.0/24".parse().unwrap()]);

    // Without NodeCIDR only the addresses are needed: no wait.
    let got = read_at_start(server.client(), NODE, false).await.unwrap();
    assert_eq!(got.unwrap().addresses, [Ipv4Addr::new(10, 0, 0, 5)]);
}
