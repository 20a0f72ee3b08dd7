//! kproxy's IPVS netlink client against a real kernel, cross-checked with ipvsadm. Each
//! test works in its own network namespace. On a kernel without IPVS every test skips;
//! tests/vm/run-ipvs-tests.sh runs them in a VM whose kernel has it.

mod ipvs;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ipvs::ipvs_available;
use ipvs::ipvsadm::{View, from_client, ipvsadm, parse_list, parse_save, without_conns};
use ipvs::netns::{IpvsNetns as _, Netns};
use kproxy::backend::ipvs::handle::IpvsHandle;
use kproxy::backend::ipvs::netlink::{RealServer, ServiceKey, Timeouts, VirtualService};
use kproxy::model::Protocol;

// Address plan: services in 10.96.0.0/16, pods in 10.244.0.0/16.
const VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);
const DNS: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const API: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 20);

fn pod(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 1, n)
}

fn tcp(addr: Ipv4Addr, port: u16) -> ServiceKey {
    ServiceKey::new(Protocol::Tcp, addr, port)
}

fn udp(addr: Ipv4Addr, port: u16) -> ServiceKey {
    ServiceKey::new(Protocol::Udp, addr, port)
}

/// Everything the client sees: services (sorted) with their destinations (sorted).
fn dump(h: &mut IpvsHandle) -> Vec<(VirtualService, Vec<RealServer>)> {
    let mut services = h.services().expect("dump services");
    services.sort_by_key(|s| s.key());
    services
        .into_iter()
        .map(|svc| {
            let mut dests = h.destinations(&svc.key()).expect("dump destinations");
            dests.sort_by_key(|d| (d.addr, d.port));
            (svc, dests)
        })
        .collect()
}

/// Asserts that the client, `ipvsadm -Ln` and `ipvsadm -S -n` see the same state, and
/// returns it.
fn assert_views_agree(ns: &Netns, h: &mut IpvsHandle) -> View {
    let ours = from_client(&dump(h), true);
    let listed = parse_list(&ipvsadm(&ns.name, &["-Ln"]));
    let saved = parse_save(&ipvsadm(&ns.name, &["-S", "-n"]));
    assert_eq!(ours, listed, "client dump vs ipvsadm -Ln");
    assert_eq!(
        without_conns(ours.clone()),
        saved,
        "client dump vs ipvsadm -S -n"
    );
    ours
}

fn svc(key: ServiceKey, sched: &str) -> VirtualService {
    VirtualService::new(key, sched)
}

#[test]
fn services_and_destinations_round_trip_through_the_kernel() {
    if !ipvs_available() {
        return;
    }
    let ns = Netns::new("ipvs");
    let mut h = ns.handle();

    let mut dns = svc(udp(DNS, 53), "wrr");
    dns.persistent_timeout = Some(10800);
    for s in [
        svc(tcp(VIP, 443), "rr"),
        dns.clone(),
        svc(tcp(API, 6443), "lc"),
    ] {
        h.add_service(&s).unwrap();
    }
    for (key, n, port, weight) in [
        (tcp(VIP, 443), 2, 8443, 1),
        (tcp(VIP, 443), 3, 8443, 1),
        (udp(DNS, 53), 4, 53, 2),
        (udp(DNS, 53), 5, 53, 5),
        (tcp(API, 6443), 6, 6443, 1),
    ] {
        h.add_destination(&key, &RealServer::new(pod(n), port, weight))
            .unwrap();
    }

    let state = dump(&mut h);
    assert_eq!(state.len(), 3);
    let by_key = |k: ServiceKey| state.iter().find(|(s, _)| s.key() == k).unwrap();
    let (d, dests) = by_key(udp(DNS, 53));
    assert_eq!(d.scheduler, "wrr");
    assert_eq!(d.persistent_timeout, Some(10800));
    assert_eq!(
        dests.iter().map(|r| (r.addr, r.weight)).collect::<Vec<_>>(),
        [(pod(4), 2), (pod(5), 5)]
    );
    assert!(
        dests
            .iter()
            .all(|r| r.active_conns == 0 && r.inactive_conns == 0)
    );
    assert_eq!(by_key(tcp(API, 6443)).0.scheduler, "lc");
    assert_eq!(by_key(tcp(VIP, 443)).1.len(), 2);

    let view = assert_views_agree(&ns, &mut h);
    assert_eq!(view["udp/10.96.0.10:53"].persistent, Some(10800));
    assert_eq!(
        view["tcp/10.96.0.1:443"].dests["10.244.1.3:8443"].forward,
        "Masq"
    );
}

