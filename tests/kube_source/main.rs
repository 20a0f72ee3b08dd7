//! The real Kubernetes API source against the in-process test API server, through the real
//! kube client and kube-runtime watcher: initial sync, watch events, bookmarks, dropped
//! connections, 410 Gone relists, selectors and the Node object.

use std::net::Ipv4Addr;
use std::time::Duration;

use kproxy::metrics::Metrics;
use kproxy::model::{Change, NodeInfo, SliceName};
use kproxy::source::kube::{PROXY_LABEL_SELECTOR, run};
use kproxy::testing::objects::{node, with_label};
use kproxy::testing::{RequestRecord, Resource, TestApiServer};
use tokio::sync::mpsc;
use tokio::time::timeout;

mod harness;
mod node_at_start;
mod outage;

use harness::{DEADLINE, Harness, Logs, NODE, is_update_of, svc_name, web, web_slice};

#[tokio::test]
async fn initial_sync_waits_for_both_lists() {
    let server = TestApiServer::start().await.unwrap();
    server.put_service(&web("a", "10.96.0.10", 80));
    server.put_slice(&web_slice("a-1", "a", "10.244.0.5"));
    server.pause_lists(Resource::EndpointSlices);
    let mut h = Harness::start(server).await;

    let first = h.until(|c| is_update_of(c, "a")).await;
    assert!(!first.contains(&Change::InitialSyncDone), "{first:?}");
    h.wait_for("the held EndpointSlice list request", |s| {
        s.requests()
            .iter()
            .any(|r| r.resource() == Some(Resource::EndpointSlices) && r.status.is_none())
    })
    .await;
    let meanwhile = h.quiet(Duration::from_millis(300)).await;
    assert!(
        !meanwhile.contains(&Change::InitialSyncDone),
        "InitialSyncDone before the EndpointSlice list completed: {meanwhile:?}"
    );

    h.server.resume_lists(Resource::EndpointSlices);
    let rest = h.initial_sync().await;
    assert!(
        rest.iter()
            .any(|c| matches!(c, Change::SliceUpdated(s) if s.name == SliceName::new("ns", "a-1"))),
        "slice not reported before InitialSyncDone: {rest:?}"
    );

    // Both lists carried kube-proxy's label selector.
    for resource in [Resource::Services, Resource::EndpointSlices] {
        let list = &h.requests_for(resource)[0];
        assert!(!list.is_watch());
        assert_eq!(list.param("labelSelector"), Some(PROXY_LABEL_SELECTOR));
    }
    // Sent once only.
    h.server.put_service(&web("b", "10.96.0.11", 80));
    let later = h.until(|c| is_update_of(c, "b")).await;
    assert!(!later.contains(&Change::InitialSyncDone), "{later:?}");
}

#[tokio::test]
async fn watch_events_are_reported_and_filtered() {
    let server = TestApiServer::start().await.unwrap();
    let mut h = Harness::start(server).await;
    let initial = h.initial_sync().await;
    assert!(
        initial[..initial.len() - 1]
            .iter()
            .all(|c| matches!(c, Change::NodeUpdated(_))),
        "{initial:?}"
    );

    // ADDED
    h.server.put_service(&web("a", "10.96.0.10", 80));
    let c = h.next_object().await;
    let Change::ServiceUpdated(svc) = c else {
        panic!("expected ServiceUpdated, got {c:?}")
    };
    assert_eq!(svc.cluster_ip, Ipv4Addr::new(10, 96, 0, 10));
    assert_eq!(svc.ports[0].port, 80);

    // MODIFIED
    h.server.put_service(&web("a", "10.96.0.10", 8080));
    let c = h.next_object().await;
    assert!(
        matches!(&c, Change::ServiceUpdated(s) if s.ports[0].port == 8080),
        "{c:?}"
    );

    h.server.put_slice(&web_slice("a-1", "a", "10.244.0.5"));
    let c = h.next_object().await;
    let Change::SliceUpdated(s) = c else {
        panic!("expected SliceUpdated, got {c:?}")
    };
    assert_eq!(s.service, svc_name("a"));
    assert_eq!(s.endpoints[0].ip, Ipv4Addr::new(10, 244, 0, 5));
    assert_eq!(s.endpoints[0].node_name.as_deref(), Some(NODE));

    // DELETED
    h.server.delete_slice("ns", "a-1");
    assert_eq!(
        h.next_object().await,
        Change::SliceDeleted(SliceName::new("ns", "a-1"))
    );

    // Another proxy's service is never seen: the next change is the one after it.
    let proxy_name = "service.kubernetes.io/service-proxy-name";
    let other = with_label(web("other", "10.96.0.20", 80), proxy_name, "someone-else");
    h.server.put_service(&other);
    h.server.put_service(&web("b", "10.96.0.11", 80));
    let c = h.next_object().await;
    assert!(is_update_of(&c, "b"), "{c:?}");

    // Claimed by another proxy later: the API server says DELETED to this selector.
    let claimed = with_label(web("b", "10.96.0.11", 80), proxy_name, "someone-else");
    h.server.put_service(&claimed);
    assert_eq!(h.next_object().await, Change::ServiceDeleted(svc_name("b")));

    // An invalid object is rejected, counted, and blocks nothing.
    h.server.put_service(&web("bad", "not-an-ip", 80));
    h.server.put_service(&web("c", "10.96.0.12", 80));
    let c = h.next_object().await;
    assert!(is_update_of(&c, "c"), "{c:?}");
    assert_eq!(h.metrics.rejected("Service", "invalid_cluster_ip"), 1);

    h.server.delete_service("ns", "a");
    assert_eq!(h.next_object().await, Change::ServiceDeleted(svc_name("a")));
}

