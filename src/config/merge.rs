//! Flags + file + defaults → a validated [`Config`]: the flags (or the file) become a
//! v1alpha1 object, kube-proxy's defaulting completes it, and kproxy's settings are read
//! from it, so `/configz` shows exactly what kproxy runs with.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use ipnet::Ipv4Net;

use super::args::{self, Args, LogFormat, PRIMARY};
use super::v1alpha1::KubeProxyConfiguration;
use super::{
    Config, ConfigError, IptablesConfig, IpvsConfig, LogSettings, ProxyMode, duration, file, flags,
};
use crate::model::{DetectLocalMode, LocalTraffic};

/// The kernel's IPVS schedulers (net/netfilter/ipvs/ip_vs_*.c).
const IPVS_SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

pub fn load(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
) -> Result<Config, ConfigError> {
    let args: Vec<OsString> = args.into_iter().map(Into::into).map(normalize).collect();
    let matches = Args::command().try_get_matches_from(args)?;
    let flags = Args::from_arg_matches(&matches)?;
    if let Some(v) = &flags.version
        && v != "false"
    {
        return Err(ConfigError::ShowVersion(super::version_text(v == "raw")));
    }
    let given = flags::given(&matches);
    let mut warnings = Vec::new();
    let (mut object, ignored) = match &flags.config {
        Some(path) => {
            let loaded = file::load(path)?;
            if !loaded.unknown.is_empty() {
                warnings.push(format!(
                    "config file {}: unknown field(s) {} ignored (lenient decoding, as kube-proxy)",
                    path.display(),
                    loaded.unknown.join(", ")
                ));
            }
            let overridden = flags::overridden_by_file(&given);
            if !overridden.is_empty() {
                warnings.push(format!(
                    "flags ignored because --config is given (as kube-proxy): --{}",
                    overridden.join(", --")
                ));
            }
            let mut config = loaded.config;
            config.set_defaults();
            (config, loaded.ignored)
        }
        None => (
            flags::to_configuration(&flags, &matches),
            flags::unimplemented(&given)
                .into_iter()
                .map(|f| format!("--{f}"))
                .collect(),
        ),
    };
    flags::apply_honoured(&flags, &matches, &mut object);
    let mode_defaulted = object.mode.is_empty();
    if !ignored.is_empty() {
        warnings.push(format!(
            "kube-proxy settings accepted but not implemented by kproxy, ignored: {}",
            ignored.join(", ")
        ));
    }
    let config = convert(object, flags, mode_defaulted, warnings)?;
    validate(&config)?;
    Ok(config)
}

/// kube-proxy's flag names accept `_` for `-` (component-base's WordSepNormalizeFunc).
fn normalize(arg: OsString) -> OsString {
    let Some(s) = arg.to_str() else { return arg };
    let Some(body) = s.strip_prefix("--") else {
        return arg;
    };
    let (name, value) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    };
    let name = name.replace('_', "-");
    match value {
        Some(v) => format!("--{name}={v}").into(),
        None => format!("--{name}").into(),
    }
}

/// Names a setting in errors: the file field with `--config`, else the flag.
struct Namer<'a> {
    file: Option<&'a Path>,
}

impl Namer<'_> {
    fn error(&self, flag: &str, field: &str, reason: String) -> ConfigError {
        ConfigError::Setting {
            setting: match self.file {
                Some(path) => format!("config file {}: {field}", path.display()),
                None => format!("--{flag}"),
            },
            reason,
        }
    }
}

