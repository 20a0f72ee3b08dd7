//! iptables mode end to end: the real `kproxy` binary programs a node namespace from a
//! manifest directory, and real TCP/UDP traffic from pods, the node and an outside client
//! reaches the right pods. Needs root; every namespace is removed when a test ends.

mod support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use kproxy::testing::kernel::Need;
use support::e2e::{
    DNS_IP, EMPTY_IP, NODE_PORT, OTHER_IP, Setup, WEB_IP, all_pods, all_pods_answer, http_port,
    left_after_cleanup, manifest_dir, on_node, write_service, write_web_and_shared_services,
    write_web_slice,
};
use support::echo::{OpenConnection, Outcome, addr, backends, names, tcp_request};
use support::fake_restore::FakeRestore;
use support::http_get::{get, metric};
use support::kproxy::{Kproxy, eventually, run_once, start_on_node, start_on_node_with_env};
use support::manifests::{service_yaml, slice_yaml, write};
use support::metrics::{METRICS, Syncs, wait_for_syncs};
use support::netns::{Netns, netns_available};
use support::topology::{NODE_IP, pod_ip};

const WAIT: Duration = Duration::from_secs(20);

fn setup(extra_args: &[&str]) -> Option<Setup> {
    if !netns_available(&[]) {
        return None;
    }
    let start = |node: &Netns, dir: &Path| start_kproxy(node, dir, extra_args);
    Some(Setup::start(write_web_and_shared_services, start, WAIT))
}

fn start_kproxy(node: &Netns, dir: &Path, extra_args: &[&str]) -> Kproxy {
    let mut args = vec!["--proxy-mode=iptables", "--min-sync-period", "100ms"];
    args.extend_from_slice(extra_args);
    start_on_node(node, dir, &args)
}

#[test]
fn traffic_reaches_every_backend_through_cluster_ip_and_node_port() {
    let Some(s) = setup(&[]) else { return };
    let pod0 = &s.topo.pods[0];

    // Pod → ClusterIP: every backend; no masquerade, except hairpin (a pod reaching itself).
    s.assert_pod_reaches_web_unmasqueraded(60);

    // Outside → NodePort: every backend, masqueraded to the node.
    s.assert_client_reaches_every_pod_masqueraded(addr(NODE_IP, NODE_PORT), 60);

    // Node → ClusterIP.
    all_pods_answer(&s.topo.node, addr(WEB_IP, 80), 60, false);

    // UDP through the ClusterIP.
    all_pods_answer(&s.topo.pods[1].ns, addr(DNS_IP, 53), 60, true);

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

/// The `-A` lines and counters of the chains whose rules mention `needle`.
fn chains_mentioning(save: &str, needle: &str) -> Vec<String> {
    let chains: BTreeSet<&str> = save
        .lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("KUBE-S")))
        .filter(|c| *c != "KUBE-SERVICES")
        .collect();
    save.lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|c| chains.contains(c))
                || {
                    // counters come first with -c: "[p:b] -A CHAIN ..."
                    l.split_whitespace()
                        .nth(2)
                        .is_some_and(|c| chains.contains(c))
                }
        })
        .map(String::from)
        .collect()
}

#[test]
fn a_removed_endpoint_gets_no_new_connections_and_unchanged_chains_stay_byte_identical() {
    let Some(s) = setup(&[]) else { return };
    let pod1 = &s.topo.pods[1];
    // Traffic through `other`, so its counters are non-zero and would show a rewrite.
    assert!(matches!(
        tcp_request(&pod1.ns, addr(OTHER_IP, 8080)),
        Outcome::Reply(_)
    ));
    let before = s.topo.node.iptables_save(&["-c", "-t", "nat"]);
    let other_before = chains_mentioning(&before, "demo/other:http");
    assert!(other_before.len() >= 2, "other's chains: {other_before:?}");

    // An established connection to pod-2 keeps working after pod-2 leaves the slice.
    let mut established = loop {
        let c = OpenConnection::open(&pod1.ns, addr(WEB_IP, 80));
        if c.greeting.backend == "pod-2" {
            break c;
        }
    };
    write_web_slice(s.dir.path(), &[0, 1]);
    let gone = format!("demo/web:http -> {}:8080", pod_ip(2));
    eventually(WAIT, "pod-2 to leave web's rules", || {
        (!s.topo.node.iptables_save(&["-t", "nat"]).contains(&gone)).then_some(())
    });

    let replies = backends(&pod1.ns, addr(WEB_IP, 80), 40, false);
    assert_eq!(names(&replies), ["pod-0", "pod-1"].map(String::from).into());
    assert!(
        established.ping(),
        "the established connection to pod-2 broke"
    );

    let after = s.topo.node.iptables_save(&["-c", "-t", "nat"]);
    assert_eq!(chains_mentioning(&after, "demo/other:http"), other_before);
    let syncs = Syncs::read(&s.topo.node).expect("/metrics answers");
    assert!(
        syncs.partial >= 1,
        "the change went out as a partial sync: {syncs:?}"
    );
}

