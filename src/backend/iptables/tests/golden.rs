//! Golden rulesets for representative services, one file each under `golden/`, reviewed by
//! hand against kube-proxy's layout. `empty.txt` is the whole ruleset of an empty state;
//! every other file holds only the lines its case adds to that. Regenerate after an intended change with
//! `UPDATE_GOLDEN=1 cargo test --lib golden` and review the diff.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::fixtures::*;
use crate::backend::iptables::compile::{CompileOptions, compile};
use crate::model::{
    Conditions, EndpointSlice, HealthCheckNodePort, LocalTraffic, Protocol, ProxyState, Service,
    TrafficPolicy,
};

use TrafficPolicy::{Cluster, Local};

const READY: Conditions = Conditions::READY;

fn two_endpoints(svc: &Service) -> EndpointSlice {
    slice(
        svc,
        &[
            (local_pod(1), NODE, READY),
            (remote_pod(1), OTHER_NODE, READY),
        ],
    )
}

fn one(svc: Service) -> ProxyState {
    let eps = two_endpoints(&svc);
    state(&[svc], &[eps])
}

fn lb(mut svc: Service) -> Service {
    svc.load_balancer_ips = vec![Ipv4Addr::new(5, 6, 7, 8)];
    svc
}

fn cases() -> Vec<(&'static str, ProxyState, CompileOptions)> {
    let multi = Service::new("ns", "multi", svc_ip(42))
        .with_port("p80", 80, Protocol::Tcp, None)
        .with_port("p443", 443, Protocol::Tcp, None);
    let multi_slice = EndpointSlice::new(&multi.name, "multi-1")
        .with_port("p80", 8080, Protocol::Tcp)
        .with_port("p443", 8443, Protocol::Tcp)
        .with_endpoint(local_pod(2), Some(NODE), READY);
    let mut external = service("external", 43, None);
    external.external_ips = vec![Ipv4Addr::new(192, 168, 99, 11)];
    let mut no_eps = service("noeps", 44, Some(3004));
    no_eps.external_ips = vec![Ipv4Addr::new(192, 168, 99, 22)];
    let etp_remote = lb(with_policies(
        service("etpremote", 45, Some(3005)),
        Local,
        Cluster,
    ));
    let etp_remote_slice = slice(&etp_remote, &[(remote_pod(5), OTHER_NODE, READY)]);
    let terminating = service("terminating", 46, None);
    let terminating_slice = slice(
        &terminating,
        &[
            (local_pod(6), NODE, TERMINATING),
            (remote_pod(6), OTHER_NODE, NOT_SERVING),
        ],
    );
    let sctp =
        Service::new("ns", "sctp", svc_ip(47)).with_port("", 3868, Protocol::Sctp, Some(3007));
    let sctp_slice = EndpointSlice::new(&sctp.name, "sctp-1")
        .with_port("", 3868, Protocol::Sctp)
        .with_endpoint(remote_pod(7), Some(OTHER_NODE), READY);
    let mut health = lb(with_policies(
        service("health", 56, Some(3016)),
        Local,
        Cluster,
    ));
    health.health_check_node_port = Some(HealthCheckNodePort::Port(32000));
    let mut ranges = lb(service("ranges", 57, Some(3017)));
    ranges.load_balancer_source_ranges = vec![
        "192.168.0.0/24".parse().unwrap(),
        "203.0.113.0/25".parse().unwrap(),
    ];
    vec![
        ("empty", state(&[], &[]), options()),
        ("health_check_node_port", one(health), options()),
        ("source_ranges", one(ranges.clone()), options()),
        (
            "source_ranges_node_allowed",
            one(ranges),
            CompileOptions {
                node_ip: Some(NODE_IP),
                ..options()
            },
        ),
        ("cluster_ip", one(service("clusterip", 41, None)), options()),
        ("multi_port", state(&[multi], &[multi_slice]), options()),
        (
            "node_port",
            one(service("nodeport", 48, Some(3001))),
            options(),
        ),
        ("external_ip", one(external), options()),
        (
            "load_balancer",
            one(lb(service("lb", 49, Some(3009)))),
            options(),
        ),
        (
            "etp_local",
            one(lb(with_policies(
                service("etplocal", 50, Some(3010)),
                Local,
                Cluster,
            ))),
            options(),
        ),
        (
            "etp_local_no_local_endpoints",
            state(&[etp_remote], &[etp_remote_slice]),
            options(),
        ),
        (
            "itp_local",
            one(with_policies(service("itplocal", 51, None), Cluster, Local)),
            options(),
        ),
        (
            "affinity",
            one(with_affinity(service("affinity", 52, None), 3600)),
            options(),
        ),
        ("no_endpoints", state(&[no_eps], &[]), options()),
        (
            "terminating_only",
            state(&[terminating], &[terminating_slice]),
            options(),
        ),
        (
            "sctp_unnamed_port",
            state(&[sctp], &[sctp_slice]),
            options(),
        ),
        (
            "masquerade_all",
            one(service("masqall", 53, None)),
            CompileOptions {
                masquerade_all: true,
                ..options()
            },
        ),
        (
            "no_cluster_cidr",
            one(lb(with_policies(
                service("nocidr", 54, Some(3014)),
                Local,
                Cluster,
            ))),
            CompileOptions::default(),
        ),
        (
            "nodeport_addresses",
            one(service("npaddr", 55, Some(3015))),
            CompileOptions {
                nodeport_addresses: vec![
                    "192.168.0.0/24".parse().unwrap(),
                    "10.1.2.3/8".parse().unwrap(),
                ],
                masquerade_bit: 3,
                ..options()
            },
        ),
        (
            "localhost_node_ports",
            one(service("localhost", 56, Some(3016))),
            CompileOptions {
                localhost_node_ports: true,
                ..options()
            },
        ),
        (
            "detect_local_node_cidr",
            one(lb(with_policies(
                service("nodecidr", 57, Some(3017)),
                Local,
                Cluster,
            ))),
            CompileOptions {
                local_traffic: LocalTraffic::FromCidr("10.180.0.0/24".parse().unwrap()),
                ..options()
            },
        ),
        (
            "detect_local_bridge",
            one(lb(with_policies(
                service("bridge", 58, Some(3018)),
                Local,
                Cluster,
            ))),
            CompileOptions {
                local_traffic: LocalTraffic::FromInterface("cbr0".into()),
                ..options()
            },
        ),
        (
            "detect_local_prefix",
            one(lb(with_policies(
                service("prefix", 59, Some(3019)),
                Local,
                Cluster,
            ))),
            CompileOptions {
                local_traffic: LocalTraffic::FromInterfacePrefix("veth".into()),
                ..options()
            },
        ),
    ]
}

