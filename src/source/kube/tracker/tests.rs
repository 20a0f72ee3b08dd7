use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;
use crate::model::Protocol;

fn svc(name: &str, cluster_ip: &str) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some(cluster_ip.into()),
            ports: Some(vec![ServicePort {
                port: 80,
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn model(name: &str, ip: [u8; 4]) -> model::Service {
    model::Service::new("ns", name, Ipv4Addr::from(ip)).with_port("", 80, Protocol::Tcp, None)
}

fn updated(name: &str, ip: [u8; 4]) -> Change {
    Change::service(model(name, ip))
}

fn deleted(name: &str) -> Change {
    Change::ServiceDeleted(ServiceName::new("ns", name))
}

fn sorted(mut changes: Vec<Change>) -> Vec<Change> {
    changes.sort_by_key(|c| format!("{c:?}"));
    changes
}

#[test]
fn initial_list_is_reported_only_when_complete() {
    let m = Metrics::new();
    let mut t = Tracker::<Services>::default();
    assert!(t.handle(Event::Init, &m).is_empty());
    assert!(
        t.handle(Event::InitApply(svc("a", "10.96.0.1")), &m)
            .is_empty()
    );
    assert!(
        t.handle(Event::InitApply(svc("b", "10.96.0.2")), &m)
            .is_empty()
    );
    assert!(!t.listed());
    let changes = sorted(t.handle(Event::InitDone, &m));
    assert_eq!(
        changes,
        [updated("a", [10, 96, 0, 1]), updated("b", [10, 96, 0, 2])]
    );
    assert!(t.listed());
}

#[test]
fn relist_reports_only_differences_including_deletions() {
    let m = Metrics::new();
    let mut t = Tracker::<Services>::default();
    t.handle(Event::Init, &m);
    t.handle(Event::InitApply(svc("a", "10.96.0.1")), &m);
    t.handle(Event::InitApply(svc("b", "10.96.0.2")), &m);
    t.handle(Event::InitApply(svc("c", "10.96.0.3")), &m);
    t.handle(Event::InitDone, &m);

    t.handle(Event::Init, &m);
    t.handle(Event::InitApply(svc("b", "10.96.0.2")), &m);
    t.handle(Event::InitApply(svc("c", "10.96.0.33")), &m);
    let changes = t.handle(Event::InitDone, &m);
    assert_eq!(changes, [updated("c", [10, 96, 0, 33]), deleted("a")]);
}

#[test]
fn watch_events_report_changes_once() {
    let m = Metrics::new();
    let mut t = Tracker::<Services>::default();
    let a = svc("a", "10.96.0.1");
    assert_eq!(
        t.handle(Event::Apply(a.clone()), &m),
        [updated("a", [10, 96, 0, 1])]
    );
    assert!(
        t.handle(Event::Apply(a.clone()), &m).is_empty(),
        "no-op update"
    );
    assert_eq!(t.handle(Event::Delete(a.clone()), &m), [deleted("a")]);
    assert!(t.handle(Event::Delete(a), &m).is_empty(), "unknown object");
}

#[test]
fn invalid_update_withdraws_the_old_object_and_is_counted() {
    let m = Metrics::new();
    let mut t = Tracker::<Services>::default();
    t.handle(Event::Apply(svc("a", "10.96.0.1")), &m);
    assert_eq!(
        t.handle(Event::Apply(svc("a", "not-an-ip")), &m),
        [deleted("a")]
    );
    assert_eq!(m.rejected("Service", "invalid_cluster_ip"), 1);
    assert!(t.handle(Event::Apply(svc("b", "bad")), &m).is_empty());
    assert_eq!(m.rejected("Service", "invalid_cluster_ip"), 2);
    // A rejected object in a relist is skipped without blocking the others.
    t.handle(Event::Init, &m);
    t.handle(Event::InitApply(svc("b", "bad")), &m);
    t.handle(Event::InitApply(svc("c", "10.96.0.3")), &m);
    assert_eq!(
        t.handle(Event::InitDone, &m),
        [updated("c", [10, 96, 0, 3])]
    );
}

#[test]
fn ignored_objects_are_neither_reported_nor_counted() {
    let m = Metrics::new();
    let mut t = Tracker::<Services>::default();
    t.handle(Event::Apply(svc("a", "10.96.0.1")), &m);
    // Turned headless: withdrawn, but not a rejection.
    assert_eq!(t.handle(Event::Apply(svc("a", "None")), &m), [deleted("a")]);
    assert!(t.handle(Event::Apply(svc("h", "None")), &m).is_empty());
    assert!(!m.encode().contains("reason="), "{}", m.encode());
}