#[test]
fn a_flushed_kube_services_chain_is_repaired_by_the_periodic_full_sync() {
    let Some(s) = setup(&["--sync-period", "2s"]) else {
        return;
    };
    s.topo
        .node
        .exec(&["iptables", "-t", "nat", "-F", "KUBE-SERVICES"]);
    assert!(!matches!(
        tcp_request(&s.topo.pods[0].ns, addr(WEB_IP, 80)),
        Outcome::Reply(_)
    ));
    s.wait_for_service(WEB_IP, 80, WAIT);
    wait_for_syncs(&s.topo.node, "the drift check's repair", WAIT, |s| {
        s.drift_repairs > 0
    });
}

#[test]
fn a_restart_changes_nothing_and_cleanup_removes_every_chain() {
    let Some(s) = setup(&[]) else { return };
    let Setup { topo, dir, kproxy } = s;
    // Counters on the web service, so a rewrite would show.
    backends(&topo.client, addr(NODE_IP, NODE_PORT), 5, false);
    kproxy.stop();
    let before = topo.node.iptables_save(&["-c"]);
    assert!(before.contains("KUBE-SVC-"), "rules stay when kproxy stops");
    assert_eq!(
        names(&backends(&topo.client, addr(NODE_IP, NODE_PORT), 30, false)),
        all_pods()
    );

    let before = topo.node.iptables_save(&["-c"]);
    let restarted = start_kproxy(&topo.node, dir.path(), &[]);
    let syncs = wait_for_syncs(&topo.node, "the restarted kproxy's first sync", WAIT, |s| {
        s.full >= 1
    });
    assert_eq!(syncs.full_written, 0, "the restart rewrote chains");
    assert_not_rewritten(&before, &topo.node.iptables_save(&["-c"]));
    restarted.stop();

    run_once(&["--cleanup", "--netns", &topo.node.name]);
    let after = topo.node.iptables_save(&[]);
    assert!(
        left_after_cleanup(&after).is_empty(),
        "left behind:\n{after}"
    );
}

/// The same rules, and no counter went back: a rewritten chain restarts its counters at
/// zero. Counters may grow in between (late packets of the closed connections).
fn assert_not_rewritten(before: &str, after: &str) {
    let rules = |s: &str| -> Vec<(String, u64, u64)> {
        s.lines()
            .filter(|l| !l.starts_with('#'))
            .map(
                |l| match l.strip_prefix('[').and_then(|r| r.split_once("] ")) {
                    Some((counts, rule)) => {
                        let (p, b) = counts.split_once(':').expect("[packets:bytes]");
                        (rule.to_string(), p.parse().unwrap(), b.parse().unwrap())
                    }
                    None => (l.to_string(), 0, 0),
                },
            )
            .collect()
    };
    let (before, after) = (rules(before), rules(after));
    let text = |r: &[(String, u64, u64)]| r.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(text(&after), text(&before), "the rules changed");
    for ((rule, p0, b0), (_, p1, b1)) in before.iter().zip(&after) {
        assert!(
            p1 >= p0 && b1 >= b0,
            "counters went back from [{p0}:{b0}] to [{p1}:{b1}]: rewritten: {rule}"
        );
    }
}

