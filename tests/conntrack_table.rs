//! The conntrack client against the real kernel, in a throwaway network namespace: the
//! entries are made with the `conntrack` tool, read back and deleted with kproxy's client,
//! and checked with the tool again. Needs root and conntrack-tools.

mod support;

use std::net::{IpAddr, Ipv4Addr};

use kproxy::conntrack::consts::{AF_INET, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use kproxy::conntrack::{ConntrackHandle, Entry};
use support::conntrack::conntrack_tests_possible;
use support::netns::Netns;

/// `conntrack -I` of a UDP/SCTP/TCP entry from 10.244.1.2:`sport` to `dst:dport`, answered
/// by `reply_src:rport`.
fn insert(
    ns: &Netns,
    proto: &str,
    sport: u16,
    (dst, dport): (&str, u16),
    (reply_src, rport): (&str, u16),
    extra: &[&str],
) {
    let (sport, dport, rport) = (sport.to_string(), dport.to_string(), rport.to_string());
    let mut args = vec![
        "conntrack",
        "-I",
        "-p",
        proto,
        "-s",
        "10.244.1.2",
        "-d",
        dst,
        "--sport",
        &sport,
        "--dport",
        &dport,
        "--reply-src",
        reply_src,
        "--reply-dst",
        "10.244.1.2",
        "--reply-port-src",
        &rport,
        "--reply-port-dst",
        &sport,
        "-t",
        "300",
    ];
    if proto == "sctp" {
        args.extend([
            "--orig-vtag",
            "1",
            "--reply-vtag",
            "2",
            "--state",
            "ESTABLISHED",
        ]);
    }
    if proto == "tcp" {
        args.extend(["--state", "ESTABLISHED"]);
    }
    args.extend_from_slice(extra);
    let out = ns.exec(&args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A UDP entry from 10.244.1.2:`sport` to the DNS service 10.96.0.10:53, answered by
/// `endpoint`:5353.
fn udp_to_dns(ns: &Netns, sport: u16, endpoint: &str, extra: &[&str]) {
    insert(
        ns,
        "udp",
        sport,
        ("10.96.0.10", 53),
        (endpoint, 5353),
        extra,
    );
}

/// The tool's listing of one protocol, one line per entry.
fn listed(ns: &Netns, proto: &str) -> Vec<String> {
    ns.exec_stdout(&["conntrack", "-L", "-p", proto])
        .lines()
        .map(str::to_string)
        .collect()
}

fn open(ns: &Netns) -> ConntrackHandle {
    ns.run_in(|| ConntrackHandle::new().expect("conntrack socket"))
}

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse::<Ipv4Addr>().unwrap())
}

#[test]
fn a_protocol_dump_returns_only_that_protocol() {
    if !conntrack_tests_possible(true) {
        return;
    }
    let ns = Netns::new("ct-dump");
    udp_to_dns(&ns, 40000, "10.244.1.5", &[]);
    udp_to_dns(&ns, 40000, "10.244.1.5", &["-w", "7"]);
    insert(
        &ns,
        "sctp",
        40000,
        ("10.96.0.11", 9000),
        ("10.244.1.6", 9000),
        &[],
    );
    insert(
        &ns,
        "tcp",
        40000,
        ("10.96.0.12", 80),
        ("10.244.1.7", 8080),
        &[],
    );
    let mut ct = open(&ns);

    let udp = ct.dump(AF_INET, IPPROTO_UDP).unwrap();
    assert_eq!(
        ct.kernel_filters(),
        Some(true),
        "this kernel filters dumps by protocol"
    );
    let mut zones: Vec<u16> = udp.entries.iter().map(|e| e.zone).collect();
    zones.sort();
    assert_eq!(zones, vec![0, 7]);
    for e in &udp.entries {
        assert_eq!((e.orig.dst, e.orig.dst_port), (v4("10.96.0.10"), 53));
        assert_eq!((e.reply.src, e.reply.src_port), (v4("10.244.1.5"), 5353));
        assert!(e.id.is_some());
    }
    let sctp = ct.dump(AF_INET, IPPROTO_SCTP).unwrap();
    assert_eq!(sctp.entries.len(), 1);
    assert_eq!(sctp.entries[0].reply.src, v4("10.244.1.6"));
    let tcp = ct.dump(AF_INET, IPPROTO_TCP).unwrap();
    assert_eq!(tcp.entries.len(), 1);
}

#[test]
fn deletes_remove_exactly_the_named_entries_in_every_zone() {
    if !conntrack_tests_possible(true) {
        return;
    }
    let ns = Netns::new("ct-delete");
    udp_to_dns(&ns, 40000, "10.244.1.5", &[]);
    udp_to_dns(&ns, 40000, "10.244.1.5", &["-w", "7"]);
    udp_to_dns(&ns, 40001, "10.244.1.6", &[]);
    insert(
        &ns,
        "sctp",
        40000,
        ("10.96.0.11", 9000),
        ("10.244.1.6", 9000),
        &[],
    );
    let mut ct = open(&ns);

    let to_pod5: Vec<Entry> = ct
        .dump(AF_INET, IPPROTO_UDP)
        .unwrap()
        .entries
        .into_iter()
        .filter(|e| e.reply.src == v4("10.244.1.5"))
        .collect();
    assert_eq!(to_pod5.len(), 2);
    let done = ct.delete_all(&to_pod5).unwrap();
    assert_eq!((done.deleted, done.missing), (2, 0));
    let left = listed(&ns, "udp");
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains("src=10.244.1.6"), "{left:?}");
    assert_eq!(listed(&ns, "sctp").len(), 1);

    // Deleting again finds nothing: missing, not an error.
    let again = ct.delete_all(&to_pod5).unwrap();
    assert_eq!((again.deleted, again.missing), (0, 2));
}

#[test]
fn a_delete_by_id_spares_a_newer_entry_with_the_same_tuple() {
    if !conntrack_tests_possible(true) {
        return;
    }
    let ns = Netns::new("ct-id");
    udp_to_dns(&ns, 40000, "10.244.1.5", &[]);
    let mut ct = open(&ns);
    let old = ct.dump(AF_INET, IPPROTO_UDP).unwrap().entries;
    let out = ns.exec(&["conntrack", "-D", "-p", "udp", "--orig-port-src", "40000"]);
    assert!(out.status.success());
    // The kernel's id hashes the entry's address: a filler takes the freed slot first, so
    // the newer entry is a different object, as it is after real traffic.
    udp_to_dns(&ns, 40009, "10.244.1.5", &[]);
    udp_to_dns(&ns, 40000, "10.244.1.6", &[]);
    let done = ct.delete_all(&old).unwrap();
    assert_eq!((done.deleted, done.missing), (0, 1));
    assert_eq!(listed(&ns, "udp").len(), 2);
}

#[test]
fn many_deletes_go_in_batches() {
    if !conntrack_tests_possible(true) {
        return;
    }
    let ns = Netns::new("ct-batch");
    // More entries than one batch holds (200).
    for sport in 30000..30450 {
        udp_to_dns(&ns, sport, "10.244.1.5", &[]);
    }
    let mut ct = open(&ns);
    let entries = ct.dump(AF_INET, IPPROTO_UDP).unwrap().entries;
    assert_eq!(entries.len(), 450);
    let done = ct.delete_all(&entries).unwrap();
    assert_eq!((done.deleted, done.missing), (450, 0));
    assert!(listed(&ns, "udp").is_empty());
}
