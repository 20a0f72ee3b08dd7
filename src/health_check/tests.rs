//! The publisher and the listeners together, over loopback TCP (as the HTTP servers'
//! own tests): ports open and close with services, answers follow the endpoints, a busy
//! port is retried until it can be had.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::health::ProxyHealth;
use crate::model::{
    Change, Conditions, EndpointSlice, HealthCheckNodePort, Protocol, Service, TrafficPolicy,
};

const NODE: &str = "node-a";
const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind((LOOPBACK, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn lb(hcnp: HealthCheckNodePort) -> Service {
    let mut svc = Service::new("ns", "web", Ipv4Addr::new(10, 96, 0, 1)).with_port(
        "http",
        80,
        Protocol::Tcp,
        Some(30080),
    );
    svc.external_traffic_policy = TrafficPolicy::Local;
    svc.health_check_node_port = Some(hcnp);
    svc
}

fn endpoints_on(svc: &Service, node: &str) -> EndpointSlice {
    EndpointSlice::new(&svc.name, "web-1")
        .with_port("http", 8080, Protocol::Tcp)
        .with_endpoint(Ipv4Addr::new(10, 244, 0, 1), Some(node), Conditions::READY)
}

/// `(status, body)` of a GET, or `None` when nothing listens.
async fn get(port: u16) -> Option<(u16, String)> {
    let mut s = TcpStream::connect((LOOPBACK, port)).await.ok()?;
    s.write_all(b"GET /anything HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .ok()?
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Polls `get(port)` until `want` holds for its answer, for up to 10 s.
async fn until(port: u16, want: impl Fn(&Option<(u16, String)>) -> bool) -> Option<(u16, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = get(port).await;
        if want(&answer) || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn ports_follow_services_and_answers_follow_endpoints() {
    let port = free_port();
    let metrics = Metrics::new();
    let (mut publisher, rx) = channel(&metrics);
    let health = ProxyHealth::new(Duration::from_secs(60));
    let servers = tokio::spawn(Servers::new(vec![LOOPBACK], health).run(rx));

    let svc = lb(HealthCheckNodePort::Port(port));
    let mut state = ProxyState::new(NODE);
    state.apply(Change::service(svc.clone()));
    state.apply(Change::slice(endpoints_on(&svc, "node-b")));
    publisher.after_sync(&state, true);
    let (status, body) = until(port, Option::is_some).await.expect("the port opens");
    assert_eq!(status, 503, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["service"]["namespace"], "ns");
    assert_eq!(json["localEndpoints"], 0);

    // The endpoint moves to this node: same listener, new answer.
    state.apply(Change::slice(endpoints_on(&svc, NODE)));
    publisher.after_sync(&state, false);
    let answer = until(port, |a| a.as_ref().is_some_and(|(s, _)| *s == 200)).await;
    assert_eq!(answer.map(|(s, _)| s), Some(200));

    state.apply(Change::ServiceDeleted(svc.name.clone()));
    publisher.after_sync(&state, false);
    assert!(
        until(port, Option::is_none).await.is_none(),
        "the port closes"
    );

    drop(publisher);
    tokio::time::timeout(Duration::from_secs(5), servers)
        .await
        .expect("the servers stop when the publisher goes")
        .unwrap();
}

#[tokio::test]
async fn a_busy_port_is_retried_until_it_is_free() {
    let busy = std::net::TcpListener::bind((LOOPBACK, 0)).unwrap();
    let port = busy.local_addr().unwrap().port();
    let (mut publisher, rx) = channel(&Metrics::new());
    let _servers = tokio::spawn(
        Servers::new(vec![LOOPBACK], ProxyHealth::new(Duration::from_secs(60))).run(rx),
    );
    let mut state = ProxyState::new(NODE);
    state.apply(Change::service(lb(HealthCheckNodePort::Port(port))));
    publisher.after_sync(&state, true);
    // Held by someone else: kproxy's server is not there (the holder never answers HTTP).
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(busy);
    let deadline = Instant::now() + RETRY + Duration::from_secs(10);
    let mut answer = None;
    while answer.is_none() && Instant::now() < deadline {
        answer = get(port).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer.map(|(s, _)| s), Some(503), "bound after the retry");
}

#[test]
fn each_invalid_or_duplicate_port_is_logged_and_counted_once() {
    let metrics = Metrics::new();
    let (mut publisher, rx) = channel(&metrics);
    let mut state = ProxyState::new(NODE);
    let mut bad = lb(HealthCheckNodePort::Invalid(0));
    bad.name = ServiceName::new("ns", "bad");
    let mut first = lb(HealthCheckNodePort::Port(32000));
    first.name = ServiceName::new("ns", "a");
    let mut second = lb(HealthCheckNodePort::Port(32000));
    second.name = ServiceName::new("ns", "b");
    // Each on its own address: two services on one would be one service to the state
    // (`model::claims`).
    for (i, mut svc) in [bad, first, second].into_iter().enumerate() {
        svc.cluster_ip = Ipv4Addr::new(10, 96, 1, i as u8);
        svc.ports[0].node_port = Some(30100 + i as u16);
        state.apply(Change::service(svc));
    }
    publisher.after_sync(&state, true);
    publisher.after_sync(&state, false);
    assert_eq!(metrics.rejected("Service", INVALID_REASON), 1);
    assert_eq!(metrics.rejected("Service", DUPLICATE_REASON), 1);
    assert_eq!(rx.borrow().keys().copied().collect::<Vec<_>>(), [32000]);
    // Fixed, then broken again: a new problem, logged again.
    let mut fixed = lb(HealthCheckNodePort::Port(32001));
    fixed.name = ServiceName::new("ns", "bad");
    state.apply(Change::service(fixed.clone()));
    publisher.after_sync(&state, false);
    fixed.health_check_node_port = Some(HealthCheckNodePort::Invalid(70000));
    state.apply(Change::service(fixed));
    publisher.after_sync(&state, false);
    assert_eq!(metrics.rejected("Service", INVALID_REASON), 2);
}
