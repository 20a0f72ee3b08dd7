//! `sync_set` against an in-memory fake that behaves like the kernel for the few
//! operations it uses (the kernel tests in tests/ipset.rs run it for real).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::*;
use crate::model::Protocol;
use crate::testing::ipset::FakeIpset as Fake;

fn svc(last: u8, port: u16) -> Entry {
    Entry::IpPort {
        ip: Ipv4Addr::new(10, 96, 0, last),
        proto: Protocol::Tcp,
        port,
    }
}

fn set(entries: &[Entry]) -> BTreeSet<Entry> {
    entries.iter().copied().collect()
}

const NAME: &str = "KUBE-CLUSTER-IP";

#[test]
fn creates_a_missing_set_and_fills_it() {
    let mut fake = Fake::default();
    let desired = set(&[svc(1, 443), svc(10, 53)]);
    let changes = sync_set(&mut fake, NAME, &SetType::HashIpPort, &desired).unwrap();
    assert_eq!(
        changes,
        SetChanges {
            created: true,
            added: 2,
            requests: 3,
            ..SetChanges::default()
        }
    );
    assert_eq!(changes.operations(), 3);
    assert_eq!(fake.sets[NAME].entries, desired);
}

#[test]
fn deletes_extra_entries_before_adding_missing_ones() {
    let mut fake = Fake::default().with(
        NAME,
        SetType::HashIpPort,
        &[svc(1, 443), svc(2, 80), svc(3, 80)],
    );
    let desired = set(&[svc(1, 443), svc(4, 80)]);
    let changes = sync_set(&mut fake, NAME, &SetType::HashIpPort, &desired).unwrap();
    assert_eq!(
        (changes.added, changes.deleted, changes.requests),
        (1, 2, 3)
    );
    assert_eq!(
        fake.calls,
        [
            format!("list {NAME}"),
            format!("del {NAME} 2"),
            format!("add {NAME} 1")
        ]
    );
    assert_eq!(fake.sets[NAME].entries, desired);
}

#[test]
fn an_up_to_date_set_costs_one_list() {
    let entries = [svc(1, 443)];
    let mut fake = Fake::default().with(NAME, SetType::HashIpPort, &entries);
    let changes = sync_set(&mut fake, NAME, &SetType::HashIpPort, &set(&entries)).unwrap();
    assert!(!changes.changed());
    assert_eq!(changes.requests, 1);
}

#[test]
fn a_set_of_another_type_is_replaced_when_unused() {
    let mut fake = Fake::default().with(
        NAME,
        SetType::HashIp,
        &[Entry::Ip(Ipv4Addr::new(1, 1, 1, 1))],
    );
    let desired = set(&[svc(1, 443)]);
    let changes = sync_set(&mut fake, NAME, &SetType::HashIpPort, &desired).unwrap();
    assert!(changes.recreated);
    assert_eq!(fake.sets[NAME].set_type, SetType::HashIpPort);
    assert_eq!(fake.sets[NAME].entries, desired);
}

#[test]
fn a_set_of_another_type_in_use_is_an_error_naming_it() {
    let mut fake = Fake::default().with(NAME, SetType::BitmapPort { from: 0, to: 1000 }, &[]);
    fake.sets.get_mut(NAME).unwrap().references = 1;
    let err = sync_set(
        &mut fake,
        NAME,
        &SetType::ALL_PORTS,
        &set(&[Entry::Port(30080)]),
    )
    .unwrap_err();
    assert!(matches!(err, IpsetError::TypeMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(NAME) && text.contains("range 0-1000"),
        "{text}"
    );
}

#[test]
fn foreign_members_are_flushed() {
    let mut fake = Fake::default().with(NAME, SetType::HashIpPort, &[svc(1, 443)]);
    fake.sets.get_mut(NAME).unwrap().foreign_entries = 1;
    let changes = sync_set(&mut fake, NAME, &SetType::HashIpPort, &set(&[svc(1, 443)])).unwrap();
    assert!(changes.flushed);
    assert_eq!(changes.added, 1);
    assert_eq!(fake.sets[NAME].foreign_entries, 0);
}

#[test]
fn entries_that_do_not_fit_are_refused_before_any_call() {
    let mut fake = Fake::default();
    let err = sync_set(
        &mut fake,
        NAME,
        &SetType::HashIpPort,
        &set(&[Entry::Port(80)]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("entry 80 does not fit"), "{err}");
    assert!(fake.calls.is_empty());
}

#[test]
fn nets_are_compared_as_the_kernel_stores_them() {
    let stored = Entry::Net("10.0.0.0/8".parse().unwrap());
    let mut fake = Fake::default().with("nets", SetType::HashNet, &[stored]);
    let desired = set(&[Entry::Net("10.1.2.3/8".parse().unwrap())]);
    let changes = sync_set(&mut fake, "nets", &SetType::HashNet, &desired).unwrap();
    assert!(!changes.changed());
}

#[test]
fn diff_is_exact() {
    let d = diff(&set(&[svc(1, 1), svc(2, 2)]), &set(&[svc(2, 2), svc(3, 3)]));
    assert_eq!(d.del, [svc(1, 1)]);
    assert_eq!(d.add, [svc(3, 3)]);
}
