//! nftables mode end to end: the real `kproxy` binary programs table `ip kube-proxy` in a
//! node namespace from a manifest directory, over nf_tables netlink, and real TCP/UDP
//! traffic from pods, the node and an outside client reaches the right pods. The tests
//! use the `nft` binary only to observe and to tamper. Needs root; every namespace is
//! removed when a test ends.

mod support;

use std::path::Path;
use std::time::Duration;

use kproxy::nftables::client::NftHandle;
use kproxy::testing::kernel::Need;
use support::e2e::{
    DNS_IP, EMPTY_IP, NODE_PORT, Setup, WEB_IP, all_pods, all_pods_answer, manifest_dir,
    write_web_and_shared_services, write_web_slice,
};
use support::echo::{OpenConnection, Outcome, addr, backends, names, tcp_request, udp_request};
use support::kproxy::{Kproxy, eventually, run_once, start_on_node};
use support::metrics::wait_for_syncs;
use support::netns::{Netns, netns_available};
use support::topology::{NODE_IP, NODE_NAME, pod_ip};

const WAIT: Duration = Duration::from_secs(20);

fn possible() -> bool {
    netns_available(&[Need::Tool("nft")])
}

fn setup(extra_args: &[&str]) -> Option<Setup> {
    if !possible() {
        return None;
    }
    let start = |node: &Netns, dir: &Path| start_kproxy(node, dir, extra_args);
    Some(Setup::start(write_web_and_shared_services, start, WAIT))
}

fn start_kproxy(node: &Netns, dir: &Path, extra_args: &[&str]) -> Kproxy {
    let mut args = vec!["--proxy-mode=nftables", "--min-sync-period", "100ms"];
    args.extend_from_slice(extra_args);
    start_on_node(node, dir, &args)
}

fn listing(node: &Netns) -> String {
    node.exec_stdout(&["nft", "list", "table", "ip", "kube-proxy"])
}

fn generation(node: &Netns) -> u32 {
    node.run_in(|| NftHandle::new().and_then(|mut h| h.generation()))
        .expect("GETGEN in the node")
}

#[test]
fn traffic_reaches_every_backend_through_cluster_ip_and_node_port() {
    let Some(s) = setup(&[]) else { return };
    let pod0 = &s.topo.pods[0];
    let table = listing(&s.topo.node);
    for line in [
        "type nat hook prerouting priority dstnat; policy accept;",
        "map service-ips {",
        "ip daddr . meta l4proto . th dport vmap @service-ips",
        "meta l4proto . th dport vmap @service-nodeports",
    ] {
        assert!(table.contains(line), "no {line:?} in\n{table}");
    }

    // Pod → ClusterIP: every backend; no masquerade, except hairpin.
    s.assert_pod_reaches_web_unmasqueraded(60);
    // Outside → NodePort: every backend, masqueraded to the node.
    s.assert_client_reaches_every_pod_masqueraded(addr(NODE_IP, NODE_PORT), 60);
    // Pod → NodePort on the node's address.
    assert_eq!(
        names(&backends(&pod0.ns, addr(NODE_IP, NODE_PORT), 60, false)),
        all_pods()
    );
    // Node → ClusterIP.
    all_pods_answer(&s.topo.node, addr(WEB_IP, 80), 60, false);
    // UDP through the ClusterIP, from a pod and from the outside client.
    all_pods_answer(&s.topo.pods[1].ns, addr(DNS_IP, 53), 60, true);
    assert!(matches!(
        udp_request(&s.topo.client, addr(DNS_IP, 53)),
        Outcome::Reply(_)
    ));
    // No endpoints: refused at once, not a timeout.
    assert_eq!(
        tcp_request(&pod0.ns, addr(EMPTY_IP, 8080)),
        Outcome::Refused
    );
    assert_eq!(
        tcp_request(&s.topo.client, addr(EMPTY_IP, 8080)),
        Outcome::Refused
    );
}

#[test]
fn a_removed_endpoint_gets_no_new_connections_and_established_ones_stay() {
    let Some(s) = setup(&[]) else { return };
    let pod1 = &s.topo.pods[1];
    let mut established = loop {
        let c = OpenConnection::open(&pod1.ns, addr(WEB_IP, 80));
        if c.greeting.backend == "pod-2" {
            break c;
        }
    };
    let gone = format!("dnat to {}:8080", pod_ip(2));
    assert!(listing(&s.topo.node).contains(&gone));
    write_web_slice(s.dir.path(), &[0, 1]);
    eventually(WAIT, "pod-2 to leave web's rules", || {
        (!listing(&s.topo.node).contains(&gone)).then_some(())
    });
    let replies = backends(&pod1.ns, addr(WEB_IP, 80), 40, false);
    assert_eq!(names(&replies), ["pod-0", "pod-1"].map(String::from).into());
    assert!(
        established.ping(),
        "the established connection to pod-2 broke"
    );
    let syncs = wait_for_syncs(&s.topo.node, "a partial sync", WAIT, |s| s.partial >= 1);
    assert!(syncs.partial_written > 0, "{syncs:?}");
}

