//! Command-line flags, under kube-proxy's names and with its defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};
use ipnet::{IpNet, Ipv4Net};

use super::duration;
use super::v1alpha1::DEFAULT_OOM_SCORE_ADJ;

mod accepted;
mod logging;

pub use accepted::{ACCEPTED_FLAGS, AcceptedArgs};
pub use logging::{LogArgs, LogFormat, parse_vmodule};

/// kube-proxy's healthz port.
pub const HEALTHZ_PORT: u16 = 10256;
/// kube-proxy's metrics port.
pub const METRICS_PORT: u16 = 10249;

/// A drop-in replacement for kube-proxy: programs this node's kernel (iptables or IPVS) so
/// that traffic to Kubernetes Services reaches their endpoints.
///
/// Every kube-proxy 1.36/1.37 flag is accepted. Without --config, flags set the
/// configuration; with --config, the file does, and only the flags kube-proxy still honours
/// then (--hostname-override, --master, --cleanup, --init-only, --write-config-to and the
/// logging flags) override it, besides kproxy's own.
#[derive(Debug, Parser)]
#[command(name = "kproxy", disable_version_flag = true)]
pub struct Args {
    /// Which proxy mode to use: 'iptables' (NAT rules, kube-proxy's default), 'ipvs'
    /// (kernel IPVS load balancer, with the kube-ipvs0 interface and ipsets) or 'nftables'
    /// (kube-proxy's table `ip kube-proxy`, written over nf_tables netlink; IPv4 for now).
    #[arg(long, value_name = "MODE")]
    pub proxy_mode: Option<String>,

    /// A KubeProxyConfiguration file (apiVersion kubeproxy.config.k8s.io/v1alpha1), as
    /// kube-proxy reads it. kproxy exits when it changes, to be restarted with it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Write the effective configuration (flags or --config, with defaults) to this file
    /// as a KubeProxyConfiguration, and exit.
    #[arg(long, value_name = "FILE")]
    pub write_config_to: Option<PathBuf>,

    /// Use this name for the node instead of the hostname (it selects the node's own
    /// endpoints for Local traffic policies). Default: $NODE_NAME, then the hostname.
    #[arg(long, value_name = "NAME")]
    pub hostname_override: Option<String>,

    /// This node's primary IP (kube-proxy: "overrides kube-proxy's idea of what its node's
    /// primary IP is"; no socket is bound to it). kproxy uses it for the 'primary' keyword
    /// of --nodeport-addresses and for the default healthz/metrics address family.
    #[arg(long, default_value = "0.0.0.0", value_name = "IP")]
    pub bind_address: std::net::IpAddr,

    /// The pods' CIDR range. Traffic to services from outside it is masqueraded. For a
    /// dual-stack pair ('10.244.0.0/16,fd00::/48') the IPv4 range is used.
    #[arg(long, value_name = "CIDR", value_parser = parse_cluster_cidr)]
    pub cluster_cidr: Option<String>,

    /// Comma-separated CIDRs, or the keywords 'all', 'localhost' and 'primary' (the
    /// --bind-address), of node addresses that accept NodePort traffic. Default: all.
    #[arg(long, value_name = "CIDRS", value_delimiter = ',', value_parser = parse_nodeport_flag)]
    pub nodeport_addresses: Option<Vec<String>>,

    /// Masquerade (SNAT) all traffic sent to service cluster IPs, not only traffic from
    /// outside the cluster CIDR. Some CNI plugins need it.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_name = "BOOL")]
    pub masquerade_all: bool,

