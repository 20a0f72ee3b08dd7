//! One test node (three pods, an outside client) attached to a real control plane, and
//! the real kproxy binary on the node with the `kube-system/kproxy` service account's
//! token, the identity deploy/rbac.yaml grants its permissions to.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::api::events::v1 as events;
use kproxy::testing::controlplane::{AuditEvent, ControlPlane, Options, binaries_or_skip};
use kproxy::testing::objects;

use crate::support::echo::{Outcome, addr, tcp_request};
use crate::support::http_get::{get, metric};
use crate::support::kproxy::{Kproxy, start_with_kubeconfig};
use crate::support::netns::netns_available;
use crate::support::topology::{NODE_NAME, Topology, pod_ip};

/// The namespace of the tests' Services and Pods.
pub const NS: &str = "demo";
/// The port every pod serves on.
pub const POD_PORT: u16 = 8080;
/// kproxy's metrics, inside the node namespace.
const METRICS: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 10249));
/// Generous: after failed requests kube-runtime backs off up to 30 s, and the machine is
/// shared.
pub const WAIT: Duration = Duration::from_secs(60);
/// The RBAC objects kproxy is deployed with.
pub const RBAC: &str = include_str!("../../deploy/rbac.yaml");
/// kproxy's identity in the audit log.
pub const KPROXY_SA: (&str, &str) = ("kube-system", "kproxy");

pub struct Cluster {
    // Dropped in this order: kproxy, the pods and node, the control plane.
    kproxy: Option<Kproxy>,
    pub topo: Topology,
    pub cp: ControlPlane,
    /// The node's address on the control-plane link.
    pub node_ip: Ipv4Addr,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// A control plane with `options`, a node with three pods serving [`POD_PORT`]
    /// attached to it, the namespace [`NS`] and this node's Node object (zone `zone-a`).
    /// `None` (skipped) when the machine cannot run it.
    pub fn new(options: Options) -> Option<Self> {
        // First: it fails, rather than skips, under KPROXY_REQUIRE_KERNEL=1.
        let bins = binaries_or_skip()?;
        if !netns_available(&[]) {
            return None;
        }
        let cp = ControlPlane::start(bins, options);
        let topo = Topology::new(3, &[POD_PORT]);
        let node_ip = cp.attach(&topo.node);
        cp.create_namespace(NS);
        let cluster = Self {
            kproxy: None,
            topo,
            cp,
            node_ip,
            dir: tempfile::tempdir().unwrap(),
        };
        cluster.put_node(&node_object("zone-a", &["192.168.100.1"]));
        Some(cluster)
    }

    /// Creates or updates a Node object, its status (addresses) too.
    pub fn put_node(&self, node: &core::Node) {
        self.cp.admin().apply(node);
        self.cp.admin().apply_status(node);
    }

    /// Applies deploy/rbac.yaml: the service account, its ClusterRole and the binding.
    pub fn apply_rbac(&self) {
        assert_eq!(self.cp.admin().apply_manifest(RBAC), 3);
    }

    /// Starts kproxy on the node (iptables mode) with a kubeconfig holding a bound token of
    /// the `kube-system/kproxy` service account.
    pub fn start_kproxy(&mut self) {
        self.start_kproxy_with(&[]);
    }

    /// [`start_kproxy`](Self::start_kproxy) with more flags.
    pub fn start_kproxy_with(&mut self, extra: &[&str]) {
        let kubeconfig = self.dir.path().join("kproxy.kubeconfig");
        self.cp
            .service_account_kubeconfig(KPROXY_SA.0, KPROXY_SA.1, &kubeconfig);
        let log = self.dir.path().join("kproxy.log");
        self.kproxy = Some(start_with_kubeconfig(
            &self.topo.node,
            &kubeconfig,
            &log,
            extra,
        ));
    }

    pub fn kproxy(&mut self) -> &mut Kproxy {
        self.kproxy.as_mut().expect("kproxy started")
    }

    pub fn kproxy_log(&self) -> String {
        self.kproxy
            .as_ref()
            .map(Kproxy::log_text)
            .unwrap_or_default()
    }

    /// Every table of the node's rules.
    pub fn rules(&self) -> String {
        self.topo.node.iptables_save(&[])
    }

    /// Waits until `check` holds on the node's rules.
    pub fn wait_rules(&mut self, what: &str, check: impl Fn(&str) -> bool) {
        self.wait(what, |c| check(&c.rules()));
    }

    /// Waits until connections from pod-0 to `ip:port` reach exactly the pods `expected`
    /// (by number; empty: refused).
    pub fn wait_traffic(&mut self, ip: Ipv4Addr, port: u16, expected: &[usize]) {
        let want: BTreeSet<String> = expected.iter().map(|i| format!("pod-{i}")).collect();
        self.wait(&format!("{ip}:{port} reaching {want:?}"), |c| {
            c.reached(ip, port).as_ref() == Some(&want)
        });
    }

    /// The pods that 30 new connections from pod-0 to `ip:port` reached; see [`reached`].
    pub fn reached(&self, ip: Ipv4Addr, port: u16) -> Option<BTreeSet<String>> {
        reached(&self.topo, ip, port)
    }

