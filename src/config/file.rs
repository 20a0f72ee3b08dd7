//! The `KubeProxyConfiguration` file (`kubeproxy.config.k8s.io/v1alpha1`), decoded as
//! kube-proxy decodes it: strictly first; when that fails only because of unknown fields,
//! leniently (unknown fields dropped) with a warning naming each of them. Every v1alpha1
//! field is known, so existing ConfigMaps (kubeadm's, for one) load unchanged; settings
//! kproxy does not implement are reported when set.

use std::path::Path;

use serde_yaml::Value;

use super::ConfigError;
use super::v1alpha1::{API_VERSION, KIND, KubeProxyConfiguration};

/// A decoded file plus what the caller should warn about.
#[derive(Debug)]
pub struct Loaded {
    pub config: KubeProxyConfiguration,
    /// Fields kube-proxy does not know either (strict decoding failed on them); dropped.
    pub unknown: Vec<String>,
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

const OUTPUT_ROUTING: &[(&str, Field)] = &[("splitStream", Used), ("infoBufferSize", Ignored)];

/// Every field of kube-proxy's v1alpha1 KubeProxyConfiguration (k8s.io/kube-proxy/config/
/// v1alpha1/types.go; tests/data/upstream/kube-proxy-config-fields.tsv is the same list).
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
    (
        "logging",
        Section(&[
            ("format", Used),
            // kproxy writes every line at once: nothing to flush.
            ("flushFrequency", Used),
            ("verbosity", Used),
            ("vmodule", Used),
            (
                "options",
                Section(&[
                    ("text", Section(OUTPUT_ROUTING)),
                    ("json", Section(OUTPUT_ROUTING)),
                ]),
            ),
        ]),
    ),
    ("hostnameOverride", Used),
    ("bindAddress", Used),
    ("healthzBindAddress", Used),
    ("metricsBindAddress", Used),
    ("bindAddressHardFail", Used),
    ("enableProfiling", Ignored),
    ("showHiddenMetricsForVersion", Ignored),
    ("mode", Used),
    (
        "iptables",
        Section(&[
            ("masqueradeBit", Used),
            ("masqueradeAll", Used),
            // kproxy never serves NodePorts on 127.0.0.1 (as `false`); only `true` is reported.
            ("localhostNodePorts", Ignored),
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
    (
        "nftables",
        Section(&[
            ("masqueradeBit", Ignored),
            ("masqueradeAll", Ignored),
            ("syncPeriod", Ignored),
            ("minSyncPeriod", Ignored),
        ]),
    ),
    (
        "winkernel",
        Section(&[
            ("networkName", Ignored),
            ("sourceVip", Ignored),
            ("enableDSR", Ignored),
            ("rootHnsEndpointName", Ignored),
            ("forwardHealthCheckVip", Ignored),
        ]),
    ),
    // kproxy detects local traffic by the cluster CIDR: `ClusterCIDR` is implemented.
    ("detectLocalMode", Ignored),
    (
        "detectLocal",
        Section(&[
            ("bridgeInterface", Ignored),
            ("interfaceNamePrefix", Ignored),
        ]),
    ),
    ("clusterCIDR", Used),
    ("nodePortAddresses", Used),
    ("oomScoreAdj", Used),
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
    ("windowsRunAsService", Ignored),
];

/// Field paths of the schema, for tests against upstream's list.
pub fn schema_paths() -> Vec<String> {
    fn walk(fields: &[(&str, Field)], prefix: &str, out: &mut Vec<String>) {
        for (name, field) in fields {
            let path = format!("{prefix}{name}");
            match field {
                Section(inner) => walk(inner, &format!("{path}."), out),
                _ => out.push(path),
            }
        }
    }
    let mut out = Vec::new();
    walk(SCHEMA, "", &mut out);
    out
}

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
    ignored.retain(|path| !matches_kproxy(path, map));
    let mut doc = doc;
    strip_nulls(&mut doc);
    let config = serde_yaml::from_value::<KubeProxyConfiguration>(doc.clone()).map_err(|_| {
        // Value errors carry no field path; decoding the same document as text gives one
        // (its line numbers are of that text, so they are dropped).
        let text = serde_yaml::to_string(&doc).unwrap_or_default();
        match serde_yaml::from_str::<KubeProxyConfiguration>(&text) {
            Err(e) => ConfigError::Decode {
                path: path.to_path_buf(),
                reason: without_location(&e),
            },
            Ok(_) => ConfigError::Decode {
                path: path.to_path_buf(),
                reason: "cannot be decoded".into(),
            },
        }
    })?;
    Ok(Loaded {
        config,
        unknown,
        ignored,
    })
}

/// Settings of the schema's `Ignored` kind whose value is what kproxy does anyway.
fn matches_kproxy(path: &str, map: &serde_yaml::Mapping) -> bool {
    let get = |k: &str| map.get(k);
    match path {
        "detectLocalMode" => get("detectLocalMode").and_then(Value::as_str) == Some("ClusterCIDR"),
        _ => false,
    }
}

/// Go decodes a null as the zero value: the same as leaving the field out.
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Mapping(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Sequence(s) => s.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// serde_yaml's message without its ` at line N column M`.
fn without_location(e: &serde_yaml::Error) -> String {
    let text = e.to_string();
    match e.location() {
        Some(loc) => text.replace(
            &format!(" at line {} column {}", loc.line(), loc.column()),
            "",
        ),
        None => text,
    }
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
