//! The real `kproxy` binary against the in-process test API server: rules in a node
//! namespace and real traffic from pods follow what the API server says, through the
//! initial lists, watch events, bookmarks, dropped connections, 410 Gone relists and failed
//! watches; `/healthz`, `/livez` and `/metrics` tell the truth. Needs root; every namespace
//! is removed when a test ends.
//!
//! The API server listens inside the node namespace (`kproxy::testing::NetnsApiServer`),
//! because kproxy runs there with `--netns` and reaches it at 127.0.0.1.

mod support;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use kproxy::health::TO_BE_DELETED_TAINT;
use kproxy::testing::objects::{node, service, slice};
use kproxy::testing::{NetnsApiServer, Resource};

use support::echo::{Outcome, tcp_request};
use support::http_get::{get, metric};
use support::kproxy::{Kproxy, eventually, start_with_kubeconfig};
use support::metrics::{HEALTHZ, METRICS};
use support::netns::netns_available;
use support::topology::{NODE_NAME, Topology, pod_ip};

const NS: &str = "demo";
const WEB_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const API_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 20);
const LATE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 30);
/// The port every pod serves on.
const POD_PORT: u16 = 8080;
/// kproxy's HTTP servers, inside the node namespace (so fixed ports cannot clash).
/// Generous: after failed watches kube-runtime backs off 0.8 s, 1.6 s, 3.2 s…
const WAIT: Duration = Duration::from_secs(20);

/// A ClusterIP service with one TCP port named `http`.
fn svc(name: &str, ip: Ipv4Addr, port: i32) -> core::Service {
    service(NS, name, &ip.to_string(), &[("http", port, "TCP")])
}

/// A slice of `service` whose endpoints are the given pods, on this node, port 8080.
fn pods_slice(name: &str, service: &str, pods: &[usize]) -> discovery::EndpointSlice {
    let ips: Vec<String> = pods.iter().map(|i| pod_ip(*i).to_string()).collect();
    let endpoints: Vec<(&str, Option<&str>)> = ips
        .iter()
        .map(|ip| (ip.as_str(), Some(NODE_NAME)))
        .collect();
    slice(
        NS,
        name,
        service,
        ("http", i32::from(POD_PORT), "TCP"),
        &endpoints,
    )
}

fn this_node(taints: &[&str]) -> core::Node {
    let mut n = node(
        NODE_NAME,
        Some("zone-a"),
        &[("InternalIP", "192.168.100.1")],
    );
    if !taints.is_empty() {
        n.spec = Some(core::NodeSpec {
            taints: Some(
                taints
                    .iter()
                    .map(|k| core::Taint {
                        key: k.to_string(),
                        effect: "NoSchedule".into(),
                        ..core::Taint::default()
                    })
                    .collect(),
            ),
            ..core::NodeSpec::default()
        });
    }
    n
}

fn pods(names: &[usize]) -> BTreeSet<String> {
    names.iter().map(|i| format!("pod-{i}")).collect()
}

