//! Every YAML document in deploy/ parses into its k8s-openapi type, uses no field the
//! type does not know (a typo would be silently dropped by the API server), and says
//! what kproxy needs: RBAC exactly as wide as the API source, a DaemonSet shaped like
//! kube-proxy's, and a configuration that agrees with the DaemonSet.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Container, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kproxy::source::WATCHED_RESOURCES;
use serde::Deserialize;
use serde::de::DeserializeOwned;

const NAMESPACE: &str = "kube-system";
const CONFIG_DIR: &str = "/var/lib/kproxy";

#[derive(Default)]
struct Manifests {
    daemon_sets: Vec<DaemonSet>,
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    bindings: Vec<ClusterRoleBinding>,
    config_maps: Vec<ConfigMap>,
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Parses `doc` as `T` and checks that serializing it back gives the same document:
/// a misspelt or misplaced field would be dropped by the typed parse and show up here.
fn typed<T: DeserializeOwned + serde::Serialize>(doc: &serde_yaml::Value, origin: &str) -> T {
    let value: T = serde_yaml::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{origin}: does not parse: {e}"));
    let back = serde_json::to_value(&value).unwrap();
    let original = serde_json::to_value(doc).unwrap();
    let mut lost = Vec::new();
    differences(&original, &back, "", &mut lost);
    assert!(
        lost.is_empty(),
        "{origin}: not understood by the API types: {lost:?}"
    );
    value
}

/// Paths (like `spec.template.spec.hostNetwrok`) where `back` differs from `original`.
fn differences(
    original: &serde_json::Value,
    back: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value::{Array, Object};
    match (original, back) {
        (Object(a), Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                let null = serde_json::Value::Null;
                let sub = format!("{path}.{key}");
                differences(
                    a.get(key).unwrap_or(&null),
                    b.get(key).unwrap_or(&null),
                    &sub,
                    out,
                );
            }
        }
        (Array(a), Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a != b => out.push(path.trim_start_matches('.').to_owned()),
        _ => {}
    }
}

fn load() -> Manifests {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML in deploy/");
    let mut m = Manifests::default();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, de) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let doc = serde_yaml::Value::deserialize(de)
                .unwrap_or_else(|e| panic!("{}: document {i}: {e}", file.display()));
            if doc.is_null() {
                continue; // an empty document, e.g. a trailing `---`
            }
            let kind = doc["kind"].as_str().unwrap_or("<no kind>").to_owned();
            let origin = format!("{} document {i} ({kind})", file.display());
            match kind.as_str() {
                "DaemonSet" => m.daemon_sets.push(typed(&doc, &origin)),
                "ServiceAccount" => m.service_accounts.push(typed(&doc, &origin)),
                "ClusterRole" => m.cluster_roles.push(typed(&doc, &origin)),
                "ClusterRoleBinding" => m.bindings.push(typed(&doc, &origin)),
                "ConfigMap" => m.config_maps.push(typed(&doc, &origin)),
                other => panic!("{origin}: unexpected kind {other}"),
            }
        }
    }
    m
}

fn only<'a, T>(items: &'a [T], what: &str) -> &'a T {
    assert_eq!(items.len(), 1, "expected exactly one {what}");
    &items[0]
}

fn daemon_set_container(ds: &DaemonSet) -> &Container {
    let pod = ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    only(&pod.containers, "container in the DaemonSet")
}

fn config_map_entry<'a>(cm: &'a ConfigMap, key: &str) -> &'a str {
    cm.data
        .as_ref()
        .and_then(|d| d.get(key))
        .unwrap_or_else(|| panic!("ConfigMap has no {key}"))
}

#[test]
fn every_document_parses_with_no_unknown_fields() {
    let m = load();
    only(&m.daemon_sets, "DaemonSet");
    only(&m.service_accounts, "ServiceAccount");
    only(&m.cluster_roles, "ClusterRole");
    only(&m.bindings, "ClusterRoleBinding");
    only(&m.config_maps, "ConfigMap");
}