    /// Polls `done` until it holds; panics with the rules, kproxy's log and the control
    /// plane's logs after [`WAIT`], or at once when kproxy or a component has exited.
    pub fn wait(&mut self, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            if done(self) {
                return;
            }
            self.kproxy().assert_running();
            self.cp.assert_running();
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}\nrules:\n{}\nkproxy log:\n{}\n{}",
                    self.rules(),
                    self.kproxy().log_text(),
                    self.cp.log_tails()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A metric kproxy exposes (`None` until it serves `/metrics`).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let r = get(&self.topo.node, METRICS, "/metrics").filter(|r| r.status == 200)?;
        metric(&r.body, name, &[])
    }

    /// kproxy's requests, as the API server's audit log has them.
    pub fn kproxy_requests(&self) -> Vec<AuditEvent> {
        self.cp.audit_of(KPROXY_SA.0, KPROXY_SA.1)
    }

    /// How many complete lists of `resource` kproxy made that were answered `code`.
    pub fn lists(&self, resource: &str, code: u16) -> usize {
        self.kproxy_requests()
            .iter()
            .filter(|e| e.is_complete() && e.verb == "list" && e.resource == resource)
            .filter(|e| e.code == Some(code))
            .count()
    }

    /// The permissions of deploy/rbac.yaml were all kproxy needed: no request of its was
    /// refused (audit log), its log names no refusal, and it recorded its `Starting` event
    /// on the Node.
    pub fn assert_rbac_was_enough(&mut self) {
        assert!(
            !self.kproxy_requests().is_empty(),
            "the audit log has none of kproxy's requests"
        );
        self.assert_rbac_was_enough_since(&Mark::default());
    }

    /// Where the audit log and kproxy's log are now, for
    /// [`assert_rbac_was_enough_since`](Self::assert_rbac_was_enough_since).
    pub fn mark(&self) -> Mark {
        Mark {
            requests: self.kproxy_requests().len(),
            log: self.kproxy_log().len(),
        }
    }

    /// [`assert_rbac_was_enough`](Self::assert_rbac_was_enough) for what happened after
    /// `mark` only.
    pub fn assert_rbac_was_enough_since(&mut self, mark: &Mark) {
        self.wait("kproxy's Starting event", |c| {
            c.cp.admin()
                .list::<events::Event>(Some("default"))
                .iter()
                .any(is_starting_event)
        });
        let requests = self.kproxy_requests().split_off(mark.requests);
        let refused: Vec<&AuditEvent> = requests
            .iter()
            .filter(|e| matches!(e.code, Some(401 | 403)))
            .collect();
        assert!(refused.is_empty(), "refused requests: {refused:#?}");
        let log = self.kproxy_log().split_off(mark.log);
        for word in ["forbidden", "Forbidden", "Unauthorized"] {
            assert!(!log.contains(word), "kproxy's log says {word}:\n{log}");
        }
    }
}

/// A point in kproxy's requests and log.
#[derive(Default)]
pub struct Mark {
    requests: usize,
    log: usize,
}

/// The pods that 30 new connections from `topo`'s pod-0 to `ip:port` reached (enough that
/// missing one of three by chance is negligible): empty when refused, `None` when a
/// connection got no answer or a strange one (no rules yet, say).
pub fn reached(topo: &Topology, ip: Ipv4Addr, port: u16) -> Option<BTreeSet<String>> {
    let from = &topo.pods[0].ns;
    let mut pods = BTreeSet::new();
    for _ in 0..30 {
        match tcp_request(from, addr(ip, port)) {
            Outcome::Reply(r) => pods.insert(r.backend),
            Outcome::Refused if pods.is_empty() => return Some(pods),
            _ => return None,
        };
    }
    Some(pods)
}

fn is_starting_event(e: &events::Event) -> bool {
    e.reason.as_deref() == Some("Starting")
        && e.reporting_controller.as_deref() == Some("kproxy")
        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(NODE_NAME)
}

/// This node's Node object: zone label, and the addresses in its status.
pub fn node_object(zone: &str, internal_ips: &[&str]) -> core::Node {
    let addresses: Vec<(&str, &str)> = internal_ips.iter().map(|ip| ("InternalIP", *ip)).collect();
    objects::node(NODE_NAME, Some(zone), &addresses)
}

/// A ClusterIP Service without a selector (so no controller touches its slices), one TCP
/// port `port` → [`POD_PORT`] named `http`.
pub fn svc(name: &str, ip: Ipv4Addr, port: i32) -> core::Service {
    let mut s = objects::service(NS, name, &ip.to_string(), &[("http", port, "TCP")]);
    let spec = s.spec.as_mut().unwrap();
    spec.ports.as_mut().unwrap()[0].target_port =
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i32::from(POD_PORT)));
    s
}

/// A slice of `service` whose ready endpoints are the pods numbered `pods`, on this node.
pub fn pods_slice(name: &str, service: &str, pods: &[usize]) -> discovery::EndpointSlice {
    let ips: Vec<String> = pods.iter().map(|i| pod_ip(*i).to_string()).collect();
    let endpoints: Vec<(&str, Option<&str>)> = ips
        .iter()
        .map(|ip| (ip.as_str(), Some(NODE_NAME)))
        .collect();
    objects::slice(
        NS,
        name,
        service,
        ("http", i32::from(POD_PORT), "TCP"),
        &endpoints,
    )
}

/// Whether the rules send `service`'s (`ns/name:port`) traffic to pod number `pod`.
pub fn routes_to(rules: &str, service: &str, pod: usize) -> bool {
    rules.contains(&format!("{service} -> {}:{POD_PORT}", pod_ip(pod)))
}