fn convert(
    o: KubeProxyConfiguration,
    a: Args,
    mode_defaulted: bool,
    mut warnings: Vec<String>,
) -> Result<Config, ConfigError> {
    let namer = Namer {
        file: a.config.as_deref(),
    };
    let mode = match o.mode.as_str() {
        "" | "iptables" => ProxyMode::Iptables,
        "ipvs" => ProxyMode::Ipvs,
        "nftables" => ProxyMode::Nftables,
        "kernelspace" => {
            return Err(ConfigError::UnsupportedMode {
                mode: o.mode.clone(),
            });
        }
        other => {
            return Err(namer.error(
                "proxy-mode",
                "mode",
                format!("{other:?} is not a proxy mode (iptables, ipvs, nftables)"),
            ));
        }
    };
    if mode_defaulted {
        warnings.push(
            "no proxy mode specified: defaulting to 'iptables' (kube-proxy 1.37 warns the same: \
             its default will become 'nftables'); set mode: iptables or --proxy-mode=iptables"
                .into(),
        );
    }
    let node_ip = match o.bind_address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) if !ip.is_unspecified() => Some(ip),
        Ok(_) => None,
        Err(_) => {
            return Err(namer.error(
                "bind-address",
                "bindAddress",
                format!("{:?} is not an IP address", o.bind_address),
            ));
        }
    };
    let cluster_cidr = if o.cluster_cidr.trim().is_empty() {
        None
    } else {
        Some(
            args::first_ipv4_cidr(&o.cluster_cidr)
                .map_err(|e| namer.error("cluster-cidr", "clusterCIDR", e))?,
        )
    };
    let (nodeport_addresses, nodeport_primary) = nodeport_addresses(&o, node_ip, &namer)?;
    let detect_local_mode = detect_local_mode(&o, &namer)?;
    // Empty only when a deprecated port flag was 0: that server is off.
    let bind = |flag: &str, field: &str, s: &str, port: u16| {
        if s.is_empty() {
            return Ok(None);
        }
        args::parse_bind_address(s, port)
            .map(Some)
            .map_err(|e| namer.error(flag, field, e))
    };
    let masquerade_bit = o.iptables.masquerade_bit.unwrap_or(14);
    let masquerade_bit = u8::try_from(masquerade_bit)
        .ok()
        .filter(|b| *b <= 31)
        .ok_or_else(|| {
            namer.error(
                "iptables-masquerade-bit",
                "iptables.masqueradeBit",
                format!("{masquerade_bit} is not in 0..=31"),
            )
        })?;
    let oom_score_adj = o.oom_score_adj.filter(|s| (-1000..=1000).contains(s));
    if o.oom_score_adj.is_some() && oom_score_adj.is_none() {
        return Err(namer.error(
            "oom-score-adj",
            "oomScoreAdj",
            format!("{:?} is not in [-1000, 1000]", o.oom_score_adj),
        ));
    }
    let format = LogFormat::parse(&o.logging.format)
        .map_err(|e| namer.error("logging-format", "logging.format", e))?;
    let routing = match format {
        LogFormat::Text => &o.logging.options.text,
        LogFormat::Json => &o.logging.options.json,
    };
    let logging = LogSettings {
        verbosity: o.logging.verbosity,
        vmodule: o
            .logging
            .vmodule
            .iter()
            .map(|i| (i.file_pattern.clone(), i.verbosity))
            .collect(),
        format,
        split_stream: routing.split_stream,
    };
    let cidrs = |list: &Option<Vec<String>>| -> Result<Vec<Ipv4Net>, ConfigError> {
        let mut out = Vec::new();
        for s in list.iter().flatten().filter(|s| !s.trim().is_empty()) {
            out.extend(
                args::parse_cidr(s)
                    .map_err(|e| namer.error("ipvs-exclude-cidrs", "ipvs.excludeCIDRs", e))?,
            );
        }
        Ok(out)
    };
    Ok(Config {
        mode,
        hostname_override: Some(o.hostname_override.clone()).filter(|s| !s.trim().is_empty()),
        cluster_cidr,
        local_traffic: LocalTraffic::from_cidr(cluster_cidr),
        detect_local_mode,
        nodeport_addresses,
        nodeport_primary,
        iptables: IptablesConfig {
            masquerade_all: o.iptables.masquerade_all,
            masquerade_bit,
            sync_period: o.iptables.sync_period.0,
            min_sync_period: o.iptables.min_sync_period.0,
            localhost_node_ports: o.iptables.localhost_node_ports.unwrap_or(true),
        },
        ipvs: IpvsConfig {
            scheduler: Some(o.ipvs.scheduler.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "rr".into()),
            sync_period: o.ipvs.sync_period.0,
            min_sync_period: o.ipvs.min_sync_period.0,
            strict_arp: o.ipvs.strict_arp,
            exclude_cidrs: cidrs(&o.ipvs.exclude_cidrs)?,
            tcp_timeout: o.ipvs.tcp_timeout.0,
            tcp_fin_timeout: o.ipvs.tcp_fin_timeout.0,
            udp_timeout: o.ipvs.udp_timeout.0,
        },
        healthz_bind_address: bind(
            "healthz-bind-address",
            "healthzBindAddress",
            &o.healthz_bind_address,
            args::HEALTHZ_PORT,
        )?,
        metrics_bind_address: bind(
            "metrics-bind-address",
            "metricsBindAddress",
            &o.metrics_bind_address,
            args::METRICS_PORT,
        )?,
        bind_address_hard_fail: o.bind_address_hard_fail,
        node_ip,
        oom_score_adj,
        kubeconfig: Some(o.client_connection.kubeconfig.clone())
            .filter(|s| !s.trim().is_empty())
            .map(Into::into),
        master: a.master,
        manifests: a.manifests,
        netns: a.netns,
        once: a.once,
        dry_run: a.dry_run,
        cleanup: a.cleanup,
        init_only: a.init_only,
        write_config_to: a.write_config_to,
        logging,
        config_file: a.config,
        warnings,
        mode_defaulted,
        effective: std::sync::Arc::new(o),
    })
}

