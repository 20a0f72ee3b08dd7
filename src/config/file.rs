//! The `KubeProxyConfiguration` file (`kubeproxy.config.k8s.io/v1alpha1`), as kube-proxy
//! reads it. Every v1alpha1 field is accepted so existing ConfigMaps (kubeadm's, for one)
//! load unchanged; those kproxy does not implement are reported, not silently dropped, and
//! misspelt fields are an error listing each of them with its path.

use std::path::Path;

use serde::Deserialize;
use serde_yaml::Value;

use super::ConfigError;

pub const API_VERSION: &str = "kubeproxy.config.k8s.io/v1alpha1";
pub const KIND: &str = "KubeProxyConfiguration";

/// The settings kproxy reads; everything is optional so that flags and defaults fill gaps.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileConfig {
    pub mode: Option<String>,
    #[serde(rename = "clusterCIDR")]
    pub cluster_cidr: Option<String>,
    pub node_port_addresses: Option<Vec<String>>,
    pub hostname_override: Option<String>,
    pub healthz_bind_address: Option<String>,
    pub metrics_bind_address: Option<String>,
    pub client_connection: Option<ClientConnection>,
    pub iptables: Option<Iptables>,
    pub ipvs: Option<Ipvs>,
    pub conntrack: Option<Conntrack>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClientConnection {
    pub kubeconfig: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Iptables {
    pub masquerade_all: Option<bool>,
    pub masquerade_bit: Option<i64>,
    pub sync_period: Option<String>,
    pub min_sync_period: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Ipvs {
    pub scheduler: Option<String>,
    pub sync_period: Option<String>,
    pub min_sync_period: Option<String>,
    #[serde(rename = "strictARP")]
    pub strict_arp: Option<bool>,
    #[serde(rename = "excludeCIDRs")]
    pub exclude_cidrs: Option<Vec<String>>,
    pub tcp_timeout: Option<String>,
    pub tcp_fin_timeout: Option<String>,
    pub udp_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Conntrack {
    pub max_per_core: Option<i64>,
    pub min: Option<i64>,
    pub tcp_established_timeout: Option<String>,
    pub tcp_close_wait_timeout: Option<String>,
    pub tcp_be_liberal: Option<bool>,
    pub udp_timeout: Option<String>,
    pub udp_stream_timeout: Option<String>,
}

/// A parsed file plus the kube-proxy settings in it that kproxy ignores.
#[derive(Debug)]
pub struct Loaded {
    pub config: FileConfig,
    /// Paths of set-but-unimplemented settings, e.g. `conntrack.maxPerCore`.
    pub ignored: Vec<String>,
}

/// What kproxy does with a field of the file.
enum Field {
    /// Read into [`FileConfig`].
    Used,
    /// A kube-proxy setting kproxy does not implement.
    Ignored,
    /// A kube-proxy setting with free-form content (feature gates, logging), ignored whole.
    IgnoredTree,
    /// A nested object with its own fields.
    Section(&'static [(&'static str, Field)]),
}

use Field::{Ignored, IgnoredTree, Section, Used};

/// Every field of kube-proxy's v1alpha1 KubeProxyConfiguration (k8s.io/kube-proxy/config/
/// v1alpha1/types.go), plus `udpIdleTimeout`, which older kubeadm versions still write.
const SCHEMA: &[(&str, Field)] = &[
    ("apiVersion", Used),
    ("kind", Used),
    ("featureGates", IgnoredTree),
    (
        "clientConnection",
        Section(&[
            ("kubeconfig", Used),
            ("acceptContentTypes", Ignored),
            ("contentType", Ignored),
            ("qps", Ignored),
            ("burst", Ignored),
        ]),
    ),
    ("logging", IgnoredTree),
    ("hostnameOverride", Used),
    ("bindAddress", Ignored),
    ("healthzBindAddress", Used),
    ("metricsBindAddress", Used),
    ("bindAddressHardFail", Ignored),
    ("enableProfiling", Ignored),
    ("showHiddenMetricsForVersion", Ignored),
    ("mode", Used),
    (
        "iptables",
        Section(&[
            ("masqueradeBit", Used),
            ("masqueradeAll", Used),
            ("localhostNodePorts", Ignored),
            ("snatNodeInternalIP", Ignored),
            ("syncPeriod", Used),
            ("minSyncPeriod", Used),
        ]),
    ),
    (
        "ipvs",
        Section(&[
            ("syncPeriod", Used),
            ("minSyncPeriod", Used),
            ("scheduler", Used),
            ("excludeCIDRs", Used),
            ("strictARP", Used),
            ("tcpTimeout", Used),
            ("tcpFinTimeout", Used),
            ("udpTimeout", Used),
        ]),
    ),
    ("nftables", IgnoredTree),
    ("winkernel", IgnoredTree),
    ("detectLocalMode", Ignored),
    ("detectLocal", IgnoredTree),
    ("clusterCIDR", Used),
    ("nodePortAddresses", Used),
    ("oomScoreAdj", Ignored),
    (
        "conntrack",
        Section(&[
            ("maxPerCore", Used),
            ("min", Used),
            ("tcpEstablishedTimeout", Used),
            ("tcpCloseWaitTimeout", Used),
            ("tcpBeLiberal", Used),
            ("udpTimeout", Used),
            ("udpStreamTimeout", Used),
        ]),
    ),
    ("configSyncPeriod", Ignored),
    ("portRange", Ignored),
    ("udpIdleTimeout", Ignored),
    ("windowsRunAsService", Ignored),
];

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Checks the document's type and fields, then reads it.
pub fn parse(path: &Path, text: &str) -> Result<Loaded, ConfigError> {
    let parse_err = |source| ConfigError::ParseFile {
        path: path.to_path_buf(),
        source,
    };
    let doc: Value = serde_yaml::from_str(text).map_err(parse_err)?;
    let Value::Mapping(map) = &doc else {
        return Err(ConfigError::NotAConfiguration {
            path: path.to_path_buf(),
            found: "a document that is not a mapping".into(),
        });
    };
    let field = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if api_version != API_VERSION || kind != KIND {
        return Err(ConfigError::NotAConfiguration {
            path: path.to_path_buf(),
            found: format!("apiVersion {api_version:?}, kind {kind:?}"),
        });
    }

    let mut unknown = Vec::new();
    let mut ignored = Vec::new();
    walk(map, SCHEMA, "", &mut unknown, &mut ignored);
    if !unknown.is_empty() {
        return Err(ConfigError::UnknownFields {
            path: path.to_path_buf(),
            fields: unknown,
        });
    }
    // Parsed again from the text, not from `doc`: serde_yaml then names the field and line
    // of a type error (`iptables.syncPeriod: invalid type: integer ...`).
    let config = serde_yaml::from_str(text).map_err(parse_err)?;
    Ok(Loaded { config, ignored })
}

/// Records unknown field paths and the paths of ignored settings that are set.
fn walk(
    map: &serde_yaml::Mapping,
    schema: &[(&str, Field)],
    prefix: &str,
    unknown: &mut Vec<String>,
    ignored: &mut Vec<String>,
) {
    for (key, value) in map {
        let name = match key {
            Value::String(s) => s.clone(),
            other => serde_yaml::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        let path = format!("{prefix}{name}");
        match schema.iter().find(|(k, _)| *k == name).map(|(_, f)| f) {
            None => unknown.push(path),
            Some(Used) => {}
            Some(Ignored | IgnoredTree) => {
                if is_set(value) {
                    ignored.push(path);
                }
            }
            // Null is an empty section; other types fail typed parsing with a message.
            Some(Section(fields)) => {
                if let Value::Mapping(inner) = value {
                    walk(inner, fields, &format!("{path}."), unknown, ignored);
                }
            }
        }
    }
}

/// Whether a setting has a non-zero value (kubeadm writes every field, mostly zero).
fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty() && s != "0s" && s != "0",
        Value::Sequence(s) => !s.is_empty(),
        Value::Mapping(m) => m.values().any(is_set),
        Value::Tagged(t) => is_set(&t.value),
    }
}