    /// The fwmark bit (0-31) that marks packets for masquerading.
    #[arg(long, default_value_t = 14, value_name = "BIT",
          value_parser = clap::value_parser!(i32).range(0..=31))]
    pub iptables_masquerade_bit: i32,

    /// iptables mode: how often rules are fully rewritten to repair drift, even without
    /// changes (e.g. '30s', '1m', '2h22m'). Must be greater than 0.
    #[arg(long, visible_alias = "sync-period", default_value = "30s",
          value_name = "DURATION", value_parser = duration::parse)]
    pub iptables_sync_period: Duration,

    /// iptables mode: the shortest time between two rule syncs; changes arriving faster are
    /// batched. '0s' syncs on every change.
    #[arg(long, visible_alias = "min-sync-period", default_value = "1s",
          value_name = "DURATION", value_parser = duration::parse)]
    pub iptables_min_sync_period: Duration,

    /// ipvs mode: the default IPVS scheduler (rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq,
    /// fo, ovf, mh, twos); empty means rr. A service's 'ipvs.kproxy.dev/scheduler'
    /// annotation overrides it.
    #[arg(long, value_name = "NAME")]
    pub ipvs_scheduler: Option<String>,

    /// ipvs mode: how often IPVS services, addresses and ipsets are fully resynced.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration::parse)]
    pub ipvs_sync_period: Duration,

    /// ipvs mode: the shortest time between two syncs ('0s' syncs on every change). Without
    /// --config kube-proxy's default is 1s; a file's ipvs.minSyncPeriod defaults to 0s.
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = duration::parse)]
    pub ipvs_min_sync_period: Duration,

    /// ipvs mode: set arp_ignore=1 and arp_announce=2 so the node does not answer ARP for
    /// the service addresses on kube-ipvs0 (needed with MetalLB-style L2 announcements).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_name = "BOOL")]
    pub ipvs_strict_arp: bool,

    /// ipvs mode: comma-separated CIDRs of IPVS virtual servers kproxy must not delete
    /// when cleaning up (services created by something else).
    #[arg(long, value_name = "CIDRS", value_delimiter = ',', value_parser = parse_cidr_flag)]
    pub ipvs_exclude_cidrs: Option<Vec<String>>,

    /// ipvs mode: idle timeout of IPVS TCP connections; '0s' leaves the kernel's value.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = duration::parse)]
    pub ipvs_tcp_timeout: Duration,

    /// ipvs mode: timeout of IPVS TCP connections after a FIN; '0s' leaves the kernel's value.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = duration::parse)]
    pub ipvs_tcpfin_timeout: Duration,

    /// ipvs mode: timeout of IPVS UDP flows; '0s' leaves the kernel's value.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = duration::parse)]
    pub ipvs_udp_timeout: Duration,

    /// Address and port of the health check server (/healthz, /livez), used by kubelet
    /// probes and load balancers. The port defaults to 10256 when omitted.
    #[arg(long, default_value = "0.0.0.0:10256", value_name = "ADDR",
          value_parser = parse_healthz_address)]
    pub healthz_bind_address: SocketAddr,

    /// Address and port of the Prometheus /metrics server (also /configz, /proxyMode).
    /// The port defaults to 10249 when omitted.
    #[arg(long, default_value = "127.0.0.1:10249", value_name = "ADDR",
          value_parser = parse_metrics_address)]
    pub metrics_bind_address: SocketAddr,

    /// Deprecated (kube-proxy): the health check server's port; 0 disables the server.
    #[arg(long, default_value_t = i32::from(HEALTHZ_PORT), value_name = "PORT",
          value_parser = clap::value_parser!(i32).range(0..=65535))]
    pub healthz_port: i32,

    /// Deprecated (kube-proxy): the metrics server's port; 0 disables the server.
    #[arg(long, default_value_t = i32::from(METRICS_PORT), value_name = "PORT",
          value_parser = clap::value_parser!(i32).range(0..=65535))]
    pub metrics_port: i32,

    /// Exit when the healthz or metrics port cannot be bound, instead of retrying every 5s.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_name = "BOOL")]
    pub bind_address_hard_fail: bool,

    /// The OOM score adjustment of the kproxy process, in [-1000, 1000].
    #[arg(long, default_value_t = DEFAULT_OOM_SCORE_ADJ, value_name = "SCORE",
          value_parser = clap::value_parser!(i32).range(-1000..=1000))]
    pub oom_score_adj: i32,

    /// Path to a kubeconfig file with the API server's address and credentials. Default:
    /// the in-cluster service account, then $KUBECONFIG / ~/.kube/config.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The API server's address, overriding the kubeconfig's.
    #[arg(long, value_name = "URL")]
    pub master: Option<String>,

    /// Remove every rule, chain, IPVS service, ipset and interface kproxy (or kube-proxy)
    /// created, then exit.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_name = "BOOL")]
    pub cleanup: bool,

    /// Do the set-up that needs full root privileges (kernel settings), then exit; for an
    /// init container, so the proxy itself can run with only CAP_NET_ADMIN.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_name = "BOOL")]
    pub init_only: bool,

    /// Print the version and exit ('--version=raw' prints it as a structure).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "raw")]
    pub version: Option<String>,

    /// kproxy: read Services and EndpointSlices from YAML/JSON files in this directory
    /// (re-read when they change) instead of an API server.
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,

    /// kproxy: do all kernel work inside this named network namespace (from 'ip netns add').
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,

    /// kproxy: sync once and exit, instead of watching for changes.
    #[arg(long)]
    pub once: bool,

    /// kproxy: compute the rules and print them instead of applying them.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub logging: LogArgs,

    #[command(flatten)]
    pub accepted: AcceptedArgs,
}

