//! Issue #11's traffic features with the real binary (iptables mode) in network
//! namespaces: `loadBalancerSourceRanges` admit and drop clients of a load-balancer IP
//! (node ports unfiltered), topology hints pick the endpoint for this node (and, with a
//! `v1 Node` in the manifest directory, for its zone), and the health-check node port's
//! filter rule is in place.

mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use support::e2e::{Setup, WEB_IP, manifest_dir, on_node, web_port, write_web_and_shared_services};
use support::echo::{Outcome, addr, backends, names, tcp_request};
use support::http_get::{get, metric};
use support::kproxy::{eventually, run_once, start_on_node};
use support::manifests::{service_yaml, slice_yaml, write};
use support::metrics::METRICS;
use support::netns::{Netns, netns_available};
use support::topology::{CLIENT_IP, NODE_IP, NODE_NAME, pod_ip};

const WAIT: Duration = Duration::from_secs(20);
const OPEN_LB: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 40);
const CLOSED_LB: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 41);
const HINTED_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 42);
const ZONED_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 43);
const HEALTH_PORT: u16 = 32200;

/// A LoadBalancer service on `lb_ip` (port 80 → 8080, node port `node_port`) accepting
/// `ranges`, with every pod as endpoint.
fn ranged_lb(dir: &Path, name: &str, index: u8, node_port: u16, ranges: &str, extra: &str) {
    let cluster_ip = Ipv4Addr::new(10, 96, 1, index);
    let lb_ip = Ipv4Addr::new(10, 96, 0, 40 + index);
    let svc = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: demo\nspec:\n  type: LoadBalancer\n  clusterIP: {cluster_ip}\n  loadBalancerSourceRanges: [{ranges}]\n{extra}  ports:\n  - name: http\n    protocol: TCP\n    port: 80\n    targetPort: 8080\n    nodePort: {node_port}\nstatus:\n  loadBalancer:\n    ingress:\n    - ip: {lb_ip}\n"
    );
    write(dir, &format!("{name}.yaml"), &svc);
    write(
        dir,
        &format!("{name}-slice.yaml"),
        &slice_yaml(
            name,
            &format!("{name}-abc"),
            &[web_port()],
            &on_node(&[0, 1, 2]),
        ),
    );
}

/// `hinted`: pod-0 hinted for this node, pods 1 and 2 for another one.
fn hinted_slice() -> String {
    let mut eps = String::new();
    for (i, node) in [(0, NODE_NAME), (1, "node-2"), (2, "node-2")] {
        eps += &format!(
            "- addresses: [\"{}\"]\n  nodeName: {node}\n  hints:\n    forNodes: [{{name: {node}}}]\n    forZones: [{{name: zone-a}}]\n",
            pod_ip(i)
        );
    }
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: hinted-abc\n  namespace: demo\n  labels:\n    kubernetes.io/service-name: hinted\naddressType: IPv4\nports:\n- name: http\n  protocol: TCP\n  port: 8080\nendpoints:\n{eps}"
    )
}

/// `zoned`: pod-1 hinted for zone-a, pods 0 and 2 for zone-b (zone hints only).
fn zoned_slice() -> String {
    let mut eps = String::new();
    for (i, zone) in [(0, "zone-b"), (1, "zone-a"), (2, "zone-b")] {
        eps += &format!(
            "- addresses: [\"{}\"]\n  hints:\n    forZones: [{{name: {zone}}}]\n",
            pod_ip(i)
        );
    }
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: zoned-abc\n  namespace: demo\n  labels:\n    kubernetes.io/service-name: zoned\naddressType: IPv4\nports:\n- name: http\n  protocol: TCP\n  port: 8080\nendpoints:\n{eps}"
    )
}

/// This node's Node object, in `zone`.
fn node_yaml(zone: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {NODE_NAME}\n  labels:\n    topology.kubernetes.io/zone: {zone}\n"
    )
}

fn write_manifests(dir: &Path) {
    write_web_and_shared_services(dir);
    ranged_lb(dir, "open", 0, 30200, &format!("\"{CLIENT_IP}/32\""), "");
    let health = format!("  externalTrafficPolicy: Local\n  healthCheckNodePort: {HEALTH_PORT}\n");
    ranged_lb(
        dir,
        "closed",
        1,
        30201,
        "\"203.0.113.0/24\", \"bad\"",
        &health,
    );
    let mut hinted = web_port();
    hinted.node_port = None;
    write(
        dir,
        "hinted.yaml",
        &service_yaml("hinted", HINTED_IP, &[hinted], ""),
    );
    write(dir, "hinted-slice.yaml", &hinted_slice());
}

