//! IPVS mode end to end: the real `kproxy --proxy-mode=ipvs` programs a node namespace from
//! a manifest directory, and real TCP/UDP traffic from pods and an outside client reaches
//! the right pods through IPVS. Needs a kernel with IPVS: on the build machine every test
//! skips; tests/vm/run-ipvs-tests.sh runs them in a VM. Namespaces go when a test ends.
//!
//! Address plan (tests/support/topology.rs): node 192.168.100.1, client 192.168.100.2,
//! pods 10.244.1.2-4 on this node; services in 10.96.0.0/16.

mod ipvs;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use ipvs::ipvs_available;
use ipvs::ipvsadm::{DestView, ServiceView, View, parse_list, without_conns};
use kproxy::backend::ipvs::handle::IpvsHandle;
use kproxy::backend::ipvs::netlink::{RealServer, ServiceKey, VirtualService};
use kproxy::model::Protocol;
use support::e2e::{
    DNS_IP, EMPTY_IP, NODE_PORT, OTHER_IP, Setup, WEB_IP, all_pods_answer, http_port, manifest_dir,
    on_node, web_port, write_service, write_shared_services,
};
use support::echo::{OpenConnection, Outcome, addr, backends, names, tcp_request};
use support::kproxy::{Kproxy, eventually, run_once, start_on_node};
use support::manifests::{service_yaml, slice_yaml, write};
use support::metrics::{Syncs, wait_for_syncs};
use support::netns::{Netns, netns_available};
use support::topology::{NODE_IP, pod_ip};

const LC_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 30);
const DRAIN_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 40);
const STICKY_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 50);
const WAIT: Duration = Duration::from_secs(30);

/// The services every test starts with.
fn write_manifests(dir: &Path) {
    write_service(dir, "web", WEB_IP, web_port(), &[0, 1, 2], "");
    write_shared_services(dir);
    let lc = "ipvs.kproxy.dev/scheduler: lc";
    write_service(dir, "least", LC_IP, http_port(80), &[0, 1], lc);
    write_service(dir, "drain", DRAIN_IP, http_port(80), &[1, 2], "");
    let sticky = service_yaml(
        "sticky",
        STICKY_IP,
        &[http_port(80)],
        "  sessionAffinity: ClientIP\n",
    ) + "---\n"
        + &slice_yaml("sticky", "sticky-1", &[http_port(80)], &on_node(&[0, 1, 2]));
    write(dir, "sticky.yaml", &sticky);
}

fn setup(extra_args: &[&str]) -> Option<Setup> {
    if !ipvs_available() {
        return None;
    }
    let start = |node: &Netns, dir: &Path| start_kproxy(node, dir, extra_args);
    Some(Setup::start(write_manifests, start, WAIT))
}

fn start_kproxy(node: &Netns, dir: &Path, extra_args: &[&str]) -> Kproxy {
    let mut args = vec![
        "--proxy-mode=ipvs",
        "--nodeport-addresses",
        "192.168.100.0/24",
        "--ipvs-min-sync-period",
        "100ms",
    ];
    args.extend_from_slice(extra_args);
    start_on_node(node, dir, &args)
}

fn ipvsadm(ns: &Netns, args: &[&str]) -> String {
    ipvs::ipvsadm::ipvsadm(&ns.name, args)
}

/// `ipvsadm -Ln` without connection counters.
fn listed(ns: &Netns) -> View {
    without_conns(parse_list(&ipvsadm(ns, &["-Ln"])))
}

