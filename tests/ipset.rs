//! The ipset client against the real kernel, in throwaway network namespaces. Each
//! test opens its handle on a thread inside the namespace and then uses it from the
//! test thread: a netlink socket stays in the namespace it was created in. What the
//! client did is checked with the real `ipset save` and `iptables-restore`.

// Only the namespace helpers: the rest of tests/support needs the kproxy binary.
#[path = "support/netns.rs"]
#[allow(dead_code)]
mod netns;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use kproxy::ipset::{
    CreateOptions, Entry, IfPresent, IpsetError, IpsetHandle, KernelError, SetType, sync_set,
};
use kproxy::model::Protocol;
use kproxy::testing::kernel::Need;
use netns::{Netns, netns_available};

/// Root, iproute2, iptables and the `ipset` tool (used only to check).
fn possible() -> bool {
    netns_available(&[Need::Tool("ipset")])
}

fn handle_in(ns: &Netns) -> IpsetHandle {
    ns.run_in(IpsetHandle::new)
        .expect("opening an ipset handle in the namespace")
}

/// The sets of `ipset save` in the namespace: name → (type as ipset writes it, members).
fn saved(ns: &Netns) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut sets: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in ns.exec_stdout(&["ipset", "save"]).lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["create", name, type_name, rest @ ..] => {
                // Keep the parameters that define the type: a bitmap's range.
                let range = rest
                    .windows(2)
                    .find(|w| w[0] == "range")
                    .map(|w| format!(" range {}", w[1]));
                let set_type = format!("{type_name}{}", range.unwrap_or_default());
                sets.insert(name.to_string(), (set_type, BTreeSet::new()));
            }
            ["add", name, member] => {
                sets.get_mut(*name)
                    .expect("add after create")
                    .1
                    .insert(member.to_string());
            }
            _ => panic!("unexpected ipset save line {line:?}"),
        }
    }
    sets
}

