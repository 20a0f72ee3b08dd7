//! Localhost NodePorts and detect-local modes end to end (iptables mode): the real
//! `kproxy` binary on a node namespace of topology.rs, real TCP from the node and from a
//! pod. 127.0.0.1:NodePort answers once kproxy set `route_localnet` (which the test reset
//! to 0 first, and again while kproxy runs), and does not with
//! `--iptables-localhost-nodeports=false`; a detect-local mode decides whether a pod's
//! connection to a cluster IP is masqueraded, as the backend sees it. Needs root.

mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use support::e2e::{NODE_PORT, Setup, WEB_IP, web_port, write_service};
use support::echo::{Outcome, addr, tcp_request};
use support::kproxy::{Kproxy, eventually, start_on_node};
use support::metrics::wait_for_syncs;
use support::netns::{Netns, netns_available};
use support::topology::{NODE_POD_GATEWAY, Topology};

const WAIT: Duration = Duration::from_secs(20);

fn write_web(dir: &Path) {
    write_service(dir, "web", WEB_IP, web_port(), &[0, 1, 2], "");
}

fn route_localnet(node: &Netns) -> String {
    node.exec_stdout(&["cat", "/proc/sys/net/ipv4/conf/all/route_localnet"])
        .trim()
        .to_string()
}

fn localhost_node_port(node: &Netns) -> Outcome {
    tcp_request(node, addr(Ipv4Addr::LOCALHOST, NODE_PORT))
}

fn start(node: &Netns, dir: &Path, extra: &[&str]) -> Kproxy {
    let mut args = vec!["--proxy-mode=iptables", "--min-sync-period=100ms"];
    args.extend_from_slice(extra);
    start_on_node(node, dir, &args)
}

#[test]
fn localhost_node_ports_follow_route_localnet_and_the_flag() {
    if !netns_available(&[]) {
        return;
    }
    let topo = Topology::new(3, &[8080]);
    let node = &topo.node;
    let dir = tempfile::tempdir().unwrap();
    write_web(dir.path());

    // kube-proxy's default: route_localnet set at start, 127.0.0.1:NodePort served.
    node.sysctl("net.ipv4.conf.all.route_localnet", "0");
    let mut kproxy = start(node, dir.path(), &["--iptables-sync-period=1s"]);
    wait_for_syncs(node, "the first sync", WAIT, |s| s.full >= 1);
    assert_eq!(route_localnet(node), "1");
    eventually(WAIT, "127.0.0.1:NodePort to answer", || {
        matches!(localhost_node_port(node), Outcome::Reply(_)).then_some(())
    });
    let martian_rule = node.exec_stdout(&["iptables-save", "-t", "filter"]);
    assert!(
        martian_rule.contains(
            "-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \
             \"block incoming localnet connections\" -m conntrack ! --ctstate \
             RELATED,ESTABLISHED,DNAT -j DROP"
        ) && martian_rule.contains("-A INPUT -j KUBE-FIREWALL"),
        "{martian_rule}"
    );

    // Reset behind kproxy's back: the next full sync sets it again.
    node.sysctl("net.ipv4.conf.all.route_localnet", "0");
    eventually(WAIT, "route_localnet set again", || {
        (route_localnet(node) == "1").then_some(())
    });
    eventually(WAIT, "127.0.0.1:NodePort to answer again", || {
        matches!(localhost_node_port(node), Outcome::Reply(_)).then_some(())
    });
    kproxy.assert_running();
    kproxy.stop();

    // Turned off: route_localnet left alone, loopback excluded from NodePorts.
    node.sysctl("net.ipv4.conf.all.route_localnet", "0");
    let mut kproxy = start(node, dir.path(), &["--iptables-localhost-nodeports=false"]);
    wait_for_syncs(node, "the first sync", WAIT, |s| s.full >= 1);
    assert_eq!(route_localnet(node), "0");
    let outcome = localhost_node_port(node);
    assert!(
        !matches!(outcome, Outcome::Reply(_)),
        "127.0.0.1:NodePort answered with --iptables-localhost-nodeports=false: {outcome:?}"
    );
    // The node's own address still serves it.
    assert!(matches!(
        tcp_request(node, addr(support::topology::NODE_IP, NODE_PORT)),
        Outcome::Reply(_)
    ));
    kproxy.assert_running();
}

/// The client address pod-1 sees for a connection from pod-0 to web's cluster IP.
fn seen_by_pod1(setup: &Setup) -> Ipv4Addr {
    let pod0 = &setup.topo.pods[0].ns;
    eventually(WAIT, "a reply from pod-1", || {
        match tcp_request(pod0, addr(WEB_IP, 80)) {
            Outcome::Reply(r) if r.backend == "pod-1" => Some(r.seen_client),
            _ => None,
        }
    })
}

#[test]
fn detect_local_mode_decides_whether_pods_are_masqueraded() {
    if !netns_available(&[]) {
        return;
    }
    // Pods arrive on kp-pod0, kp-pod1, …: by that prefix pod-0 is local, not masqueraded.
    let by_prefix = Setup::start(
        write_web,
        |node, dir| {
            start(
                node,
                dir,
                &[
                    "--detect-local-mode=InterfaceNamePrefix",
                    "--pod-interface-name-prefix=kp-pod",
                ],
            )
        },
        WAIT,
    );
    let pod0_ip = by_prefix.topo.pods[0].ip;
    assert_eq!(seen_by_pod1(&by_prefix), pod0_ip);
    drop(by_prefix);

    // By a bridge the pods are not on, pod-0 counts as off-node: masqueraded to the node's
    // address (with ClusterCIDR it would not be).
    let by_bridge = Setup::start(
        write_web,
        |node, dir| {
            start(
                node,
                dir,
                &[
                    "--detect-local-mode=BridgeInterface",
                    "--pod-bridge-interface=cbr0",
                ],
            )
        },
        WAIT,
    );
    let seen = seen_by_pod1(&by_bridge);
    assert_ne!(seen, pod0_ip, "pod-0's connection was not masqueraded");
    assert_eq!(seen, NODE_POD_GATEWAY);
}
