//! What the end-to-end tests of both proxy modes start from: services in the address plan
//! of topology.rs, and a node with three pods, a manifest directory and kproxy running.
//!
//! Services: web 10.96.0.10:80 (NodePort 30080), dns 10.96.0.53:53/UDP, empty
//! 10.96.0.99:8080 (no endpoints), other 10.96.0.20:8080; pods serve 8080 and 5353.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use super::echo::{Outcome, addr, backends, names, tcp_request};
use super::kproxy::{Kproxy, eventually};
use super::manifests::{Port, service_yaml, slice_yaml, write};
use super::metrics::wait_for_syncs;
use super::netns::Netns;
use super::topology::{CLIENT_IP, NODE_NAME, NODE_POD_GATEWAY, Topology, pod_ip};

pub const WEB_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
pub const DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 53);
pub const EMPTY_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 99);
pub const OTHER_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 20);
pub const NODE_PORT: u16 = 30080;

/// web's port: 80 → 8080, NodePort [`NODE_PORT`].
pub fn web_port() -> Port {
    Port {
        name: "http",
        protocol: "TCP",
        port: 80,
        target: 8080,
        node_port: Some(NODE_PORT),
    }
}

/// A TCP port `port` → 8080, without a NodePort.
pub fn http_port(port: u16) -> Port {
    Port {
        name: "http",
        protocol: "TCP",
        port,
        target: 8080,
        node_port: None,
    }
}

/// dns's port: 53 → 5353, UDP.
pub fn dns_port() -> Port {
    Port {
        name: "dns",
        protocol: "UDP",
        port: 53,
        target: 5353,
        node_port: None,
    }
}

/// Endpoints for the pods numbered `pods`, all on this node.
pub fn on_node(pods: &[usize]) -> Vec<(Ipv4Addr, &'static str)> {
    pods.iter().map(|i| (pod_ip(*i), NODE_NAME)).collect()
}

/// Writes `<name>.yaml`: a service with one port and its one slice (`<name>-1`) on `pods`.
/// A non-empty `annotation` (`key: value`) goes on the service.
pub fn write_service(
    dir: &Path,
    name: &str,
    ip: Ipv4Addr,
    port: Port,
    pods: &[usize],
    annotation: &str,
) {
    let mut yaml = service_yaml(name, ip, std::slice::from_ref(&port), "");
    if !annotation.is_empty() {
        yaml = yaml.replace(
            "  namespace: demo\n",
            &format!("  namespace: demo\n  annotations:\n    {annotation}\n"),
        );
    }
    yaml += "---\n";
    yaml += &slice_yaml(name, &format!("{name}-1"), &[port], &on_node(pods));
    write(dir, &format!("{name}.yaml"), &yaml);
}

/// `web`'s EndpointSlice (`web-abc`), its endpoints on `pods`.
pub fn write_web_slice(dir: &Path, pods: &[usize]) {
    write(
        dir,
        "web-slice.yaml",
        &slice_yaml("web", "web-abc", &[web_port()], &on_node(pods)),
    );
}

/// `web` on all three pods and the shared services: what most kernel tests start with.
pub fn write_web_and_shared_services(dir: &Path) {
    write(
        dir,
        "web.yaml",
        &service_yaml("web", WEB_IP, &[web_port()], ""),
    );
    write_web_slice(dir, &[0, 1, 2]);
    write_shared_services(dir);
}

/// Writes dns, empty and other: the services both modes' tests start with, besides web
/// (which each mode's tests write in their own way).
pub fn write_shared_services(dir: &Path) {
    write_service(dir, "dns", DNS_IP, dns_port(), &[0, 1, 2], "");
    write(
        dir,
        "empty.yaml",
        &service_yaml("empty", EMPTY_IP, &[http_port(8080)], ""),
    );
    write_service(dir, "other", OTHER_IP, http_port(8080), &[0], "");
}

/// The backend names of all three pods.
pub fn all_pods() -> BTreeSet<String> {
    ["pod-0", "pod-1", "pod-2"].map(String::from).into()
}

