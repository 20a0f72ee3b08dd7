//! Flags + file + defaults → a validated [`Config`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use ipnet::Ipv4Net;

use super::args::{self, Args};
use super::file::{self, FileConfig};
use super::{
    Config, ConfigError, ConntrackConfig, IptablesConfig, IpvsConfig, ProxyMode, duration,
};

/// The kernel's IPVS schedulers (net/netfilter/ipvs/ip_vs_*.c).
const IPVS_SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

pub fn load(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
) -> Result<Config, ConfigError> {
    let matches = Args::command().try_get_matches_from(args)?;
    let flags = Args::from_arg_matches(&matches)?;
    let (from_file, ignored) = match &flags.config {
        Some(path) => {
            let loaded = file::load(path)?;
            (FileValues::read(path, loaded.config)?, loaded.ignored)
        }
        None => (FileValues::default(), Vec::new()),
    };
    let config = merge(flags, &matches, from_file, ignored);
    validate(&config)?;
    Ok(config)
}

/// The file's settings, parsed, with kube-proxy's "zero means default" applied.
#[derive(Default)]
struct FileValues {
    mode: Option<ProxyMode>,
    hostname_override: Option<String>,
    cluster_cidr: Option<Ipv4Net>,
    nodeport_addresses: Option<Vec<Ipv4Net>>,
    healthz_bind_address: Option<std::net::SocketAddr>,
    metrics_bind_address: Option<std::net::SocketAddr>,
    kubeconfig: Option<PathBuf>,
    masquerade_all: Option<bool>,
    masquerade_bit: Option<u8>,
    sync_period: Option<Duration>,
    min_sync_period: Option<Duration>,
    ipvs_scheduler: Option<String>,
    ipvs_sync_period: Option<Duration>,
    ipvs_min_sync_period: Option<Duration>,
    ipvs_strict_arp: Option<bool>,
    ipvs_exclude_cidrs: Option<Vec<Ipv4Net>>,
    ipvs_tcp_timeout: Option<Duration>,
    ipvs_tcp_fin_timeout: Option<Duration>,
    ipvs_udp_timeout: Option<Duration>,
    conntrack_max_per_core: Option<u32>,
    conntrack_min: Option<u32>,
    conntrack_tcp_established_timeout: Option<Duration>,
    conntrack_tcp_close_wait_timeout: Option<Duration>,
    conntrack_tcp_be_liberal: Option<bool>,
    conntrack_udp_timeout: Option<Duration>,
    conntrack_udp_stream_timeout: Option<Duration>,
}

