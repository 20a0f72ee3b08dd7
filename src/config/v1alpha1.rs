//! kube-proxy's `KubeProxyConfiguration` (`kubeproxy.config.k8s.io/v1alpha1`) as a typed
//! object, every field of it (k8s.io/kube-proxy/config/v1alpha1/types.go): what the
//! `--config` file holds, what the flags build when there is no file, what kube-proxy's
//! defaulting fills in, and what `/configz` and `--write-config-to` show. kproxy's own
//! [`Config`](super::Config) is derived from it.
//!
//! Go's decoding is mirrored: a null value is the zero value (nulls are removed before
//! decoding), absent fields are zero, and pointer fields are `Option`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::duration;

pub const API_VERSION: &str = "kubeproxy.config.k8s.io/v1alpha1";
pub const KIND: &str = "KubeProxyConfiguration";
/// kubelet's `qos.KubeProxyOOMScoreAdj`.
pub const DEFAULT_OOM_SCORE_ADJ: i32 = -999;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KubeProxyConfiguration {
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_gates: BTreeMap<String, bool>,
    pub client_connection: ClientConnection,
    pub logging: Logging,
    pub hostname_override: String,
    pub bind_address: String,
    pub healthz_bind_address: String,
    pub metrics_bind_address: String,
    pub bind_address_hard_fail: bool,
    pub enable_profiling: bool,
    pub show_hidden_metrics_for_version: String,
    pub mode: String,
    pub iptables: Iptables,
    pub ipvs: Ipvs,
    pub nftables: Nftables,
    pub winkernel: Winkernel,
    pub detect_local_mode: String,
    pub detect_local: DetectLocal,
    #[serde(rename = "clusterCIDR")]
    pub cluster_cidr: String,
    pub node_port_addresses: Option<Vec<String>>,
    pub oom_score_adj: Option<i32>,
    pub conntrack: Conntrack,
    pub config_sync_period: GoDuration,
    pub port_range: String,
    #[serde(skip_serializing_if = "is_false")]
    pub windows_run_as_service: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientConnection {
    pub kubeconfig: String,
    pub accept_content_types: String,
    pub content_type: String,
    pub qps: f32,
    pub burst: i32,
}

/// component-base's `LoggingConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Logging {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub format: String,
    pub flush_frequency: FlushFrequency,
    pub verbosity: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vmodule: Vec<VModuleItem>,
    pub options: LoggingOptions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VModuleItem {
    pub file_pattern: String,
    pub verbosity: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingOptions {
    pub text: OutputRouting,
    pub json: OutputRouting,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OutputRouting {
    #[serde(skip_serializing_if = "is_false")]
    pub split_stream: bool,
    pub info_buffer_size: Quantity,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Iptables {
    pub masquerade_bit: Option<i32>,
    pub masquerade_all: bool,
    pub localhost_node_ports: Option<bool>,
    pub sync_period: GoDuration,
    pub min_sync_period: GoDuration,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Ipvs {
    pub sync_period: GoDuration,
    pub min_sync_period: GoDuration,
    pub scheduler: String,
    #[serde(rename = "excludeCIDRs")]
    pub exclude_cidrs: Option<Vec<String>>,
    #[serde(rename = "strictARP")]
    pub strict_arp: bool,
    pub tcp_timeout: GoDuration,
    pub tcp_fin_timeout: GoDuration,
    pub udp_timeout: GoDuration,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Nftables {
    pub masquerade_bit: Option<i32>,
    pub masquerade_all: bool,
    pub sync_period: GoDuration,
    pub min_sync_period: GoDuration,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Winkernel {
    pub network_name: String,
    pub source_vip: String,
    #[serde(rename = "enableDSR")]
    pub enable_dsr: bool,
    pub root_hns_endpoint_name: String,
    pub forward_health_check_vip: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DetectLocal {
    pub bridge_interface: String,
    pub interface_name_prefix: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Conntrack {
    pub max_per_core: Option<i32>,
    pub min: Option<i32>,
    pub tcp_established_timeout: Option<GoDuration>,
    pub tcp_close_wait_timeout: Option<GoDuration>,
    pub tcp_be_liberal: bool,
    pub udp_timeout: GoDuration,
    pub udp_stream_timeout: GoDuration,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `metav1.Duration`: a Go duration string (`30s`, `1h0m0s`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    pub fn secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&duration::format(self.0))
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        duration::parse(&s)
            .map(GoDuration)
            .map_err(serde::de::Error::custom)
    }
}

/// `TimeOrMetaDuration`: a duration string, or a number of nanoseconds (kubeadm writes 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushFrequency {
    pub duration: Duration,
    /// Written back as a string (kube-proxy's defaulting sets this), else as nanoseconds.
    pub as_string: bool,
}

impl Serialize for FlushFrequency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.as_string {
            s.serialize_str(&duration::format(self.duration))
        } else {
            s.serialize_u64(u64::try_from(self.duration.as_nanos()).unwrap_or(u64::MAX))
        }
    }
}

impl<'de> Deserialize<'de> for FlushFrequency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Nanos(u64),
            Text(String),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Nanos(n) => Self {
                duration: Duration::from_nanos(n),
                as_string: false,
            },
            Raw::Text(s) => Self {
                duration: duration::parse(&s).map_err(serde::de::Error::custom)?,
                as_string: true,
            },
        })
    }
}

/// `resource.QuantityValue` (`0`, `512`, `2Ki`, `1M`), kept as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quantity(pub String);

impl Default for Quantity {
    fn default() -> Self {
        Self("0".into())
    }
}

impl Quantity {
    pub fn is_zero(&self) -> bool {
        self.0.trim().trim_start_matches('0').is_empty()
            || self
                .0
                .trim()
                .chars()
                .all(|c| c == '0' || !c.is_ascii_digit())
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Float(f64),
            Text(String),
        }
        Ok(Self(match Raw::deserialize(d)? {
            Raw::Int(n) => n.to_string(),
            Raw::Float(f) => f.to_string(),
            Raw::Text(s) => s,
        }))
    }
}

