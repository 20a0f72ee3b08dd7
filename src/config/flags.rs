//! Flags → the v1alpha1 object, as kube-proxy's `Options` does: without `--config` the
//! flags are the configuration; with it, the file is, and only the flags kube-proxy
//! still honours (options.go `Complete`: the logging flags, `--hostname-override`,
//! `--master`, `--cleanup`, `--init-only`, `--write-config-to`) override it.

use clap::ArgMatches;
use clap::parser::ValueSource;

use super::args::{ACCEPTED_FLAGS, Args};
use super::v1alpha1::{GoDuration, KubeProxyConfiguration, VModuleItem};

/// Flags that act whether or not `--config` is given: kube-proxy's honoured ones and
/// kproxy's own (which have no file field).
const ALWAYS: &[&str] = &[
    "config",
    "write-config-to",
    "hostname-override",
    "master",
    "cleanup",
    "init-only",
    "version",
    "v",
    "vmodule",
    "logging-format",
    "log-flush-frequency",
    "log-text-split-stream",
    "log-text-info-buffer-size",
    "log-json-split-stream",
    "log-json-info-buffer-size",
    "manifests",
    "netns",
    "once",
    "dry-run",
];

/// The long names of the flags given on the command line, in clap's order.
pub fn given(m: &ArgMatches) -> Vec<String> {
    let mut out: Vec<String> = m
        .ids()
        .filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.as_str().replace('_', "-"))
        .map(|id| if id == "verbosity" { "v".into() } else { id })
        .collect();
    out.sort();
    out
}

/// Given flags that `--config` makes kube-proxy ignore.
pub fn overridden_by_file(given: &[String]) -> Vec<String> {
    given
        .iter()
        .filter(|f| !ALWAYS.contains(&f.as_str()))
        .cloned()
        .collect()
}

/// Given flags kproxy accepts without implementing.
pub fn unimplemented(given: &[String]) -> Vec<String> {
    given
        .iter()
        .filter(|f| ACCEPTED_FLAGS.contains(&f.as_str()))
        .cloned()
        .collect()
}