/// The view kproxy must program for the initial manifests.
fn expected_view() -> View {
    let pods = |port: u16, i: &[usize]| -> BTreeMap<String, DestView> {
        i.iter()
            .map(|i| {
                let dest = DestView {
                    forward: "Masq".into(),
                    weight: 1,
                    conns: None,
                };
                (format!("{}:{port}", pod_ip(*i)), dest)
            })
            .collect()
    };
    let svc = |sched: &str, dests| ServiceView {
        scheduler: sched.into(),
        persistent: None,
        dests,
    };
    [
        (
            format!("tcp/{WEB_IP}:80"),
            svc("rr", pods(8080, &[0, 1, 2])),
        ),
        (
            format!("tcp/{NODE_IP}:{NODE_PORT}"),
            svc("rr", pods(8080, &[0, 1, 2])),
        ),
        (
            format!("udp/{DNS_IP}:53"),
            svc("rr", pods(5353, &[0, 1, 2])),
        ),
        (format!("tcp/{EMPTY_IP}:8080"), svc("rr", BTreeMap::new())),
        (format!("tcp/{OTHER_IP}:8080"), svc("rr", pods(8080, &[0]))),
        (format!("tcp/{LC_IP}:80"), svc("lc", pods(8080, &[0, 1]))),
        (format!("tcp/{DRAIN_IP}:80"), svc("rr", pods(8080, &[1, 2]))),
        (
            format!("tcp/{STICKY_IP}:80"),
            ServiceView {
                persistent: Some(10800),
                ..svc("rr", pods(8080, &[0, 1, 2]))
            },
        ),
    ]
    .into_iter()
    .collect()
}

fn counts(replies: &[(String, Ipv4Addr)]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (b, _) in replies {
        *out.entry(b.clone()).or_default() += 1;
    }
    out
}

/// kproxy's sync counters now.
fn syncs(node: &Netns) -> Syncs {
    eventually(WAIT, "/metrics to answer", || Syncs::read(node))
}

#[test]
fn ipvsadm_lists_exactly_the_expected_virtual_and_real_servers() {
    let Some(s) = setup(&[
        "--ipvs-strict-arp",
        "--ipvs-tcp-timeout",
        "900s",
        "--ipvs-udp-timeout",
        "1m",
    ]) else {
        return;
    };
    let node = &s.topo.node;
    assert_eq!(listed(node), expected_view());
    assert!(
        ipvsadm(node, &["-L", "--timeout"]).contains("900 120 60"),
        "{}",
        ipvsadm(node, &["-L", "--timeout"])
    );
    for (setting, value) in [
        ("net/ipv4/vs/conntrack", "1"),
        ("net/ipv4/vs/expire_nodest_conn", "1"),
        ("net/ipv4/conf/all/arp_ignore", "1"),
        ("net/ipv4/conf/all/arp_announce", "2"),
    ] {
        let got = node.exec_stdout(&["cat", &format!("/proc/sys/{setting}")]);
        assert_eq!(got.trim(), value, "{setting}");
    }
    // Service addresses live on kube-ipvs0, the node's own address does not.
    let bound = node.exec_stdout(&["ip", "-4", "-o", "addr", "show", "dev", "kube-ipvs0"]);
    for ip in [
        WEB_IP, DNS_IP, EMPTY_IP, OTHER_IP, LC_IP, DRAIN_IP, STICKY_IP,
    ] {
        assert!(
            bound.contains(&format!("{ip}/32")),
            "{ip} not bound:\n{bound}"
        );
    }
    assert!(!bound.contains(&NODE_IP.to_string()), "{bound}");
    let members = node.exec_stdout(&["ipset", "list", "KUBE-CLUSTER-IP"]);
    assert!(members.contains(&format!("{WEB_IP},tcp:80")), "{members}");
    let nat = node.iptables_save(&["-t", "nat"]);
    assert!(nat.contains("--match-set KUBE-NODE-PORT-TCP dst"), "{nat}");
}

