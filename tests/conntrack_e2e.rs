//! Stale conntrack cleanup end to end, in iptables mode and (where the kernel has IPVS:
//! tests/vm/run-ipvs-tests.sh) IPVS mode: the real `kproxy` binary programs a node
//! namespace, UDP clients keep one source port (as DNS resolvers and statsd clients
//! do) while the service's endpoints change, and the kernel's conntrack table is read with
//! the `conntrack` tool. kube-proxy's e2e "should be able to preserve UDP traffic when
//! server pod cycles" is the model. Needs root and conntrack-tools.

mod ipvs;
mod support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use support::conntrack::conntrack_tests_possible;
use support::echo::{Outcome, addr, udp_request};
use support::http_get::{get, metric};
use support::kproxy::{Kproxy, eventually, start_on_node};
use support::manifests::{Port, service_yaml, slice_yaml, write};
use support::metrics::METRICS;
use support::netns::Netns;
use support::topology::{NODE_IP, NODE_NAME, Topology, pod_ip};

const WAIT: Duration = Duration::from_secs(20);
const DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 53);
const NODE_PORT: u16 = 30053;

fn dns_port() -> Port {
    Port {
        name: "dns",
        protocol: "UDP",
        port: 53,
        target: 5353,
        node_port: Some(NODE_PORT),
    }
}

fn write_service(dir: &Path) {
    write(
        dir,
        "dns.yaml",
        &service_yaml("dns", DNS_IP, &[dns_port()], ""),
    );
}

/// The slice of dns, on the given pods (none: a slice without endpoints).
fn write_slice(dir: &Path, pods: &[usize]) {
    let endpoints: Vec<_> = pods.iter().map(|i| (pod_ip(*i), NODE_NAME)).collect();
    write(
        dir,
        "dns-slice.yaml",
        &slice_yaml("dns", "dns-1", &[dns_port()], &endpoints),
    );
}

struct Node {
    topo: Topology,
    dir: tempfile::TempDir,
    kproxy: Kproxy,
}

/// The flags of each proxy mode.
const IPTABLES: &[&str] = &["--proxy-mode=iptables", "--min-sync-period", "100ms"];
const IPVS: &[&str] = &[
    "--proxy-mode=ipvs",
    "--nodeport-addresses",
    "192.168.100.0/24",
    "--ipvs-min-sync-period",
    "100ms",
];

fn can_run(mode: &[&str]) -> bool {
    conntrack_tests_possible(true) && (mode != IPVS || ipvs::ipvs_available())
}

/// A node whose dns service is on `pods`, with kproxy running in `mode`; returns when a
/// new UDP client gets an answer.
fn start(mode: &[&str], pods: &[usize]) -> Option<Node> {
    if !can_run(mode) {
        return None;
    }
    let topo = Topology::new(3, &[5353]);
    let dir = tempfile::tempdir().unwrap();
    write_service(dir.path());
    write_slice(dir.path(), pods);
    let kproxy = start_on_node(&topo.node, dir.path(), mode);
    if !pods.is_empty() {
        eventually(WAIT, "the service to answer a new client", || {
            matches!(
                udp_request(&topo.pods[1].ns, addr(DNS_IP, 53)),
                Outcome::Reply(_)
            )
            .then_some(())
        });
    }
    Some(Node { topo, dir, kproxy })
}

/// A UDP client bound to one source port for its whole life, connected (as resolvers
/// are) so that an ICMP port unreachable shows as a refusal.
struct FixedPortClient {
    socket: UdpSocket,
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    From(String),
    Refused,
    Nothing,
}

impl FixedPortClient {
    fn new(ns: &Netns, port: u16, dst: SocketAddr) -> Self {
        let socket = ns.run_in(move || {
            let socket = UdpSocket::bind(("0.0.0.0", port)).expect("bind");
            socket.connect(dst).expect("connect");
            socket
        });
        socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        Self { socket }
    }