#[test]
fn once_and_dry_run() {
    if !netns_available(&[]) {
        return;
    }
    let node = Netns::new("once");
    let dir = manifest_dir(write_web_and_shared_services);
    let manifests = dir.path().to_str().unwrap();

    let out = run_once(&["--dry-run", "--manifests", manifests, "--netns", &node.name]);
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        printed.contains("*nat") && printed.contains("-A KUBE-SERVICES"),
        "{printed}"
    );
    assert!(
        !node.iptables_save(&[]).contains("KUBE-"),
        "--dry-run touched the kernel"
    );

    run_once(&["--once", "--manifests", manifests, "--netns", &node.name]);
    assert!(
        node.iptables_save(&["-t", "nat"])
            .contains("demo/web:http cluster IP")
    );
}

#[test]
fn bad_manifests_are_skipped_and_the_rest_keeps_working() {
    let Some(s) = setup(&[]) else { return };
    write(s.dir.path(), "broken.yaml", "this: is: not: yaml: [");
    write(
        s.dir.path(),
        "bad-ip.yaml",
        &service_yaml("bad", Ipv4Addr::new(10, 96, 0, 77), &[http_port(8080)], "")
            .replace("10.96.0.77", "10.96.0.777"),
    );
    let late_ip = Ipv4Addr::new(10, 96, 0, 30);
    write_service(s.dir.path(), "late", late_ip, http_port(8080), &[1], "");
    s.wait_for_service(late_ip, 8080, WAIT);
    s.wait_for_service(WEB_IP, 80, WAIT);
    let log = s.kproxy.log_text();
    assert!(
        log.contains("broken.yaml"),
        "the log names the broken file:\n{log}"
    );
    assert!(
        log.contains("demo/bad"),
        "the log names the bad service:\n{log}"
    );
}

#[test]
fn netns_is_created_when_absent() {
    if !netns_available(&[]) {
        return;
    }
    // Not created here: kproxy must create it. The guard removes it either way.
    let node = Netns {
        name: format!("kpt-{}-fresh", std::process::id()),
    };
    assert!(!std::path::Path::new("/run/netns").join(&node.name).exists());
    let dir = manifest_dir(write_web_and_shared_services);
    run_once(&[
        "--once",
        "--manifests",
        dir.path().to_str().unwrap(),
        "--netns",
        &node.name,
    ]);
    assert!(
        node.iptables_save(&["-t", "nat"])
            .contains("demo/web:http cluster IP")
    );
}

/// Names a manifest may hold but the API server never takes (YAML double-quoted, so the
/// escapes become a newline, a NUL, a tab), each given to a Service and its slice's label.
fn hostile_names() -> Vec<String> {
    let mut names: Vec<String> = [
        r#""web\nCOMMIT""#,
        r#""x\r\n-A KUBE-SERVICES -j ACCEPT""#,
        r#""q\"uo'te""#,
        r#""nul\0byte""#,
        r#""tab\tbed""#,
        r#""ünïcode""#,
    ]
    .map(String::from)
    .into();
    names.push("x".repeat(300));
    names
}

