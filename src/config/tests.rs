use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use super::*;

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
        }
    );
    assert_eq!(
        c.ipvs,
        IpvsConfig {
            scheduler: "rr".into(),
            sync_period: secs(30),
            min_sync_period: Duration::ZERO,
            strict_arp: false,
            exclude_cidrs: vec![],
            tcp_timeout: Duration::ZERO,
            tcp_fin_timeout: Duration::ZERO,
            udp_timeout: Duration::ZERO,
        }
    );
    assert_eq!(
        c.conntrack,
        ConntrackConfig {
            max_per_core: 32768,
            min: 131072,
            tcp_established_timeout: secs(24 * 3600),
            tcp_close_wait_timeout: secs(3600),
            tcp_be_liberal: false,
            udp_timeout: Duration::ZERO,
            udp_stream_timeout: Duration::ZERO,
        }
    );
    assert_eq!(
        c.healthz_bind_address,
        "0.0.0.0:10256".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        c.metrics_bind_address,
        "127.0.0.1:10249".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.cluster_cidr, None);
    assert!(c.nodeport_addresses.is_empty());
    assert!(!c.cleanup && !c.once && !c.dry_run);
    assert_eq!((c.sync_period(), c.min_sync_period()), (secs(30), secs(1)));
}

#[test]
fn flags_parse_with_kube_proxy_spellings() {
    let c = with_flags(&[
        "--proxy-mode=ipvs",
        "--cluster-cidr=10.244.0.0/16,fd00::/48",
        "--nodeport-addresses=192.168.0.0/16,fd00::/64,localhost",
        "--masquerade-all",
        "--iptables-masquerade-bit=5",
        "--iptables-sync-period=1m",
        "--iptables-min-sync-period",
        "500ms",
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
        "--manifests=/srv/manifests",
        "--netns=node1",
        "--once",
        "--dry-run",
        "--cleanup=false",
        "--v=2",
    ])
    .unwrap();
    assert_eq!(c.mode, ProxyMode::Ipvs);
    assert_eq!(c.cluster_cidr, Some(cidr("10.244.0.0/16")));
    assert_eq!(
        c.nodeport_addresses,
        vec![cidr("192.168.0.0/16"), cidr("127.0.0.0/8")]
    );
    assert!(c.iptables.masquerade_all);
    assert_eq!(c.iptables.masquerade_bit, 5);
    assert_eq!(c.iptables.sync_period, secs(60));
    assert_eq!(c.iptables.min_sync_period, Duration::from_millis(500));
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
        "127.0.0.1:10256".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        c.metrics_bind_address,
        "0.0.0.0:9999".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.kubeconfig, Some("/etc/kube.conf".into()));
    assert_eq!(c.master.as_deref(), Some("https://10.0.0.1:6443"));
    assert_eq!(c.manifests, Some("/srv/manifests".into()));
    assert_eq!(c.netns.as_deref(), Some("node1"));
    assert!(c.once && c.dry_run && !c.cleanup);
    assert_eq!(c.verbosity, 2);
    assert_eq!(c.node_name().unwrap(), "node-1");
}

#[test]
fn short_sync_flag_names_work_too() {
    let c = with_flags(&["--sync-period=10s", "--min-sync-period=0s"]).unwrap();
    assert_eq!(
        (c.iptables.sync_period, c.iptables.min_sync_period),
        (secs(10), Duration::ZERO)
    );
}

const FULL_FILE: &str = r#"
mode: ipvs
clusterCIDR: 10.244.0.0/16
nodePortAddresses: ["192.168.1.0/24", "all"]
hostnameOverride: worker-7
healthzBindAddress: 0.0.0.0:12345
metricsBindAddress: 0.0.0.0
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 5
iptables:
  masqueradeAll: true
  masqueradeBit: 15
  syncPeriod: 20s
  minSyncPeriod: 2s
ipvs:
  scheduler: lc
  syncPeriod: 40s
  minSyncPeriod: 5s
  strictARP: true
  excludeCIDRs: ["10.1.0.0/16"]
  tcpTimeout: 1h
  tcpFinTimeout: 30s
  udpTimeout: 10s
conntrack:
  maxPerCore: 0
  min: null
  tcpEstablishedTimeout: 2h
  tcpCloseWaitTimeout: null
  tcpBeLiberal: true
  udpTimeout: 45s
  udpStreamTimeout: 0s