    /// One datagram from the fixed port; who answered.
    fn ask(&self) -> Answer {
        if let Err(e) = self.socket.send(b"hello") {
            return match e.kind() {
                std::io::ErrorKind::ConnectionRefused => Answer::Refused,
                _ => Answer::Nothing,
            };
        }
        let mut buf = [0u8; 128];
        match self.socket.recv(&mut buf) {
            Ok(n) => Answer::From(
                String::from_utf8_lossy(&buf[..n])
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Answer::Refused,
            Err(_) => Answer::Nothing,
        }
    }

    /// Asks until `want` answers; panics after [`WAIT`].
    fn until(&self, want: &Answer, what: &str) {
        eventually(WAIT, what, || (self.ask() == *want).then_some(()));
    }
}

/// The node's UDP entries whose reply comes from `ip`, as `conntrack -L` lists them.
fn entries_from(node: &Netns, ip: Ipv4Addr) -> Vec<String> {
    node.exec_stdout(&[
        "conntrack",
        "-L",
        "-p",
        "udp",
        "--reply-src",
        &ip.to_string(),
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

fn from(pod: usize) -> Answer {
    Answer::From(format!("pod-{pod}"))
}

#[test]
fn a_fixed_port_udp_client_follows_an_endpoint_change() {
    follows_an_endpoint_change(IPTABLES);
}

#[test]
fn ipvs_a_fixed_port_udp_client_follows_an_endpoint_change() {
    follows_an_endpoint_change(IPVS);
}

/// In IPVS mode IPVS itself moves the flow once its destination is gone
/// (`expire_nodest_conn`); the conntrack entry left pointing at pod-0 is what the cleanup
/// removes there.
fn follows_an_endpoint_change(mode: &[&str]) {
    let Some(mut n) = start(mode, &[0]) else {
        return;
    };
    let pod2 = &n.topo.pods[2].ns;
    let via_cluster_ip = FixedPortClient::new(pod2, 41000, addr(DNS_IP, 53));
    let via_node_port = FixedPortClient::new(&n.topo.client, 41001, addr(NODE_IP, NODE_PORT));
    via_cluster_ip.until(&from(0), "pod-0 to answer on the cluster IP");
    via_node_port.until(&from(0), "pod-0 to answer on the node port");
    // Both clients' entries, and the first answer's (from a new port).
    assert!(entries_from(&n.topo.node, pod_ip(0)).len() >= 2);

    // The endpoint moves from pod-0 to pod-1. pod-0 still answers, so without the cleanup
    // its entries (refreshed by every datagram) would keep both clients on it for good.
    write_slice(n.dir.path(), &[1]);
    via_cluster_ip.until(&from(1), "the cluster-IP client to reach pod-1");
    via_node_port.until(&from(1), "the node-port client to reach pod-1");
    assert_eq!(via_cluster_ip.ask(), from(1));
    assert_eq!(via_node_port.ask(), from(1));
    assert!(entries_from(&n.topo.node, pod_ip(0)).is_empty());
    n.kproxy.assert_running();
    // The counters go up just after the entries go: poll them. In IPVS mode the kernel
    // may drop the entry first (the next datagram to a destination that is gone expires
    // its IPVS connection and the conntrack entry with it), so there the reconciler must
    // have run after the change, but need not have found anything left to delete.
    let counter = if mode == IPVS {
        "kubeproxy_conntrack_reconciler_sync_duration_seconds_count"
    } else {
        "kubeproxy_conntrack_reconciler_deleted_entries_total"
    };
    let at_least = if mode == IPVS { 2.0 } else { 1.0 };
    eventually(WAIT, "kproxy to count its conntrack cleanup", || {
        let text = get(&n.topo.node, METRICS, "/metrics")?.body;
        metric(&text, counter, &[]).filter(|n| *n >= at_least)
    });
}

#[test]
fn flows_end_when_the_service_loses_every_endpoint_or_is_deleted() {
    flows_end(IPTABLES);
}

#[test]
fn ipvs_flows_end_when_the_service_loses_every_endpoint_or_is_deleted() {
    flows_end(IPVS);
}

/// kube-proxy's later fixes: a service that lost every endpoint (kubernetes#139629) and a
/// deleted service (kubernetes#141371) leave no flow pinned to the old endpoint. (In IPVS
/// mode the kernel's own `expire_nodest_conn` ends these flows too; there the test guards
/// the behaviour, not the cleanup.)
fn flows_end(mode: &[&str]) {
    let Some(mut n) = start(mode, &[0]) else {
        return;
    };
    let pod2 = &n.topo.pods[2].ns;
    let client = FixedPortClient::new(pod2, 41000, addr(DNS_IP, 53));
    client.until(&from(0), "pod-0 to answer");

    // No endpoints: the service rejects, and the old flow does not reach pod-0 any more.
    write_slice(n.dir.path(), &[]);
    client.until(&Answer::Refused, "the service without endpoints to refuse");
    assert!(entries_from(&n.topo.node, pod_ip(0)).is_empty());

    // Back on pod-0, then the service is deleted: the flow's entry goes with it.
    write_slice(n.dir.path(), &[0]);
    client.until(&from(0), "pod-0 to answer again");
    std::fs::remove_file(n.dir.path().join("dns.yaml")).unwrap();
    eventually(WAIT, "pod-0's entry to go after the service", || {
        let _ = client.ask();
        entries_from(&n.topo.node, pod_ip(0))
            .is_empty()
            .then_some(())
    });
    assert_ne!(client.ask(), from(0));
    n.kproxy.assert_running();
}