/// The lines of `full` that the empty state's ruleset does not have (keeping the table
/// headers), so each golden shows what its service adds.
fn without_skeleton(full: &str, skeleton: &str) -> String {
    let mut out = String::new();
    for line in full.lines() {
        let structural = line.starts_with('*') || line == "COMMIT";
        if structural || !skeleton.lines().any(|s| s == line) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/backend/iptables/tests/golden")
        .join(format!("{name}.txt"))
}

#[test]
fn golden_rulesets() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let skeleton = compile(&state(&[], &[]), &options()).to_restore_input();
    for (name, st, opts) in cases() {
        let full = compile(&st, &opts).to_restore_input();
        let got = if name == "empty" {
            full
        } else {
            without_skeleton(&full, &skeleton)
        };
        let path = golden_path(name);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            let diff: Vec<String> = want
                .lines()
                .filter(|l| !got.lines().any(|g| g == *l))
                .map(|l| format!("- {l}"))
                .chain(
                    got.lines()
                        .filter(|l| !want.lines().any(|w| w == *l))
                        .map(|l| format!("+ {l}")),
                )
                .collect();
            failures.push(format!("{name} ({}):\n{}", path.display(), diff.join("\n")));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatch (UPDATE_GOLDEN=1 to accept):\n{}",
        failures.join("\n\n")
    );
}