/// Parses one CIDR; `Ok(None)` for IPv6. A bare address means a /32.
pub fn parse_cidr(s: &str) -> Result<Option<Ipv4Net>, String> {
    let s = s.trim();
    let net = match s.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => match s.parse::<std::net::IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => return Err(format!("{s:?} is not a CIDR (e.g. 10.0.0.0/8)")),
        },
    };
    Ok(match net {
        IpNet::V4(n) => Some(n.trunc()),
        IpNet::V6(_) => None,
    })
}

/// One comma-separated entry of a CIDR list flag, checked and kept as written.
fn parse_cidr_flag(s: &str) -> Result<String, String> {
    if !s.trim().is_empty() {
        parse_cidr(s)?;
    }
    Ok(s.trim().to_string())
}

/// One `nodePortAddresses` entry: a CIDR or one of kube-proxy's keywords.
pub fn parse_nodeport_entry(s: &str) -> Result<Option<Ipv4Net>, String> {
    match s.trim() {
        "all" => Ok(Some(Ipv4Net::default())),
        "localhost" => Ok(Some(
            Ipv4Net::new(std::net::Ipv4Addr::new(127, 0, 0, 0), 8).expect("/8"),
        )),
        other => parse_cidr(other),
    }
}

/// One entry of `--nodeport-addresses`: a CIDR or a keyword, checked and kept as written.
fn parse_nodeport_flag(s: &str) -> Result<String, String> {
    let s = s.trim();
    if !s.is_empty() && s != PRIMARY {
        parse_nodeport_entry(s)?;
    }
    Ok(s.to_string())
}

/// The nodePortAddresses keyword for the node's primary IP.
pub const PRIMARY: &str = "primary";

/// The IPv4 CIDR of a cluster CIDR setting (one CIDR or a dual-stack pair).
pub fn first_ipv4_cidr(s: &str) -> Result<Ipv4Net, String> {
    let mut v4 = None;
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        if let Some(net) = parse_cidr(part)? {
            v4.get_or_insert(net);
        }
    }
    v4.ok_or_else(|| format!("{s:?} has no IPv4 CIDR (kproxy proxies IPv4 only)"))
}

fn parse_cluster_cidr(s: &str) -> Result<String, String> {
    first_ipv4_cidr(s)?;
    Ok(s.trim().to_string())
}

/// `ip:port`, or a bare `ip` to which `default_port` is added, as kube-proxy does.
pub fn parse_bind_address(s: &str, default_port: u16) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let ip = s.trim_start_matches('[').trim_end_matches(']');
    match ip.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, default_port)),
        Err(_) => Err(format!(
            "{s:?} is not an address (expected e.g. 0.0.0.0:{default_port})"
        )),
    }
}

fn parse_healthz_address(s: &str) -> Result<SocketAddr, String> {
    parse_bind_address(s, HEALTHZ_PORT)
}

fn parse_metrics_address(s: &str) -> Result<SocketAddr, String> {
    parse_bind_address(s, METRICS_PORT)
}
