//! Command-line flags, under kube-proxy's names and with its defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};
use ipnet::{IpNet, Ipv4Net};

use super::{ProxyMode, duration};

/// kube-proxy's healthz port.
pub const HEALTHZ_PORT: u16 = 10256;
/// kube-proxy's metrics port.
pub const METRICS_PORT: u16 = 10249;

/// A drop-in replacement for kube-proxy: programs this node's kernel (iptables or IPVS) so
/// that traffic to Kubernetes Services reaches their endpoints.
///
/// Flags given on the command line override the --config file; the file overrides defaults.
#[derive(Debug, Parser)]
#[command(name = "kproxy", version)]
pub struct Args {
    /// Which proxy mode to use: 'iptables' (NAT rules, kube-proxy's default) or 'ipvs'
    /// (kernel IPVS load balancer, with the kube-ipvs0 interface and ipsets).
    #[arg(long, value_enum, default_value = "iptables", value_name = "MODE")]
    pub proxy_mode: ProxyMode,

    /// A KubeProxyConfiguration file (apiVersion kubeproxy.config.k8s.io/v1alpha1), as
    /// kube-proxy reads it. Flags given explicitly override its settings.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Use this name for the node instead of the hostname (it selects the node's own
    /// endpoints for Local traffic policies). Default: $NODE_NAME, then the hostname.
    #[arg(long, value_name = "NAME")]
    pub hostname_override: Option<String>,

    /// The pods' CIDR range. Traffic to services from outside it is masqueraded. For a
    /// dual-stack pair ('10.244.0.0/16,fd00::/48') the IPv4 range is used.
    #[arg(long, value_name = "CIDR", value_parser = parse_cluster_cidr)]
    pub cluster_cidr: Option<Ipv4Net>,

    /// Comma-separated CIDRs (or the keywords 'all' and 'localhost') of node addresses that
    /// accept NodePort traffic. Default: every local address.
    #[arg(long, value_name = "CIDRS", value_parser = parse_nodeport_addresses)]
    pub nodeport_addresses: Option<CidrList>,

    /// Masquerade (SNAT) all traffic sent to service cluster IPs, not only traffic from
    /// outside the cluster CIDR. Some CNI plugins need it.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_name = "BOOL")]
    pub masquerade_all: bool,

