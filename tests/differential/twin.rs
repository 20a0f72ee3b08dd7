//! Two nodes with identical topology, each programmed by one proxy from the same API
//! server. The address plan (the same on both twins; each twin is its own set of
//! namespaces, so the addresses never meet):
//!
//! ```text
//!  client 192.168.100.2 ──veth── 192.168.100.1 node ("node-1") 10.244.1.1 ──veth── pod-i    10.244.1.(2+i)  nodeName node-1
//!                                     │                                  ──veth── remote-i 10.244.2.(2+i)  nodeName node-2
//!                                     └── kp-api 172.30.0.1x ── control plane
//! ```
//! The remote pods stand for pods on another node: the proxies see them as remote (their
//! EndpointSlice `nodeName` is `node-2`), and the node routes to them directly, as an
//! overlay would without address translation. Every pod serves [`TARGET_PORTS`] over TCP
//! and UDP with the echo servers of tests/support/echo.rs.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use kproxy::testing::controlplane::{ControlPlane, Process, Proxy, ProxySettings, proxies};

use crate::mode::Mode;
use crate::support::echo::EchoServer;
use crate::support::http_get::{get, metric};
use crate::support::netns::Netns;
use crate::support::topology::{NODE_NAME, NODE_POD_GATEWAY, Topology};

/// The ports every pod serves (TCP and UDP).
pub const TARGET_PORTS: [u16; 2] = [8080, 8081];
/// Pods of each kind on each twin.
pub const PODS: usize = 3;
/// The node the remote pods are on.
pub const REMOTE_NODE: &str = "node-2";
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";

pub fn remote_pod_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 2, 2 + i as u8)
}

/// A pod standing for one on another node.
struct RemotePod {
    _ns: Netns,
    _servers: Vec<EchoServer>,
}

/// One twin: node, outside client, local and remote pods, and the proxy programming it.
pub struct Twin {
    pub proxy: Proxy,
    // Dropped in this order: the proxy, then the namespaces.
    process: Option<Process>,
    pub topo: Topology,
    _remote: Vec<RemotePod>,
    /// The namespaces probes are sent from, opened once: pod-0, the node, the client.
    pub sources: [File; 3],
}

impl Twin {
    /// Builds the topology and attaches the node to the control plane.
    pub fn new(proxy: Proxy, cp: &ControlPlane) -> Self {
        let topo = Topology::new(PODS, &TARGET_PORTS);
        // A REJECT rule answers with an ICMP error, which the kernel rate-limits per
        // destination (6 at once, then one a second): probes in parallel would see
        // timeouts instead. Both twins alike.
        topo.node.sysctl("net.ipv4.icmp_ratelimit", "0");
        topo.node.sysctl("net.ipv4.icmp_msgs_per_sec", "100000");
        topo.node.sysctl("net.ipv4.icmp_msgs_burst", "100000");
        let remote = (0..PODS)
            .map(|i| remote_pod(&topo.node, i, remote_pod_ip(i)))
            .collect();
        cp.attach(&topo.node);
        let open = |ns: &Netns| File::open(kproxy::sys::netns::path(&ns.name)).expect("netns");
        let sources = [open(&topo.pods[0].ns), open(&topo.node), open(&topo.client)];
        Self {
            proxy,
            process: None,
            topo,
            _remote: remote,
            sources,
        }
    }

    /// Starts this twin's proxy in `mode`.
    pub fn start(&mut self, cp: &ControlPlane, mode: Mode, dir: &Path) {
        let program = match self.proxy {
            Proxy::KubeProxy => cp.binaries().path("kube-proxy"),
            Proxy::Kproxy => env!("CARGO_BIN_EXE_kproxy").into(),
        };
        let settings = ProxySettings {
            mode: mode.flag().into(),
            node_name: NODE_NAME.into(),
            cluster_cidr: CLUSTER_CIDR.into(),
            min_sync_period: Duration::from_millis(100),
            sync_period: Duration::from_secs(30),
            extra: Vec::new(),
        };
        // More flags for one side: to see the test catch a difference (kproxy
        // `--masquerade-all`), or to compare with another of kube-proxy's settings.
        let var = match self.proxy {
            Proxy::KubeProxy => "KPROXY_DIFF_KUBE_PROXY_ARGS",
            Proxy::Kproxy => "KPROXY_DIFF_KPROXY_ARGS",
        };
        let mut settings = settings;
        if let Ok(extra) = std::env::var(var) {
            settings.extra = extra.split_whitespace().map(String::from).collect();
        }
        let dir = dir.join(self.proxy.name());
        std::fs::create_dir_all(&dir).expect("log directory");
        let env = [("RUST_LOG", "kproxy=info"), ("NO_COLOR", "1")];
        self.process =
            Some(cp.start_proxy(self.proxy, &program, &self.topo.node, &settings, &dir, &env));
    }

    /// A metric the proxy exposes (`None` until it serves `/metrics`).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let r = get(&self.topo.node, proxies::METRICS, "/metrics").filter(|r| r.status == 200)?;
        metric(&r.body, name, &[])
    }

    /// When the proxy last finished a sync (seconds since the epoch; 0 before the first).
    pub fn last_sync(&self) -> f64 {
        self.metric("kubeproxy_sync_proxy_rules_last_timestamp_seconds")
            .unwrap_or(0.0)
    }

    /// Panics, with the end of its log, if the proxy has exited.
    pub fn assert_running(&self) {
        if let Some(p) = &self.process {
            p.assert_running();
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.process
            .as_ref()
            .map(|p| p.log_tail(lines))
            .unwrap_or_default()
    }

    /// Waits until the proxy has finished a sync after `after` (seconds since the epoch)
    /// and `done` holds on its rules.
    pub fn wait_synced(
        &self,
        mode: Mode,
        what: &str,
        after: f64,
        deadline: Instant,
        done: impl Fn(&str) -> bool,
    ) {
        loop {
            if self.last_sync() > after && done(&mode.dump(&self.topo.node)) {
                return;
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "{}: timed out waiting for {what}; last sync at {}\nthe end of its log:\n{}",
                self.proxy.name(),
                self.last_sync(),
                self.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A pod at `ip` attached to `node` like the topology's own pods (veth, /32 routes,
/// the same gateway), serving [`TARGET_PORTS`].
fn remote_pod(node: &Netns, i: usize, ip: Ipv4Addr) -> RemotePod {
    let name = format!("remote-{i}");
    let ns = Netns::new(&name);
    let host_if = format!("kp-remote{i}");
    let gateway = NODE_POD_GATEWAY.to_string();
    node.ip(&[
        "link", "add", &host_if, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
    ]);
    node.ip(&["addr", "add", &format!("{gateway}/32"), "dev", &host_if]);
    node.ip(&["link", "set", &host_if, "up"]);
    node.ip(&["route", "add", &format!("{ip}/32"), "dev", &host_if]);
    ns.ip(&["addr", "add", &format!("{ip}/32"), "dev", "eth0"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    ns.ip(&["route", "add", &gateway, "dev", "eth0"]);
    ns.ip(&["route", "add", "default", "via", &gateway]);
    let servers = TARGET_PORTS
        .iter()
        .map(|p| EchoServer::start(&ns, &name, ip, *p))
        .collect();
    RemotePod {
        _ns: ns,
        _servers: servers,
    }
}
