use std::fs;
use std::path::Path;

use super::{Outcome, apply_under, conntrack_max, count_cpus, timeouts};
use crate::config::v1alpha1::{Conntrack, GoDuration};

/// kube-proxy's defaults, as the configuration's defaulting leaves them.
fn defaults() -> Conntrack {
    Conntrack {
        max_per_core: Some(32768),
        min: Some(131072),
        tcp_established_timeout: Some(GoDuration::secs(86400)),
        tcp_close_wait_timeout: Some(GoDuration::secs(3600)),
        tcp_be_liberal: false,
        udp_timeout: GoDuration::default(),
        udp_stream_timeout: GoDuration::default(),
    }
}

#[test]
fn the_limit_scales_with_cpus_between_the_floor_and_the_cap() {
    let c = defaults();
    assert_eq!(conntrack_max(&c, 2), Some(131072), "the floor");
    assert_eq!(conntrack_max(&c, 8), Some(262144));
    assert_eq!(conntrack_max(&c, 64), Some(1 << 20), "kube-proxy's cap");
    let off = Conntrack {
        max_per_core: Some(0),
        ..c.clone()
    };
    assert_eq!(conntrack_max(&off, 8), None);
    let unset = Conntrack {
        max_per_core: None,
        ..c
    };
    assert_eq!(conntrack_max(&unset, 8), None);
}

#[test]
fn zero_durations_and_false_liberal_are_left_alone() {
    let names: Vec<_> = timeouts(&defaults()).iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "nf_conntrack_tcp_timeout_established",
            "nf_conntrack_tcp_timeout_close_wait"
        ]
    );
    let all = Conntrack {
        tcp_be_liberal: true,
        udp_timeout: GoDuration::secs(45),
        udp_stream_timeout: GoDuration::secs(180),
        ..defaults()
    };
    let values: Vec<_> = timeouts(&all).iter().map(|s| (s.name, s.value)).collect();
    assert_eq!(
        values[2..],
        [
            ("nf_conntrack_tcp_be_liberal", 1),
            ("nf_conntrack_udp_timeout", 45),
            ("nf_conntrack_udp_timeout_stream", 180),
        ]
    );
}

/// A fake `/proc/sys` and `/sys` holding kernel defaults.
fn roots(dir: &Path, max: u64, hashsize: u64) {
    let nf = dir.join("proc/net/netfilter");
    fs::create_dir_all(&nf).unwrap();
    fs::write(nf.join("nf_conntrack_max"), format!("{max}\n")).unwrap();
    fs::write(nf.join("nf_conntrack_tcp_timeout_established"), "432000\n").unwrap();
    fs::write(nf.join("nf_conntrack_tcp_timeout_close_wait"), "3600\n").unwrap();
    let params = dir.join("sys/module/nf_conntrack/parameters");
    fs::create_dir_all(&params).unwrap();
    fs::write(params.join("hashsize"), format!("{hashsize}\n")).unwrap();
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn writes_what_differs_and_grows_the_hash_table_to_a_quarter() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    roots(d, 65536, 16384);
    let done = apply_under(&d.join("proc"), &d.join("sys"), &defaults(), 8);
    assert_eq!(read(d, "proc/net/netfilter/nf_conntrack_max"), "262144");
    assert_eq!(
        read(d, "sys/module/nf_conntrack/parameters/hashsize"),
        "65536"
    );
    assert_eq!(
        read(d, "proc/net/netfilter/nf_conntrack_tcp_timeout_established"),
        "86400"
    );
    let outcome = |name: &str| {
        done.iter()
            .find(|(p, _)| p.ends_with(name))
            .map(|(_, o)| format!("{o:?}"))
            .unwrap()
    };
    assert_eq!(outcome("nf_conntrack_tcp_timeout_close_wait"), "Unchanged");
    assert_eq!(outcome("nf_conntrack_max"), "Written");
}

#[test]
fn a_large_enough_hash_table_is_not_shrunk() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    roots(d, 131072, 262144);
    apply_under(&d.join("proc"), &d.join("sys"), &defaults(), 2);
    assert_eq!(
        read(d, "sys/module/nf_conntrack/parameters/hashsize"),
        "262144"
    );
}

#[test]
fn failures_are_reported_and_the_rest_still_applies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    roots(d, 65536, 16384);
    // nf_conntrack_max cannot be written (a directory stands in for a read-only file,
    // which root could still write in a temporary directory).
    let max = d.join("proc/net/netfilter/nf_conntrack_max");
    fs::remove_file(&max).unwrap();
    fs::create_dir(&max).unwrap();
    let done = apply_under(&d.join("proc"), &d.join("sys"), &defaults(), 8);
    assert!(matches!(done[0].1, Outcome::Failed(_)), "{done:?}");
    assert!(
        !done.iter().any(|(p, _)| p.ends_with("hashsize")),
        "no hash size without the limit, as kube-proxy"
    );
    assert_eq!(
        read(d, "proc/net/netfilter/nf_conntrack_tcp_timeout_established"),
        "86400"
    );
}

#[test]
fn cpu_lists_count_as_sysfs_writes_them() {
    assert_eq!(count_cpus("0-1\n"), Some(2));
    assert_eq!(count_cpus("0-3,6,8-9"), Some(7));
    assert_eq!(count_cpus("garbage"), None);
}