#[test]
fn cluster_role_grants_exactly_what_kproxy_uses() {
    let m = load();
    let role = only(&m.cluster_roles, "ClusterRole");
    let mut granted = BTreeSet::new();
    for rule in role.rules.as_deref().unwrap_or_default() {
        assert!(rule.resource_names.is_none(), "{rule:?}");
        assert!(rule.non_resource_urls.is_none(), "{rule:?}");
        for group in rule.api_groups.as_deref().unwrap_or_default() {
            for resource in rule.resources.as_deref().unwrap_or_default() {
                for verb in &rule.verbs {
                    for s in [group, resource, verb] {
                        assert!(!s.contains('*'), "wildcard in {rule:?}");
                    }
                    granted.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    let mut needed = BTreeSet::new();
    for (group, resource) in WATCHED_RESOURCES {
        for verb in ["list", "watch"] {
            needed.insert((group.to_string(), resource.to_string(), verb.to_string()));
        }
    }
    for group in ["", "events.k8s.io"] {
        for verb in ["create", "patch"] {
            needed.insert((group.to_string(), "events".to_string(), verb.to_string()));
        }
    }
    let missing: Vec<_> = needed.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&needed).collect();
    assert!(missing.is_empty(), "ClusterRole lacks {missing:?}");
    assert!(
        extra.is_empty(),
        "ClusterRole grants more than needed: {extra:?}"
    );
}

#[test]
fn binding_ties_the_role_to_the_daemon_sets_service_account() {
    let m = load();
    let role = only(&m.cluster_roles, "ClusterRole");
    let sa = only(&m.service_accounts, "ServiceAccount");
    let binding = only(&m.bindings, "ClusterRoleBinding");
    let ds = only(&m.daemon_sets, "DaemonSet");

    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(binding.role_ref.api_group, "rbac.authorization.k8s.io");
    assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());

    let sa_name = sa.metadata.name.as_deref().unwrap();
    assert_eq!(sa.metadata.namespace.as_deref(), Some(NAMESPACE));
    let subjects = binding.subjects.as_deref().unwrap_or_default();
    assert!(
        subjects.iter().any(|s| s.kind == "ServiceAccount"
            && s.name == sa_name
            && s.namespace.as_deref() == Some(NAMESPACE)),
        "binding does not name ServiceAccount {NAMESPACE}/{sa_name}: {subjects:?}"
    );
    let pod = ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some(sa_name));
}

#[test]
fn daemon_set_is_shaped_like_kube_proxys() {
    let m = load();
    let ds = only(&m.daemon_sets, "DaemonSet");
    assert_eq!(ds.metadata.name.as_deref(), Some("kproxy"));
    assert_eq!(ds.metadata.namespace.as_deref(), Some(NAMESPACE));
    let spec = ds.spec.as_ref().unwrap();

    let labels = spec.template.metadata.as_ref().unwrap().labels.as_ref();
    let selector = spec.selector.match_labels.as_ref().unwrap();
    for (k, v) in selector {
        assert_eq!(
            labels.and_then(|l| l.get(k)),
            Some(v),
            "selector {k}={v} misses the pods"
        );
    }

    let strategy = spec.update_strategy.as_ref().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let rolling = strategy.rolling_update.as_ref().unwrap();
    assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(1)));

    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.host_network, Some(true));
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-node-critical")
    );
    let tolerations = pod.tolerations.as_deref().unwrap_or_default();
    assert!(
        tolerations
            .iter()
            .any(|t| t.operator.as_deref() == Some("Exists")
                && t.key.is_none()
                && t.effect.is_none()),
        "must tolerate every taint: {tolerations:?}"
    );

    let c = daemon_set_container(ds);
    assert_eq!(c.security_context.as_ref().unwrap().privileged, Some(true));
    let env = c.env.as_deref().unwrap_or_default();
    let node_name = env
        .iter()
        .find(|e| e.name == "NODE_NAME")
        .expect("NODE_NAME env");
    let field = node_name
        .value_from
        .as_ref()
        .unwrap()
        .field_ref
        .as_ref()
        .unwrap();
    assert_eq!(field.field_path, "spec.nodeName");
    assert_eq!(
        c.args.as_deref().unwrap_or_default(),
        [
            format!("--config={CONFIG_DIR}/config.conf"),
            "--hostname-override=$(NODE_NAME)".to_string(),
        ]
    );

    let probe = c
        .liveness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(probe.path.as_deref(), Some("/livez"));
    assert_eq!(probe.port, IntOrString::Int(10256));

    // Mount path → (volume name, read-only), and volume name → hostPath (path, type).
    let mounts: BTreeMap<&str, (&str, bool)> = c
        .volume_mounts
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|v| {
            (
                v.mount_path.as_str(),
                (v.name.as_str(), v.read_only == Some(true)),
            )
        })
        .collect();
    let volumes = pod.volumes.as_deref().unwrap_or_default();
    let host_path = |mount: &str| {
        let (name, ro) = mounts[mount];
        let v = volumes.iter().find(|v| v.name == name).unwrap();
        let hp = v
            .host_path
            .as_ref()
            .unwrap_or_else(|| panic!("{mount} is not a hostPath"));
        (hp.path.as_str(), hp.type_.as_deref(), ro)
    };
    assert_eq!(
        host_path("/run/xtables.lock"),
        ("/run/xtables.lock", Some("FileOrCreate"), false)
    );
    let (path, _, ro) = host_path("/lib/modules");
    assert_eq!((path, ro), ("/lib/modules", true));

    let (config_volume, _) = mounts[CONFIG_DIR];
    let cm_name = volumes
        .iter()
        .find(|v| v.name == config_volume)
        .and_then(|v| v.config_map.as_ref())
        .map(|c| c.name.as_str());
    let cm = only(&m.config_maps, "ConfigMap");
    assert_eq!(
        cm_name,
        cm.metadata.name.as_deref(),
        "config volume is not the ConfigMap"
    );
    assert_eq!(cm.metadata.namespace.as_deref(), Some(NAMESPACE));
}