/// The members of one set per `ipset save`, parsed into entries.
fn saved_entries(ns: &Netns, name: &str, set_type: &SetType) -> BTreeSet<Entry> {
    let sets = saved(ns);
    let (type_text, members) = sets
        .get(name)
        .unwrap_or_else(|| panic!("no set {name} in {sets:?}"));
    assert_eq!(type_text, &set_type.to_string());
    members
        .iter()
        .map(|m| Entry::parse(set_type, m).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn svc(last: u8, proto: Protocol, port: u16) -> Entry {
    Entry::IpPort {
        ip: Ipv4Addr::new(10, 96, 0, last),
        proto,
        port,
    }
}

fn entries(list: &[Entry]) -> BTreeSet<Entry> {
    list.iter().copied().collect()
}

/// Feeds `rules` to `iptables-restore ARGS` in the namespace; returns success and stderr.
fn iptables_restore(ns: &Netns, args: &[&str], rules: &str) -> (bool, String) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "iptables-restore"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning iptables-restore");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(rules.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn match_set_rule(set: &str) -> String {
    format!(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m set --match-set {set} dst,dst -j ACCEPT\nCOMMIT\n"
    )
}

#[test]
fn create_add_list_test_del_of_every_type() {
    if !possible() {
        return;
    }
    let ns = Netns::new("ipset-types");
    let mut h = handle_in(&ns);
    assert!(h.protocol() == 6 || h.protocol() == 7);
    let lb = Entry::IpPortIp {
        ip: Ipv4Addr::new(10, 244, 1, 5),
        proto: Protocol::Tcp,
        port: 8080,
        ip2: Ipv4Addr::new(10, 244, 1, 5),
    };
    let cases = [
        (
            "KUBE-CLUSTER-IP",
            SetType::HashIpPort,
            vec![
                svc(1, Protocol::Tcp, 443),
                svc(10, Protocol::Udp, 53),
                svc(11, Protocol::Sctp, 9000),
            ],
        ),
        ("KUBE-LOOP-BACK", SetType::HashIpPortIp, vec![lb]),
        (
            "KUBE-NODE-PORT-TCP",
            SetType::ALL_PORTS,
            vec![Entry::Port(30080), Entry::Port(0), Entry::Port(65535)],
        ),
        (
            "ips",
            SetType::HashIp,
            vec![Entry::Ip(Ipv4Addr::new(192, 168, 1, 1))],
        ),
        (
            "nets",
            SetType::HashNet,
            vec![
                Entry::Net("10.0.0.0/8".parse().unwrap()),
                Entry::Net("10.1.2.3/32".parse().unwrap()),
            ],
        ),
    ];
    for (name, set_type, members) in &cases {
        h.create(name, set_type).unwrap();
        for entry in members {
            h.add(name, entry).unwrap();
        }
    }
    for (name, set_type, members) in &cases {
        let expected = entries(members);
        assert_eq!(
            saved_entries(&ns, name, set_type),
            expected,
            "ipset save of {name}"
        );
        let listing = h.list(name).unwrap();
        assert_eq!(listing.set_type, Some(*set_type));
        assert_eq!(listing.entries, expected, "our listing of {name}");
        assert_eq!(listing.elements(), Some(members.len() as u32));
        assert!(listing.undecodable.is_empty());
        for entry in members {
            assert!(h.test(name, entry).unwrap(), "{entry} in {name}");
        }
    }
    let names: BTreeSet<String> = h.list_names().unwrap().into_iter().collect();
    let expected: BTreeSet<String> = cases.iter().map(|c| c.0.to_string()).collect();
    assert_eq!(names, expected);

    let gone = svc(10, Protocol::Udp, 53);
    h.del("KUBE-CLUSTER-IP", &gone).unwrap();
    assert!(!h.test("KUBE-CLUSTER-IP", &gone).unwrap());
    assert!(
        !h.test("KUBE-CLUSTER-IP", &svc(1, Protocol::Udp, 443))
            .unwrap(),
        "protocol counts"
    );
    let expected = entries(&[svc(1, Protocol::Tcp, 443), svc(11, Protocol::Sctp, 9000)]);
    assert_eq!(
        saved_entries(&ns, "KUBE-CLUSTER-IP", &SetType::HashIpPort),
        expected
    );
}

#[test]
fn sizing_options_reach_the_kernel() {
    if !possible() {
        return;
    }
    let ns = Netns::new("ipset-size");
    let mut h = handle_in(&ns);
    let options = CreateOptions {
        hash_size: Some(4096),
        max_elem: Some(131072),
    };
    h.create_with("big", &SetType::HashIpPort, &options, IfPresent::Fail)
        .unwrap();
    let save = ns.exec_stdout(&["ipset", "save", "big"]);
    assert!(save.contains("hashsize 4096 maxelem 131072"), "{save}");
    // Creating it again with -exist semantics is fine; without, it is an error.
    h.create_with("big", &SetType::HashIpPort, &options, IfPresent::Ignore)
        .unwrap();
    let err = h.create("big", &SetType::HashIpPort).unwrap_err();
    assert_eq!(err.kernel_error(), Some(KernelError::SetExists), "{err}");
}

#[test]
fn swap_replaces_contents_atomically_and_destroy_removes() {
    if !possible() {
        return;
    }
    let ns = Netns::new("ipset-swap");
    let mut h = handle_in(&ns);
    let live = [svc(1, Protocol::Tcp, 80)];
    let next = [svc(2, Protocol::Tcp, 80), svc(3, Protocol::Udp, 53)];
    h.create("KUBE-CLUSTER-IP", &SetType::HashIpPort).unwrap();
    h.add_all("KUBE-CLUSTER-IP", &live, IfPresent::Fail)
        .unwrap();
    h.create("KUBE-CLUSTER-IP-tmp", &SetType::HashIpPort)
        .unwrap();
    h.add_all("KUBE-CLUSTER-IP-tmp", &next, IfPresent::Fail)
        .unwrap();
    h.swap("KUBE-CLUSTER-IP", "KUBE-CLUSTER-IP-tmp").unwrap();
    assert_eq!(
        saved_entries(&ns, "KUBE-CLUSTER-IP", &SetType::HashIpPort),
        entries(&next)
    );
    assert_eq!(
        saved_entries(&ns, "KUBE-CLUSTER-IP-tmp", &SetType::HashIpPort),
        entries(&live)
    );
    h.flush("KUBE-CLUSTER-IP-tmp").unwrap();
    assert!(h.list("KUBE-CLUSTER-IP-tmp").unwrap().entries.is_empty());
    h.destroy("KUBE-CLUSTER-IP-tmp").unwrap();
    assert!(!h.exists("KUBE-CLUSTER-IP-tmp").unwrap());
    assert_eq!(saved(&ns).keys().collect::<Vec<_>>(), ["KUBE-CLUSTER-IP"]);

    // Swapping with a set of another type is refused by the kernel.
    h.create("ports", &SetType::ALL_PORTS).unwrap();
    let err = h.swap("KUBE-CLUSTER-IP", "ports").unwrap_err();
    assert_eq!(err.kernel_error(), Some(KernelError::TypeMismatch), "{err}");
    h.rename("ports", "ports2").unwrap();
    assert!(h.exists("ports2").unwrap());
}

#[test]
fn kernel_refusals_name_the_set_operation_and_entry() {
    if !possible() {
        return;
    }
    let ns = Netns::new("ipset-errors");
    let mut h = handle_in(&ns);
    let err = h.destroy("nosuch").unwrap_err();
    assert_eq!(err.kernel_error(), Some(KernelError::NoSuchSet));
    assert_eq!(
        err.to_string(),
        "destroying set \"nosuch\": no set of that name"
    );
    let err = h.list("nosuch").unwrap_err();
    assert_eq!(err.kernel_error(), Some(KernelError::NoSuchSet), "{err}");

    h.create("s", &SetType::HashIpPort).unwrap();
    let e = svc(1, Protocol::Tcp, 443);
    h.add("s", &e).unwrap();
    let err = h.add("s", &e).unwrap_err();
    assert_eq!(
        err.to_string(),
        "adding to set \"s\", entry 10.96.0.1,tcp:443: already a member"
    );
    h.add_all("s", &[e], IfPresent::Ignore).unwrap();
    let missing = svc(2, Protocol::Tcp, 443);
    let err = h.del("s", &missing).unwrap_err();
    assert_eq!(err.kernel_error(), Some(KernelError::EntryMissing), "{err}");
    h.del_all("s", &[missing], IfPresent::Ignore).unwrap();

    // A batch stops at the entry the kernel refuses, names it, and keeps the ones before.
    h.create("bp", &SetType::BitmapPort { from: 0, to: 1000 })
        .unwrap();
    let batch = [
        Entry::Port(10),
        Entry::Port(20),
        Entry::Port(2000),
        Entry::Port(30),
    ];
    let err = h.add_all("bp", &batch, IfPresent::Fail).unwrap_err();
    match &err {
        IpsetError::Kernel {
            set, entry, kind, ..
        } => {
            assert_eq!(
                (set.as_str(), *entry, *kind),
                ("bp", Some(Entry::Port(2000)), KernelError::OutOfRange)
            );
        }
        other => panic!("unexpected {other}"),
    }
    let bitmap = SetType::BitmapPort { from: 0, to: 1000 };
    assert_eq!(
        saved_entries(&ns, "bp", &bitmap),
        entries(&[Entry::Port(10), Entry::Port(20)])
    );

    // A batch into a missing set blames no entry.
    let err = h
        .add_all("nosuch", &batch[..1], IfPresent::Fail)
        .unwrap_err();
    assert!(
        matches!(
            err,
            IpsetError::Kernel {
                entry: None,
                kind: KernelError::NoSuchSet,
                ..
            }
        ),
        "{err}"
    );

    for bad in ["", "a-name-that-is-much-too-long-for-ipset", "nul\0"] {
        assert!(matches!(h.flush(bad), Err(IpsetError::InvalidName(_))));
    }
}

#[test]
fn iptables_rules_can_match_our_sets() {
    if !possible() {
        return;
    }
    let ns = Netns::new("ipset-iptables");
    let mut h = handle_in(&ns);
    h.create("KUBE-CLUSTER-IP", &SetType::HashIpPort).unwrap();
    let (ok, stderr) = iptables_restore(&ns, &["--test"], &match_set_rule("KUBE-CLUSTER-IP"));
    assert!(ok, "iptables-restore --test: {stderr}");
    // The negative control: a set that does not exist is refused.
    let (ok, stderr) = iptables_restore(&ns, &["--test"], &match_set_rule("KUBE-NOPE"));
    assert!(!ok && stderr.contains("KUBE-NOPE"), "{stderr}");

    let (ok, stderr) = iptables_restore(&ns, &[], &match_set_rule("KUBE-CLUSTER-IP"));
    assert!(ok, "iptables-restore: {stderr}");
    assert_eq!(h.list("KUBE-CLUSTER-IP").unwrap().references(), Some(1));
    let err = h.destroy("KUBE-CLUSTER-IP").unwrap_err();
    assert_eq!(err.kernel_error(), Some(KernelError::SetInUse), "{err}");
    // sync_set will not replace a referenced set of another type.
    let err = sync_set(
        &mut h,
        "KUBE-CLUSTER-IP",
        &SetType::HashIp,
        &BTreeSet::new(),
    )
    .unwrap_err();
    assert!(matches!(err, IpsetError::TypeMismatch { .. }), "{err}");
}

#[test]
fn sync_set_moves_between_desired_states() {
    if !possible() {
        return;
    }
    let ns = Netns::new("ipset-sync");
    let mut h = handle_in(&ns);
    let t = SetType::HashIpPort;
    let first: BTreeSet<Entry> = (1..=200).map(|i| svc(i, Protocol::Tcp, 80)).collect();
    let changes = sync_set(&mut h, "KUBE-CLUSTER-IP", &t, &first).unwrap();
    assert!(changes.created);
    assert_eq!((changes.added, changes.deleted), (200, 0));
    assert_eq!(saved_entries(&ns, "KUBE-CLUSTER-IP", &t), first);

    // Half stay, half go, 100 new ones (other protocol) arrive.
    let second: BTreeSet<Entry> = (1..=100)
        .map(|i| svc(i, Protocol::Tcp, 80))
        .chain((1..=100).map(|i| svc(i, Protocol::Udp, 53)))
        .collect();
    let changes = sync_set(&mut h, "KUBE-CLUSTER-IP", &t, &second).unwrap();
    assert!(!changes.created);
    assert_eq!(
        (changes.added, changes.deleted, changes.requests),
        (100, 100, 3)
    );
    assert_eq!(saved_entries(&ns, "KUBE-CLUSTER-IP", &t), second);

    let changes = sync_set(&mut h, "KUBE-CLUSTER-IP", &t, &second).unwrap();
    assert!(!changes.changed());

    // Someone adds a stray entry by hand; the next sync removes it.
    ns.exec(&["ipset", "add", "KUBE-CLUSTER-IP", "10.1.1.1,tcp:1"]);
    let changes = sync_set(&mut h, "KUBE-CLUSTER-IP", &t, &second).unwrap();
    assert_eq!((changes.added, changes.deleted), (0, 1));

    // A set of another type under the name, unreferenced, is replaced.
    ns.exec(&["ipset", "create", "KUBE-NODE-PORT-TCP", "hash:ip"]);
    let ports = entries(&[Entry::Port(30080), Entry::Port(30443)]);
    let changes = sync_set(&mut h, "KUBE-NODE-PORT-TCP", &SetType::ALL_PORTS, &ports).unwrap();
    assert!(changes.recreated);
    assert_eq!(
        saved_entries(&ns, "KUBE-NODE-PORT-TCP", &SetType::ALL_PORTS),
        ports
    );
}

#[test]
fn large_batches_span_several_messages() {
    if !possible() {
        return;
    }
    let ns = Netns::new("ipset-large");
    let mut h = handle_in(&ns);
    let t = SetType::HashIpPortIp;
    let many: Vec<Entry> = (0..5000u32)
        .map(|i| {
            let ip = Ipv4Addr::from(0x0af4_0000 + i);
            Entry::IpPortIp {
                ip,
                proto: Protocol::Tcp,
                port: 8080,
                ip2: ip,
            }
        })
        .collect();
    h.create("KUBE-LOOP-BACK", &t).unwrap();
    let messages = h.add_all("KUBE-LOOP-BACK", &many, IfPresent::Fail).unwrap();
    assert!(messages > 1, "{messages} messages");
    let listing = h.list("KUBE-LOOP-BACK").unwrap();
    assert_eq!(
        listing.entries,
        many.iter().copied().collect::<BTreeSet<_>>()
    );
    assert_eq!(saved_entries(&ns, "KUBE-LOOP-BACK", &t).len(), 5000);
    h.del_all("KUBE-LOOP-BACK", &many[..4000], IfPresent::Fail)
        .unwrap();
    assert_eq!(h.list("KUBE-LOOP-BACK").unwrap().entries.len(), 1000);
}