impl FileValues {
    fn read(path: &Path, f: FileConfig) -> Result<Self, ConfigError> {
        let invalid = |field: &'static str| {
            move |reason: String| ConfigError::InvalidSetting {
                path: path.to_path_buf(),
                field,
                reason,
            }
        };
        let dur =
            |field: &'static str, v: Option<String>| -> Result<Option<Duration>, ConfigError> {
                v.filter(|s| !s.is_empty())
                    .map(|s| duration::parse(&s).map_err(invalid(field)))
                    .transpose()
            };
        // kube-proxy's v1alpha1 defaulting treats these zero values as unset.
        let nonzero = |d: Option<Duration>| d.filter(|d| !d.is_zero());
        let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        let cidrs = |field: &'static str,
                     list: Option<Vec<String>>,
                     entry: fn(&str) -> Result<Option<Ipv4Net>, String>| {
            list.map(|l| {
                l.iter()
                    .filter_map(|s| entry(s).transpose())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(invalid(field))
            })
            .transpose()
        };

        let mode = match non_empty(f.mode).as_deref() {
            None => None,
            Some("iptables") => Some(ProxyMode::Iptables),
            Some("ipvs") => Some(ProxyMode::Ipvs),
            Some(other) => {
                return Err(invalid("mode")(format!(
                    "{other:?} is not a mode kproxy implements (iptables, ipvs)"
                )));
            }
        };
        let cluster_cidr = match non_empty(f.cluster_cidr) {
            None => None,
            Some(s) => {
                let mut v4 = None;
                for part in s.split(',') {
                    if let Some(net) = args::parse_cidr(part).map_err(invalid("clusterCIDR"))? {
                        v4.get_or_insert(net);
                    }
                }
                Some(v4.ok_or_else(|| {
                    invalid("clusterCIDR")(format!(
                        "{s:?} has no IPv4 CIDR (kproxy proxies IPv4 only)"
                    ))
                })?)
            }
        };
        let bind = |field: &'static str, v: Option<String>, port: u16| {
            non_empty(v)
                .map(|s| args::parse_bind_address(&s, port).map_err(invalid(field)))
                .transpose()
        };
        let conn = f.client_connection.unwrap_or_default();
        let ipt = f.iptables.unwrap_or_default();
        let ipvs = f.ipvs.unwrap_or_default();
        let masquerade_bit = ipt
            .masquerade_bit
            .map(|b| {
                u8::try_from(b).ok().filter(|b| *b <= 31).ok_or_else(|| {
                    invalid("iptables.masqueradeBit")(format!("{b} is not in 0..=31"))
                })
            })
            .transpose()?;
        // Unlike the durations above, an explicit 0 here means "leave the kernel's value"
        // (kube-proxy defaults only unset, nil fields).
        let ct = f.conntrack.unwrap_or_default();
        let count = |field: &'static str, v: Option<i64>| {
            v.map(|n| {
                u32::try_from(n)
                    .map_err(|_| invalid(field)(format!("{n} is not in 0..={}", u32::MAX)))
            })
            .transpose()
        };
        Ok(Self {
            mode,
            hostname_override: non_empty(f.hostname_override),
            cluster_cidr,
            nodeport_addresses: cidrs(
                "nodePortAddresses",
                f.node_port_addresses,
                args::parse_nodeport_entry,
            )?,
            healthz_bind_address: bind(
                "healthzBindAddress",
                f.healthz_bind_address,
                args::HEALTHZ_PORT,
            )?,
            metrics_bind_address: bind(
                "metricsBindAddress",
                f.metrics_bind_address,
                args::METRICS_PORT,
            )?,
            kubeconfig: non_empty(conn.kubeconfig).map(PathBuf::from),
            masquerade_all: ipt.masquerade_all,
            masquerade_bit,
            sync_period: nonzero(dur("iptables.syncPeriod", ipt.sync_period)?),
            min_sync_period: nonzero(dur("iptables.minSyncPeriod", ipt.min_sync_period)?),
            ipvs_scheduler: non_empty(ipvs.scheduler),
            ipvs_sync_period: nonzero(dur("ipvs.syncPeriod", ipvs.sync_period)?),
            ipvs_min_sync_period: dur("ipvs.minSyncPeriod", ipvs.min_sync_period)?,
            ipvs_strict_arp: ipvs.strict_arp,
            ipvs_exclude_cidrs: cidrs("ipvs.excludeCIDRs", ipvs.exclude_cidrs, args::parse_cidr)?,
            ipvs_tcp_timeout: dur("ipvs.tcpTimeout", ipvs.tcp_timeout)?,
            ipvs_tcp_fin_timeout: dur("ipvs.tcpFinTimeout", ipvs.tcp_fin_timeout)?,
            ipvs_udp_timeout: dur("ipvs.udpTimeout", ipvs.udp_timeout)?,
            conntrack_max_per_core: count("conntrack.maxPerCore", ct.max_per_core)?,
            conntrack_min: count("conntrack.min", ct.min)?,
            conntrack_tcp_established_timeout: dur(
                "conntrack.tcpEstablishedTimeout",
                ct.tcp_established_timeout,
            )?,
            conntrack_tcp_close_wait_timeout: dur(
                "conntrack.tcpCloseWaitTimeout",
                ct.tcp_close_wait_timeout,
            )?,
            conntrack_tcp_be_liberal: ct.tcp_be_liberal,
            conntrack_udp_timeout: dur("conntrack.udpTimeout", ct.udp_timeout)?,
            conntrack_udp_stream_timeout: dur("conntrack.udpStreamTimeout", ct.udp_stream_timeout)?,
        })
    }
}

/// The flag's value if it was given on the command line, else the file's, else the flag's
/// default.
fn pick<T>(m: &ArgMatches, id: &str, flag: T, file: Option<T>) -> T {
    if m.value_source(id) == Some(ValueSource::CommandLine) {
        flag
    } else {
        file.unwrap_or(flag)
    }
}

/// Like [`pick`] for settings whose default is "not set".
fn pick_opt<T>(m: &ArgMatches, id: &str, flag: Option<T>, file: Option<T>) -> Option<T> {
    if m.value_source(id) == Some(ValueSource::CommandLine) {
        flag
    } else {
        file.or(flag)
    }
}