#[test]
fn traffic_reaches_every_backend_through_cluster_ip_and_node_port() {
    let Some(s) = setup(&[]) else {
        return;
    };
    let pod0 = &s.topo.pods[0];

    // Pod → ClusterIP: every backend; no masquerade, except hairpin (a pod reaching itself).
    s.assert_pod_reaches_web_unmasqueraded(30);

    // Outside → NodePort and → ClusterIP: every backend, masqueraded to the node.
    for dst in [addr(NODE_IP, NODE_PORT), addr(WEB_IP, 80)] {
        s.assert_client_reaches_every_pod_masqueraded(dst, 30);
    }

    // Node → ClusterIP.
    all_pods_answer(&s.topo.node, addr(WEB_IP, 80), 30, false);

    // Session affinity: every new connection of one client goes to the same backend.
    let replies = backends(&s.topo.client, addr(STICKY_IP, 80), 10, false);
    assert_eq!(names(&replies).len(), 1, "{replies:?}");

    // UDP through the ClusterIP.
    all_pods_answer(&s.topo.pods[1].ns, addr(DNS_IP, 53), 30, true);

    // No endpoints: refused at once, not a timeout; so is a port no service has.
    for from in [&pod0.ns, &s.topo.client] {
        assert_eq!(tcp_request(from, addr(EMPTY_IP, 8080)), Outcome::Refused);
        assert_eq!(tcp_request(from, addr(WEB_IP, 22)), Outcome::Refused);
    }
}

#[test]
fn rr_spreads_evenly_and_lc_avoids_a_busy_backend() {
    let Some(s) = setup(&[]) else {
        return;
    };
    let client = &s.topo.client;
    let rr = counts(&backends(client, addr(WEB_IP, 80), 30, false));
    assert_eq!(
        rr,
        [("pod-0", 10), ("pod-1", 10), ("pod-2", 10)]
            .map(|(p, n)| (p.to_string(), n))
            .into()
    );

    // lc: a backend holding an open connection gets no new ones while the other has fewer.
    let mut busy = OpenConnection::open(client, addr(LC_IP, 80));
    let replies = backends(client, addr(LC_IP, 80), 10, false);
    let busy_name = busy.greeting.backend.clone();
    let others: BTreeSet<String> = ["pod-0", "pod-1"]
        .iter()
        .filter(|p| **p != busy_name)
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        names(&replies),
        others,
        "lc sent a new connection to busy {busy_name}"
    );
    assert!(busy.ping());
}

#[test]
fn wrr_honours_weights_and_excluded_virtual_servers_are_left_alone() {
    let Some(s) = setup(&[
        "--ipvs-exclude-cidrs",
        "10.96.100.0/24",
        "--ipvs-sync-period",
        "1s",
    ]) else {
        return;
    };
    let node = &s.topo.node;
    let vip = Ipv4Addr::new(10, 96, 100, 1);
    node.ip(&["addr", "add", &format!("{vip}/32"), "dev", "lo"]);
    let key = ServiceKey::new(Protocol::Tcp, vip, 80);
    let mut handle = node.run_in(|| IpvsHandle::new().expect("IPVS handle"));
    handle
        .add_service(&VirtualService::new(key, "wrr"))
        .unwrap();
    handle
        .add_destination(&key, &RealServer::new(pod_ip(0), 8080, 1))
        .unwrap();
    handle
        .add_destination(&key, &RealServer::new(pod_ip(1), 8080, 3))
        .unwrap();

    let got = counts(&backends(&s.topo.client, addr(vip, 80), 40, false));
    assert_eq!(
        got,
        [("pod-0".to_string(), 10), ("pod-1".to_string(), 30)].into()
    );

    // Two more full syncs leave the excluded virtual server as it is.
    let before = syncs(node).full;
    wait_for_syncs(node, "two full syncs", WAIT, |s| s.full >= before + 2);
    let view = parse_list(&ipvsadm(node, &["-Ln"]));
    let ours = &view[&format!("tcp/{vip}:80")];
    assert_eq!(ours.scheduler, "wrr");
    let weights: Vec<u32> = ours.dests.values().map(|d| d.weight).collect();
    assert_eq!(weights, [1, 3]);
}

