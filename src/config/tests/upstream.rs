//! Against the lists taken from kube-proxy's source (tests/data/upstream/).

use clap::CommandFactory;

use super::*;

/// `(name, type, default)` rows of a TSV file, comments skipped.
fn rows(file: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(data(file))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(String::from).collect())
        .collect()
}

/// A value of each pflag type that kube-proxy would accept.
fn sample(name: &str, ty: &str) -> Option<String> {
    Some(match (name, ty) {
        ("help" | "version", _) => return None,
        ("proxy-mode", _) => "ipvs".into(),
        ("detect-local-mode", _) => "ClusterCIDR".into(),
        ("logging-format", _) => "json".into(),
        ("cluster-cidr", _) => "10.244.0.0/16".into(),
        ("nodeport-addresses" | "ipvs-exclude-cidrs", _) => "10.0.0.0/8".into(),
        ("ipvs-scheduler", _) => "rr".into(),
        ("config", _) => return None,
        (_, "bool") => "true".into(),
        (_, "int32") => "7".into(),
        (_, "float32") => "7.5".into(),
        (_, "duration") => "7s".into(),
        (_, "ip") => "10.0.0.7".into(),
        (_, "ipport") => "10.0.0.7:1234".into(),
        (_, "mapStringBool") => "SomeGate=true".into(),
        (_, "Level") => "3".into(),
        (_, "pattern=N,...") => "sync=4".into(),
        (_, "quantity") => "1Ki".into(),
        _ => "x".into(),
    })
}

#[test]
fn every_upstream_flag_is_accepted_with_its_default() {
    let cmd = Args::command();
    for row in rows("kube-proxy-flags.tsv") {
        let (name, ty, default) = (&row[0], &row[1], &row[2]);
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(name.as_str()))
            .unwrap_or_else(|| {
                if name == "help" {
                    return cmd.get_arguments().next().unwrap();
                }
                panic!("--{name} is not accepted")
            });
        if name != "help" && default != "-" && ty != "version" {
            let ours: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let ours = ours.join(",");
            let same = ours == *default
                || duration::parse(&ours)
                    .ok()
                    .zip(duration::parse(default).ok())
                    .is_some_and(|(a, b)| a == b)
                || ours.parse::<f64>().ok() == default.parse::<f64>().ok() && !ours.is_empty();
            assert!(same, "--{name}: default {ours:?}, kube-proxy's {default:?}");
        }
        if let Some(value) = sample(name, ty) {
            let flag = format!("--{name}={value}");
            let result = with_flags(&[&flag]);
            assert!(result.is_ok(), "{flag}: {}", result.unwrap_err());
        }
    }
}

#[test]
fn every_upstream_config_field_is_known() {
    let ours = schema_paths();
    for row in rows("kube-proxy-config-fields.tsv") {
        assert!(
            ours.contains(&row[0]),
            "{} is not in kproxy's schema",
            row[0]
        );
    }
    let upstream: Vec<String> = rows("kube-proxy-config-fields.tsv")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    for path in &ours {
        assert!(upstream.contains(path), "{path} is not a kube-proxy field");
    }
}

#[test]
fn every_upstream_config_field_decodes_with_a_value() {
    // One document setting every field, built from the list, decodes (strictly: no
    // unknown-field warning).
    let mut doc = serde_yaml::Mapping::new();
    for row in rows("kube-proxy-config-fields.tsv") {
        let value: serde_yaml::Value = match row[1].as_str() {
            "string" | "ProxyMode" | "LocalMode" => match row[0].as_str() {
                "apiVersion" => API_VERSION.into(),
                "kind" => KIND.into(),
                "mode" => "iptables".into(),
                "detectLocalMode" => "ClusterCIDR".into(),
                "clusterCIDR" => "10.244.0.0/16".into(),
                "bindAddress" => "0.0.0.0".into(),
                "healthzBindAddress" => "0.0.0.0:10256".into(),
                "metricsBindAddress" => "127.0.0.1:10249".into(),
                "logging.format" => "text".into(),
                "ipvs.scheduler" => "rr".into(),
                _ => "".into(),
            },
            "bool" => false.into(),
            "*bool" => true.into(),
            "int32" | "*int32" | "float32" | "VerbosityLevel" => 0.into(),
            "Duration" | "*Duration" | "TimeOrMetaDuration" => "0s".into(),
            "QuantityValue" => "0".into(),
            "[]string" => serde_yaml::Value::Sequence(vec![]),
            "[]VModuleItem" => serde_yaml::Value::Sequence(vec![]),
            "map[string]bool" => serde_yaml::Value::Mapping(Default::default()),
            other => panic!("no sample for type {other}"),
        };
        insert(&mut doc, &row[0], value);
    }
    let text = serde_yaml::to_string(&doc).unwrap();
    let c = with_file(&text, &[]).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(
        !c.warnings.iter().any(|w| w.contains("unknown field")),
        "{:?}",
        c.warnings
    );
}

fn insert(doc: &mut serde_yaml::Mapping, path: &str, value: serde_yaml::Value) {
    match path.split_once('.') {
        None => {
            doc.insert(path.into(), value);
        }
        Some((head, rest)) => {
            let entry = doc
                .entry(head.into())
                .or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
            if let serde_yaml::Value::Mapping(inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

#[test]
fn the_kubeadm_daemon_sets_arguments_parse() {
    let text = std::fs::read_to_string(data("kubeadm/daemonset.yaml")).unwrap();
    let ds: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let container = &ds["spec"]["template"]["spec"]["containers"][0];
    let command: Vec<String> = container["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().replace("$(NODE_NAME)", "node-a"))
        .collect();
    assert_eq!(command[0], "/usr/local/bin/kube-proxy");
    // The ConfigMap kubeadm mounts at /var/lib/kube-proxy, here in a temporary directory.
    let dir = tempfile::tempdir().unwrap();
    let cm: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(data("kubeadm/configmap-1.37.yaml")).unwrap(),
    )
    .unwrap();
    for key in ["config.conf", "kubeconfig.conf"] {
        std::fs::write(dir.path().join(key), cm["data"][key].as_str().unwrap()).unwrap();
    }
    let args: Vec<String> = command
        .iter()
        .map(|a| a.replace("/var/lib/kube-proxy", dir.path().to_str().unwrap()))
        .collect();
    let c = load(args).unwrap();
    assert_eq!(c.node_name().unwrap(), "node-a");
    assert_eq!(c.mode, ProxyMode::Iptables);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}