fn merge(a: Args, m: &ArgMatches, f: FileValues, ignored_settings: Vec<String>) -> Config {
    Config {
        mode: pick(m, "proxy_mode", a.proxy_mode, f.mode),
        hostname_override: pick_opt(
            m,
            "hostname_override",
            a.hostname_override,
            f.hostname_override,
        ),
        cluster_cidr: pick_opt(m, "cluster_cidr", a.cluster_cidr, f.cluster_cidr),
        nodeport_addresses: pick_opt(
            m,
            "nodeport_addresses",
            a.nodeport_addresses.map(|l| l.0),
            f.nodeport_addresses,
        )
        .unwrap_or_default(),
        iptables: IptablesConfig {
            masquerade_all: pick(m, "masquerade_all", a.masquerade_all, f.masquerade_all),
            masquerade_bit: pick(
                m,
                "iptables_masquerade_bit",
                a.iptables_masquerade_bit,
                f.masquerade_bit,
            ),
            sync_period: pick(m, "sync_period", a.sync_period, f.sync_period),
            min_sync_period: pick(m, "min_sync_period", a.min_sync_period, f.min_sync_period),
        },
        ipvs: IpvsConfig {
            scheduler: pick(m, "ipvs_scheduler", a.ipvs_scheduler, f.ipvs_scheduler),
            sync_period: pick(
                m,
                "ipvs_sync_period",
                a.ipvs_sync_period,
                f.ipvs_sync_period,
            ),
            min_sync_period: pick(
                m,
                "ipvs_min_sync_period",
                a.ipvs_min_sync_period,
                f.ipvs_min_sync_period,
            ),
            strict_arp: pick(m, "ipvs_strict_arp", a.ipvs_strict_arp, f.ipvs_strict_arp),
            exclude_cidrs: pick_opt(
                m,
                "ipvs_exclude_cidrs",
                a.ipvs_exclude_cidrs.map(|l| l.0),
                f.ipvs_exclude_cidrs,
            )
            .unwrap_or_default(),
            tcp_timeout: pick(
                m,
                "ipvs_tcp_timeout",
                a.ipvs_tcp_timeout,
                f.ipvs_tcp_timeout,
            ),
            tcp_fin_timeout: pick(
                m,
                "ipvs_tcpfin_timeout",
                a.ipvs_tcpfin_timeout,
                f.ipvs_tcp_fin_timeout,
            ),
            udp_timeout: pick(
                m,
                "ipvs_udp_timeout",
                a.ipvs_udp_timeout,
                f.ipvs_udp_timeout,
            ),
        },
        conntrack: ConntrackConfig {
            max_per_core: pick(
                m,
                "conntrack_max_per_core",
                a.conntrack_max_per_core,
                f.conntrack_max_per_core,
            ),
            min: pick(m, "conntrack_min", a.conntrack_min, f.conntrack_min),
            tcp_established_timeout: pick(
                m,
                "conntrack_tcp_timeout_established",
                a.conntrack_tcp_timeout_established,
                f.conntrack_tcp_established_timeout,
            ),
            tcp_close_wait_timeout: pick(
                m,
                "conntrack_tcp_timeout_close_wait",
                a.conntrack_tcp_timeout_close_wait,
                f.conntrack_tcp_close_wait_timeout,
            ),
            tcp_be_liberal: pick(
                m,
                "conntrack_tcp_be_liberal",
                a.conntrack_tcp_be_liberal,
                f.conntrack_tcp_be_liberal,
            ),
            udp_timeout: pick(
                m,
                "conntrack_udp_timeout",
                a.conntrack_udp_timeout,
                f.conntrack_udp_timeout,
            ),
            udp_stream_timeout: pick(
                m,
                "conntrack_udp_timeout_stream",
                a.conntrack_udp_timeout_stream,
                f.conntrack_udp_stream_timeout,
            ),
        },
        healthz_bind_address: pick(
            m,
            "healthz_bind_address",
            a.healthz_bind_address,
            f.healthz_bind_address,
        ),
        metrics_bind_address: pick(
            m,
            "metrics_bind_address",
            a.metrics_bind_address,
            f.metrics_bind_address,
        ),
        kubeconfig: pick_opt(m, "kubeconfig", a.kubeconfig, f.kubeconfig),
        master: a.master,
        manifests: a.manifests,
        netns: a.netns,
        once: a.once,
        dry_run: a.dry_run,
        cleanup: a.cleanup,
        verbosity: a.verbosity,
        config_file: a.config,
        ignored_settings,
    }
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
