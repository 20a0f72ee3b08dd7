//! kproxy's health and metrics servers with the real binary in a throwaway network
//! namespace, as kube-proxy runs them: a port that cannot be bound is logged and retried
//! (the proxy keeps syncing), fatal only with `--bind-address-hard-fail`; the deprecated
//! `--healthz-port=0` turns the health server off. Needs root.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use support::http_get::get;
use support::kproxy::{Kproxy, eventually, start_on_node};
use support::metrics::{HEALTHZ, METRICS, wait_for_syncs};
use support::netns::{Netns, netns_available};

/// Upstream retries every 5 s; this leaves room for two retries on a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

/// A node namespace whose healthz port is already taken, and the listener taking it.
fn node_with_healthz_taken(role: &str) -> (Netns, TcpListener) {
    let node = Netns::new(role);
    let squatter = node.run_in(|| TcpListener::bind(HEALTHZ).expect("bind the healthz port"));
    (node, squatter)
}

fn healthz_answers(node: &Netns) -> bool {
    get(node, HEALTHZ, "/healthz").is_some()
}

#[test]
fn a_taken_healthz_port_is_retried_and_the_proxy_keeps_working() {
    if !netns_available(&[]) {
        return;
    }
    let (node, squatter) = node_with_healthz_taken("http-retry");
    let dir = tempfile::tempdir().unwrap();
    let mut kproxy = start_on_node(&node, dir.path(), &["--proxy-mode=iptables"]);
    wait_for_syncs(&node, "the first sync", WAIT, |s| s.full >= 1);
    kproxy.assert_running();
    assert!(
        kproxy.log_text().contains("retrying every"),
        "no log line about the port: {}",
        kproxy.log_text()
    );
    drop(squatter);
    eventually(WAIT, "the health server after the port was freed", || {
        healthz_answers(&node).then_some(())
    });
    kproxy.assert_running();
}

#[test]
fn bind_address_hard_fail_makes_a_taken_port_fatal() {
    if !netns_available(&[]) {
        return;
    }
    let (node, _squatter) = node_with_healthz_taken("http-hard");
    let dir = tempfile::tempdir().unwrap();
    let mut kproxy: Kproxy = start_on_node(
        &node,
        dir.path(),
        &["--proxy-mode=iptables", "--bind-address-hard-fail"],
    );
    let status = eventually(WAIT, "kproxy to exit", || kproxy.exited());
    assert!(!status.success(), "exited with {status}");
    let log = kproxy.log_text();
    assert!(
        log.contains(&HEALTHZ.to_string()) && log.contains("bind-address-hard-fail"),
        "the error names neither the address nor the flag: {log}"
    );
}

#[test]
fn healthz_port_0_turns_the_health_server_off() {
    if !netns_available(&[]) {
        return;
    }
    let node = Netns::new("http-off");
    let dir = tempfile::tempdir().unwrap();
    let mut kproxy = start_on_node(
        &node,
        dir.path(),
        &["--proxy-mode=iptables", "--healthz-port=0"],
    );
    // Metrics answer once the first sync is done, so the servers were started by then.
    wait_for_syncs(&node, "the first sync", WAIT, |s| s.full >= 1);
    assert!(get(&node, METRICS, "/metrics").is_some());
    assert!(
        !healthz_answers(&node),
        "/healthz answered with --healthz-port=0"
    );
    kproxy.assert_running();
}