/// A new directory holding the manifests `write` puts there.
pub fn manifest_dir(write: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    dir
}

/// Sends `n` requests from `from` to `dst` (UDP when `udp`), and more (up to 60 in all)
/// until all three pods answered, which it asserts: the spread is random, and 10 requests
/// miss one of three pods 5% of the time. Returns each reply's backend and the client
/// address it saw.
pub fn all_pods_answer(
    from: &Netns,
    dst: SocketAddr,
    n: usize,
    udp: bool,
) -> Vec<(String, Ipv4Addr)> {
    let mut replies = backends(from, dst, n, udp);
    while names(&replies) != all_pods() && replies.len() < n.max(60) {
        replies.extend(backends(from, dst, 1, udp));
    }
    assert_eq!(names(&replies), all_pods(), "via {dst}");
    replies
}

/// A running test node: kill kproxy, delete the namespaces and the directory on drop.
pub struct Setup {
    pub topo: Topology,
    pub dir: tempfile::TempDir,
    pub kproxy: Kproxy,
}

impl Setup {
    /// A node with three pods, the manifests `write` puts in a new directory, and kproxy
    /// started on them by `start`. Returns once web's cluster IP answers (within `wait`).
    pub fn start(
        write: impl FnOnce(&Path),
        start: impl FnOnce(&Netns, &Path) -> Kproxy,
        wait: Duration,
    ) -> Self {
        let topo = Topology::new(3, &[8080, 5353]);
        let dir = manifest_dir(write);
        let kproxy = start(&topo.node, dir.path());
        let setup = Setup { topo, dir, kproxy };
        // The whole first sync, not just web's part of it: IPVS mode creates the virtual
        // servers one by one, so web can answer before the others exist.
        wait_for_syncs(&setup.topo.node, "the first sync", wait, |s| s.full >= 1);
        setup.wait_for_service(WEB_IP, 80, wait);
        setup
    }

    /// Waits until a TCP request from pod-0 to `ip:port` gets a reply.
    pub fn wait_for_service(&self, ip: Ipv4Addr, port: u16, wait: Duration) {
        let pod = &self.topo.pods[0].ns;
        eventually(wait, "the service to answer", || {
            match tcp_request(pod, addr(ip, port)) {
                Outcome::Reply(_) => Some(()),
                _ => None,
            }
        });
    }

    /// `n` connections from pod-0 to web's cluster IP reach every pod, and each pod sees
    /// pod-0's own address: no masquerade, except hairpin (pod-0 reaching itself sees the
    /// node's pod gateway).
    pub fn assert_pod_reaches_web_unmasqueraded(&self, n: usize) {
        let pod0 = &self.topo.pods[0];
        for (backend, seen) in all_pods_answer(&pod0.ns, addr(WEB_IP, 80), n, false) {
            let expected = if backend == "pod-0" {
                NODE_POD_GATEWAY
            } else {
                pod0.ip
            };
            assert_eq!(seen, expected, "client address seen by {backend}");
        }
    }

    /// `n` connections from the outside client to `dst` reach every pod, masqueraded to
    /// the node: no pod sees the client's address.
    pub fn assert_client_reaches_every_pod_masqueraded(&self, dst: SocketAddr, n: usize) {
        let replies = all_pods_answer(&self.topo.client, dst, n, false);
        assert!(
            replies.iter().all(|(_, seen)| *seen != CLIENT_IP),
            "{replies:?}"
        );
    }
}

/// The `KUBE-` lines of an `iptables-save` dump that `--cleanup` should have removed.
/// KUBE-FIREWALL (localhost NodePorts' martian drop) is kubelet's too: kube-proxy's
/// cleanup leaves it, and so does kproxy's.
pub fn left_after_cleanup(save: &str) -> Vec<&str> {
    save.lines()
        .filter(|l| l.contains("KUBE-") && !l.contains("KUBE-FIREWALL"))
        .collect()
}