#[test]
fn a_restart_writes_nothing_and_cleanup_removes_the_table() {
    let Some(s) = setup(&[]) else { return };
    let Setup { topo, dir, kproxy } = s;
    kproxy.stop();
    let before = listing(&topo.node);
    assert!(
        before.contains("service-ips"),
        "rules stay when kproxy stops"
    );
    assert_eq!(
        names(&backends(&topo.client, addr(NODE_IP, NODE_PORT), 30, false)),
        all_pods()
    );
    let generation_before = generation(&topo.node);

    let restarted = start_kproxy(&topo.node, dir.path(), &[]);
    let syncs = wait_for_syncs(&topo.node, "the restarted kproxy's first sync", WAIT, |s| {
        s.full >= 1
    });
    assert_eq!(syncs.full_written, 0, "the restart wrote to the kernel");
    assert_eq!(
        generation(&topo.node),
        generation_before,
        "the ruleset generation moved: something was committed"
    );
    assert_eq!(listing(&topo.node), before);
    restarted.stop();

    run_once(&["--cleanup", "--netns", &topo.node.name]);
    let after = topo.node.exec_stdout(&["nft", "list", "tables"]);
    assert!(!after.contains("kube-proxy"), "left behind:\n{after}");
}

#[test]
fn a_flushed_table_is_repaired_by_the_periodic_full_sync() {
    let Some(s) = setup(&["--sync-period", "2s"]) else {
        return;
    };
    s.topo
        .node
        .exec(&["nft", "flush", "table", "ip", "kube-proxy"]);
    assert!(!listing(&s.topo.node).contains("vmap @service-ips"));
    s.wait_for_service(WEB_IP, 80, WAIT);
    wait_for_syncs(&s.topo.node, "the repair", WAIT, |s| s.drift_repairs > 0);
    s.assert_pod_reaches_web_unmasqueraded(30);
}

#[test]
fn a_hand_deleted_map_element_is_repaired() {
    let Some(s) = setup(&["--sync-period", "2s"]) else {
        return;
    };
    let element = format!("{{ {WEB_IP} . tcp . 80 }}");
    s.topo.node.exec(&[
        "nft",
        "delete",
        "element",
        "ip",
        "kube-proxy",
        "service-ips",
        &element,
    ]);
    assert!(!listing(&s.topo.node).contains(&format!("{WEB_IP} . tcp . 80 :")));
    wait_for_syncs(&s.topo.node, "the repair", WAIT, |s| s.drift_repairs > 0);
    eventually(WAIT, "web's element to come back", || {
        listing(&s.topo.node)
            .contains(&format!("{WEB_IP} . tcp . 80 :"))
            .then_some(())
    });
    s.wait_for_service(WEB_IP, 80, WAIT);
}

#[test]
fn idle_resyncs_commit_nothing() {
    let Some(s) = setup(&["--sync-period", "1s"]) else {
        return;
    };
    let first = generation(&s.topo.node);
    let start = wait_for_syncs(&s.topo.node, "the first sync", WAIT, |s| s.full >= 1);
    // A periodic resync that finds the generation kproxy last wrote compares only what
    // the state changed (nothing): it counts as a partial sync that wrote nothing.
    let syncs = wait_for_syncs(&s.topo.node, "three periodic resyncs", WAIT, |s| {
        s.total() >= start.total() + 3
    });
    assert_eq!(syncs.partial_written, start.partial_written, "{syncs:?}");
    assert_eq!(syncs.drift_repairs, 0);
    assert_eq!(generation(&s.topo.node), first, "an idle resync committed");
}

#[test]
fn dry_run_prints_what_nft_f_turns_into_the_same_table() {
    if !possible() {
        return;
    }
    let node = Netns::new("nft-dry");
    let floor = Netns::new("nft-floor");
    let dir = manifest_dir(write_web_and_shared_services);
    let manifests = dir.path().to_str().unwrap();
    let out = run_once(&[
        "--proxy-mode=nftables",
        "--dry-run",
        "--manifests",
        manifests,
        "--netns",
        &node.name,
        "--hostname-override",
        NODE_NAME,
    ]);
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(
        script.contains("add map ip kube-proxy service-ips"),
        "{script}"
    );
    assert!(
        !node
            .exec_stdout(&["nft", "list", "tables"])
            .contains("kube-proxy"),
        "--dry-run touched the kernel"
    );
    run_once(&[
        "--proxy-mode=nftables",
        "--once",
        "--manifests",
        manifests,
        "--netns",
        &node.name,
        "--hostname-override",
        NODE_NAME,
    ]);
    let path = dir.path().join("../dry-run.nft");
    std::fs::write(&path, &script).unwrap();
    floor.exec(&["nft", "-f", path.to_str().unwrap()]);
    let sorted = |s: String| {
        let mut l: Vec<String> = s.lines().map(str::to_string).collect();
        l.sort();
        l
    };
    assert_eq!(sorted(listing(&node)), sorted(listing(&floor)));
    let _ = std::fs::remove_file(path);
}