oomScoreAdj: -999
enableProfiling: false
portRange: ""
"#;

#[test]
fn file_is_read() {
    let c = with_file(&format!("{HEADER}{FULL_FILE}"), &[]).unwrap();
    assert_eq!(c.mode, ProxyMode::Ipvs);
    assert_eq!(c.cluster_cidr, Some(cidr("10.244.0.0/16")));
    assert_eq!(
        c.nodeport_addresses,
        vec![cidr("192.168.1.0/24"), cidr("0.0.0.0/0")]
    );
    assert_eq!(c.hostname_override.as_deref(), Some("worker-7"));
    assert_eq!(c.healthz_bind_address.port(), 12345);
    assert_eq!(
        c.metrics_bind_address,
        "0.0.0.0:10249".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        c.kubeconfig,
        Some("/var/lib/kube-proxy/kubeconfig.conf".into())
    );
    assert_eq!(
        c.iptables,
        IptablesConfig {
            masquerade_all: true,
            masquerade_bit: 15,
            sync_period: secs(20),
            min_sync_period: secs(2),
        }
    );
    assert_eq!(
        c.ipvs,
        IpvsConfig {
            scheduler: "lc".into(),
            sync_period: secs(40),
            min_sync_period: secs(5),
            strict_arp: true,
            exclude_cidrs: vec![cidr("10.1.0.0/16")],
            tcp_timeout: secs(3600),
            tcp_fin_timeout: secs(30),
            udp_timeout: secs(10),
        }
    );
    // An explicit 0 leaves the kernel's value; null takes kube-proxy's default.
    assert_eq!(
        c.conntrack,
        ConntrackConfig {
            max_per_core: 0,
            min: 131072,
            tcp_established_timeout: secs(7200),
            tcp_close_wait_timeout: secs(3600),
            tcp_be_liberal: true,
            udp_timeout: secs(45),
            udp_stream_timeout: secs(0),
        }
    );
    // Set, unimplemented settings are reported; zero/empty ones are not.
    assert_eq!(
        c.ignored_settings,
        vec!["clientConnection.qps", "oomScoreAdj"]
    );
}

#[test]
fn conntrack_flags_override_the_file() {
    let file =
        format!("{HEADER}conntrack:\n  min: 1000\n  udpTimeout: 45s\n  tcpBeLiberal: true\n");
    let c = with_file(
        &file,
        &[
            "--conntrack-min=2000",
            "--conntrack-udp-timeout-stream=2m",
            "--conntrack-tcp-be-liberal=false",
        ],
    )
    .unwrap();
    assert_eq!(c.conntrack.min, 2000);
    assert_eq!(c.conntrack.udp_timeout, secs(45));
    assert_eq!(c.conntrack.udp_stream_timeout, secs(120));
    assert!(!c.conntrack.tcp_be_liberal);
    let bad = with_file(&format!("{HEADER}conntrack:\n  min: -1\n"), &[]).unwrap_err();
    assert!(bad.to_string().contains("conntrack.min"), "{bad}");
}

#[test]
fn explicit_flags_override_the_file_and_defaults_do_not() {
    let c = with_file(
        &format!("{HEADER}{FULL_FILE}"),
        &[
            "--proxy-mode=iptables",
            "--iptables-masquerade-bit=14",
            "--sync-period=25s",
            "--nodeport-addresses=",
        ],
    )
    .unwrap();
    assert_eq!(c.mode, ProxyMode::Iptables);
    // Given explicitly, even though it equals the default.
    assert_eq!(c.iptables.masquerade_bit, 14);
    assert_eq!(c.iptables.sync_period, secs(25));
    assert!(c.nodeport_addresses.is_empty());
    // Not given: the file's values stand.
    assert_eq!(c.iptables.min_sync_period, secs(2));
    assert!(c.iptables.masquerade_all);
    assert_eq!(c.ipvs.scheduler, "lc");
    assert_eq!(c.sync_period(), secs(25));
}

#[test]
fn zero_periods_in_the_file_mean_kube_proxys_defaults() {
    let c = with_file(
        &format!(
            "{HEADER}iptables:\n  syncPeriod: 0s\n  minSyncPeriod: 0s\nipvs:\n  syncPeriod: \"0\"\n"
        ),
        &[],
    )
    .unwrap();
    assert_eq!(
        (c.iptables.sync_period, c.iptables.min_sync_period),
        (secs(30), secs(1))
    );
    assert_eq!(c.ipvs.sync_period, secs(30));
}

