//! A real Kubernetes control plane for tests: upstream etcd, kube-apiserver and
//! kube-controller-manager (EndpointSlice and service-account controllers) of the pinned
//! release (docs/upstream.md), in a throwaway network namespace of their own.
//!
//! ```text
//!  control plane ns: etcd 127.0.0.1:2379, kube-apiserver 172.30.0.1:6443 on bridge kp-cp
//!        │ veth (one per attached node)
//!  node ns "kp-api" 172.30.0.(11+n)/24
//! ```
//! Nodes (test namespaces running kproxy, or kube-proxy beside it) are attached with
//! [`ControlPlane::attach`]; nothing is in the root namespace and there is no uplink. The
//! API server checks client certificates and service-account tokens and authorizes with
//! RBAC; the test driver is a cluster admin ([`ControlPlane::admin`]), and a proxy gets
//! the kubeconfig of a service account ([`ControlPlane::service_account_kubeconfig`])
//! with exactly the permissions bound to it, e.g. by deploy/rbac.yaml.
//!
//! Dropping the control plane kills its processes and deletes its namespace, also when a
//! test panics (then the components' logs are printed, and kept on disk).

mod admin;
pub mod audit;
mod binaries;
pub mod etcd;
mod flags;
mod kubeconfig;
mod pki;
mod process;
pub mod proxies;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1 as core;
use nix::sys::signal::Signal;

pub use admin::Admin;
pub use audit::AuditEvent;
pub use binaries::{Binaries, PROGRAMS, binaries_or_skip, kubernetes_version};
pub use kubeconfig::Credential;
pub use pki::CertKey;
pub use process::Process;
pub use proxies::{Proxy, ProxySettings};

use crate::testing::netns::{Netns, TEST_PREFIX, remove_orphans};
use pki::Pki;

/// The API server's address on the control-plane link.
pub const API_IP: Ipv4Addr = Ipv4Addr::new(172, 30, 0, 1);
pub const API_PORT: u16 = 6443;
/// The Service range: the API server allocates ClusterIPs (and `kubernetes`' 10.96.0.1) here.
pub const SERVICE_CIDR: &str = "10.96.0.0/12";
/// The control planes' directories: `<temp>/kproxy-cp-<pid>-<n>`.
const DIR_PREFIX: &str = "kproxy-cp-";
/// How long a component may take to become ready on a loaded 2-core machine.
pub const START_DEADLINE: Duration = Duration::from_secs(180);

/// The URL every attached namespace reaches the API server at.
pub fn server_url() -> String {
    format!("https://{API_IP}:{API_PORT}")
}

/// How the control plane differs from upstream's defaults.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Resources (`services`, `endpointslices.discovery.k8s.io`, …) whose watches the API
    /// server serves from etcd instead of its watch cache, so that a watch from a
    /// resourceVersion older than etcd's compaction gets 410 Gone. The watch cache cannot
    /// be made small enough for that instead: it keeps at least 100 events per resource
    /// and doubles while its events are under 75 s old (`--watch-cache-sizes` takes only 0).
    pub uncached: Vec<&'static str>,
}

pub struct ControlPlane {
    // Dropped in this order: the driver, the processes, the namespace, the directory.
    admin: Option<Admin>,
    controller_manager: Option<Process>,
    apiserver: Option<Process>,
    etcd: Option<Process>,
    netns: Netns,
    bins: Binaries,
    pki: Pki,
    options: Options,
    dir: PathBuf,
    attached: AtomicUsize,
}

