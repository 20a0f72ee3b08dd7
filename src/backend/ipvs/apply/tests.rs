use std::net::Ipv4Addr;

use super::*;
use crate::backend::ipvs::compile::DesiredVs;
use crate::backend::ipvs::diff::{ActualVs, wanted_dest};
use crate::backend::ipvs::netlink::VirtualService;
use crate::model::{Protocol, ServiceName, ServicePortName};
use crate::testing::ipvs::FakeIpvs;

fn key(last: u8) -> ServiceKey {
    ServiceKey::new(Protocol::Tcp, Ipv4Addr::new(10, 96, 0, last), 80)
}

fn ep(last: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 244, 1, last), 8080)
}

/// A destination as the kernel reports it.
fn dest(last: u8, weight: u32, active: u32, inactive: u32) -> RealServer {
    let mut d = wanted_dest(ep(last));
    d.weight = weight;
    d.active_conns = active;
    d.inactive_conns = inactive;
    d
}

#[test]
fn a_refused_service_skips_its_destinations_and_not_the_others() {
    let mut ipvs = FakeIpvs {
        refuse: [key(1)].into(),
        ..FakeIpvs::default()
    };
    let mut known = Known::new();
    let ops = vec![
        Op::AddService(VirtualService::new(key(1), "mh")),
        Op::AddDest(key(1), wanted_dest(ep(2))),
        Op::AddService(VirtualService::new(key(2), "rr")),
        Op::AddDest(key(2), wanted_dest(ep(3))),
    ];
    let applied = apply_ops(&mut ipvs, &mut known, ops);
    assert_eq!(applied.written, 2);
    assert_eq!(applied.failed.len(), 1);
    assert_eq!(
        ipvs.sent,
        [
            "-A tcp/10.96.0.2:80 -s rr",
            "-a tcp/10.96.0.2:80 -r 10.244.1.3:8080 -w 1"
        ]
    );
    assert!(!known.contains_key(&key(1)));
    assert_eq!(known[&key(2)].dests.len(), 1);
}

#[test]
fn the_drain_check_deletes_idle_and_overdue_destinations_only() {
    let timeout = Duration::from_secs(900);
    let start = Instant::now();
    let kernel = vec![
        dest(1, 1, 0, 0), // wanted
        dest(2, 0, 0, 0), // drained: delete
        dest(3, 0, 1, 0), // busy: keep
        dest(4, 0, 0, 3), // busy (inactive) but draining for too long: delete
        dest(6, 1, 0, 0), // weight given back by hand: not ours to delete
    ];
    let mut ipvs = FakeIpvs::default();
    ipvs.insert(VirtualService::new(key(1), "rr"), kernel.clone());
    let mut known = Known::new();
    known.insert(
        key(1),
        ActualVs::new(
            VirtualService::new(key(1), "rr"),
            kernel.into_iter().chain([dest(5, 0, 1, 0)]), // 5: deleted by someone else
        ),
    );
    let desired = Desired {
        virtual_servers: [(
            key(1),
            std::sync::Arc::new(DesiredVs {
                service: VirtualService::new(key(1), "rr"),
                dests: [ep(1)].into(),
                port_name: ServicePortName {
                    service: ServiceName::new("demo", "web"),
                    port: String::new(),
                    protocol: Protocol::Tcp,
                },
            }),
        )]
        .into(),
        ..Desired::default()
    };
    let mut draining = Draining::default();
    draining.refresh([key(1)], &known, &desired, start);
    assert_eq!(draining.len(), 5);
    // Destination 4 started draining long ago.
    draining
        .since
        .get_mut(&key(1))
        .unwrap()
        .insert(ep(4), start - timeout);

    let written = draining
        .check(&mut ipvs, &mut known, timeout, start)
        .unwrap();
    assert_eq!(written, 2);
    assert_eq!(
        ipvs.sent,
        [
            "-d tcp/10.96.0.1:80 -r 10.244.1.2:8080",
            "-d tcp/10.96.0.1:80 -r 10.244.1.4:8080"
        ]
    );
    let left: Vec<SocketAddrV4> = draining.since[&key(1)].keys().copied().collect();
    assert_eq!(left, [ep(3)], "only the busy destination still drains");
    let known_dests: Vec<SocketAddrV4> = known[&key(1)].dests.keys().copied().collect();
    assert_eq!(known_dests, [ep(1), ep(3), ep(6)]);

    // Once its connection ends, the last one goes too, and nothing is left to check.
    ipvs.dest_mut(&key(1), ep(3)).active_conns = 0;
    let later = start + Duration::from_secs(5);
    assert_eq!(
        draining
            .check(&mut ipvs, &mut known, timeout, later)
            .unwrap(),
        1
    );
    assert!(draining.is_empty());
}

#[test]
fn refresh_keeps_the_start_of_a_drain() {
    let known: Known = [(
        key(1),
        ActualVs::new(VirtualService::new(key(1), "rr"), [dest(2, 0, 1, 0)]),
    )]
    .into();
    let desired = Desired::default();
    let mut draining = Draining::default();
    let t0 = Instant::now();
    draining.refresh([key(1)], &known, &desired, t0);
    draining.refresh([key(1)], &known, &desired, t0 + Duration::from_secs(60));
    assert_eq!(draining.since[&key(1)][&ep(2)], t0);
    // UDP destinations never drain.
    let udp = ServiceKey::new(Protocol::Udp, Ipv4Addr::new(10, 96, 0, 1), 53);
    let known: Known = [(
        udp,
        ActualVs::new(VirtualService::new(udp, "rr"), [dest(2, 1, 0, 0)]),
    )]
    .into();
    let mut draining = Draining::default();
    draining.refresh([udp], &known, &desired, t0);
    assert!(draining.is_empty());
}