#[test]
fn config_map_holds_a_kube_proxy_configuration_the_daemon_set_agrees_with() {
    let m = load();
    let cm = only(&m.config_maps, "ConfigMap");
    let conf: serde_yaml::Value =
        serde_yaml::from_str(config_map_entry(cm, "config.conf")).unwrap();
    assert_eq!(
        conf["apiVersion"].as_str(),
        Some("kubeproxy.config.k8s.io/v1alpha1")
    );
    assert_eq!(conf["kind"].as_str(), Some("KubeProxyConfiguration"));
    assert_eq!(conf["mode"].as_str(), Some("iptables"));
    let cidr = conf["clusterCIDR"].as_str().expect("clusterCIDR");
    cidr.parse::<Ipv4Net>()
        .unwrap_or_else(|e| panic!("clusterCIDR {cidr}: {e}"));
    let addr = |key: &str| -> SocketAddr {
        let s = conf[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing"));
        s.parse().unwrap_or_else(|e| panic!("{key} {s}: {e}"))
    };
    assert_eq!(addr("metricsBindAddress"), "0.0.0.0:10249".parse().unwrap());

    // The liveness probe must hit the port kproxy serves /livez on.
    let healthz = addr("healthzBindAddress");
    let ds = only(&m.daemon_sets, "DaemonSet");
    let probe = daemon_set_container(ds).liveness_probe.as_ref().unwrap();
    let probe_port = &probe.http_get.as_ref().unwrap().port;
    assert_eq!(probe_port, &IntOrString::Int(i32::from(healthz.port())));
    assert!(
        healthz.ip().is_unspecified(),
        "the kubelet probes the node IP, not loopback"
    );

    // The API server is reached through the kubeconfig in the same ConfigMap, with the
    // pod's service account token (the `kubernetes` Service needs a working proxy).
    let kubeconfig_path = conf["clientConnection"]["kubeconfig"].as_str().unwrap();
    let key = kubeconfig_path
        .strip_prefix(&format!("{CONFIG_DIR}/"))
        .expect("kubeconfig is in the mounted ConfigMap");
    let kubeconfig = kube::config::Kubeconfig::from_yaml(config_map_entry(cm, key)).unwrap();
    let cluster = only(&kubeconfig.clusters, "cluster")
        .cluster
        .as_ref()
        .unwrap();
    assert!(cluster.server.as_deref().unwrap().starts_with("https://"));
    assert_eq!(
        cluster.certificate_authority.as_deref(),
        Some("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
    );
    let user = only(&kubeconfig.auth_infos, "user")
        .auth_info
        .as_ref()
        .unwrap();
    assert_eq!(
        user.token_file.as_deref(),
        Some("/var/run/secrets/kubernetes.io/serviceaccount/token")
    );
}
