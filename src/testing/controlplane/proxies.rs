//! Both proxies on attached nodes, with the same settings: upstream kube-proxy (as the
//! `kube-system/kube-proxy` service account, bound to upstream's `system:node-proxier`
//! ClusterRole) and kproxy (as `kube-system/kproxy`, with deploy/rbac.yaml's permissions).
//! The differential test and the side-by-side benchmark start them the same way: each
//! program inside its node's namespace (`ip netns exec`, see [`Process`]), from a
//! kubeconfig holding a bound service-account token, with equivalent flags.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use super::{ControlPlane, Process};
use crate::testing::netns::Netns;

/// kube-proxy's identity, with the ClusterRole upstream gives it (kubeadm binds the same).
pub const KUBE_PROXY_RBAC: &str = "apiVersion: v1
kind: ServiceAccount
metadata:
  name: kube-proxy
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kube-proxy
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:node-proxier
subjects:
- kind: ServiceAccount
  name: kube-proxy
  namespace: kube-system
";

/// kproxy's RBAC objects, as deployed.
pub const KPROXY_RBAC: &str = include_str!("../../../deploy/rbac.yaml");

/// Where both proxies serve `/metrics`, inside their node's namespace.
pub const METRICS: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 10249));
/// Where both serve `/healthz`, inside their node's namespace.
pub const HEALTHZ: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 10256));

/// Which program programs a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proxy {
    KubeProxy,
    Kproxy,
}

impl Proxy {
    pub fn name(self) -> &'static str {
        match self {
            Proxy::KubeProxy => "kube-proxy",
            Proxy::Kproxy => "kproxy",
        }
    }

    /// The service account the proxy runs as (in `kube-system`).
    pub fn service_account(self) -> &'static str {
        self.name()
    }
}

/// Settings both proxies get, each in its own flags' spelling.
#[derive(Clone, Debug)]
pub struct ProxySettings {
    /// `--proxy-mode`: `iptables` (later `nftables`).
    pub mode: String,
    /// The node name (`--hostname-override`).
    pub node_name: String,
    /// `--cluster-cidr`.
    pub cluster_cidr: String,
    /// kube-proxy's `--iptables-min-sync-period`, kproxy's `--min-sync-period`.
    pub min_sync_period: Duration,
    /// kube-proxy's `--iptables-sync-period`, kproxy's `--sync-period`.
    pub sync_period: Duration,
    /// More flags, as the program spells them.
    pub extra: Vec<String>,
}

impl ProxySettings {
    /// The command line of `proxy` reading the API server through `kubeconfig`.
    pub fn args(&self, proxy: Proxy, kubeconfig: &Path) -> Vec<String> {
        let min_sync = humantime::format_duration(self.min_sync_period);
        let sync = humantime::format_duration(self.sync_period);
        let mut args = vec![
            format!("--proxy-mode={}", self.mode),
            format!("--kubeconfig={}", kubeconfig.display()),
            format!("--hostname-override={}", self.node_name),
            format!("--cluster-cidr={}", self.cluster_cidr),
            format!("--metrics-bind-address={METRICS}"),
            format!("--healthz-bind-address={HEALTHZ}"),
        ];
        match proxy {
            Proxy::KubeProxy => args.extend([
                format!("--{}-min-sync-period={min_sync}", self.mode),
                format!("--{}-sync-period={sync}", self.mode),
                // Conntrack limits and timeouts are the host's, not a namespace's to set.
                "--conntrack-max-per-core=0".into(),
                "--conntrack-tcp-timeout-established=0".into(),
                "--conntrack-tcp-timeout-close-wait=0".into(),
                "--oom-score-adj=0".into(),
            ]),
            Proxy::Kproxy => args.extend([
                format!("--min-sync-period={min_sync}"),
                format!("--sync-period={sync}"),
                // The same: kproxy would set them in its namespace, kube-proxy cannot.
                "--conntrack-max-per-core=0".into(),
                "--conntrack-tcp-timeout-established=0".into(),
                "--conntrack-tcp-timeout-close-wait=0".into(),
            ]),
        }
        args.extend(self.extra.iter().cloned());
        args
    }
}

impl ControlPlane {
    /// Applies both proxies' RBAC objects (their service accounts, roles and bindings).
    pub fn apply_proxy_rbac(&self) {
        self.admin().apply_manifest(KPROXY_RBAC);
        self.admin().apply_manifest(KUBE_PROXY_RBAC);
    }

    /// Starts `proxy` (the program at `program`) inside the attached namespace `node`, as
    /// its service account (see [`apply_proxy_rbac`](Self::apply_proxy_rbac)), logging to
    /// `dir/<proxy>.log`. `env` is added to its environment.
    pub fn start_proxy(
        &self,
        proxy: Proxy,
        program: &Path,
        node: &Netns,
        settings: &ProxySettings,
        dir: &Path,
        env: &[(&str, &str)],
    ) -> Process {
        let kubeconfig = dir.join(format!("{}.kubeconfig", proxy.name()));
        self.service_account_kubeconfig("kube-system", proxy.service_account(), &kubeconfig);
        let args = settings.args(proxy, &kubeconfig);
        let log = dir.join(format!("{}.log", proxy.name()));
        Process::start_with_env(&node.name, program, &args, &log, env)
    }
}
