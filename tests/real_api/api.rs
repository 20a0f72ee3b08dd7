//! The API source against the real server, through the real kproxy binary: what reaches
//! the node's rules and real traffic, and what kproxy asked the server (its audit log).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::api::events::v1 as events;
use kproxy::testing::controlplane::Options;
use kproxy::testing::objects::with_label;

use crate::cluster::{Cluster, NS, RBAC, pods_slice, routes_to, svc};
use crate::support::metrics::HEALTHZ;

const WEB_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const API_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 20);
const LATE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 30);
const OTHER_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 40);
const WEB: &str = "demo/web:http";
const LAST_SYNC: &str = "kubeproxy_sync_proxy_rules_last_timestamp_seconds";

/// web (pods 0, 1, 2) and api (pod 1), with deploy/rbac.yaml applied and kproxy routing both.
fn web_and_api(options: Options) -> Option<Cluster> {
    let mut c = Cluster::new(options)?;
    c.apply_rbac();
    let admin = c.cp.admin();
    admin.apply(&svc("web", WEB_IP, 80));
    admin.apply(&pods_slice("web-1", "web", &[0, 1, 2]));
    admin.apply(&svc("api", API_IP, 8080));
    admin.apply(&pods_slice("api-1", "api", &[1]));
    c.start_kproxy();
    c.wait_traffic(WEB_IP, 80, &[0, 1, 2]);
    c.wait_traffic(API_IP, 8080, &[1]);
    Some(c)
}

/// deploy/rbac.yaml without its EndpointSlice rule.
fn rbac_without_endpointslices() -> String {
    let rule = "  - apiGroups: [\"discovery.k8s.io\"]\n    resources: [\"endpointslices\"]\n    verbs: [\"list\", \"watch\"]\n";
    assert!(
        RBAC.contains(rule),
        "deploy/rbac.yaml changed its EndpointSlice rule"
    );
    RBAC.replace(rule, "")
}

/// No sync before both initial lists are complete, however long one takes: here the
/// EndpointSlice list is refused until the RBAC rule for it arrives. Syncing the Services
/// alone would REJECT every connection to them meanwhile.
#[test]
fn first_sync_waits_for_every_initial_list() {
    let Some(mut c) = Cluster::new(Options::default()) else {
        return;
    };
    c.cp.admin().apply(&svc("web", WEB_IP, 80));
    c.cp.admin().apply(&pods_slice("web-1", "web", &[0, 1, 2]));
    c.cp.admin().apply_manifest(&rbac_without_endpointslices());
    c.start_kproxy();

    c.wait("two refused EndpointSlice lists", |c| {
        c.lists("endpointslices", 403) >= 2
    });
    assert!(c.lists("services", 200) >= 1, "{:#?}", c.kproxy_requests());
    c.wait("kproxy's /metrics", |c| c.metric(LAST_SYNC).is_some());
    assert_eq!(c.metric(LAST_SYNC), Some(0.0), "a sync happened");
    let rules = c.rules();
    assert!(
        !rules.contains("KUBE-SVC"),
        "synced before the lists:\n{rules}"
    );

    c.apply_rbac();
    c.wait_traffic(WEB_IP, 80, &[0, 1, 2]);
    assert!(c.metric(LAST_SYNC).unwrap() > 0.0);
}

