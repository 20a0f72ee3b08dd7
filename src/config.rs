//! Flags and the KubeProxyConfiguration file, as kube-proxy reads them, into one
//! [`Config`]. Without `--config` the flags are the configuration; with it the file is,
//! and only the flags kube-proxy still honours override it (see `flags`). Either way the
//! result is first a v1alpha1 object with kube-proxy's defaults ([`Config::effective`],
//! served on `/configz`), then kproxy's settings read from it.

mod args;
pub mod duration;
mod file;
mod flags;
mod merge;
mod node;
#[cfg(test)]
mod tests;
pub mod v1alpha1;
pub mod watch;

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv4Net;
use thiserror::Error;

pub use args::{ACCEPTED_FLAGS, Args, HEALTHZ_PORT, LogFormat, METRICS_PORT};
pub use file::schema_paths;
pub use node::NODE_PORT_ADDRESSES_UNSET;
pub use v1alpha1::{API_VERSION, KIND, KubeProxyConfiguration};

use crate::model::{DetectLocalMode, LocalTraffic};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    Iptables,
    Ipvs,
    Nftables,
}

impl ProxyMode {
    /// kube-proxy's spelling, as served on `/proxyMode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iptables => "iptables",
            Self::Ipvs => "ipvs",
            Self::Nftables => "nftables",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct IptablesConfig {
    pub masquerade_all: bool,
    pub masquerade_bit: u8,
    pub sync_period: Duration,
    pub min_sync_period: Duration,
    /// `--iptables-localhost-nodeports` / `iptables.localhostNodePorts` (default true).
    pub localhost_node_ports: bool,
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

/// How to log: `--v`, `--vmodule`, `--logging-format` and the split-stream option.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogSettings {
    /// klog verbosity: 0 info, 1-3 debug, 4+ trace.
    pub verbosity: u32,
    /// `(pattern, verbosity)` per kproxy module.
    pub vmodule: Vec<(String, u32)>,
    pub format: LogFormat,
    /// Errors to stderr, everything else to stdout.
    pub split_stream: bool,
}

/// Everything kproxy was told to do.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub mode: ProxyMode,
    pub hostname_override: Option<String>,
    pub cluster_cidr: Option<Ipv4Net>,
    /// `--detect-local-mode` with its interface setting.
    pub detect_local_mode: DetectLocalMode,
    /// Which traffic is this node's pods': decided by [`Config::resolve_node`] from the
    /// mode (until then, the cluster CIDR's detector).
    pub local_traffic: LocalTraffic,
    /// Empty means every local address.
    pub nodeport_addresses: Vec<Ipv4Net>,
    /// `primary` was given and no `--bind-address` names the node IP: the Node object's
    /// (or the host's) addresses join `nodeport_addresses` in [`Config::resolve_node`].
    pub nodeport_primary: bool,
    pub iptables: IptablesConfig,
    pub ipvs: IpvsConfig,
    /// `None`: no health server (`--healthz-port=0` without `--config`, as upstream).
    pub healthz_bind_address: Option<SocketAddr>,
    /// `None`: no metrics server (`--metrics-port=0` without `--config`).
    pub metrics_bind_address: Option<SocketAddr>,
    /// Exit when a server cannot bind, instead of logging and retrying every 5 s.
    pub bind_address_hard_fail: bool,
    /// `--bind-address` / `bindAddress` when it names an IPv4 address: the node's primary IP.
    pub node_ip: Option<Ipv4Addr>,
    /// Written to /proc/self/oom_score_adj at start.
    pub oom_score_adj: Option<i32>,
    pub kubeconfig: Option<PathBuf>,
    pub master: Option<String>,
    /// kproxy's own: read Services and EndpointSlices from this directory, not an API server.
    pub manifests: Option<PathBuf>,
    /// kproxy's own: do all kernel work inside this named network namespace.
    pub netns: Option<String>,
    pub once: bool,
    pub dry_run: bool,
    pub cleanup: bool,
    /// `--init-only`: the privileged set-up, then exit.
    pub init_only: bool,
    /// `--write-config-to`: write [`Config::effective`] there and exit.
    pub write_config_to: Option<PathBuf>,
    pub logging: LogSettings,
    /// The `--config` file, if any.
    pub config_file: Option<PathBuf>,
    /// One line each, to log once logging is up: unimplemented settings given, flags the
    /// file overrides, unknown file fields, a defaulted mode.
    pub warnings: Vec<String>,
    /// Neither `--proxy-mode` nor `mode:` was given (upstream warns, and records an Event).
    pub mode_defaulted: bool,
    /// The whole configuration as kube-proxy would hold it (flags or file, defaulted).
    pub effective: Arc<KubeProxyConfiguration>,
}