#[test]
fn a_removed_endpoint_drains_then_disappears() {
    let Some(s) = setup(&[]) else {
        return;
    };
    let client = &s.topo.client;
    let node = &s.topo.node;
    // No probe of `drain` before: a connection closed with a FIN leaves a TIME_WAIT entry
    // that holds its destination for two minutes. Connections here end with a RST.
    let mut established = loop {
        let c = OpenConnection::open(client, addr(DRAIN_IP, 80));
        if c.greeting.backend == "pod-2" {
            break c;
        }
        c.reset();
    };
    let before = syncs(node);
    write_service(s.dir.path(), "drain", DRAIN_IP, http_port(80), &[1], "");
    let after = wait_for_syncs(node, "the partial sync of the change", WAIT, |s| {
        s.partial > before.partial
    });
    // Exactly what one removed endpoint needs: its weight to 0 on the one virtual server
    // (its KUBE-LOOP-BACK member stays: pod-2 still serves `web` on the same port).
    assert_eq!(
        after.partial,
        before.partial + 1,
        "one partial sync: {after:?}"
    );
    assert_eq!(
        after.partial_written - before.partial_written,
        1,
        "{after:?}"
    );

    let dest = format!("{}:8080", pod_ip(2));
    let view = parse_list(&ipvsadm(node, &["-Ln"]));
    assert_eq!(view[&format!("tcp/{DRAIN_IP}:80")].dests[&dest].weight, 0);
    let replies = backends(client, addr(DRAIN_IP, 80), 10, false);
    assert_eq!(names(&replies), ["pod-1".to_string()].into());
    assert!(
        established.ping(),
        "the established connection to pod-2 broke"
    );

    // A restarted kproxy finds the weight-0 destination it does not want, leaves it while
    // its connection lives, and finishes its termination (kubernetes#92019).
    let Setup { topo, dir, kproxy } = s;
    kproxy.stop();
    let mut restarted = start_kproxy(&topo.node, dir.path(), &[]);
    wait_for_syncs(&topo.node, "the restarted kproxy's first sync", WAIT, |s| {
        s.full > 0
    });
    let weight = |node: &Netns| {
        let view = parse_list(&ipvsadm(node, &["-Ln"]));
        view[&format!("tcp/{DRAIN_IP}:80")]
            .dests
            .get(&dest)
            .map(|d| d.weight)
    };
    assert_eq!(weight(&topo.node), Some(0));
    assert!(
        established.ping(),
        "the restart broke the draining connection"
    );

    established.reset();
    eventually(WAIT, "the drained destination to be deleted", || {
        weight(&topo.node).is_none().then_some(())
    });
    restarted.assert_running();
}