#[test]
fn updates_and_deletes_show_in_ipvsadm() {
    if !ipvs_available() {
        return;
    }
    let ns = Netns::new("ipvs");
    let mut h = ns.handle();
    let key = tcp(VIP, 80);
    h.add_service(&svc(key, "rr")).unwrap();
    for n in [2, 3, 4] {
        h.add_destination(&key, &RealServer::new(pod(n), 8080, 1))
            .unwrap();
    }

    h.update_destination(&key, &RealServer::new(pod(3), 8080, 7))
        .unwrap();
    h.delete_destination(&key, &RealServer::new(pod(4), 8080, 0))
        .unwrap();
    let mut changed = svc(key, "wrr");
    changed.persistent_timeout = Some(30);
    h.update_service(&changed).unwrap();

    let view = assert_views_agree(&ns, &mut h);
    let s = &view["tcp/10.96.0.1:80"];
    assert_eq!(s.scheduler, "wrr");
    assert_eq!(s.persistent, Some(30));
    let weights: Vec<_> = s
        .dests
        .iter()
        .map(|(a, d)| (a.as_str(), d.weight))
        .collect();
    assert_eq!(weights, [("10.244.1.2:8080", 1), ("10.244.1.3:8080", 7)]);

    // Persistence off again: the update sets the flags exactly, it does not merge them.
    h.update_service(&svc(key, "wrr")).unwrap();
    assert_eq!(
        assert_views_agree(&ns, &mut h)["tcp/10.96.0.1:80"].persistent,
        None
    );

    h.delete_service(&key).unwrap();
    assert!(h.services().unwrap().is_empty());
    assert!(parse_list(&ipvsadm(&ns.name, &["-Ln"])).is_empty());
}

#[test]
fn kernel_refusals_name_the_operation_and_object() {
    if !ipvs_available() {
        return;
    }
    let ns = Netns::new("ipvs");
    let mut h = ns.handle();
    let key = tcp(VIP, 443);
    h.add_service(&svc(key, "rr")).unwrap();

    let e = h.add_service(&svc(key, "rr")).unwrap_err();
    assert!(e.is_exists(), "{e}");
    assert_eq!(
        e.to_string(),
        "add service tcp/10.96.0.1:443: EEXIST: File exists"
    );

    let e = h
        .delete_destination(&key, &RealServer::new(pod(9), 80, 1))
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(
        e.to_string()
            .starts_with("delete destination 10.244.1.9:80 of tcp/10.96.0.1:443: ENOENT"),
        "{e}"
    );

    let e = h.delete_service(&tcp(VIP, 9)).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e.to_string().contains("tcp/10.96.0.1:9"), "{e}");

    let e = h
        .add_service(&svc(tcp(API, 1), "no-such-scheduler"))
        .unwrap_err();
    assert!(e.errno().is_some(), "{e}");
    assert!(
        e.to_string().starts_with("add service tcp/10.96.0.20:1:"),
        "{e}"
    );

    // A refused request leaves the handle usable and the kernel unchanged.
    assert_eq!(h.services().unwrap().len(), 1);
}

#[test]
fn timeouts_set_and_read_back() {
    if !ipvs_available() {
        return;
    }
    let ns = Netns::new("ipvs");
    let mut h = ns.handle();
    let t = Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    };
    h.set_timeouts(&t).unwrap();
    assert_eq!(h.timeouts().unwrap(), t);
    assert!(
        ipvsadm(&ns.name, &["-L", "--timeout"]).contains("900 120 300"),
        "ipvsadm sees the timeouts"
    );
    // A zero leaves that timeout unchanged.
    h.set_timeouts(&Timeouts {
        tcp: 0,
        tcp_fin: 0,
        udp: 45,
    })
    .unwrap();
    assert_eq!(h.timeouts().unwrap(), Timeouts { udp: 45, ..t });
}

#[test]
fn flush_removes_every_service() {
    if !ipvs_available() {
        return;
    }
    let ns = Netns::new("ipvs");
    let mut h = ns.handle();
    for port in [80, 443, 8080] {
        h.add_service(&svc(tcp(VIP, port), "rr")).unwrap();
        h.add_destination(&tcp(VIP, port), &RealServer::new(pod(2), port, 1))
            .unwrap();
    }
    assert_eq!(parse_list(&ipvsadm(&ns.name, &["-Ln"])).len(), 3);
    h.flush().unwrap();
    assert!(h.services().unwrap().is_empty());
    assert!(parse_list(&ipvsadm(&ns.name, &["-Ln"])).is_empty());
}

#[test]
fn every_change_is_one_netlink_operation() {
    if !ipvs_available() {
        return;
    }
    let ns = Netns::new("ipvs");
    let mut h = ns.handle();
    let start = h.operations();
    let key = tcp(VIP, 80);
    h.add_service(&svc(key, "rr")).unwrap();
    h.add_destination(&key, &RealServer::new(pod(2), 80, 1))
        .unwrap();
    h.update_destination(&key, &RealServer::new(pod(2), 80, 3))
        .unwrap();
    assert_eq!(h.operations() - start, 3);
    h.services().unwrap(); // a dump is one request however many replies it takes
    assert_eq!(h.operations() - start, 4);
    let _ = h.add_service(&svc(key, "rr")); // refused requests count too
    assert_eq!(h.operations() - start, 5);
}