/// Why the configuration could not be loaded. None is retryable.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// Bad flags, and also `--help`: callers should `err.exit()` on this one, which prints
    /// the text and exits with clap's status.
    #[error(transparent)]
    Args(#[from] clap::Error),
    /// Not an error: `--version` was given; print this and exit 0.
    #[error("{0}")]
    ShowVersion(String),
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    ParseFile {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error(
        "config file {path}: expected apiVersion {API_VERSION:?} and kind {KIND:?}, found {found}"
    )]
    NotAConfiguration { path: PathBuf, found: String },
    /// A value kube-proxy's types cannot hold (e.g. a number where a duration goes).
    #[error("config file {path}: {reason}")]
    Decode { path: PathBuf, reason: String },
    /// One setting's value, naming the flag or the file field.
    #[error("{setting}: {reason}")]
    Setting { setting: String, reason: String },
    /// A mode kube-proxy has and kproxy does not implement.
    #[error(
        "proxy mode {mode:?} is not implemented by kproxy (it implements \"iptables\", \"ipvs\" and \"nftables\"); \
         set mode / --proxy-mode to one of them"
    )]
    UnsupportedMode { mode: String },
    /// A combination of settings that cannot work, naming both the flag and the file field.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("cannot determine the node name (use --hostname-override): {0}")]
    NodeName(#[source] std::io::Error),
}

/// The kube-proxy release whose flags, configuration and metrics kproxy follows.
pub const KUBE_PROXY_VERSION: &str = "v1.37.0";

/// What `--version` prints.
fn version_text(raw: bool) -> String {
    let version = env!("CARGO_PKG_VERSION");
    if raw {
        format!(
            "version.Info{{Program:\"kproxy\", Version:\"{version}\", KubeProxyCompatible:\"{KUBE_PROXY_VERSION}\"}}"
        )
    } else {
        format!("kproxy {version} (kube-proxy {KUBE_PROXY_VERSION} compatible)")
    }
}

/// Parses the command line (`args[0]` is the program name), reads `--config` if given,
/// merges and validates.
pub fn load(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
) -> Result<Config, ConfigError> {
    merge::load(args)
}

impl Config {
    /// The full-resync period of the active mode.
    pub fn sync_period(&self) -> Duration {
        match self.mode {
            // nftables mode reads the iptables periods for now (docs/nftables.md).
            ProxyMode::Iptables | ProxyMode::Nftables => self.iptables.sync_period,
            ProxyMode::Ipvs => self.ipvs.sync_period,
        }
    }

    /// The minimum time between syncs of the active mode.
    pub fn min_sync_period(&self) -> Duration {
        match self.mode {
            ProxyMode::Iptables | ProxyMode::Nftables => self.iptables.min_sync_period,
            ProxyMode::Ipvs => self.ipvs.min_sync_period,
        }
    }

    /// This node's name: `--hostname-override`, else `$NODE_NAME`, else the kernel's
    /// hostname; trimmed and lower-cased as kube-proxy does.
    pub fn node_name(&self) -> Result<String, ConfigError> {
        node_name_from(
            self.hostname_override.as_deref(),
            std::env::var("NODE_NAME").ok().as_deref(),
            || std::fs::read_to_string("/proc/sys/kernel/hostname"),
        )
    }
}

fn node_name_from(
    hostname_override: Option<&str>,
    env: Option<&str>,
    hostname: impl FnOnce() -> std::io::Result<String>,
) -> Result<String, ConfigError> {
    let clean = |s: &str| Some(s.trim().to_lowercase()).filter(|s| !s.is_empty());
    if let Some(name) = hostname_override
        .and_then(clean)
        .or_else(|| env.and_then(clean))
    {
        return Ok(name);
    }
    let host = hostname().map_err(ConfigError::NodeName)?;
    clean(&host).ok_or_else(|| {
        ConfigError::NodeName(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the hostname is empty",
        ))
    })
}
