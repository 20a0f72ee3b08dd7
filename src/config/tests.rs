use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::*;

mod upstream;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn cidr(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

/// Loads with `flags` after the program name.
fn with_flags(flags: &[&str]) -> Result<Config, ConfigError> {
    load(std::iter::once("kproxy").chain(flags.iter().copied()))
}

/// Writes `yaml` to a temporary file and loads it with `flags`.
fn with_file(yaml: &str, flags: &[&str]) -> Result<Config, ConfigError> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(yaml.as_bytes()).unwrap();
    let path = f.path().to_str().unwrap().to_string();
    let mut all = vec!["--config", &path];
    all.extend_from_slice(flags);
    with_flags(&all)
}

const HEADER: &str = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/upstream")
        .join(path)
}

#[test]
fn defaults_are_kube_proxys() {
    let c = with_flags(&[]).unwrap();
    assert_eq!(c.mode, ProxyMode::Iptables);
    assert_eq!(
        c.iptables,
        IptablesConfig {
            masquerade_all: false,
            masquerade_bit: 14,
            sync_period: secs(30),
            min_sync_period: secs(1),
            localhost_node_ports: true,
        }
    );
    assert_eq!(c.ipvs.scheduler, "rr");
    assert_eq!(
        c.healthz_bind_address,
        Some("0.0.0.0:10256".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(
        c.metrics_bind_address,
        Some("127.0.0.1:10249".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(c.oom_score_adj, Some(-999));
    assert_eq!(c.node_ip, None);
    assert!(c.nodeport_addresses.is_empty());
    assert!(!c.cleanup && !c.once && !c.dry_run && !c.init_only);
    // kube-proxy 1.37 warns when no mode is given.
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("no proxy mode specified")),
        "{:?}",
        c.warnings
    );
    assert_eq!(c.effective.conntrack.max_per_core, Some(32768));
    assert_eq!(
        c.effective.config_sync_period,
        v1alpha1::GoDuration::secs(900)
    );
}

#[test]
fn flags_parse_with_kube_proxy_spellings() {
    let c = with_flags(&[
        "--proxy-mode=ipvs",
        "--cluster-cidr=10.244.0.0/16,fd00::/48",
        "--nodeport-addresses=192.168.0.0/16,fd00::/64,localhost,primary",
        "--bind-address=192.168.5.7",
        "--masquerade-all",
        "--iptables-masquerade-bit=5",
        "--ipvs-scheduler=wlc",
        "--ipvs-sync-period=1h30m",
        "--ipvs-min-sync-period=2s",
        "--ipvs-strict-arp=true",
        "--ipvs-exclude-cidrs=10.0.0.0/8,172.16.0.5",
        "--ipvs-tcp-timeout=900s",
        "--ipvs-tcpfin-timeout=2m",
        "--ipvs-udp-timeout=300s",
        "--healthz-bind-address=127.0.0.1",
        "--metrics-bind-address=0.0.0.0:9999",
        "--hostname-override=Node-1",
        "--kubeconfig=/etc/kube.conf",
        "--master=https://10.0.0.1:6443",
        "--oom-score-adj=-500",
        "--manifests=/srv/manifests",
        "--netns=node1",
        "--once",
        "--dry-run",
        "--cleanup=false",
        "--v=2",
        "--vmodule=sync=4",
        "--logging-format=json",
    ])
    .unwrap();
    assert_eq!(c.mode, ProxyMode::Ipvs);
    assert_eq!(c.cluster_cidr, Some(cidr("10.244.0.0/16")));
    assert_eq!(
        c.nodeport_addresses,
        vec![
            cidr("192.168.0.0/16"),
            cidr("127.0.0.0/8"),
            cidr("192.168.5.7/32")
        ]
    );
    assert_eq!(c.node_ip, Some("192.168.5.7".parse().unwrap()));
    assert!(c.iptables.masquerade_all);
    assert_eq!(c.iptables.masquerade_bit, 5);
    assert_eq!(c.ipvs.scheduler, "wlc");
    assert_eq!(
        (c.sync_period(), c.min_sync_period()),
        (secs(5400), secs(2))
    );
    assert!(c.ipvs.strict_arp);
    assert_eq!(
        c.ipvs.exclude_cidrs,
        vec![cidr("10.0.0.0/8"), cidr("172.16.0.5/32")]
    );
    assert_eq!(
        (
            c.ipvs.tcp_timeout,
            c.ipvs.tcp_fin_timeout,
            c.ipvs.udp_timeout
        ),
        (secs(900), secs(120), secs(300))
    );
    assert_eq!(
        c.healthz_bind_address,
        Some("127.0.0.1:10256".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(
        c.metrics_bind_address,
        Some("0.0.0.0:9999".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(c.kubeconfig, Some("/etc/kube.conf".into()));
    assert_eq!(c.master.as_deref(), Some("https://10.0.0.1:6443"));
    assert_eq!(c.oom_score_adj, Some(-500));
    assert_eq!(c.manifests, Some("/srv/manifests".into()));
    assert!(c.once && c.dry_run && !c.cleanup);
    assert_eq!(c.logging.verbosity, 2);
    assert_eq!(c.logging.vmodule, vec![("sync".to_string(), 4)]);
    assert_eq!(c.logging.format, LogFormat::Json);
    assert_eq!(c.node_name().unwrap(), "node-1");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn ipvs_min_sync_period_follows_kube_proxys_quirk() {
    // Flags only: kube-proxy's single MinSyncPeriod comes from the iptables default (1s).
    let c = with_flags(&["--proxy-mode=ipvs"]).unwrap();
    assert_eq!((c.sync_period(), c.min_sync_period()), (secs(30), secs(1)));
    // A file: ipvs.minSyncPeriod is not defaulted, so 0s.
    let c = with_file(&format!("{HEADER}mode: ipvs\n"), &[]).unwrap();
    assert_eq!(
        (c.sync_period(), c.min_sync_period()),
        (secs(30), Duration::ZERO)
    );
}

#[test]
fn short_sync_flag_names_and_underscores_work_too() {
    let c = with_flags(&["--sync-period=10s", "--min_sync_period=0s"]).unwrap();
    assert_eq!(
        (c.iptables.sync_period, c.iptables.min_sync_period),
        (secs(10), Duration::ZERO)
    );
}

#[test]
fn unimplemented_flags_are_accepted_and_named_in_one_warning() {
    let c = with_flags(&[
        "--proxy-mode=iptables",
        "--conntrack-max-per-core=0",
        "--feature-gates=A=true,B=false",
        "--kube-api-qps=50",
        "--detect-local-mode=ClusterCIDR",
    ])
    .unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    let w = &c.warnings[0];
    for flag in ["--feature-gates", "--kube-api-qps"] {
        assert!(w.contains(flag), "{w}");
    }
    assert!(
        !w.contains("conntrack"),
        "conntrack settings are applied: {w}"
    );
    assert!(
        !w.contains("detect-local-mode"),
        "ClusterCIDR is what kproxy does: {w}"
    );
    assert_eq!(c.effective.conntrack.max_per_core, Some(0));
    assert_eq!(c.effective.feature_gates.get("B"), Some(&false));
}

#[test]
fn a_deprecated_port_flag_of_0_turns_its_server_off() {
    let c = with_flags(&[
        "--proxy-mode=iptables",
        "--healthz-port=0",
        "--metrics-port=10999",
    ])
    .unwrap();
    assert_eq!(c.healthz_bind_address, None);
    assert_eq!(
        c.metrics_bind_address,
        Some("127.0.0.1:10999".parse::<SocketAddr>().unwrap())
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // Port 0 wins over an address given beside it, as upstream's addressFromDeprecatedFlags.
    let c = with_flags(&["--metrics-bind-address=0.0.0.0:1", "--metrics-port=0"]).unwrap();
    assert_eq!(c.metrics_bind_address, None);
    // With --config the deprecated flags are ignored, as upstream ignores them.
    let c = with_file(HEADER, &["--healthz-port=0"]).unwrap();
    assert!(c.healthz_bind_address.is_some());
}

#[test]
fn with_config_only_the_honoured_flags_override_the_file() {
    let c = with_file(
        &format!("{HEADER}mode: ipvs\nhostnameOverride: from-file\nlogging:\n  verbosity: 1\n"),
        &[
            "--proxy-mode=iptables",
            "--iptables-sync-period=25s",
            "--hostname-override=From-Flag",
            "--master=https://api:6443",
            "--v=3",
            "--netns=n1",
        ],
    )
    .unwrap();
    // Ignored, as kube-proxy ignores them, and named in a warning.
    assert_eq!(c.mode, ProxyMode::Ipvs);
    assert_eq!(c.iptables.sync_period, secs(30));
    let w = c
        .warnings
        .iter()
        .find(|w| w.contains("flags ignored because --config"))
        .expect("a warning naming the ignored flags");
    assert!(
        w.contains("--proxy-mode") && w.contains("--iptables-sync-period"),
        "{w}"
    );
    assert!(!w.contains("hostname") && !w.contains("--v"), "{w}");
    // Honoured.
    assert_eq!(c.hostname_override.as_deref(), Some("from-flag"));
    assert_eq!(c.master.as_deref(), Some("https://api:6443"));
    assert_eq!(c.logging.verbosity, 3);
    assert_eq!(c.netns.as_deref(), Some("n1"));
}

#[test]
fn unknown_fields_are_a_warning_naming_each_of_them() {
    let c = with_file(
        &format!(
            "{HEADER}iptables:\n  masqueradeBitt: 3\n  syncPeriod: 7s\nipvs:\n  shceduler: rr\nmodee: ipvs\nudpIdleTimeout: 250ms\n"
        ),
        &[],
    )
    .unwrap();
    assert_eq!(
        c.iptables.sync_period,
        secs(7),
        "the known fields still apply"
    );
    let w = c
        .warnings
        .iter()
        .find(|w| w.contains("unknown field"))
        .expect("a warning");
    assert!(
        w.contains("iptables.masqueradeBitt, ipvs.shceduler, modee, udpIdleTimeout"),
        "{w}"
    );
}

#[test]
fn nftables_mode_is_a_mode_and_kernelspace_is_not_implemented() {
    for result in [
        with_file(&format!("{HEADER}mode: nftables\n"), &[]),
        with_flags(&["--proxy-mode=nftables"]),
    ] {
        let c = result.unwrap();
        assert_eq!(c.mode, ProxyMode::Nftables);
        assert_eq!(c.mode.as_str(), "nftables");
        assert_eq!(c.sync_period(), c.iptables.sync_period);
        assert_eq!(c.min_sync_period(), c.iptables.min_sync_period);
    }
    let err = with_flags(&["--proxy-mode=kernelspace"]).unwrap_err();
    assert!(matches!(err, ConfigError::UnsupportedMode { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("\"kernelspace\" is not implemented"),
        "{err}"
    );
}

#[test]
fn wrong_api_version_or_kind_is_an_error() {
    for doc in [
        "apiVersion: kubeproxy.config.k8s.io/v1beta9\nkind: KubeProxyConfiguration\n",
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n",
        "mode: ipvs\n",
        "- a\n- b\n",
    ] {
        let err = with_file(doc, &[]).unwrap_err();
        assert!(
            matches!(err, ConfigError::NotAConfiguration { .. }),
            "{doc}: {err}"
        );
    }
}

#[test]
fn bad_file_values_name_the_field() {
    for (body, needle) in [
        (
            "iptables:\n  masqueradeBit: 32\n",
            "iptables.masqueradeBit: 32 is not in 0..=31",
        ),
        ("iptables:\n  syncPeriod: 30\n", "\"30\" is missing a unit"),
        ("ipvs:\n  udpTimeout: soon\n", "\"soon\" is not a duration"),
        ("mode: fastest\n", "mode: \"fastest\" is not a proxy mode"),
        ("clusterCIDR: 10.0.0.0/33\n", "clusterCIDR"),
        ("clusterCIDR: fd00::/48\n", "no IPv4 CIDR"),
        ("healthzBindAddress: nowhere:1\n", "healthzBindAddress"),
        (
            "iptables:\n  masqueradeAll: maybe\n",
            "iptables.masqueradeAll",
        ),
        ("oomScoreAdj: 5000\n", "oomScoreAdj"),
        ("logging:\n  format: xml\n", "logging.format"),
    ] {
        let err = with_file(&format!("{HEADER}{body}"), &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(needle), "{body}: {msg}");
    }
}

#[test]
fn bad_flag_values_are_clap_errors() {
    for flags in [
        &["--iptables-masquerade-bit=32"][..],
        &["--sync-period=30"],
        &["--min-sync-period=-1s"],
        &["--cluster-cidr=banana"],
        &["--nodeport-addresses=nowhere"],
        &["--healthz-bind-address=:::"],
        &["--oom-score-adj=-1001"],
        &["--feature-gates=A=maybe"],
        &["--vmodule=sync"],
        &["--no-such-flag"],
    ] {
        let err = with_flags(flags).unwrap_err();
        assert!(matches!(err, ConfigError::Args(_)), "{flags:?}: {err}");
    }
}

#[test]
fn cross_field_validation() {
    for (flags, needle) in [
        (&["--min-sync-period=1m"][..], "must not be longer than"),
        (
            &["--sync-period=0s", "--min-sync-period=0s"],
            "must be greater than 0",
        ),
        (
            &["--proxy-mode=ipvs", "--ipvs-min-sync-period=31s"],
            "--ipvs-min-sync-period",
        ),
        (
            &["--proxy-mode=ipvs", "--ipvs-scheduler=fastest"],
            "\"fastest\" is not an IPVS scheduler",
        ),
    ] {
        let err = with_flags(flags).unwrap_err();
        assert!(err.to_string().contains(needle), "{flags:?}: {err}");
    }
    assert!(with_flags(&["--ipvs-scheduler=fastest"]).is_ok());
}

#[test]
fn version_is_printed_not_an_error() {
    for v in [&["--version"][..], &["--version=raw"]] {
        let err = with_flags(v).unwrap_err();
        let ConfigError::ShowVersion(text) = err else {
            panic!("{err}");
        };
        assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    }
}

#[test]
fn missing_file_is_a_read_error() {
    let err = with_flags(&["--config=/nonexistent/kproxy.yaml"]).unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }), "{err}");
}

#[test]
fn kubeadm_config_maps_load_without_error_or_warning() {
    for version in ["1.36", "1.37"] {
        let text =
            std::fs::read_to_string(data(&format!("kubeadm/configmap-{version}.yaml"))).unwrap();
        let cm: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let conf = cm["data"]["config.conf"].as_str().unwrap();
        let c = with_file(conf, &["--hostname-override=node-a"]).unwrap();
        assert_eq!(c.mode, ProxyMode::Iptables, "{version}");
        assert_eq!(c.cluster_cidr, Some(cidr("10.244.0.0/16")));
        assert_eq!(
            c.kubeconfig,
            Some("/var/lib/kube-proxy/kubeconfig.conf".into())
        );
        assert_eq!(
            c.healthz_bind_address,
            Some("0.0.0.0:10256".parse::<SocketAddr>().unwrap())
        );
        assert_eq!(
            c.metrics_bind_address,
            Some("127.0.0.1:10249".parse::<SocketAddr>().unwrap())
        );
        assert_eq!((c.sync_period(), c.min_sync_period()), (secs(30), secs(1)));
        assert_eq!(c.oom_score_adj, Some(-999));
        let unexpected: Vec<_> = c
            .warnings
            .iter()
            .filter(|w| !w.contains("no proxy mode specified"))
            .collect();
        assert!(unexpected.is_empty(), "{version}: {unexpected:?}");
        // 1.36 leaves mode empty (kube-proxy then defaults, with a warning); 1.37 sets it.
        assert_eq!(
            c.warnings.len(),
            usize::from(version == "1.36"),
            "{version}"
        );
        let kubeconfig = cm["data"]["kubeconfig.conf"].as_str().unwrap();
        kube::config::Kubeconfig::from_yaml(kubeconfig).unwrap();
    }
}

#[test]
fn written_configuration_loads_back_to_the_same() {
    let c = with_flags(&[
        "--proxy-mode=ipvs",
        "--cluster-cidr=10.1.0.0/16",
        "--ipvs-scheduler=lc",
    ])
    .unwrap();
    let yaml = c.effective.to_yaml();
    assert!(
        yaml.starts_with("apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"),
        "{yaml}"
    );
    let again = with_file(&yaml, &[]).unwrap();
    assert_eq!(again.effective, c.effective);
    assert_eq!(
        (again.mode, again.ipvs.scheduler.as_str()),
        (ProxyMode::Ipvs, "lc")
    );
    assert_eq!(again.min_sync_period(), c.min_sync_period());
}

#[test]
fn node_name_prefers_override_then_env_then_hostname() {
    let host = || Ok("Host-A\n".to_string());
    assert_eq!(
        node_name_from(Some(" Node-1 "), Some("env"), host).unwrap(),
        "node-1"
    );
    assert_eq!(
        node_name_from(Some(""), Some("Env-Node"), host).unwrap(),
        "env-node"
    );
    assert_eq!(node_name_from(None, None, host).unwrap(), "host-a");
    let err = node_name_from(None, None, || Err(std::io::Error::other("no proc"))).unwrap_err();
    assert!(err.to_string().contains("--hostname-override"), "{err}");
}