/// nodePortAddresses: CIDRs and keywords, and whether `primary` is still to be resolved.
/// `primary` is the node IP: `--bind-address` when it names one (as kube-proxy's
/// `detectNodeIPs`), else the Node object's (see [`super::Config::resolve_node`]).
fn nodeport_addresses(
    o: &KubeProxyConfiguration,
    node_ip: Option<Ipv4Addr>,
    namer: &Namer,
) -> Result<(Vec<Ipv4Net>, bool), ConfigError> {
    let mut out = Vec::new();
    let mut primary = false;
    for entry in o.node_port_addresses.iter().flatten() {
        let entry = entry.trim();
        if entry == PRIMARY {
            match node_ip {
                Some(ip) => out.push(Ipv4Net::new(ip, 32).expect("/32")),
                None => primary = true,
            }
            continue;
        }
        out.extend(
            args::parse_nodeport_entry(entry)
                .map_err(|e| namer.error("nodeport-addresses", "nodePortAddresses", e))?,
        );
    }
    Ok((out, primary))
}

/// detectLocalMode and its interface setting, checked as kube-proxy's validation does.
fn detect_local_mode(
    o: &KubeProxyConfiguration,
    namer: &Namer,
) -> Result<DetectLocalMode, ConfigError> {
    let interface = |flag: &str, field: &str, value: &str| {
        if value.is_empty() {
            Err(namer.error(flag, field, "must not be empty".into()))
        } else {
            Ok(value.to_string())
        }
    };
    let local = &o.detect_local;
    Ok(match o.detect_local_mode.as_str() {
        "" | "ClusterCIDR" => DetectLocalMode::ClusterCidr,
        "NodeCIDR" => DetectLocalMode::NodeCidr,
        "BridgeInterface" => DetectLocalMode::BridgeInterface(interface(
            "pod-bridge-interface",
            "detectLocal.bridgeInterface",
            &local.bridge_interface,
        )?),
        "InterfaceNamePrefix" => DetectLocalMode::InterfaceNamePrefix(interface(
            "pod-interface-name-prefix",
            "detectLocal.interfaceNamePrefix",
            &local.interface_name_prefix,
        )?),
        other => {
            return Err(namer.error(
                "detect-local-mode",
                "detectLocalMode",
                format!(
                    "{other:?} is not supported (ClusterCIDR, NodeCIDR, BridgeInterface, \
                     InterfaceNamePrefix)"
                ),
            ));
        }
    })
}

/// Checks across settings, as kube-proxy's validation does. IPVS settings only matter
/// (and are only checked) in ipvs mode.
fn validate(c: &Config) -> Result<(), ConfigError> {
    check_periods(
        "--sync-period / iptables.syncPeriod",
        "--min-sync-period / iptables.minSyncPeriod",
        c.iptables.sync_period,
        c.iptables.min_sync_period,
    )?;
    if c.mode == ProxyMode::Ipvs {
        check_periods(
            "--ipvs-sync-period / ipvs.syncPeriod",
            "--ipvs-min-sync-period / ipvs.minSyncPeriod",
            c.ipvs.sync_period,
            c.ipvs.min_sync_period,
        )?;
        if !IPVS_SCHEDULERS.contains(&c.ipvs.scheduler.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "--ipvs-scheduler / ipvs.scheduler {:?} is not an IPVS scheduler (one of {})",
                c.ipvs.scheduler,
                IPVS_SCHEDULERS.join(", ")
            )));
        }
    }
    Ok(())
}

fn check_periods(
    sync_name: &str,
    min_name: &str,
    sync: Duration,
    min: Duration,
) -> Result<(), ConfigError> {
    if sync.is_zero() {
        return Err(ConfigError::Invalid(format!(
            "{sync_name} must be greater than 0"
        )));
    }
    if min > sync {
        return Err(ConfigError::Invalid(format!(
            "{min_name} ({}) must not be longer than {sync_name} ({})",
            duration::format(min),
            duration::format(sync)
        )));
    }
    Ok(())
}