#[test]
fn a_restart_changes_nothing_and_hand_edits_are_repaired() {
    let Some(s) = setup(&["--ipvs-sync-period", "2s"]) else {
        return;
    };
    let Setup { topo, dir, kproxy } = s;
    let node = &topo.node;
    backends(&topo.client, addr(NODE_IP, NODE_PORT), 6, false);
    kproxy.stop();
    let snapshot = || {
        (
            ipvsadm(node, &["-S", "-n"]),
            ipvsadm(node, &["-Ln", "--stats"]),
            node.exec_stdout(&["ip", "-4", "-o", "addr", "show", "dev", "kube-ipvs0"]),
            node.exec_stdout(&["ipset", "save"]),
            node.iptables_save(&["-t", "nat"])
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    };
    // The kernel's estimator publishes counters every 2 s: wait until they settle.
    let mut before = snapshot();
    let settled = std::time::Instant::now() + WAIT;
    loop {
        std::thread::sleep(Duration::from_millis(2500));
        let again = snapshot();
        if again == before {
            break;
        }
        assert!(
            std::time::Instant::now() < settled,
            "IPVS counters never settled"
        );
        before = again;
    }
    assert!(before.1.contains("TCP"), "{}", before.1);

    let restarted = start_kproxy(node, dir.path(), &["--ipvs-sync-period", "2s"]);
    let first = wait_for_syncs(node, "the restarted kproxy's first sync", WAIT, |s| {
        s.full > 0
    });
    assert_eq!(first.full_written, 0, "the restart wrote: {first:?}");
    // Re-created virtual servers would show zeroed counters once the estimator runs.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(snapshot(), before);

    // Hand edits: a real server deleted, a scheduler changed. The next full sync repairs.
    let before_edits = syncs(node);
    ipvsadm(
        node,
        &[
            "-d",
            "-t",
            &format!("{WEB_IP}:80"),
            "-r",
            &format!("{}:8080", pod_ip(1)),
        ],
    );
    ipvsadm(
        node,
        &["-E", "-t", &format!("{OTHER_IP}:8080"), "-s", "wlc"],
    );
    // And a stray address on kube-ipvs0 and a stray virtual server.
    node.ip(&["addr", "add", "10.96.7.7/32", "dev", "kube-ipvs0"]);
    ipvsadm(node, &["-A", "-t", "10.96.7.7:80", "-s", "rr"]);
    eventually(WAIT, "the full sync to repair the hand edits", || {
        (listed(node) == expected_view()).then_some(())
    });
    // The edits took effect before they were repaired: a full sync after them wrote.
    // (Checked from the counters: with a 2 s sync period a listing could race the repair.)
    let after_edits = syncs(node);
    assert!(
        after_edits.full_written > before_edits.full_written,
        "full syncs after the edits wrote nothing: {before_edits:?} then {after_edits:?}"
    );
    let bound = || node.exec_stdout(&["ip", "-4", "-o", "addr", "show", "dev", "kube-ipvs0"]);
    eventually(WAIT, "the stray address to be unbound", || {
        (!bound().contains("10.96.7.7/32")).then_some(())
    });

    // A deleted service takes its virtual server and its address with it.
    std::fs::remove_file(dir.path().join("empty.yaml")).unwrap();
    let mut without_empty = expected_view();
    without_empty.remove(&format!("tcp/{EMPTY_IP}:8080"));
    eventually(WAIT, "the deleted service's virtual server to go", || {
        (listed(node) == without_empty).then_some(())
    });
    assert!(!bound().contains(&format!("{EMPTY_IP}/32")), "{}", bound());
    drop(restarted);
}

#[test]
fn cleanup_removes_everything_kproxy_owns() {
    let Some(s) = setup(&[]) else {
        return;
    };
    let Setup { topo, kproxy, .. } = s;
    kproxy.stop();
    run_once(&["--cleanup", "--netns", &topo.node.name]);
    let node = &topo.node;
    assert!(parse_list(&ipvsadm(node, &["-Ln"])).is_empty());
    let links = node.exec_stdout(&["ip", "-o", "link"]);
    assert!(!links.contains("kube-ipvs0"), "{links}");
    let rules = node.iptables_save(&[]);
    assert!(
        !rules.contains("KUBE-") && !rules.contains("KPROXY"),
        "{rules}"
    );
    assert_eq!(node.exec_stdout(&["ipset", "list", "-n"]).trim(), "");
}

#[test]
fn dry_run_lists_the_virtual_servers_without_touching_the_kernel() {
    if !netns_available(&[]) {
        return;
    }
    let node = Netns::new("dry");
    let dir = manifest_dir(write_manifests);
    let out = run_once(&[
        "--proxy-mode=ipvs",
        "--dry-run",
        "--manifests",
        dir.path().to_str().unwrap(),
        "--netns",
        &node.name,
    ]);
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        printed.contains(&format!("-A -t {LC_IP}:80 -s lc\n")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "-a -t {WEB_IP}:80 -r {}:8080 -m -w 1\n",
            pod_ip(0)
        )),
        "{printed}"
    );
    assert!(printed.contains("-A KUBE-SERVICES"), "{printed}");
    let links = node.exec_stdout(&["ip", "-o", "link"]);
    assert!(
        !links.contains("kube-ipvs0"),
        "--dry-run touched the kernel: {links}"
    );
}