/// Services and EndpointSlices added, modified and deleted converge in the rules and in
/// traffic; another proxy's Service is left alone; the API server's own Service routes
/// to it. All with exactly deploy/rbac.yaml's permissions.
#[test]
fn watch_events_converge_and_rbac_is_enough() {
    let Some(mut c) = web_and_api(Options::default()) else {
        return;
    };
    let admin = c.cp.admin();

    // MODIFIED slice, then a second slice of the same service.
    admin.apply(&pods_slice("web-1", "web", &[0, 1]));
    c.wait_rules("pod-2 out of web", |r| !routes_to(r, WEB, 2));
    assert_eq!(c.reached(WEB_IP, 80).map(|p| p.len()), Some(2));
    c.cp.admin().apply(&pods_slice("web-2", "web", &[2]));
    c.wait_traffic(WEB_IP, 80, &[0, 1, 2]);

    // MODIFIED service: a new port replaces the old one.
    c.cp.admin().apply(&svc("api", API_IP, 9090));
    c.wait_traffic(API_IP, 9090, &[1]);
    assert_ne!(
        c.reached(API_IP, 8080).map(|p| p.len()),
        Some(1),
        "port 8080 still open"
    );

    // DELETED slice: refused at once; DELETED service: its rules gone.
    c.cp.admin()
        .delete::<discovery::EndpointSlice>(Some(NS), "api-1", None);
    c.wait_traffic(API_IP, 9090, &[]);
    c.cp.admin().delete::<core::Service>(Some(NS), "api", None);
    c.wait_rules("api's rules gone", |r| !r.contains("demo/api"));

    // Another proxy's Service never reaches kproxy (label selector on the server).
    let other = with_label(
        svc("other", OTHER_IP, 80),
        "service.kubernetes.io/service-proxy-name",
        "someone-else",
    );
    c.cp.admin().apply(&other);
    c.cp.admin().apply(&pods_slice("other-1", "other", &[0]));
    c.cp.admin().apply(&svc("late", LATE_IP, 80));
    c.cp.admin().apply(&pods_slice("late-1", "late", &[2]));
    c.wait_traffic(LATE_IP, 80, &[2]);
    assert!(!c.rules().contains("demo/other"), "{}", c.rules());

    // default/kubernetes, the API server's own Service, leads from the node to it.
    let kubernetes = SocketAddr::from(([10, 96, 0, 1], 443));
    c.wait("10.96.0.1:443 to reach the API server", |c| {
        c.topo
            .node
            .run_in(|| TcpStream::connect_timeout(&kubernetes, Duration::from_secs(2)).is_ok())
    });

    c.assert_rbac_was_enough();
    let lists: Vec<String> = c
        .kproxy_requests()
        .into_iter()
        .filter(|e| e.verb == "list" && e.resource == "services")
        .map(|e| e.uri)
        .collect();
    assert!(
        lists.iter().all(|u| u.contains("labelSelector=")),
        "a Service list without kube-proxy's label selector: {lists:?}"
    );
}

/// The API server dies and comes back on the same etcd: kproxy keeps its rules
/// meanwhile, reconnects by itself, and follows later changes.
#[test]
fn resumes_after_the_api_server_restarts() {
    let Some(mut c) = web_and_api(Options::default()) else {
        return;
    };
    let watches_before = watch_starts(&c, "endpointslices");
    c.cp.kill_apiserver();
    c.wait("kproxy to notice", |c| {
        c.kproxy_log().contains("watch failed")
    });
    assert_eq!(
        c.reached(WEB_IP, 80).map(|p| p.len()),
        Some(3),
        "rules lost while the API server was away"
    );

    c.cp.start_apiserver();
    // Until its RBAC caches are filled, a starting API server refuses requests (403) that
    // it will allow a moment later; kproxy retries. Judged from readiness on.
    let ready = c.mark();
    c.cp.admin().apply(&pods_slice("web-1", "web", &[0, 1]));
    c.wait_traffic(WEB_IP, 80, &[0, 1]);
    c.cp.admin().apply(&svc("late", LATE_IP, 80));
    c.cp.admin().apply(&pods_slice("late-1", "late", &[2]));
    c.wait_traffic(LATE_IP, 80, &[2]);
    assert!(watch_starts(&c, "endpointslices") > watches_before);
    c.assert_rbac_was_enough_since(&ready);
}

/// The node is cut off from the API server while objects are deleted and changed; once
/// it is back, its watches resume from where they were (the changes are still in the
/// watch cache, so no relist) and deliver the deletions.
#[test]
fn deletions_while_cut_off_arrive_when_back() {
    let Some(mut c) = web_and_api(Options::default()) else {
        return;
    };
    let lists_before = c.lists("services", 200);
    cut_off_and_change(&mut c);
    c.cp.reconnect(c.node_ip);

    c.wait_rules("api's rules gone and pod-2 out of web", |r| {
        !r.contains("demo/api") && !routes_to(r, WEB, 2) && routes_to(r, WEB, 0)
    });
    c.wait_traffic(WEB_IP, 80, &[0, 1]);
    assert_eq!(c.lists("services", 200), lists_before, "relisted Services");
    c.assert_rbac_was_enough();
}

/// As above, but etcd's history is compacted while the node is away and Services and
/// EndpointSlices are watched from etcd (not the watch cache), so the resumed watches get
/// 410 Gone: kproxy relists and removes what was
/// deleted meanwhile.
#[test]
fn gone_after_compaction_relists_and_removes_what_was_deleted() {
    let uncached = vec!["services", "endpointslices.discovery.k8s.io"];
    let Some(mut c) = web_and_api(Options { uncached }) else {
        return;
    };
    let lists_before = c.lists("services", 200);
    cut_off_and_change(&mut c);
    c.cp.compact_etcd();
    c.cp.reconnect(c.node_ip);

    c.wait_rules("api's rules gone and pod-2 out of web", |r| {
        !r.contains("demo/api") && !routes_to(r, WEB, 2) && routes_to(r, WEB, 0)
    });
    c.wait_traffic(WEB_IP, 80, &[0, 1]);
    c.wait("a second Service list", |c| {
        c.lists("services", 200) > lists_before
    });
    let log = c.kproxy().log_text();
    assert!(log.contains("410 Gone"), "{log}");
    c.assert_rbac_was_enough();
}

