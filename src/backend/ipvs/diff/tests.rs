use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::*;
use crate::model::{ServiceName, ServicePortName};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

fn key(protocol: Protocol) -> ServiceKey {
    ServiceKey::new(protocol, VIP, 80)
}

fn ep(last: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 244, 1, last), 8080)
}

fn desired(protocol: Protocol, scheduler: &str, eps: &[u8]) -> DesiredVs {
    DesiredVs {
        service: VirtualService::new(key(protocol), scheduler),
        dests: eps.iter().map(|e| ep(*e)).collect::<BTreeSet<_>>(),
        port_name: ServicePortName {
            service: ServiceName::new("demo", "web"),
            port: "http".into(),
            protocol,
        },
    }
}

/// A kernel destination: (last octet, weight, active, inactive).
fn actual(protocol: Protocol, scheduler: &str, dests: &[(u8, u32, u32, u32)]) -> ActualVs {
    ActualVs::new(
        VirtualService::new(key(protocol), scheduler),
        dests.iter().map(|(last, weight, active, inactive)| {
            let mut rs = wanted_dest(ep(*last));
            rs.weight = *weight;
            rs.active_conns = *active;
            rs.inactive_conns = *inactive;
            rs
        }),
    )
}

fn ops(d: Option<&DesiredVs>, a: Option<&ActualVs>, counts: Counts) -> Vec<String> {
    let mut out = Vec::new();
    diff_vs(d, a, counts, &mut out);
    out.iter().map(ToString::to_string).collect()
}

#[test]
fn operations_per_case() {
    use Protocol::{Tcp, Udp};
    let d = |p, s, e: &[u8]| Some(desired(p, s, e));
    let a = |p, s, x: &[(u8, u32, u32, u32)]| Some(actual(p, s, x));
    #[rustfmt::skip]
    type Case = (&'static str, Option<DesiredVs>, Option<ActualVs>, Counts, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (
            "unchanged: nothing",
            d(Tcp, "rr", &[1, 2]),
            a(Tcp, "rr", &[(1, 1, 5, 0), (2, 1, 0, 0)]),
            Counts::Fresh,
            vec![],
        ),
        (
            "new service: add it and its dests",
            d(Tcp, "rr", &[1, 2]),
            None,
            Counts::Fresh,
            vec![
                "-A tcp/10.96.0.10:80 -s rr",
                "-a tcp/10.96.0.10:80 -r 10.244.1.1:8080 -w 1",
                "-a tcp/10.96.0.10:80 -r 10.244.1.2:8080 -w 1",
            ],
        ),
        (
            "gone service: delete it",
            None,
            a(Tcp, "rr", &[(1, 1, 3, 0)]),
            Counts::Fresh,
            vec!["-D tcp/10.96.0.10:80"],
        ),
        (
            "scheduler changed: update in place",
            d(Tcp, "lc", &[1]),
            a(Tcp, "rr", &[(1, 1, 0, 0)]),
            Counts::Fresh,
            vec!["-E tcp/10.96.0.10:80 -s lc"],
        ),
        (
            "one endpoint added: one op",
            d(Tcp, "rr", &[1, 2]),
            a(Tcp, "rr", &[(1, 1, 0, 0)]),
            Counts::Stale,
            vec!["-a tcp/10.96.0.10:80 -r 10.244.1.2:8080 -w 1"],
        ),
        (
            "removed idle tcp dest, fresh counts: delete",
            d(Tcp, "rr", &[1]),
            a(Tcp, "rr", &[(1, 1, 0, 0), (2, 1, 0, 0)]),
            Counts::Fresh,
            vec!["-d tcp/10.96.0.10:80 -r 10.244.1.2:8080"],
        ),
        (
            "removed busy tcp dest: weight 0",
            d(Tcp, "rr", &[1]),
            a(Tcp, "rr", &[(1, 1, 0, 0), (2, 1, 1, 0)]),
            Counts::Fresh,
            vec!["-e tcp/10.96.0.10:80 -r 10.244.1.2:8080 -w 0"],
        ),
        (
            "removed tcp dest, stale counts: weight 0",
            d(Tcp, "rr", &[1]),
            a(Tcp, "rr", &[(1, 1, 0, 0), (2, 1, 0, 0)]),
            Counts::Stale,
            vec!["-e tcp/10.96.0.10:80 -r 10.244.1.2:8080 -w 0"],
        ),
        (
            "draining dest still busy: left alone",
            d(Tcp, "rr", &[1]),
            a(Tcp, "rr", &[(1, 1, 0, 0), (2, 0, 0, 2)]),
            Counts::Fresh,
            vec![],
        ),
        (
            "draining dest found idle (e.g. after a restart): delete",
            d(Tcp, "rr", &[1]),
            a(Tcp, "rr", &[(1, 1, 0, 0), (2, 0, 0, 0)]),
            Counts::Fresh,
            vec!["-d tcp/10.96.0.10:80 -r 10.244.1.2:8080"],
        ),
        (
            "draining dest wanted again: weight back to 1",
            d(Tcp, "rr", &[1, 2]),
            a(Tcp, "rr", &[(1, 1, 0, 0), (2, 0, 1, 0)]),
            Counts::Fresh,
            vec!["-e tcp/10.96.0.10:80 -r 10.244.1.2:8080 -w 1"],
        ),
        (
            "weight changed by hand: repaired",
            d(Tcp, "rr", &[1]),
            a(Tcp, "rr", &[(1, 5, 0, 0)]),
            Counts::Fresh,
            vec!["-e tcp/10.96.0.10:80 -r 10.244.1.1:8080 -w 1"],
        ),
        (
            "removed udp dest: deleted at once",
            d(Udp, "rr", &[1]),
            a(Udp, "rr", &[(1, 1, 0, 0), (2, 1, 0, 9)]),
            Counts::Stale,
            vec!["-d udp/10.96.0.10:80 -r 10.244.1.2:8080"],
        ),
    ];
    for (name, d, a, counts, want) in cases {
        assert_eq!(ops(d.as_ref(), a.as_ref(), counts), want, "{name}");
    }
}

#[test]
fn recording_the_operations_gives_the_desired_state() {
    let d = desired(Protocol::Tcp, "lc", &[1, 3]);
    let mut known = Known::new();
    known.insert(
        key(Protocol::Tcp),
        actual(
            Protocol::Tcp,
            "rr",
            &[(1, 1, 0, 0), (2, 1, 0, 0), (3, 0, 4, 0)],
        ),
    );
    let mut out = Vec::new();
    diff_vs(
        Some(&d),
        known.get(&key(Protocol::Tcp)),
        Counts::Fresh,
        &mut out,
    );
    for op in &out {
        record(&mut known, op);
    }
    let after = &known[&key(Protocol::Tcp)];
    assert_eq!(after.service.scheduler, "lc");
    let weights: Vec<(SocketAddrV4, u32)> =
        after.dests.iter().map(|(a, d)| (*a, d.weight)).collect();
    assert_eq!(weights, vec![(ep(1), 1), (ep(3), 1)]);
    // Counters of a kept destination survive an update.
    assert_eq!(after.dests[&ep(3)].active_conns, 4);
    let mut again = Vec::new();
    diff_vs(Some(&d), Some(after), Counts::Stale, &mut again);
    assert!(again.is_empty(), "{again:?}");

    record(&mut known, &Op::DeleteService(key(Protocol::Tcp)));
    assert!(known.is_empty());
}