#[test]
fn hostile_names_are_skipped_with_one_line_each_and_every_other_service_keeps_working() {
    let Some(s) = setup(&[]) else { return };
    let hostile = hostile_names();
    let mut docs = Vec::new();
    for (i, name) in hostile.iter().enumerate() {
        let ip = Ipv4Addr::new(10, 96, 1, i as u8 + 1);
        docs.push(service_yaml(name, ip, &[http_port(8080)], ""));
        let slice = format!("hostile-{i}");
        docs.push(slice_yaml(name, &slice, &[http_port(8080)], &on_node(&[0])));
    }
    for (i, namespace) in [r#""a/b""#, r#""a:b""#].iter().enumerate() {
        let ip = Ipv4Addr::new(10, 96, 2, i as u8 + 1);
        let svc = service_yaml("web", ip, &[http_port(8080)], "");
        docs.push(svc.replace("namespace: demo", &format!("namespace: {namespace}")));
    }
    write(s.dir.path(), "hostile.yaml", &docs.join("---\n"));
    let late_ip = Ipv4Addr::new(10, 96, 0, 30);
    write_service(s.dir.path(), "late", late_ip, http_port(8080), &[1], "");
    s.wait_for_service(late_ip, 8080, WAIT);

    // Every later sync works too: web's endpoints change and the change goes out.
    write_web_slice(s.dir.path(), &[0, 1]);
    let gone = format!("demo/web:http -> {}:8080", pod_ip(2));
    eventually(WAIT, "pod-2 to leave web's rules", || {
        (!s.topo.node.iptables_save(&["-t", "nat"]).contains(&gone)).then_some(())
    });
    let replies = backends(&s.topo.pods[1].ns, addr(WEB_IP, 80), 30, false);
    assert_eq!(names(&replies), ["pod-0", "pod-1"].map(String::from).into());
    let rules = s.topo.node.iptables_save(&[]);
    assert!(
        !rules.contains("COMMIT\"") && !rules.contains("10.96.1."),
        "{rules}"
    );

    let log = s.kproxy.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("hostile.yaml")).collect();
    let expected = 2 * hostile.len() + 2;
    assert_eq!(
        lines.len(),
        expected,
        "one line per object:\n{}",
        lines.join("\n")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(r"Service demo/web\nCOMMIT: ")),
        "{log}"
    );
    let text = get(&s.topo.node, METRICS, "/metrics")
        .expect("/metrics")
        .body;
    let rejected = |kind, reason| {
        metric(
            &text,
            "kproxy_rejected_objects_total",
            &[("kind", kind), ("reason", reason)],
        )
    };
    assert_eq!(
        rejected("Service", "invalid_name"),
        Some(hostile.len() as f64),
        "{text}"
    );
    assert_eq!(
        rejected("Service", "invalid_namespace"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        rejected("EndpointSlice", "invalid_service_name"),
        Some(hostile.len() as f64),
        "{text}"
    );
}

/// An `iptables-restore` that hangs on every write (`--noflush`), as a restore at 10k
/// services takes tens of seconds; anything else goes to the real tool.
fn slow_restore() -> FakeRestore {
    FakeRestore::new("case \" $* \" in *\" --noflush \"*) hang ;; esac")
}

#[test]
fn sigterm_during_a_slow_sync_stops_kproxy_within_2s_and_leaves_the_rules() {
    if !netns_available(&[]) {
        return;
    }
    let node = Netns::new("sigterm");
    let dir = manifest_dir(write_web_and_shared_services);
    let manifests = dir.path().to_str().unwrap();
    run_once(&["--once", "--manifests", manifests, "--netns", &node.name]);
    let programmed = node.iptables_save(&["-t", "nat"]);
    assert!(
        programmed.contains("demo/web:http cluster IP"),
        "{programmed}"
    );
    // Something for the next kproxy's first sync to write.
    let late_ip = Ipv4Addr::new(10, 96, 0, 30);
    write_service(dir.path(), "late", late_ip, http_port(8080), &[1], "");

    let slow = slow_restore();
    let path = slow.path();
    // Hidden: not a manifest.
    let log = dir.path().join(".kproxy.log");
    let args = [
        "--manifests",
        manifests,
        "--netns",
        &node.name,
        "--hostname-override",
        support::topology::NODE_NAME,
    ];
    let mut kproxy = Kproxy::start_with_env(&args, &log, &[("PATH", &path)]);
    eventually(WAIT, "the first sync to reach iptables-restore", || {
        kproxy.assert_running();
        slow.hanging()
    });

    kproxy.terminate();
    let status = eventually(
        Duration::from_secs(2),
        "kproxy to exit after SIGTERM",
        || kproxy.exited(),
    );
    assert!(status.success(), "{status}:\n{}", kproxy.log_text());
    let rules = node.iptables_save(&["-t", "nat"]);
    assert!(
        rules.contains("demo/web:http cluster IP"),
        "the rules stay:\n{rules}"
    );
    assert!(
        !rules.contains("demo/late"),
        "the hung restore wrote nothing:\n{rules}"
    );
}