#[test]
fn large_dumps_span_many_receives() {
    if !ipvs_available() {
        return;
    }
    let ns = Netns::new("ipvs");
    let mut h = ns.handle();
    // ~320 bytes per service message: 400 services need several dump rounds (one skb of
    // at most a few pages each).
    for i in 0..400u16 {
        let addr = Ipv4Addr::new(10, 96, (i / 250) as u8, (i % 250) as u8 + 1);
        h.add_service(&svc(tcp(addr, 80), "rr")).unwrap();
    }
    let key = tcp(VIP, 80);
    for n in 0..=250u8 {
        let addr = Ipv4Addr::new(10, 244, 2, n);
        h.add_destination(&key, &RealServer::new(addr, 8080, 1))
            .unwrap();
    }
    assert_eq!(h.services().unwrap().len(), 400);
    assert_eq!(h.destinations(&key).unwrap().len(), 251);
    let view = assert_views_agree(&ns, &mut h);
    assert_eq!(view.len(), 400);
}

#[test]
fn active_connections_are_counted() {
    if !ipvs_available() {
        return;
    }
    // Client namespace: the VIP on kube-ipvs0, a veth to the server namespace (the pod).
    let client = Netns::new("ipvs");
    let server = Netns::new("ipvs");
    let pod_ip = Ipv4Addr::new(10, 244, 9, 2);
    let veth = format!("kpv{}", std::process::id() % 100_000);
    client.exec(&[
        "ip",
        "link",
        "add",
        &veth,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &server.name,
    ]);
    client.exec(&["ip", "addr", "add", "10.244.9.1/24", "dev", &veth]);
    client.exec(&["ip", "link", "set", &veth, "up"]);
    client.exec(&["ip", "link", "add", "kube-ipvs0", "type", "dummy"]);
    client.exec(&["ip", "addr", "add", "10.96.0.1/32", "dev", "kube-ipvs0"]);
    client.exec(&["ip", "link", "set", "kube-ipvs0", "up"]);
    server.exec(&["ip", "addr", "add", "10.244.9.2/24", "dev", "eth0"]);
    server.exec(&["ip", "link", "set", "eth0", "up"]);
    // A local client's source address is the VIP itself: route the replies back.
    server.exec(&["ip", "route", "add", "10.96.0.0/16", "via", "10.244.9.1"]);

    let mut h = client.handle();
    let key = tcp(VIP, 80);
    h.add_service(&svc(key, "rr")).unwrap();
    h.add_destination(&key, &RealServer::new(pod_ip, 8080, 1))
        .unwrap();

    let _echo = server.spawn(&["socat", "TCP-LISTEN:8080,fork,reuseaddr", "EXEC:cat"]);
    // Wait (bounded) until the pod listens, probing it directly rather than via the VIP.
    let deadline = Instant::now() + Duration::from_secs(10);
    let pod_addr = SocketAddr::from((pod_ip, 8080));
    while client
        .run_in(move || TcpStream::connect_timeout(&pod_addr, Duration::from_secs(1)).is_err())
    {
        assert!(Instant::now() < deadline, "echo server never listened");
        std::thread::sleep(Duration::from_millis(50));
    }

    let vip_addr = SocketAddr::from((VIP, 80));
    let mut conn = client
        .run_in(move || TcpStream::connect_timeout(&vip_addr, Duration::from_secs(5)))
        .expect("connect through the VIP");
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(b"ping\n").unwrap();
    let mut echo = [0u8; 5];
    conn.read_exact(&mut echo).expect("echo through the VIP");
    assert_eq!(&echo, b"ping\n");

    // The connection is established and still open: the kernel counts it as active.
    let dests = h.destinations(&key).unwrap();
    assert_eq!(dests.len(), 1);
    assert_eq!(
        (dests[0].active_conns, dests[0].inactive_conns),
        (1, 0),
        "{dests:?}"
    );
    // Traffic counters reach the dump when the kernel's rate estimator next sums its
    // per-CPU counters (every 2 s): poll with a deadline.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = h.destinations(&key).unwrap()[0].stats.expect("stats");
        if stats.conns == 1 && stats.in_pkts >= 3 && stats.in_bytes > 0 {
            assert!(stats.out_pkts >= 2 && stats.out_bytes > 0, "{stats:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "counters never arrived: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let listed = parse_list(&ipvsadm(&client.name, &["-Ln"]));
    assert_eq!(
        listed["tcp/10.96.0.1:80"].dests["10.244.9.2:8080"].conns,
        Some((1, 0))
    );
    assert_eq!(from_client(&dump(&mut h), true), listed);
}
