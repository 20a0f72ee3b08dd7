//! Flags and the KubeProxyConfiguration file, merged into one [`Config`]: flags given on
//! the command line win over the file, the file wins over kube-proxy's defaults.

mod args;
pub mod duration;
mod file;
mod merge;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::Ipv4Net;
use thiserror::Error;

pub use args::{Args, HEALTHZ_PORT, METRICS_PORT};
pub use file::{API_VERSION, KIND};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProxyMode {
    Iptables,
    Ipvs,
}

impl ProxyMode {
    /// kube-proxy's spelling, as served on `/proxyMode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iptables => "iptables",
            Self::Ipvs => "ipvs",
        }
    }
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

/// Conntrack settings applied at start (kube-proxy's `KubeProxyConntrackConfiguration`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConntrackConfig {
    /// `nf_conntrack_max` per CPU; 0 leaves the limit (and `min`) alone.
    pub max_per_core: u32,
    /// The floor of `max_per_core` × CPUs.
    pub min: u32,
    /// Zero leaves the kernel's value.
    pub tcp_established_timeout: Duration,
    /// Zero leaves the kernel's value.
    pub tcp_close_wait_timeout: Duration,
    /// Sets `nf_conntrack_tcp_be_liberal` to 1 when true; false leaves it.
    pub tcp_be_liberal: bool,
    /// Zero leaves the kernel's value.
    pub udp_timeout: Duration,
    /// Zero leaves the kernel's value.
    pub udp_stream_timeout: Duration,
}

/// Everything kproxy was told to do.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub mode: ProxyMode,
    pub hostname_override: Option<String>,
    pub cluster_cidr: Option<Ipv4Net>,
    /// Empty means every local address.
    pub nodeport_addresses: Vec<Ipv4Net>,
    pub iptables: IptablesConfig,
    pub ipvs: IpvsConfig,
    pub conntrack: ConntrackConfig,
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
    /// `--v`: 0 info, 1-3 debug, 4+ trace.
    pub verbosity: u8,
    /// The `--config` file, if any.
    pub config_file: Option<PathBuf>,
    /// kube-proxy settings set in the file that kproxy does not implement (e.g.
    /// `conntrack.maxPerCore`), for one log line once logging is up.
    pub ignored_settings: Vec<String>,
}

/// Why the configuration could not be loaded. None is retryable.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// Bad flags, and also `--help`/`--version`: callers should `err.exit()` on this one,
    /// which prints the text and exits with clap's status.
    #[error(transparent)]
    Args(#[from] clap::Error),
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
    #[error("config file {path}: unknown field(s) {}", fields.join(", "))]
    UnknownFields { path: PathBuf, fields: Vec<String> },
    #[error("config file {path}: {field}: {reason}")]
    InvalidSetting {
        path: PathBuf,
        field: &'static str,
        reason: String,
    },
    /// A combination of settings that cannot work, naming both the flag and the file field.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("cannot determine the node name (use --hostname-override): {0}")]
    NodeName(#[source] std::io::Error),
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
            ProxyMode::Iptables => self.iptables.sync_period,
            ProxyMode::Ipvs => self.ipvs.sync_period,
        }
    }

    /// The minimum time between syncs of the active mode.
    pub fn min_sync_period(&self) -> Duration {
        match self.mode {
            ProxyMode::Iptables => self.iptables.min_sync_period,
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