/// iptables-nft: a resync with nothing changed asks nf_tables for its generation and reads
/// nothing back; another writer's change moves the generation, and the next resync reads
/// the kernel back and repairs it.
#[test]
fn idle_resyncs_read_nothing_back_until_another_writer_changes_iptables() {
    let Some(s) = setup(&["--sync-period", "300ms"]) else {
        return;
    };
    let node = &s.topo.node;
    let idle = wait_for_syncs(node, "five idle resyncs", WAIT, |x| x.full >= 6);
    assert_eq!(idle.drift_checks, 0, "an idle resync read the kernel back");
    // kube-proxy's gauges around the syncs, as the binary serves them.
    let text = get(node, METRICS, "/metrics").expect("/metrics").body;
    let gauge = |name: &str, labels: &[(&str, &str)]| metric(&text, name, labels);
    let nat_rules = node
        .iptables_save(&["-t", "nat"])
        .lines()
        .filter(|l| l.starts_with("-A KUBE-"))
        .count();
    let total = "kubeproxy_sync_proxy_rules_iptables_total";
    assert_eq!(
        gauge(total, &[("table", "nat")]),
        Some(nat_rules as f64),
        "{text}"
    );
    for pending in ["service", "endpoint"] {
        let name = format!("kubeproxy_sync_proxy_rules_{pending}_changes_pending");
        assert_eq!(gauge(&name, &[]), Some(0.0), "{text}");
    }

    node.exec(&["iptables", "-t", "nat", "-F", "KUBE-SERVICES"]);
    let repaired = wait_for_syncs(node, "the repair", WAIT, |x| x.drift_repairs > 0);
    s.wait_for_service(WEB_IP, 80, WAIT);
    let later = wait_for_syncs(node, "five more resyncs", WAIT, |x| {
        x.full >= repaired.full + 5
    });
    assert_eq!(
        later.drift_checks, repaired.drift_checks,
        "kproxy's own repair was taken for another writer's"
    );
}

/// A directory whose `iptables`, `iptables-save` and `iptables-restore` are
/// iptables-legacy's.
fn legacy_path() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for tool in ["iptables", "iptables-save", "iptables-restore"] {
        let target = format!("/usr/sbin/{}", tool.replace("iptables", "iptables-legacy"));
        std::os::unix::fs::symlink(target, dir.path().join(tool)).unwrap();
    }
    dir
}

/// iptables-legacy has no generation: kproxy keeps kube-proxy's canary chain in mangle,
/// nat and filter, and a resync reads back only once the canary in mangle is gone (a
/// firewall reload, `iptables -F; iptables -X`).
#[test]
fn iptables_legacy_resyncs_read_back_only_when_the_canary_is_gone() {
    if !netns_available(&[Need::Tool("iptables-legacy-restore")]) {
        return;
    }
    let legacy = legacy_path();
    let path = format!(
        "{}:{}",
        legacy.path().display(),
        std::env::var("PATH").unwrap()
    );
    let start = |node: &Netns, dir: &Path| {
        let args = [
            "--proxy-mode=iptables",
            "--min-sync-period",
            "100ms",
            "--sync-period",
            "300ms",
        ];
        start_on_node_with_env(node, dir, &args, &[("PATH", &path)])
    };
    let s = Setup::start(write_web_and_shared_services, start, WAIT);
    let node = &s.topo.node;
    let mangle = node.exec_stdout(&["iptables-legacy-save", "-t", "mangle"]);
    assert!(mangle.contains(":KUBE-PROXY-CANARY"), "{mangle}");
    let idle = wait_for_syncs(node, "five idle resyncs", WAIT, |x| x.full >= 6);
    assert_eq!(idle.drift_checks, 0, "an idle resync read the kernel back");

    node.exec(&["iptables-legacy", "-t", "mangle", "-X", "KUBE-PROXY-CANARY"]);
    let repaired = wait_for_syncs(node, "the canary's repair", WAIT, |x| x.drift_repairs > 0);
    assert_eq!(repaired.drift_checks, 1);
    let later = wait_for_syncs(node, "five more resyncs", WAIT, |x| {
        x.full >= repaired.full + 5
    });
    assert_eq!(later.drift_checks, 1, "the canary's repair was not enough");
    s.assert_pod_reaches_web_unmasqueraded(10);
}