/// Cuts the node off (once kproxy watches everything), then deletes api and its slice and
/// takes pod-2 out of web; kproxy's rules keep working meanwhile.
fn cut_off_and_change(c: &mut Cluster) {
    c.wait("kproxy's watches", |c| {
        ["services", "endpointslices", "nodes"]
            .iter()
            .all(|r| watch_starts(c, r) >= 1)
    });
    c.cp.cut_off(c.node_ip);
    c.wait("kproxy to notice", |c| {
        c.kproxy_log().contains("watch failed")
    });
    let admin = c.cp.admin();
    admin.delete::<core::Service>(Some(NS), "api", None);
    admin.delete::<discovery::EndpointSlice>(Some(NS), "api-1", None);
    admin.apply(&pods_slice("web-1", "web", &[0, 1]));
    assert_eq!(
        c.reached(API_IP, 8080).map(|p| p.len()),
        Some(1),
        "rules lost while cut off"
    );
}

/// How many watches of `resource` kproxy opened.
fn watch_starts(c: &Cluster, resource: &str) -> usize {
    c.kproxy_requests()
        .iter()
        .filter(|e| e.verb == "watch" && e.resource == resource && e.stage == "ResponseStarted")
        .count()
}

/// A server that cannot bind ends kproxy under `--bind-address-hard-fail`, as it ends
/// kube-proxy, and leaves upstream's Warning Event on the Node saying why (with
/// deploy/rbac.yaml's permissions: recording events is one of them).
#[test]
fn a_fatal_bind_failure_is_an_event_on_the_node() {
    let Some(mut c) = Cluster::new(Options::default()) else {
        return;
    };
    c.apply_rbac();
    let _squatter = c
        .topo
        .node
        .run_in(|| TcpListener::bind(HEALTHZ).expect("bind the healthz port"));
    c.start_kproxy_with(&["--bind-address-hard-fail"]);
    c.wait("kproxy to exit", |c| {
        c.kproxy_log().contains("bind-address-hard-fail is set")
    });
    c.wait("the FailedToStartProxierHealthcheck event", |c| {
        c.cp.admin()
            .list::<events::Event>(Some("default"))
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("FailedToStartProxierHealthcheck")
                    && e.type_.as_deref() == Some("Warning")
                    && e.action.as_deref() == Some("StartKubeProxy")
                    && e.note
                        .as_deref()
                        .is_some_and(|n| n.contains(&HEALTHZ.to_string()))
            })
    });
    let status = c.kproxy().exited();
    assert!(status.is_some_and(|s| !s.success()), "kproxy: {status:?}");
}

/// A health-check node port that cannot be bound leaves upstream's Warning Event on its
/// Service (`FailedToStartServiceHealthcheck`, action `Listen`), and the service is still
/// proxied.
#[test]
fn a_health_check_port_that_cannot_be_bound_is_an_event_on_the_service() {
    const PORT: u16 = 32_100;
    let Some(mut c) = Cluster::new(Options::default()) else {
        return;
    };
    c.apply_rbac();
    let _squatter = c.topo.node.run_in(|| {
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT)).expect("bind the health-check port")
    });
    let mut lb = svc("lb", WEB_IP, 80);
    let spec = lb.spec.as_mut().unwrap();
    spec.type_ = Some("LoadBalancer".into());
    spec.external_traffic_policy = Some("Local".into());
    spec.health_check_node_port = Some(i32::from(PORT));
    let admin = c.cp.admin();
    admin.apply(&lb);
    admin.apply(&pods_slice("lb-1", "lb", &[0]));
    c.start_kproxy();
    c.wait_traffic(WEB_IP, 80, &[0]);
    c.wait("the FailedToStartServiceHealthcheck event", |c| {
        c.cp.admin()
            .list::<events::Event>(Some(NS))
            .iter()
            .any(|e| {
                let regarding = e.regarding.as_ref();
                e.reason.as_deref() == Some("FailedToStartServiceHealthcheck")
                    && e.action.as_deref() == Some("Listen")
                    && regarding.and_then(|r| r.kind.as_deref()) == Some("Service")
                    && regarding.and_then(|r| r.name.as_deref()) == Some("lb")
                    && e.note
                        .as_deref()
                        .is_some_and(|n| n.contains(&format!("on port {PORT}")))
            })
    });
    c.assert_rbac_was_enough();
}
