//! kube-proxy flags kproxy accepts without implementing them: a DaemonSet written for
//! kube-proxy keeps working, and one warning line at start names the ones given.
//! Defaults are kube-proxy's, so `/configz` and `--write-config-to` show what kube-proxy
//! would.

use std::time::Duration;

use clap::{ArgAction, Args};

use crate::config::duration;

/// The flag names of [`AcceptedArgs`], for the start-up warning.
pub const ACCEPTED_FLAGS: &[&str] = &[
    "feature-gates",
    "kube-api-content-type",
    "kube-api-burst",
    "kube-api-qps",
    "profiling",
    "show-hidden-metrics-for-version",
    "config-sync-period",
    "boot-id-file",
    "machine-id-file",
];

#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "kube-proxy flags accepted but not implemented by kproxy")]
pub struct AcceptedArgs {
    /// key=value pairs of feature gates.
    #[arg(long, value_name = "KEY=BOOL,...", value_parser = parse_feature_gates)]
    pub feature_gates: Option<FeatureGates>,

    /// Content type of requests to the API server.
    #[arg(
        long,
        default_value = "application/vnd.kubernetes.protobuf",
        value_name = "TYPE"
    )]
    pub kube_api_content_type: String,

    /// Burst of requests to the API server.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub kube_api_burst: i32,

    /// Requests per second to the API server.
    #[arg(long, default_value_t = 5.0, value_name = "QPS")]
    pub kube_api_qps: f32,

    /// Profiling on /debug/pprof.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_name = "BOOL")]
    pub profiling: bool,

    /// Hidden metrics of an earlier version (kproxy hides none).
    #[arg(long, value_name = "VERSION")]
    pub show_hidden_metrics_for_version: Option<String>,

    /// NodePorts on 127.0.0.1 in iptables mode, when --nodeport-addresses includes them
    /// (sets route_localnet).
    #[arg(help_heading = "kube-proxy local-traffic flags", long, action = ArgAction::Set, num_args = 0..=1, default_value = "true",
          default_missing_value = "true", value_name = "BOOL")]
    pub iptables_localhost_nodeports: bool,

    /// How pod traffic is told apart: ClusterCIDR (default), NodeCIDR, BridgeInterface,
    /// InterfaceNamePrefix.
    #[arg(
        help_heading = "kube-proxy local-traffic flags",
        long,
        value_name = "MODE"
    )]
    pub detect_local_mode: Option<String>,

    /// Bridge of local traffic for detect-local-mode BridgeInterface.
    #[arg(
        help_heading = "kube-proxy local-traffic flags",
        long,
        value_name = "NAME"
    )]
    pub pod_bridge_interface: Option<String>,

    /// Interface prefix of local traffic for detect-local-mode InterfaceNamePrefix.
    #[arg(
        help_heading = "kube-proxy local-traffic flags",
        long,
        value_name = "PREFIX"
    )]
    pub pod_interface_name_prefix: Option<String>,

    /// Conntrack entries per CPU core (0 leaves the limit).
    #[arg(long, default_value_t = 32768, value_name = "N")]
    pub conntrack_max_per_core: i32,

    /// Minimum conntrack entries.
    #[arg(long, default_value_t = 131072, value_name = "N")]
    pub conntrack_min: i32,

    /// Idle timeout of established TCP connections.
    #[arg(long, default_value = "24h0m0s", value_name = "DURATION", value_parser = duration::parse)]
    pub conntrack_tcp_timeout_established: Duration,

    /// NAT timeout of TCP connections in CLOSE_WAIT.
    #[arg(long, default_value = "1h0m0s", value_name = "DURATION", value_parser = duration::parse)]
    pub conntrack_tcp_timeout_close_wait: Duration,

    /// nf_conntrack_tcp_be_liberal=1.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_name = "BOOL")]
    pub conntrack_tcp_be_liberal: bool,

    /// Idle timeout of UNREPLIED UDP flows.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = duration::parse)]
    pub conntrack_udp_timeout: Duration,

    /// Idle timeout of ASSURED UDP flows.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = duration::parse)]
    pub conntrack_udp_timeout_stream: Duration,

    /// Informer resync period (kproxy's watches do not resync).
    #[arg(long, default_value = "15m0s", value_name = "DURATION", value_parser = duration::parse)]
    pub config_sync_period: Duration,

    /// cadvisor's boot-id files (unused by kube-proxy too).
    #[arg(
        long,
        alias = "boot_id_file",
        default_value = "/proc/sys/kernel/random/boot_id",
        value_name = "FILES"
    )]
    pub boot_id_file: String,

    /// cadvisor's machine-id files (unused by kube-proxy too).
    #[arg(
        long,
        alias = "machine_id_file",
        default_value = "/etc/machine-id,/var/lib/dbus/machine-id",
        value_name = "FILES"
    )]
    pub machine_id_file: String,
}

/// Parsed `--feature-gates`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeatureGates(pub std::collections::BTreeMap<String, bool>);

fn parse_feature_gates(s: &str) -> Result<FeatureGates, String> {
    let mut gates = std::collections::BTreeMap::new();
    for item in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?} is not key=bool"))?;
        let v = v
            .trim()
            .parse::<bool>()
            .map_err(|_| format!("{item:?}: {v:?} is not true or false"))?;
        gates.insert(k.trim().to_string(), v);
    }
    Ok(FeatureGates(gates))
}