impl ControlPlane {
    /// Starts etcd, then the API server (ready: `/readyz` answers `ok`), then the
    /// controller manager (ready: it created the `default` service account). Panics,
    /// with the components' logs, when one does not come up before [`START_DEADLINE`].
    pub fn start(bins: Binaries, options: Options) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        static LEFTOVERS_REMOVED: Once = Once::new();
        // A killed run's programs died with it (see `process`); its namespaces and
        // directories did not.
        LEFTOVERS_REMOVED.call_once(|| {
            remove_orphans(TEST_PREFIX);
            remove_orphan_dirs();
        });
        let dir = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("pki")).expect("the control plane's directory");
        let netns = Netns::new("cp");
        netns.ip(&["link", "add", "kp-cp", "type", "bridge"]);
        netns.ip(&["addr", "add", &format!("{API_IP}/24"), "dev", "kp-cp"]);
        netns.ip(&["link", "set", "kp-cp", "up"]);
        let service_ip = Ipv4Addr::new(10, 96, 0, 1);
        let pki = Pki::create(&dir.join("pki"), &[API_IP, Ipv4Addr::LOCALHOST, service_ip]);
        std::fs::write(dir.join("audit-policy.yaml"), audit::POLICY).expect("audit policy");
        let mut cp = Self {
            admin: None,
            controller_manager: None,
            apiserver: None,
            etcd: None,
            netns,
            bins,
            pki,
            options,
            dir,
            attached: AtomicUsize::new(0),
        };
        cp.start_etcd();
        let admin = cp.pki.client("kproxy-test-admin", &["system:masters"]);
        cp.admin = Some(Admin::start(
            &cp.netns.name,
            cp.kubeconfig(&Credential::Certificate(admin)),
        ));
        cp.start_apiserver();
        cp.start_controller_manager();
        cp
    }

    /// The test driver's cluster-admin client.
    pub fn admin(&self) -> &Admin {
        self.admin.as_ref().expect("present until dropped")
    }

    /// The control plane's own namespace.
    pub fn netns(&self) -> &Netns {
        &self.netns
    }

    pub fn binaries(&self) -> &Binaries {
        &self.bins
    }

    /// Connects the namespace `node` to the control-plane link (a veth `kp-api` in it,
    /// on the bridge here) and returns the address it got there. Each namespace once.
    pub fn attach(&self, node: &Netns) -> Ipv4Addr {
        let n = self.attached.fetch_add(1, Ordering::Relaxed);
        let ip = Ipv4Addr::new(172, 30, 0, 11 + u8::try_from(n).expect("few nodes"));
        let port = format!("kp-n{n}");
        self.netns.ip(&[
            "link", "add", &port, "type", "veth", "peer", "name", "kp-api", "netns", &node.name,
        ]);
        self.netns
            .ip(&["link", "set", &port, "master", "kp-cp", "up"]);
        node.ip(&["addr", "add", &format!("{ip}/24"), "dev", "kp-api"]);
        node.ip(&["link", "set", "kp-api", "up"]);
        ip
    }

    /// A kubeconfig (text) for [`server_url`] with `credential`.
    pub fn kubeconfig(&self, credential: &Credential) -> String {
        kubeconfig::render(&server_url(), &self.pki.ca.cert, credential)
    }

    /// Writes [`kubeconfig`](Self::kubeconfig) to `path`.
    pub fn write_kubeconfig(&self, credential: &Credential, path: &Path) {
        std::fs::write(path, self.kubeconfig(credential))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// A client certificate for `user` in `groups`, signed by the control plane's CA.
    pub fn client_certificate(&self, user: &str, groups: &[&str]) -> Credential {
        Credential::Certificate(self.pki.client(user, groups))
    }

    /// A kubeconfig with a bound token (one hour) of the existing service account
    /// `namespace/name`: the identity a proxy's pod would have.
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str, path: &Path) {
        let token = self.admin().service_account_token(namespace, name, 3600);
        self.write_kubeconfig(&Credential::Token(token), path);
    }

    /// The audit log so far: every request made by a service account.
    pub fn audit(&self) -> Vec<AuditEvent> {
        audit::read(&self.dir.join("audit.log"))
    }

    /// The audit events of the service account `namespace/name`.
    pub fn audit_of(&self, namespace: &str, name: &str) -> Vec<AuditEvent> {
        let user = format!("system:serviceaccount:{namespace}:{name}");
        self.audit()
            .into_iter()
            .filter(|e| e.user == user)
            .collect()
    }

    /// Kills the API server (as a crash would: open watches end at once).
    pub fn kill_apiserver(&mut self) {
        if let Some(p) = self.apiserver.take() {
            p.stop(Signal::SIGKILL);
        }
    }

    /// Starts the API server again (after [`kill_apiserver`](Self::kill_apiserver)) on the
    /// same etcd, and waits until it is ready.
    pub fn start_apiserver(&mut self) {
        assert!(self.apiserver.is_none(), "the API server is running");
        let args = flags::apiserver(&self.pki, &self.dir, &self.options);
        self.apiserver = Some(self.process("kube-apiserver", &args));
        self.wait("kube-apiserver /readyz", |cp| cp.admin().ready());
    }

    /// Cuts the attached namespace at `node_ip` off the API server: its connections are
    /// reset and new ones refused (TCP RST), until [`reconnect`](Self::reconnect). Other
    /// clients, the test driver among them, are not affected.
    pub fn cut_off(&self, node_ip: Ipv4Addr) {
        self.refuse(node_ip, "-I");
        self.netns
            .exec(&["ss", "-K", "-t", "dst", &node_ip.to_string()]);
    }

    /// Undoes [`cut_off`](Self::cut_off).
    pub fn reconnect(&self, node_ip: Ipv4Addr) {
        self.refuse(node_ip, "-D");
    }

    /// Inserts (`-I`) or deletes (`-D`) the rule that refuses `node_ip`'s connections to
    /// the API server with a TCP reset.
    fn refuse(&self, node_ip: Ipv4Addr, op: &str) {
        let (ip, port) = (node_ip.to_string(), API_PORT.to_string());
        self.netns.exec(&[
            "iptables",
            "-w",
            op,
            "INPUT",
            "-s",
            &ip,
            "-p",
            "tcp",
            "--dport",
            &port,
            "-j",
            "REJECT",
            "--reject-with",
            "tcp-reset",
        ]);
    }

    /// Compacts etcd's history up to now (see [`etcd::compact`]); returns the revision.
    pub fn compact_etcd(&self) -> u64 {
        etcd::compact(&self.netns).expect("compacting etcd")
    }

    /// The newest resourceVersion (etcd's revision).
    pub fn etcd_revision(&self) -> u64 {
        etcd::revision(&self.netns).expect("etcd's revision")
    }

    /// Panics, with the end of its log, if a component has exited.
    pub fn assert_running(&self) {
        for p in self.processes() {
            p.assert_running();
        }
    }

    fn processes(&self) -> impl Iterator<Item = &Process> {
        [&self.etcd, &self.apiserver, &self.controller_manager]
            .into_iter()
            .flatten()
    }

    /// The end of every component's log, for failure messages.
    pub fn log_tails(&self) -> String {
        self.processes()
            .map(|p| format!("== {} ==\n{}\n", p.log_path().display(), p.log_tail(30)))
            .collect()
    }

    /// Creates the namespace `name` and waits for its `default` service account, without
    /// which the API server admits no Pod there.
    pub fn create_namespace(&self, name: &str) {
        let ns = core::Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        self.admin().apply(&ns);
        self.wait(&format!("the default service account of {name}"), |cp| {
            cp.admin()
                .get::<core::ServiceAccount>(Some(name), "default")
                .is_some()
        });
    }

    fn start_etcd(&mut self) {
        let args = etcd::args(&self.dir.join("etcd"));
        self.etcd = Some(self.process("etcd", &args));
        self.wait("etcd /health", |cp| etcd::healthy(&cp.netns));
    }

    fn start_controller_manager(&mut self) {
        let kubeconfig = self.dir.join("controller-manager.kubeconfig");
        let identity =
            self.client_certificate("system:kube-controller-manager", &["system:masters"]);
        self.write_kubeconfig(&identity, &kubeconfig);
        let args = flags::controller_manager(&kubeconfig);
        self.controller_manager = Some(self.process("kube-controller-manager", &args));
        self.create_namespace("default");
    }

    fn process(&self, program: &str, args: &[String]) -> Process {
        let log = self.dir.join(format!("{program}.log"));
        Process::start(&self.netns.name, &self.bins.path(program), args, &log)
    }

    /// Polls `ready` until it holds; panics with the logs after [`START_DEADLINE`] or when
    /// a component has exited.
    fn wait(&self, what: &str, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if ready(self) {
                return;
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "timed out after {START_DEADLINE:?} waiting for {what}\n{}",
                self.log_tails()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the control plane's logs:\n{}", self.log_tails());
        }
        drop(self.admin.take());
        for p in [
            self.controller_manager.take(),
            self.apiserver.take(),
            self.etcd.take(),
        ]
        .into_iter()
        .flatten()
        {
            drop(p);
        }
        let _ = std::fs::remove_dir_all(self.dir.join("etcd"));
        if std::thread::panicking() {
            eprintln!(
                "the control plane's logs are kept in {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Deletes the directories of control planes whose process is gone.
fn remove_orphan_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(DIR_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