/// One node with three pods, the API server inside the node namespace, and kproxy.
/// Fields drop in order: kproxy first, then the server, then the namespaces.
struct Cluster {
    kproxy: Option<Kproxy>,
    api: NetnsApiServer,
    topo: Topology,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// The topology and the server, with this node's Node object; kproxy not started yet.
    fn new() -> Option<Self> {
        if !netns_available(&[]) {
            return None;
        }
        let topo = Topology::new(3, &[POD_PORT]);
        let api = NetnsApiServer::start(&topo.node.name)
            .expect("the test API server in the node namespace");
        api.put_node(&this_node(&[]));
        Some(Self {
            kproxy: None,
            api,
            topo,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// Starts kproxy on the node, reading the API server through `--kubeconfig`.
    fn start_kproxy(&mut self) {
        let kubeconfig = self.api.kubeconfig_file(self.dir.path()).unwrap();
        let log = self.dir.path().join("kproxy.log");
        self.kproxy = Some(start_with_kubeconfig(
            &self.topo.node,
            &kubeconfig,
            &log,
            &[],
        ));
    }

    fn kproxy(&mut self) -> &mut Kproxy {
        self.kproxy.as_mut().expect("kproxy started")
    }

    /// Every table of the node's rules.
    fn rules(&self) -> String {
        self.topo.node.iptables_save(&[])
    }

    /// Waits until `check` holds on the node's rules; panics with the rules and kproxy's
    /// log otherwise.
    fn rules_converge(&mut self, what: &str, check: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let rules = self.rules();
            if check(&rules) {
                return;
            }
            self.kproxy().assert_running();
            if Instant::now() > deadline {
                panic!(
                    "rules never converged to {what}:\n{rules}\nkproxy log:\n{}",
                    self.kproxy().log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pods that `n` new connections from pod-0 to `ip:port` reached; `Err` with the
    /// first failure.
    fn reached(&self, ip: Ipv4Addr, port: u16, n: usize) -> Result<BTreeSet<String>, Outcome> {
        let dst = SocketAddr::V4(SocketAddrV4::new(ip, port));
        let mut seen = BTreeSet::new();
        for _ in 0..n {
            match tcp_request(&self.topo.pods[0].ns, dst) {
                Outcome::Reply(r) => seen.insert(r.backend),
                other => return Err(other),
            };
        }
        Ok(seen)
    }

    /// Waits until connections to `ip:port` reach exactly `expected` pods.
    fn traffic_converges(&mut self, ip: Ipv4Addr, port: u16, expected: &BTreeSet<String>) {
        let what = format!("{ip}:{port} reaching {expected:?}");
        let mut last = None;
        let deadline = Instant::now() + WAIT;
        loop {
            // Enough connections that missing one of three pods by chance is negligible.
            let got = self.reached(ip, port, 30);
            if got.as_ref() == Ok(expected) {
                return;
            }
            self.kproxy().assert_running();
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; last got {last:?}\nrules:\n{}\nkproxy log:\n{}",
                    self.rules(),
                    self.kproxy().log_text()
                );
            }
            last = Some(got);
        }
    }

    fn metrics(&self) -> String {
        eventually(WAIT, "/metrics to answer", || {
            get(&self.topo.node, METRICS, "/metrics").filter(|r| r.status == 200)
        })
        .body
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        metric(&self.metrics(), name, labels)
    }

    /// `/healthz` or `/livez`: status and body.
    fn health(&self, path: &str) -> (u16, String) {
        let r = eventually(WAIT, "the healthz server to answer", || {
            get(&self.topo.node, HEALTHZ, path)
        });
        (r.status, r.body)
    }

    /// Waits until every watch kproxy keeps is open, so later changes arrive as events.
    fn watching(&self) {
        for resource in [
            Resource::Services,
            Resource::EndpointSlices,
            Resource::Nodes,
        ] {
            eventually(WAIT, &format!("an open {resource:?} watch"), || {
                (self.api.open_watches(resource) == 1).then_some(())
            });
        }
    }
}

/// Whether a rule sends `name`'s traffic to `pod`.
fn routes_to(rules: &str, name: &str, pod: usize) -> bool {
    rules.contains(&format!("{name} -> {}:{POD_PORT}", pod_ip(pod)))
}

/// The service chain (`KUBE-SVC-…`) the cluster-IP rule of `name` jumps to.
fn service_chain(rules: &str, name: &str) -> Option<String> {
    let comment = format!("\"{name} cluster IP\"");
    rules
        .lines()
        .filter(|l| l.starts_with("-A KUBE-SERVICES") && l.contains(&comment))
        .find_map(|l| {
            l.rsplit_once("-j ")
                .map(|(_, chain)| chain.trim().to_string())
        })
        .filter(|c| c.starts_with("KUBE-SVC-"))
}

const WEB: &str = "demo/web:http";
const API: &str = "demo/api:http";

/// (a) No sync before both initial lists are complete; then rules and traffic follow the
/// lists. Also `/healthz` (with the node's eligibility), `/livez` and `/metrics`.
#[test]
fn first_sync_waits_for_the_initial_lists_and_health_and_metrics_follow() {
    let Some(mut c) = Cluster::new() else { return };
    c.api.put_service(&svc("web", WEB_IP, 80));
    c.api.put_slice(&pods_slice("web-1", "web", &[0, 1, 2]));
    c.api.pause_lists(Resource::EndpointSlices);
    c.start_kproxy();

    // kproxy has the Services, and is waiting for the EndpointSlice list.
    eventually(WAIT, "the held EndpointSlice list request", || {
        c.api
            .requests_for(Resource::EndpointSlices)
            .iter()
            .any(|r| !r.is_watch() && r.status.is_none())
            .then_some(())
    });
    eventually(WAIT, "an open Service watch", || {
        (c.api.open_watches(Resource::Services) == 1).then_some(())
    });
    let last_sync = "kubeproxy_sync_proxy_rules_last_timestamp_seconds";
    assert_eq!(c.metric(last_sync, &[]), Some(0.0), "a sync happened");
    let rules = c.topo.node.iptables_save(&[]);
    assert!(
        !rules.contains("KUBE-"),
        "rules before the initial lists completed:\n{rules}"
    );
    let (status, _) = c.health("/livez");
    assert_eq!(status, 200, "starting up is healthy");

    c.api.resume_lists(Resource::EndpointSlices);
    c.traffic_converges(WEB_IP, 80, &pods(&[0, 1, 2]));
    assert!(c.metric(last_sync, &[]).unwrap() > 0.0);
    let (status, body) = c.health("/healthz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"nodeEligible\":true"), "{body}");
    eventually(WAIT, "the Starting event", || {
        c.api
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.ends_with("/events") && r.status == Some(201))
            .then_some(())
    });

    // Endpoint changes are counted.
    let endpoint_changes = "kubeproxy_sync_proxy_rules_endpoint_changes_total";
    let before = c
        .metric(endpoint_changes, &[])
        .expect("endpoint changes metric");
    assert!(before >= 1.0, "the initial slice counts: {before}");
    c.api.put_slice(&pods_slice("web-1", "web", &[0, 1]));
    eventually(WAIT, "the endpoint change to be counted", || {
        (c.metric(endpoint_changes, &[])? > before).then_some(())
    });
    c.traffic_converges(WEB_IP, 80, &pods(&[0, 1]));

    // An invalid Service is rejected and counted, and blocks nothing after it.
    let mut bad = svc("bad", Ipv4Addr::new(10, 96, 0, 77), 80);
    bad.spec.as_mut().unwrap().cluster_ip = Some("10.96.0.777".into());
    bad.spec.as_mut().unwrap().cluster_ips = Some(vec!["10.96.0.777".into()]);
    c.api.put_service(&bad);
    c.api.put_service(&svc("late", LATE_IP, 80));
    c.api.put_slice(&pods_slice("late-1", "late", &[2]));
    c.traffic_converges(LATE_IP, 80, &pods(&[2]));
    let rejected = c.metric("kproxy_rejected_objects_total", &[("kind", "Service")]);
    assert_eq!(rejected, Some(1.0), "{}", c.metrics());
    assert!(
        c.kproxy().log_text().contains("demo/bad"),
        "the log names it"
    );

    // A node the autoscaler is about to delete fails /healthz, not /livez.
    c.api.put_node(&this_node(&[TO_BE_DELETED_TAINT]));
    eventually(WAIT, "/healthz to turn 503", || {
        let (status, body) = c.health("/healthz");
        (status == 503).then_some(body)
    });
    let (_, body) = c.health("/healthz");
    assert!(body.contains("\"nodeEligible\":false"), "{body}");
    assert_eq!(c.health("/livez").0, 200);
    c.api.put_node(&this_node(&[]));
    eventually(WAIT, "/healthz to recover", || {
        (c.health("/healthz").0 == 200).then_some(())
    });
}

/// (b) Services and EndpointSlices added, modified and deleted on the server converge in
/// the rules and in real traffic.
#[test]
fn added_modified_and_deleted_objects_converge() {
    let Some(mut c) = Cluster::new() else { return };
    c.api.put_service(&svc("web", WEB_IP, 80));
    c.api.put_slice(&pods_slice("web-1", "web", &[0, 1, 2]));
    c.start_kproxy();
    c.traffic_converges(WEB_IP, 80, &pods(&[0, 1, 2]));
    c.watching();

    // ADDED: a service and its slice.
    c.api.put_service(&svc("api", API_IP, 8080));
    c.api.put_slice(&pods_slice("api-1", "api", &[1]));
    c.traffic_converges(API_IP, 8080, &pods(&[1]));

    // MODIFIED slice: an endpoint removed gets no more connections.
    c.api.put_slice(&pods_slice("web-1", "web", &[0, 1]));
    c.rules_converge("pod-2 out of web", |r| !routes_to(r, WEB, 2));
    assert_eq!(c.reached(WEB_IP, 80, 40), Ok(pods(&[0, 1])));

    // ADDED slice: a second slice of the same service merges with the first.
    c.api.put_slice(&pods_slice("web-2", "web", &[2]));
    c.traffic_converges(WEB_IP, 80, &pods(&[0, 1, 2]));

    // MODIFIED service: a new port replaces the old one.
    c.api.put_service(&svc("api", API_IP, 9090));
    c.rules_converge("api on port 9090 only", |r| {
        let api_ports: Vec<&str> = r
            .lines()
            .filter(|l| l.contains(&format!("\"{API} cluster IP\"")))
            .collect();
        !api_ports.is_empty() && api_ports.iter().all(|l| l.contains("--dport 9090"))
    });
    c.traffic_converges(API_IP, 9090, &pods(&[1]));

    // DELETED slice: no endpoints left, so connections are refused at once.
    let chain = service_chain(&c.rules(), API).expect("api's service chain");
    c.api.delete_slice(NS, "api-1");
    eventually(WAIT, "api to refuse connections", || {
        (c.reached(API_IP, 9090, 1) == Err(Outcome::Refused)).then_some(())
    });

    // DELETED service: its chains and rules (the REJECT included) are gone.
    c.api.delete_service(NS, "api");
    c.rules_converge("api's rules gone", |r| {
        !r.contains(&chain) && !r.contains("demo/api")
    });
    // web was not disturbed.
    assert_eq!(c.reached(WEB_IP, 80, 30), Ok(pods(&[0, 1, 2])));
}

/// (c) A BOOKMARK moves kproxy's resume point, so a watch closed after a compaction resumes
/// without a relist; (d) a watch connection cut mid-stream resumes from the last
/// resourceVersion kproxy saw, and changes made meanwhile and later still converge.
#[test]
fn bookmarks_and_dropped_watches_resume_from_the_last_resource_version() {
    let Some(mut c) = Cluster::new() else { return };
    c.api.put_service(&svc("web", WEB_IP, 80));
    c.api.put_slice(&pods_slice("web-1", "web", &[0, 1, 2]));
    c.start_kproxy();
    c.traffic_converges(WEB_IP, 80, &pods(&[0, 1, 2]));
    c.watching();

    // Other objects move the resourceVersion past anything the Service watch has seen.
    c.api.put_slice(&pods_slice("web-1", "web", &[0, 1]));
    c.rules_converge("pod-2 out of web", |r| !routes_to(r, WEB, 2));
    c.api.put_node(&node("elsewhere", None, &[]));
    let latest = c.api.resource_version().to_string();
    let services_before = c.api.requests_for(Resource::Services).len();

    // (c) Bookmark, forget history, end the watches cleanly.
    c.api.bookmark();
    c.api.compact();
    c.api.close_watches();
    eventually(WAIT, "the Service watch to reopen", || {
        (c.api.requests_for(Resource::Services).len() > services_before
            && c.api.open_watches(Resource::Services) == 1)
            .then_some(())
    });
    let resumed = &c.api.requests_for(Resource::Services)[services_before];
    assert!(resumed.is_watch(), "{resumed:?}");
    assert_eq!(resumed.resource_version(), Some(latest.as_str()));
    assert_eq!(c.api.lists_of(Resource::Services), 1, "relisted Services");
    assert_eq!(
        c.api.lists_of(Resource::EndpointSlices),
        1,
        "relisted slices"
    );

    // Later changes converge through the resumed watches.
    c.api.put_service(&svc("late", LATE_IP, 80));
    c.api.put_slice(&pods_slice("late-1", "late", &[2]));
    c.traffic_converges(LATE_IP, 80, &pods(&[2]));

    // (d) Cut every watch mid-stream, and change things while kproxy reconnects.
    c.watching();
    let slice_rv = c
        .api
        .put_slice(&pods_slice("late-1", "late", &[1]))
        .to_string();
    c.rules_converge("late moved to pod-1", |r| {
        routes_to(r, "demo/late:http", 1) && !routes_to(r, "demo/late:http", 2)
    });
    let slices_before = c.api.requests_for(Resource::EndpointSlices).len();
    c.api.drop_watches();
    c.api.put_slice(&pods_slice("web-1", "web", &[0, 1, 2]));
    c.api.delete_service(NS, "late");
    c.traffic_converges(WEB_IP, 80, &pods(&[0, 1, 2]));
    c.rules_converge("late's rules gone", |r| !r.contains("demo/late"));

    let resumed = &c.api.requests_for(Resource::EndpointSlices)[slices_before];
    assert!(resumed.is_watch(), "{resumed:?}");
    assert_eq!(resumed.resource_version(), Some(slice_rv.as_str()));
    assert_eq!(c.api.lists_of(Resource::Services), 1, "relisted Services");
    assert_eq!(
        c.api.lists_of(Resource::EndpointSlices),
        1,
        "relisted slices"
    );

    // And the watches work after the cut.
    c.watching();
    c.api.put_slice(&pods_slice("web-1", "web", &[2]));
    c.traffic_converges(WEB_IP, 80, &pods(&[2]));
}

/// (f) Failing watches are retried with backoff while the rules keep working; (e) after
/// recovery, the watch from a compacted resourceVersion gets 410 Gone, kproxy relists, and
/// objects deleted while no watch was open lose their rules.
#[test]
fn failed_watches_back_off_and_a_relist_after_gone_removes_what_was_deleted() {
    let Some(mut c) = Cluster::new() else { return };
    c.api.put_service(&svc("web", WEB_IP, 80));
    c.api.put_slice(&pods_slice("web-1", "web", &[0, 1, 2]));
    c.api.put_service(&svc("api", API_IP, 8080));
    c.api.put_slice(&pods_slice("api-1", "api", &[1]));
    c.start_kproxy();
    c.traffic_converges(WEB_IP, 80, &pods(&[0, 1, 2]));
    c.traffic_converges(API_IP, 8080, &pods(&[1]));
    c.watching();

    // 500 is not retried inside kube's client: the watcher itself backs off.
    let failing_since = Instant::now();
    c.api.fail_watches(Some(500));
    c.api.close_watches();
    let failed = |c: &Cluster| {
        c.api
            .requests_for(Resource::Services)
            .iter()
            .filter(|r| r.is_watch() && r.status == Some(500))
            .count()
    };
    eventually(WAIT, "two failed Service watches", || {
        (failed(&c) >= 2).then_some(())
    });
    assert_eq!(c.api.open_watches(Resource::Services), 0);
    assert_eq!(c.api.open_watches(Resource::EndpointSlices), 0);

    // Changed while no watch is open; then history is forgotten.
    c.api.delete_service(NS, "api");
    c.api.delete_slice(NS, "api-1");
    c.api.put_slice(&pods_slice("web-1", "web", &[0, 1]));
    c.api.compact();
    // The rules kproxy has keep working meanwhile.
    assert_eq!(c.reached(API_IP, 8080, 3), Ok(pods(&[1])));
    // Backoff, not a hot loop: kube-runtime waits 0.8 s, 1.6 s, 3.2 s… (with jitter) between
    // attempts; allow one per 400 ms, far fewer than a retry loop without backoff makes.
    let attempts = failed(&c);
    let elapsed = failing_since.elapsed();
    assert!(
        attempts <= 2 + elapsed.as_millis() as usize / 400,
        "{attempts} failed Service watches in {elapsed:?}"
    );
    c.kproxy().assert_running();
    c.api.fail_watches(None);

    c.rules_converge("api's rules gone and pod-2 out of web", |r| {
        !r.contains("demo/api") && !routes_to(r, WEB, 2) && routes_to(r, WEB, 0)
    });
    c.traffic_converges(WEB_IP, 80, &pods(&[0, 1]));
    // The relist followed a watch that got 410 Gone.
    assert_eq!(
        c.api.lists_of(Resource::Services),
        2,
        "one relist after 410"
    );
    assert_eq!(c.api.lists_of(Resource::EndpointSlices), 2);
    let log = c.kproxy().log_text();
    assert!(log.contains("410 Gone"), "{log}");
    assert!(log.contains("Service watch failed"), "{log}");

    // Later changes converge.
    c.watching();
    c.api.put_service(&svc("late", LATE_IP, 80));
    c.api.put_slice(&pods_slice("late-1", "late", &[0]));
    c.traffic_converges(LATE_IP, 80, &pods(&[0]));
}

/// `--detect-local-mode NodeCIDR` and `--nodeport-addresses primary` with the API source:
/// kproxy reads this node's Node object before its first sync, and the rules use its pod
/// CIDR (not `--cluster-cidr`) and its address.
#[test]
fn node_cidr_and_primary_node_port_addresses_come_from_the_node_object() {
    let Some(mut c) = Cluster::new() else { return };
    let mut n = this_node(&[]);
    n.spec = Some(core::NodeSpec {
        pod_cidrs: Some(vec!["10.244.1.0/24".into()]),
        ..core::NodeSpec::default()
    });
    c.api.put_node(&n);
    c.api.put_service(&svc("web", WEB_IP, 80));
    c.api.put_slice(&pods_slice("web-1", "web", &[0, 1, 2]));
    let kubeconfig = c.api.kubeconfig_file(c.dir.path()).unwrap();
    let log = c.dir.path().join("kproxy.log");
    c.kproxy = Some(start_with_kubeconfig(
        &c.topo.node,
        &kubeconfig,
        &log,
        &[
            "--detect-local-mode=NodeCIDR",
            "--nodeport-addresses=primary",
        ],
    ));
    c.rules_converge("NodeCIDR masquerade and primary node ports", |rules| {
        rules.contains("! -s 10.244.1.0/24 -d 10.96.0.10/32")
            && !rules.contains("10.244.0.0/16")
            && rules.contains("-A KUBE-SERVICES -d 192.168.100.1/32 -m comment")
    });
    c.traffic_converges(WEB_IP, 80, &pods(&[0, 1, 2]));

    // A new pod CIDR: kproxy exits to restart with it, as kube-proxy does.
    n.spec.as_mut().unwrap().pod_cidrs = Some(vec!["10.244.2.0/24".into()]);
    c.api.put_node(&n);
    let status = eventually(WAIT, "kproxy to exit", || c.kproxy().exited());
    assert!(!status.success(), "{status}");
    let log = c.kproxy().log_text();
    assert!(log.contains("pod CIDRs changed"), "{log}");
}