#[test]
fn unknown_fields_are_all_named_with_their_path() {
    let err = with_file(
        &format!(
            "{HEADER}iptables:\n  masqueradeBitt: 3\n  syncPeriod: 1s\nipvs:\n  shceduler: rr\nmodee: ipvs\n"
        ),
        &[],
    )
    .unwrap_err();
    let msg = err.to_string();
    match &err {
        ConfigError::UnknownFields { fields, .. } => {
            assert_eq!(
                fields,
                &["iptables.masqueradeBitt", "ipvs.shceduler", "modee"]
            );
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(
        msg.contains("unknown field(s) iptables.masqueradeBitt, ipvs.shceduler, modee"),
        "{msg}"
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
        assert!(
            err.to_string().contains("kubeproxy.config.k8s.io/v1alpha1"),
            "{err}"
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
        (
            "iptables:\n  syncPeriod: 30\n",
            "iptables.syncPeriod: \"30\" is missing a unit",
        ),
        (
            "ipvs:\n  udpTimeout: soon\n",
            "ipvs.udpTimeout: \"soon\" is not a duration",
        ),
        (
            "mode: nftables\n",
            "mode: \"nftables\" is not a mode kproxy implements",
        ),
        ("clusterCIDR: 10.0.0.0/33\n", "clusterCIDR"),
        ("clusterCIDR: fd00::/48\n", "no IPv4 CIDR"),
        (
            "nodePortAddresses: [primary]\n",
            "\"primary\" is not supported",
        ),
        ("healthzBindAddress: nowhere:1\n", "healthzBindAddress"),
        (
            "iptables:\n  masqueradeAll: maybe\n",
            "iptables.masqueradeAll: invalid type",
        ),
        ("iptables: [1, 2]\n", "iptables"),
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
        &["--proxy-mode=nftables"],
        &["--sync-period=30"],
        &["--min-sync-period=-1s"],
        &["--cluster-cidr=banana"],
        &["--nodeport-addresses=primary"],
        &["--healthz-bind-address=:::"],
        &["--no-such-flag"],
    ] {
        let err = with_flags(flags).unwrap_err();
        assert!(matches!(err, ConfigError::Args(_)), "{flags:?}: {err}");
    }
}

#[test]
fn cross_field_validation() {
    for (flags, needle) in [
        (
            &["--min-sync-period=1m"][..],
            "--min-sync-period / iptables.minSyncPeriod (1m0s) must not be longer than --sync-period / iptables.syncPeriod (30s)",
        ),
        (
            &["--sync-period=0s", "--min-sync-period=0s"],
            "--sync-period / iptables.syncPeriod must be greater than 0",
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
    // IPVS settings are not checked in iptables mode.
    assert!(with_flags(&["--ipvs-scheduler=fastest"]).is_ok());
}

#[test]
fn missing_file_is_a_read_error() {
    let err = with_flags(&["--config=/nonexistent/kproxy.yaml"]).unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/kproxy.yaml"));
}

#[test]
fn help_describes_every_flag() {
    let ConfigError::Args(err) = with_flags(&["--help"]).unwrap_err() else {
        panic!("--help should be a clap error to exit with");
    };
    let help = err.to_string();
    for flag in [
        "--proxy-mode",
        "--config",
        "--hostname-override",
        "--cluster-cidr",
        "--nodeport-addresses",
        "--masquerade-all",
        "--iptables-masquerade-bit",
        "--sync-period",
        "iptables-sync-period",
        "--min-sync-period",
        "iptables-min-sync-period",
        "--ipvs-scheduler",
        "--ipvs-sync-period",
        "--ipvs-min-sync-period",
        "--ipvs-strict-arp",
        "--ipvs-exclude-cidrs",
        "--ipvs-tcp-timeout",
        "--ipvs-tcpfin-timeout",
        "--ipvs-udp-timeout",
        "--healthz-bind-address",
        "--metrics-bind-address",
        "--kubeconfig",
        "--master",
        "--cleanup",
        "--manifests",
        "--netns",
        "--once",
        "--dry-run",
        "[default: 30s]",
        "[default: 0.0.0.0:10256]",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
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