#[test]
fn source_ranges_hints_and_the_health_check_rule() {
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
    let client = &setup.topo.client;

    // The client is in the open LB's ranges...
    eventually(WAIT, "the allowed client to reach the LB IP", || {
        matches!(tcp_request(client, addr(OPEN_LB, 80)), Outcome::Reply(_)).then_some(())
    });
    // ...and not in the closed one's: dropped. Its node port is not filtered.
    assert!(
        matches!(tcp_request(client, addr(CLOSED_LB, 80)), Outcome::Timeout),
        "a client outside the ranges must be dropped"
    );
    assert!(matches!(
        tcp_request(client, addr(NODE_IP, 30201)),
        Outcome::Reply(_)
    ));
    assert!(setup.kproxy.log_text().contains("\"bad\" is not a CIDR"));
    let metrics = get(&setup.topo.node, METRICS, "/metrics").expect("metrics");
    let reason = [("reason", "invalid_load_balancer_source_range")];
    assert_eq!(
        metric(&metrics.body, "kproxy_rejected_objects_total", &reason),
        Some(1.0),
        "{}",
        metrics.body
    );

    // Node hints: every request from a pod goes to pod-0, the endpoint for this node.
    let replies = backends(&setup.topo.pods[1].ns, addr(HINTED_IP, 80), 12, false);
    assert_eq!(
        names(&replies).into_iter().collect::<Vec<_>>(),
        ["pod-0"],
        "{replies:?}"
    );

    // The health-check node port is let in, as kube-proxy does.
    let save = setup.topo.node.iptables_save(&["-t", "filter"]);
    assert!(
        save.contains(&format!("-A KUBE-NODEPORTS -p tcp -m comment --comment \"demo/closed:http health check node port\" -m tcp --dport {HEALTH_PORT} -j ACCEPT")),
        "{save}"
    );
    assert!(
        save.contains("-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS"),
        "{save}"
    );
}

#[test]
fn a_node_manifest_gives_the_zone_for_zone_hints() {
    if !netns_available(&[]) {
        return;
    }
    let write_zoned = |dir: &Path| {
        write(
            dir,
            "web.yaml",
            &service_yaml("web", WEB_IP, &[web_port()], ""),
        );
        write(
            dir,
            "web-slice.yaml",
            &slice_yaml("web", "web-abc", &[web_port()], &on_node(&[0, 1, 2])),
        );
        let mut port = web_port();
        port.node_port = None;
        write(
            dir,
            "zoned.yaml",
            &service_yaml("zoned", ZONED_IP, &[port], ""),
        );
        write(dir, "zoned-slice.yaml", &zoned_slice());
        write(dir, "node.yaml", &node_yaml("zone-a"));
    };
    let start = |node: &_, dir: &Path| {
        start_on_node(
            node,
            dir,
            &["--proxy-mode=iptables", "--min-sync-period", "100ms"],
        )
    };
    let setup = Setup::start(write_zoned, start, WAIT);
    let pod = &setup.topo.pods[0].ns;
    let served = || names(&backends(pod, addr(ZONED_IP, 80), 12, false));

    // The Node is in zone-a: only pod-1, the endpoint hinted for zone-a, is used.
    assert_eq!(served().into_iter().collect::<Vec<_>>(), ["pod-1"]);

    // The Node moves to zone-b: the two endpoints hinted for it, and only those.
    write(setup.dir.path(), "node.yaml", &node_yaml("zone-b"));
    eventually(WAIT, "zone-b's endpoints to serve", || {
        let seen = served();
        (seen.into_iter().collect::<Vec<_>>() == ["pod-0", "pod-2"]).then_some(())
    });
}

#[test]
fn node_cidr_in_manifest_mode_uses_the_node_manifests_pod_cidrs() {
    if !netns_available(&[]) {
        return;
    }
    let web = |dir: &Path| {
        write(
            dir,
            "web.yaml",
            &service_yaml("web", WEB_IP, &[web_port()], ""),
        );
        let slice = slice_yaml("web", "web-abc", &[web_port()], &on_node(&[0]));
        write(dir, "web-slice.yaml", &slice);
    };
    let once = |dir: &Path, ns: &Netns| {
        let dir = dir.to_str().unwrap();
        let args = [
            "--once",
            "--proxy-mode=iptables",
            "--manifests",
            dir,
            "--netns",
            &ns.name,
            "--hostname-override",
            NODE_NAME,
            "--cluster-cidr",
            "10.244.0.0/16",
            "--detect-local-mode=NodeCIDR",
        ];
        let out = run_once(&args);
        let save = ns.iptables_save(&["-t", "nat"]);
        (save, String::from_utf8_lossy(&out.stderr).into_owned())
    };

    let with_node = manifest_dir(|dir| {
        web(dir);
        let node = format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: {NODE_NAME}}}\nspec:\n  podCIDRs: [10.244.7.0/24]\n"
        );
        write(dir, "node.yaml", &node);
    });
    let ns = Netns::new("nodecidr");
    let (save, _) = once(with_node.path(), &ns);
    assert!(save.contains("! -s 10.244.7.0/24"), "{save}");
    assert!(!save.contains("10.244.0.0/16"), "{save}");

    // Without a Node object: the cluster CIDR, with a warning, as before.
    let without = manifest_dir(web);
    let ns = Netns::new("nodecidr2");
    let (save, log) = once(without.path(), &ns);
    assert!(save.contains("! -s 10.244.0.0/16"), "{save}");
    assert!(log.contains("NodeCIDR"), "{log}");
}
