//! Flags and the KubeProxyConfiguration file, merged into one [`Config`]: flags win.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::Ipv4Net;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    Iptables,
    Ipvs,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IptablesConfig {
    pub masquerade_all: bool,
    pub masquerade_bit: u8,
    pub sync_period: Duration,
    pub min_sync_period: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IpvsConfig {
    pub scheduler: String,
    pub sync_period: Duration,
    pub min_sync_period: Duration,
    pub strict_arp: bool,
    pub exclude_cidrs: Vec<Ipv4Net>,
    /// Zero means "leave the kernel's value".
    pub tcp_timeout: Duration,
    pub tcp_fin_timeout: Duration,
    pub udp_timeout: Duration,
}

/// Everything kproxy was told to do.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub mode: ProxyMode,
    pub hostname_override: Option<String>,
    pub cluster_cidr: Option<Ipv4Net>,
    pub nodeport_addresses: Vec<Ipv4Net>,
    pub iptables: IptablesConfig,
    pub ipvs: IpvsConfig,
    pub healthz_bind_address: SocketAddr,
    pub metrics_bind_address: SocketAddr,
    pub kubeconfig: Option<PathBuf>,
    pub master: Option<String>,
    /// kproxy's own: read Services and EndpointSlices from this directory, not an API server.
    pub manifests: Option<PathBuf>,
    /// kproxy's own: do all kernel work inside this named network namespace.
    pub netns: Option<String>,
    pub once: bool,
    pub dry_run: bool,
    pub cleanup: bool,
}