impl KubeProxyConfiguration {
    /// kube-proxy's v1alpha1 defaulting (pkg/proxy/apis/config/v1alpha1/defaults.go):
    /// zero values become defaults; a bind address without a port gets the default port.
    pub fn set_defaults(&mut self) {
        self.api_version = API_VERSION.into();
        self.kind = KIND.into();
        if self.bind_address.is_empty() {
            self.bind_address = "0.0.0.0".into();
        }
        let v6 = self.bind_address.parse::<std::net::Ipv6Addr>().is_ok();
        let (healthz_host, metrics_host) = if v6 {
            ("[::]", "[::1]")
        } else {
            ("0.0.0.0", "127.0.0.1")
        };
        self.healthz_bind_address = with_default_port(
            &self.healthz_bind_address,
            healthz_host,
            super::HEALTHZ_PORT,
        );
        self.metrics_bind_address = with_default_port(
            &self.metrics_bind_address,
            metrics_host,
            super::METRICS_PORT,
        );
        self.oom_score_adj.get_or_insert(DEFAULT_OOM_SCORE_ADJ);
        let default_period = |d: &mut GoDuration, secs: u64| {
            if d.is_zero() {
                *d = GoDuration::secs(secs);
            }
        };
        default_period(&mut self.iptables.sync_period, 30);
        default_period(&mut self.iptables.min_sync_period, 1);
        self.iptables.localhost_node_ports.get_or_insert(true);
        self.iptables.masquerade_bit.get_or_insert(14);
        default_period(&mut self.ipvs.sync_period, 30);
        default_period(&mut self.nftables.sync_period, 30);
        default_period(&mut self.nftables.min_sync_period, 1);
        self.nftables.masquerade_bit.get_or_insert(14);
        self.conntrack.max_per_core.get_or_insert(32 * 1024);
        self.conntrack.min.get_or_insert(128 * 1024);
        self.conntrack
            .tcp_established_timeout
            .get_or_insert(GoDuration::secs(24 * 3600));
        self.conntrack
            .tcp_close_wait_timeout
            .get_or_insert(GoDuration::secs(3600));
        default_period(&mut self.config_sync_period, 15 * 60);
        let conn = &mut self.client_connection;
        if conn.content_type.is_empty() {
            conn.content_type = "application/vnd.kubernetes.protobuf".into();
        }
        if conn.qps == 0.0 {
            conn.qps = 5.0;
        }
        if conn.burst == 0 {
            conn.burst = 10;
        }
        // component-base's SetRecommendedLoggingConfiguration.
        if self.logging.format.is_empty() {
            self.logging.format = "text".into();
        }
        if self.logging.flush_frequency.duration.is_zero() {
            self.logging.flush_frequency = FlushFrequency {
                duration: Duration::from_secs(5),
                as_string: true,
            };
        }
    }

    /// The document as `--write-config-to` writes it: YAML with sorted keys, as
    /// kube-proxy's encoder (JSON, then YAML) does.
    pub fn to_yaml(&self) -> String {
        let json = serde_json::to_value(self).expect("a configuration always serializes");
        serde_yaml::to_string(&json).expect("JSON always converts to YAML")
    }
}

/// `proxyutil.AppendPortIfNeeded`, or `host:port` when empty.
fn with_default_port(addr: &str, host: &str, port: u16) -> String {
    if addr.is_empty() {
        return format!("{host}:{port}");
    }
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return addr.to_string();
    }
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
        Ok(ip) => format!("{ip}:{port}"),
        // Not an IP: left for validation to name.
        Err(_) => addr.to_string(),
    }
}