#[tokio::test]
async fn bookmark_moves_the_resume_point() {
    let server = TestApiServer::start().await.unwrap();
    let mut h = Harness::start(server).await;
    h.initial_sync().await;
    h.watching(Resource::Services).await;
    h.server.put_service(&web("a", "10.96.0.10", 80));
    let c = h.next_object().await;
    assert!(is_update_of(&c, "a"), "{c:?}");

    // Unrelated changes move the resourceVersion past anything the Service watch saw.
    h.server.put_node(&node("elsewhere", None, &[]));
    h.server.put_node(&node("elsewhere-2", None, &[]));
    let latest = h.server.resource_version();
    h.server.bookmark();
    h.server.compact();
    let before = h.requests_for(Resource::Services).len();
    h.server.close_watches();
    h.wait_for("the Service watch to reopen", |s| {
        s.requests()
            .iter()
            .filter(|r| r.resource() == Some(Resource::Services))
            .count()
            > before
    })
    .await;
    h.watching(Resource::Services).await;

    let services = h.requests_for(Resource::Services);
    let resumed = &services[before];
    assert!(resumed.is_watch(), "{resumed:?}");
    assert_eq!(resumed.param("allowWatchBookmarks"), Some("true"));
    assert_eq!(
        resumed.resource_version(),
        Some(latest.to_string().as_str())
    );
    // No relist: the bookmark kept the watch inside the compacted window.
    assert_eq!(services.iter().filter(|r| !r.is_watch()).count(), 1);

    // And the resumed watch works.
    h.server.delete_service("ns", "a");
    assert_eq!(h.next_object().await, Change::ServiceDeleted(svc_name("a")));
}

#[tokio::test]
async fn dropped_connection_resumes_without_missing_events() {
    let server = TestApiServer::start().await.unwrap();
    server.put_service(&web("a", "10.96.0.10", 80));
    let mut h = Harness::start(server).await;
    h.initial_sync().await;
    h.watching(Resource::Services).await;
    let rv_b = h.server.put_service(&web("b", "10.96.0.11", 80));
    let c = h.next_object().await;
    assert!(is_update_of(&c, "b"), "{c:?}");

    let before = h.requests_for(Resource::Services).len();
    h.server.drop_watches();
    // Changes made around the reconnect must all arrive, in order.
    h.server.put_service(&web("c", "10.96.0.12", 80));
    h.server.delete_service("ns", "a");
    h.server.put_service(&web("b", "10.96.0.11", 81));

    let c = h.next_object().await;
    assert!(is_update_of(&c, "c"), "{c:?}");
    assert_eq!(h.next_object().await, Change::ServiceDeleted(svc_name("a")));
    let c = h.next_object().await;
    assert!(
        matches!(&c, Change::ServiceUpdated(s) if s.ports[0].port == 81),
        "{c:?}"
    );

    let after = &h.requests_for(Resource::Services)[before..];
    assert!(
        after.iter().all(RequestRecord::is_watch),
        "relisted: {after:?}"
    );
    assert_eq!(after[0].resource_version(), Some(rv_b.to_string().as_str()));
}

