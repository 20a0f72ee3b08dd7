//! healthCheckNodePort with the real binary (iptables mode) in network namespaces: the
//! outside client asks the node's health-check port while the service's endpoints move
//! between nodes, as a cloud load balancer does; the port closes with the service; an
//! invalid port is rejected with a reason and harms nothing else.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use support::e2e::{Setup, WEB_IP, on_node, web_port, write_shared_services};
use support::http_get::{get, metric};
use support::kproxy::{eventually, start_on_node};
use support::manifests::{slice_yaml, write};
use support::metrics::METRICS;
use support::netns::netns_available;
use support::topology::{NODE_IP, pod_ip};

const WAIT: Duration = Duration::from_secs(20);
const LB_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 30);
const HEALTH_PORT: u16 = 32100;

/// A LoadBalancer service with `externalTrafficPolicy: Local` and `healthCheckNodePort`
/// `hcnp` (written as given, so a test can give a bad one).
fn lb_yaml(name: &str, cluster_ip: Ipv4Addr, node_port: u16, hcnp: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: demo\nspec:\n  type: LoadBalancer\n  clusterIP: {cluster_ip}\n  externalTrafficPolicy: Local\n  healthCheckNodePort: {hcnp}\n  ports:\n  - name: http\n    protocol: TCP\n    port: 80\n    targetPort: 8080\n    nodePort: {node_port}\n"
    )
}

fn write_lb_slice(dir: &Path, node: &str) {
    let endpoints = [(pod_ip(0), node), (pod_ip(1), node)];
    write(
        dir,
        "lb-slice.yaml",
        &slice_yaml("lb", "lb-abc", &[web_port()], &endpoints),
    );
}

fn write_manifests(dir: &Path) {
    write(
        dir,
        "web.yaml",
        &support::manifests::service_yaml("web", WEB_IP, &[web_port()], ""),
    );
    write(
        dir,
        "web-slice.yaml",
        &slice_yaml("web", "web-abc", &[web_port()], &on_node(&[0, 1, 2])),
    );
    write_shared_services(dir);
    write(
        dir,
        "lb.yaml",
        &lb_yaml("lb", LB_IP, 30100, &HEALTH_PORT.to_string()),
    );
    write_lb_slice(dir, "node-2");
    // 0 is what a manifest gets when the field is forgotten.
    write(
        dir,
        "bad.yaml",
        &lb_yaml("bad", Ipv4Addr::new(10, 96, 0, 31), 30101, "0"),
    );
}

/// `(status, body as JSON)` of a GET from the outside client; `None` while nothing listens.
fn ask(setup: &Setup) -> Option<(u16, serde_json::Value)> {
    let addr = SocketAddr::from((NODE_IP, HEALTH_PORT));
    let r = get(&setup.topo.client, addr, "/")?;
    let json = serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null);
    Some((r.status, json))
}

#[test]
fn the_health_check_port_follows_the_local_endpoints() {
    if !netns_available(&[]) {
        return;
    }
    let start = |node: &_, dir: &Path| {
        start_on_node(
            node,
            dir,
            &["--proxy-mode=iptables", "--min-sync-period", "100ms"],
        )
    };
    let setup = Setup::start(write_manifests, start, WAIT);

    // Endpoints only on another node: the load balancer must skip this one.
    let (status, json) = eventually(WAIT, "the health-check port to answer", || ask(&setup));
    assert_eq!(status, 503, "{json}");
    assert_eq!(json["service"]["namespace"], "demo");
    assert_eq!(json["service"]["name"], "lb");
    assert_eq!(json["localEndpoints"], 0);
    assert_eq!(json["serviceProxyHealthy"], true);

    // Both endpoints move here.
    write_lb_slice(setup.dir.path(), support::topology::NODE_NAME);
    let json = eventually(WAIT, "200 after the endpoints moved here", || {
        ask(&setup).and_then(|(s, j)| (s == 200).then_some(j))
    });
    assert_eq!(json["localEndpoints"], 2);

    // And away again.
    write_lb_slice(setup.dir.path(), "node-2");
    eventually(WAIT, "503 after the endpoints left", || {
        ask(&setup).and_then(|(s, _)| (s == 503).then_some(()))
    });

    // The invalid one was skipped with its reason; the rest kept working.
    let metrics = get(&setup.topo.node, METRICS, "/metrics").expect("metrics");
    assert_eq!(
        metric(
            &metrics.body,
            "kproxy_rejected_objects_total",
            &[("reason", "invalid_health_check_node_port")]
        ),
        Some(1.0),
        "{}",
        metrics.body
    );
    let log = setup.kproxy.log_text();
    assert_eq!(
        log.matches("invalid_health_check_node_port").count(),
        1,
        "one log line for the bad service:\n{log}"
    );

    // The service goes: so does its port.
    std::fs::remove_file(setup.dir.path().join("lb.yaml")).unwrap();
    eventually(WAIT, "the health-check port to close", || {
        ask(&setup).is_none().then_some(())
    });
}