/// The configuration the flags describe, as kube-proxy builds it when there is no
/// `--config`: the defaults, then every flag's value (a zero given as a flag stays zero,
/// e.g. `--iptables-min-sync-period=0s`).
pub fn to_configuration(a: &Args, m: &ArgMatches) -> KubeProxyConfiguration {
    let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
    let mut c = KubeProxyConfiguration {
        bind_address: a.bind_address.to_string(),
        ..KubeProxyConfiguration::default()
    };
    c.set_defaults();
    c.mode = a.proxy_mode.clone().unwrap_or_default();
    c.cluster_cidr = a.cluster_cidr.clone().unwrap_or_default();
    c.node_port_addresses = a.nodeport_addresses.clone();
    c.bind_address_hard_fail = a.bind_address_hard_fail;
    c.oom_score_adj = Some(a.oom_score_adj);
    // --healthz-port / --metrics-port replace the address's port unless the address flag is
    // given too; 0 turns that server off either way (an empty address, as upstream's
    // addressFromDeprecatedFlags).
    let address = |addr: std::net::SocketAddr, addr_id: &str, port: i32, port_id: &str| match (
        given(port_id),
        u16::try_from(port),
    ) {
        (true, Ok(0)) => Some(String::new()),
        (true, Ok(p)) if !given(addr_id) => {
            Some(std::net::SocketAddr::new(addr.ip(), p).to_string())
        }
        _ if given(addr_id) => Some(addr.to_string()),
        _ => None,
    };
    if let Some(healthz) = address(
        a.healthz_bind_address,
        "healthz_bind_address",
        a.healthz_port,
        "healthz_port",
    ) {
        c.healthz_bind_address = healthz;
    }
    if let Some(metrics) = address(
        a.metrics_bind_address,
        "metrics_bind_address",
        a.metrics_port,
        "metrics_port",
    ) {
        c.metrics_bind_address = metrics;
    }
    c.client_connection.kubeconfig = a
        .kubeconfig
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    c.client_connection.content_type = a.accepted.kube_api_content_type.clone();
    c.client_connection.qps = a.accepted.kube_api_qps;
    c.client_connection.burst = a.accepted.kube_api_burst;
    c.feature_gates = a.accepted.feature_gates.clone().unwrap_or_default().0;
    c.enable_profiling = a.accepted.profiling;
    c.show_hidden_metrics_for_version = a
        .accepted
        .show_hidden_metrics_for_version
        .clone()
        .unwrap_or_default();
    c.iptables.masquerade_bit = Some(a.iptables_masquerade_bit);
    c.iptables.masquerade_all = a.masquerade_all;
    c.iptables.localhost_node_ports = Some(a.accepted.iptables_localhost_nodeports);
    // kube-proxy keeps one sync period pair, filled from the iptables defaults and set by
    // the flags of the active mode only.
    let ipvs = c.mode == "ipvs";
    c.iptables.sync_period = GoDuration(a.iptables_sync_period);
    c.iptables.min_sync_period = GoDuration(a.iptables_min_sync_period);
    c.ipvs.sync_period = GoDuration(if ipvs && given("ipvs_sync_period") {
        a.ipvs_sync_period
    } else if ipvs {
        a.iptables_sync_period
    } else {
        a.ipvs_sync_period
    });
    c.ipvs.min_sync_period = GoDuration(if ipvs && !given("ipvs_min_sync_period") {
        a.iptables_min_sync_period
    } else {
        a.ipvs_min_sync_period
    });
    c.ipvs.scheduler = a.ipvs_scheduler.clone().unwrap_or_default();
    c.ipvs.exclude_cidrs = a.ipvs_exclude_cidrs.clone();
    c.ipvs.strict_arp = a.ipvs_strict_arp;
    c.ipvs.tcp_timeout = GoDuration(a.ipvs_tcp_timeout);
    c.ipvs.tcp_fin_timeout = GoDuration(a.ipvs_tcpfin_timeout);
    c.ipvs.udp_timeout = GoDuration(a.ipvs_udp_timeout);
    c.detect_local_mode = a.accepted.detect_local_mode.clone().unwrap_or_default();
    c.detect_local.bridge_interface = a.accepted.pod_bridge_interface.clone().unwrap_or_default();
    c.detect_local.interface_name_prefix = a
        .accepted
        .pod_interface_name_prefix
        .clone()
        .unwrap_or_default();
    let ct = &mut c.conntrack;
    ct.max_per_core = Some(a.accepted.conntrack_max_per_core);
    ct.min = Some(a.accepted.conntrack_min);
    ct.tcp_established_timeout = Some(GoDuration(a.accepted.conntrack_tcp_timeout_established));
    ct.tcp_close_wait_timeout = Some(GoDuration(a.accepted.conntrack_tcp_timeout_close_wait));
    ct.tcp_be_liberal = a.accepted.conntrack_tcp_be_liberal;
    ct.udp_timeout = GoDuration(a.accepted.conntrack_udp_timeout);
    ct.udp_stream_timeout = GoDuration(a.accepted.conntrack_udp_timeout_stream);
    c.config_sync_period = GoDuration(a.accepted.config_sync_period);
    c
}

/// The logging flags given on the command line win over the file's `logging` section
/// (kube-proxy's `copyLogsFromFlags`; `--vmodule` entries are added to the file's).
pub fn apply_honoured(a: &Args, m: &ArgMatches, c: &mut KubeProxyConfiguration) {
    let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
    let l = &a.logging;
    if given("verbosity") {
        c.logging.verbosity = l.verbosity;
    }
    if given("logging_format") {
        c.logging.format = l.logging_format.as_str().into();
    }
    if given("log_flush_frequency") {
        c.logging.flush_frequency.duration = l.log_flush_frequency;
        c.logging.flush_frequency.as_string = true;
    }
    if given("log_text_split_stream") {
        c.logging.options.text.split_stream = l.log_text_split_stream;
    }
    if given("log_json_split_stream") {
        c.logging.options.json.split_stream = l.log_json_split_stream;
    }
    if given("log_text_info_buffer_size") {
        c.logging.options.text.info_buffer_size.0 = l.log_text_info_buffer_size.clone();
    }
    if given("log_json_info_buffer_size") {
        c.logging.options.json.info_buffer_size.0 = l.log_json_info_buffer_size.clone();
    }
    if let Some(v) = &l.vmodule {
        let from_flag = super::args::parse_vmodule(v).unwrap_or_default();
        let mut items: Vec<VModuleItem> = from_flag
            .into_iter()
            .map(|(file_pattern, verbosity)| VModuleItem {
                file_pattern,
                verbosity,
            })
            .collect();
        items.append(&mut c.logging.vmodule);
        c.logging.vmodule = items;
    }
    if let Some(name) = &a.hostname_override
        && !name.trim().is_empty()
    {
        c.hostname_override = name.trim().to_lowercase();
    }
}