    /// The fwmark bit (0-31) that marks packets for masquerading.
    #[arg(long, default_value_t = 14, value_name = "BIT",
          value_parser = clap::value_parser!(u8).range(0..=31))]
    pub iptables_masquerade_bit: u8,

    /// iptables mode: how often rules are fully rewritten to repair drift, even without
    /// changes (e.g. '30s', '1m', '2h22m'). Must be greater than 0.
    #[arg(long, visible_alias = "iptables-sync-period", default_value = "30s",
          value_name = "DURATION", value_parser = duration::parse)]
    pub sync_period: Duration,

    /// iptables mode: the shortest time between two rule syncs; changes arriving faster are
    /// batched. '0s' syncs on every change.
    #[arg(long, visible_alias = "iptables-min-sync-period", default_value = "1s",
          value_name = "DURATION", value_parser = duration::parse)]
    pub min_sync_period: Duration,

    /// ipvs mode: the default IPVS scheduler (rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq,
    /// fo, ovf, mh, twos). A service's 'ipvs.kproxy.dev/scheduler' annotation overrides it.
    #[arg(long, default_value = "rr", value_name = "NAME")]
    pub ipvs_scheduler: String,

    /// ipvs mode: how often IPVS services, addresses and ipsets are fully resynced.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration::parse)]
    pub ipvs_sync_period: Duration,

    /// ipvs mode: the shortest time between two syncs. kube-proxy's default '0s' syncs on
    /// every change.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = duration::parse)]
    pub ipvs_min_sync_period: Duration,

    /// ipvs mode: set arp_ignore=1 and arp_announce=2 so the node does not answer ARP for
    /// the service addresses on kube-ipvs0 (needed with MetalLB-style L2 announcements).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_name = "BOOL")]
    pub ipvs_strict_arp: bool,

    /// ipvs mode: comma-separated CIDRs of IPVS virtual servers kproxy must not delete
    /// when cleaning up (services created by something else).
    #[arg(long, value_name = "CIDRS", value_parser = parse_cidr_list)]
    pub ipvs_exclude_cidrs: Option<CidrList>,

    /// ipvs mode: idle timeout of IPVS TCP connections; '0s' leaves the kernel's value.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = duration::parse)]
    pub ipvs_tcp_timeout: Duration,

    /// ipvs mode: timeout of IPVS TCP connections after a FIN; '0s' leaves the kernel's value.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = duration::parse)]
    pub ipvs_tcpfin_timeout: Duration,

    /// ipvs mode: timeout of IPVS UDP flows; '0s' leaves the kernel's value.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = duration::parse)]
    pub ipvs_udp_timeout: Duration,

    /// Maximum conntrack entries per CPU (nf_conntrack_max = this × CPUs, at least
    /// --conntrack-min); 0 leaves the limit alone.
    #[arg(long, default_value_t = 32768, value_name = "N")]
    pub conntrack_max_per_core: u32,

    /// The least nf_conntrack_max that --conntrack-max-per-core may give.
    #[arg(long, default_value_t = 131072, value_name = "N")]
    pub conntrack_min: u32,

    /// Idle timeout of established TCP entries; '0s' leaves the kernel's value.
    #[arg(long, default_value = "24h", value_name = "DURATION", value_parser = duration::parse)]
    pub conntrack_tcp_timeout_established: Duration,

    /// Timeout of TCP entries in CLOSE_WAIT; '0s' leaves the kernel's value.
    #[arg(long, default_value = "1h", value_name = "DURATION", value_parser = duration::parse)]
    pub conntrack_tcp_timeout_close_wait: Duration,

    /// Set nf_conntrack_tcp_be_liberal (accept out-of-window TCP packets instead of
    /// marking them INVALID).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_name = "BOOL")]
    pub conntrack_tcp_be_liberal: bool,

    /// Idle timeout of UDP entries that saw one direction only; '0s' leaves the kernel's
    /// value.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = duration::parse)]
    pub conntrack_udp_timeout: Duration,

    /// Idle timeout of UDP entries that saw both directions; '0s' leaves the kernel's value.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = duration::parse)]
    pub conntrack_udp_timeout_stream: Duration,

    /// Address and port of the health check server (/healthz, /livez), used by kubelet
    /// probes and load balancers. The port defaults to 10256 when omitted.
    #[arg(long, default_value = "0.0.0.0:10256", value_name = "ADDR",
          value_parser = parse_healthz_address)]
    pub healthz_bind_address: SocketAddr,

    /// Address and port of the Prometheus /metrics server. The port defaults to 10249 when
    /// omitted.
    #[arg(long, default_value = "127.0.0.1:10249", value_name = "ADDR",
          value_parser = parse_metrics_address)]
    pub metrics_bind_address: SocketAddr,

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

    /// Log verbosity, klog-style: 0 = info, 1-3 = debug, 4+ = trace. RUST_LOG overrides it.
    #[arg(short = 'v', long = "v", default_value_t = 0, value_name = "LEVEL")]
    pub verbosity: u8,
}

/// CIDRs parsed from a comma-separated flag or a YAML list; IPv6 entries are dropped
/// because kproxy proxies IPv4 only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CidrList(pub Vec<Ipv4Net>);

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

fn parse_cidr_list(s: &str) -> Result<CidrList, String> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        out.extend(parse_cidr(part)?);
    }
    Ok(CidrList(out))
}

/// One `nodePortAddresses` entry: a CIDR or one of kube-proxy's keywords.
pub fn parse_nodeport_entry(s: &str) -> Result<Option<Ipv4Net>, String> {
    match s.trim() {
        "all" => Ok(Some(Ipv4Net::default())),
        "localhost" => Ok(Some(
            Ipv4Net::new(std::net::Ipv4Addr::new(127, 0, 0, 0), 8).expect("/8"),
        )),
        "primary" => Err(
            "keyword \"primary\" is not supported by kproxy; list the node's CIDRs instead"
                .to_string(),
        ),
        other => parse_cidr(other),
    }
}

fn parse_nodeport_addresses(s: &str) -> Result<CidrList, String> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        out.extend(parse_nodeport_entry(part)?);
    }
    Ok(CidrList(out))
}

fn parse_cluster_cidr(s: &str) -> Result<Ipv4Net, String> {
    parse_cidr_list(s)?
        .0
        .first()
        .copied()
        .ok_or_else(|| format!("{s:?} has no IPv4 CIDR (kproxy proxies IPv4 only)"))
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