#[tokio::test]
async fn gone_relists_and_reports_what_was_deleted_while_away() {
    let server = TestApiServer::start().await.unwrap();
    server.put_service(&web("a", "10.96.0.10", 80));
    server.put_service(&web("b", "10.96.0.11", 80));
    let mut h = Harness::start(server).await;
    h.initial_sync().await;
    h.watching(Resource::Services).await;

    // No watch can be open while the changes happen.
    h.server.refuse_watches(true);
    h.server.drop_watches();
    h.server.delete_service("ns", "b");
    h.server.put_service(&web("c", "10.96.0.12", 80));
    h.server.put_service(&web("a", "10.96.0.10", 80)); // same content: not reported
    h.server.compact();
    h.wait_for("a refused Service watch", |s| {
        s.requests()
            .iter()
            .any(|r| r.resource() == Some(Resource::Services) && r.status == Some(503))
    })
    .await;
    h.server.refuse_watches(false);

    // The relist is reported as one diff: the new service, then the deleted one.
    let c = h.next_object().await;
    assert!(is_update_of(&c, "c"), "{c:?}");
    assert_eq!(h.next_object().await, Change::ServiceDeleted(svc_name("b")));

    let services = h.requests_for(Resource::Services);
    assert_eq!(
        services.iter().filter(|r| !r.is_watch()).count(),
        2,
        "expected one relist after 410: {services:?}"
    );
    // The relist followed a watch that asked for the compacted resourceVersion.
    let gone = services
        .iter()
        .position(|r| r.is_watch() && r.status == Some(200))
        .expect("no accepted watch after the refusals");
    assert!(services[gone + 1..].iter().any(|r| !r.is_watch()));
    let more = h.quiet(Duration::from_millis(200)).await;
    assert!(
        more.iter().all(|c| matches!(c, Change::NodeUpdated(_))),
        "{more:?}"
    );
}

#[tokio::test]
async fn node_zone_and_addresses_of_this_node_only() {
    let server = TestApiServer::start().await.unwrap();
    server.put_node(&node(
        NODE,
        Some("zone-a"),
        &[
            ("Hostname", NODE),
            ("InternalIP", "10.0.0.5"),
            ("ExternalIP", "203.0.113.7"),
        ],
    ));
    server.put_node(&node(
        "node-2",
        Some("zone-b"),
        &[("InternalIP", "10.0.0.6")],
    ));
    let mut h = Harness::start(server).await;

    let mut nodes = Vec::new();
    let mut synced = false;
    while nodes.is_empty() || !synced {
        match h.next().await {
            Change::NodeUpdated(info) => nodes.push(info),
            Change::InitialSyncDone => synced = true,
            c => panic!("unexpected {c:?}"),
        }
    }
    assert_eq!(
        nodes,
        [NodeInfo {
            name: NODE.into(),
            zone: Some("zone-a".into()),
            addresses: vec![Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(203, 0, 113, 7)],
            pod_cidrs: Vec::new(),
        }]
    );
    h.watching(Resource::Nodes).await;

    // Another node's change is not this node's; this node's zone change is.
    h.server.put_node(&node(
        "node-2",
        Some("zone-c"),
        &[("InternalIP", "10.0.0.6")],
    ));
    h.server
        .put_node(&node(NODE, Some("zone-d"), &[("InternalIP", "10.0.0.5")]));
    assert_eq!(
        h.next().await,
        Change::NodeUpdated(NodeInfo {
            name: NODE.into(),
            zone: Some("zone-d".into()),
            addresses: vec![Ipv4Addr::new(10, 0, 0, 5)],
            pod_cidrs: Vec::new(),
        })
    );
    let node_requests = h.requests_for(Resource::Nodes);
    assert!(
        node_requests
            .iter()
            .all(|r| r.param("fieldSelector") == Some("metadata.name=node-1")),
        "{node_requests:?}"
    );
}

#[tokio::test]
async fn watch_failures_warn_once_per_streak_then_recover() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let server = TestApiServer::start().await.unwrap();
    let mut h = Harness::start(server).await;
    h.initial_sync().await;
    h.watching(Resource::Services).await;

    // 500 is not retried inside kube's client, so the watcher itself backs off and retries.
    h.server.fail_watches(Some(500));
    h.server.drop_watches();
    h.wait_for("two failed Service watches", |s| {
        s.requests()
            .iter()
            .filter(|r| r.resource() == Some(Resource::Services) && r.status == Some(500))
            .count()
            >= 2
    })
    .await;
    h.server.fail_watches(None);
    h.server.put_service(&web("a", "10.96.0.10", 80));
    let c = h.next_object().await;
    assert!(is_update_of(&c, "a"), "{c:?}");

    let failed = "Service watch failed";
    assert_eq!(logs.count("WARN", failed), 1, "one warning per streak");
    assert!(logs.count("DEBUG", "Service watch still failing") >= 1);
    assert_eq!(logs.count("INFO", "Service watch recovered"), 1);
}

#[tokio::test]
async fn returns_when_the_receiver_is_dropped() {
    let server = TestApiServer::start().await.unwrap();
    let (tx, mut rx) = mpsc::channel(8);
    let task = tokio::spawn(run(server.client(), NODE.into(), tx, Metrics::new()));
    assert_eq!(
        timeout(DEADLINE, rx.recv()).await.unwrap(),
        Some(Change::InitialSyncDone)
    );
    drop(rx);
    let result = timeout(DEADLINE, task).await.expect("source kept running");
    assert!(result.unwrap().is_ok());
}
