//! Conntrack settings at start, with the real `kproxy` binary in a throwaway network
//! namespace: the per-namespace sysctls take the flags' values there, the host's stay as
//! they were, and the global limit (read-only outside the host's namespace) is a warning,
//! not a failed start. Needs root.

mod support;

use std::time::Duration;

use support::conntrack::conntrack_tests_possible;
use support::kproxy::{eventually, start_on_node};
use support::netns::Netns;

const WAIT: Duration = Duration::from_secs(20);
const SETTINGS: &[(&str, &str)] = &[
    ("nf_conntrack_tcp_timeout_established", "7200"),
    ("nf_conntrack_tcp_timeout_close_wait", "1800"),
    ("nf_conntrack_tcp_be_liberal", "1"),
    ("nf_conntrack_udp_timeout", "45"),
    ("nf_conntrack_udp_timeout_stream", "180"),
];

fn in_namespace(ns: &Netns, name: &str) -> String {
    ns.exec_stdout(&["cat", &format!("/proc/sys/net/netfilter/{name}")])
        .trim()
        .to_string()
}

fn on_host(name: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/net/netfilter/{name}"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn conntrack_sysctls_are_set_in_the_namespace_only() {
    if !conntrack_tests_possible(false) {
        return;
    }
    let node = Netns::new("ct-settings");
    // conntrack's sysctls appear in a namespace once the module is loaded.
    let _ = std::process::Command::new("modprobe")
        .arg("nf_conntrack")
        .status();
    let host_before: Vec<String> = SETTINGS.iter().map(|(n, _)| on_host(n)).collect();
    let host_max = on_host("nf_conntrack_max");
    // Asking for a new limit is only safe where the namespace cannot change the global one
    // (kernel 6.18 shows it 0444 outside the host's namespace, and root obeys that).
    let mode = node.exec_stdout(&[
        "stat",
        "-c",
        "%a",
        "/proc/sys/net/netfilter/nf_conntrack_max",
    ]);
    let limit_read_only = mode.trim() == "444";
    let max_per_core = if limit_read_only { "1048576" } else { "0" };
    let max_flag = format!("--conntrack-max-per-core={max_per_core}");
    let dir = tempfile::tempdir().unwrap();
    let mut kproxy = start_on_node(
        &node,
        dir.path(),
        &[
            "--conntrack-tcp-timeout-established=2h",
            "--conntrack-tcp-timeout-close-wait=30m",
            "--conntrack-tcp-be-liberal",
            "--conntrack-udp-timeout=45s",
            "--conntrack-udp-timeout-stream=3m",
            // 1Mi entries: not what the host has, so kproxy tries to write the limit.
            &max_flag,
        ],
    );
    for (name, value) in SETTINGS {
        eventually(WAIT, name, || {
            (in_namespace(&node, name) == *value).then_some(())
        });
    }
    if limit_read_only {
        eventually(WAIT, "the warning about nf_conntrack_max", || {
            let log = kproxy.log_text();
            (log.contains("cannot apply conntrack setting") && log.contains("nf_conntrack_max"))
                .then_some(())
        });
    }
    kproxy.assert_running();
    let host_after: Vec<String> = SETTINGS.iter().map(|(n, _)| on_host(n)).collect();
    assert_eq!(host_before, host_after, "the host's own settings");
    assert_eq!(on_host("nf_conntrack_max"), host_max);
}
