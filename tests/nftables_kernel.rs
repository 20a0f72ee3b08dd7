//! The nf_tables client against the real kernel, in throwaway network namespaces: a
//! kube-proxy-like table committed in one batch reads back equal (and the way `nft list`
//! prints it), a batch computed against a stale generation is refused whole, a refused
//! message is named and nothing of its batch applied, and large batches go out in one
//! `sendmsg`. Each test opens its handle on a thread inside its namespace; the socket stays
//! there.

#[path = "support/netns.rs"]
#[allow(dead_code)]
mod netns;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use kproxy::nftables::client::{NftError, NftHandle};
use kproxy::nftables::expr::*;
use kproxy::nftables::udata::{self, UserData};
use kproxy::nftables::*;
use kproxy::testing::kernel::{Need, available};
use netns::Netns;

const KP: &str = "kube-proxy";
const SVC: &str = "service-ULMVA6XW-ns1/svc1/tcp/p80";
const EP1: &str = "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80";
const EP2: &str = "endpoint-XGJ2WDZG-ns1/svc1/tcp/p80__10.180.0.2/80";
const AFFINITY: &str = "affinity-5OJB2KTY";

/// Root, iproute2 and the `nft` tool (used only to check). Without them the tests skip,
/// unless `KPROXY_REQUIRE_KERNEL=1` says they must run (`kproxy::testing::kernel`).
fn possible() -> bool {
    available(&[Need::Root, Need::Tool("ip"), Need::Tool("nft")])
}

fn setup(role: &str) -> (Netns, NftHandle) {
    let ns = Netns::new(role);
    let handle = ns
        .run_in(NftHandle::new)
        .expect("opening an nf_tables handle in the namespace");
    (ns, handle)
}

fn nft_list(ns: &Netns) -> String {
    ns.exec_stdout(&["nft", "list", "table", "ip", KP])
}

fn chain(name: &str) -> Chain {
    Chain::new(Family::Ip, KP, name)
}

fn rule(chain: &str, exprs: Vec<Expr>) -> Rule {
    Rule::new(Family::Ip, KP, chain).with_exprs(exprs)
}

fn verdict(v: Verdict) -> Expr {
    Immediate::verdict(v).into()
}

fn set(name: &str, key_type: u32, key_len: u32) -> Set {
    Set {
        key_type: Some(key_type),
        key_len: Some(key_len),
        ..Set::new(Family::Ip, KP, name)
    }
}

fn verdict_map(name: &str, key_types: &[u32], key_len: u32) -> Set {
    Set {
        flags: Some(set_flags::MAP),
        data_type: Some(DataType::VERDICT),
        data_len: Some(0),
        ..set(name, DataType::concat(key_types), key_len)
    }
}

fn svc_key(ip: Ipv4Addr, proto: u8, port: u16) -> Vec<u8> {
    Key::new().ipv4(ip).proto(proto).port(port).into_bytes()
}

fn goto(chain: &str) -> Data {
    Data::Verdict(Verdict::Goto(chain.into()))
}

fn mark(mask: u32, xor: u32) -> Expr {
    Bitwise::mask_xor(
        Reg::R1,
        Reg::R1,
        mask.to_ne_bytes().into(),
        xor.to_ne_bytes().into(),
    )
    .into()
}

/// kube-proxy's table for one ClusterIP/NodePort service with two endpoints and session
/// affinity, in the order a cold sync sends it.
fn kube_proxy_layout() -> (Vec<NftMessage>, BTreeMap<String, Vec<Element>>) {
    let table = Table {
        userdata: Some(
            UserData::new()
                .string(udata::COMMENT, "rules for kube-proxy")
                .into_bytes(),
        ),
        ..Table::new(Family::Ip, KP)
    };
    let mut msgs = vec![NftMessage::NewTable(table)];
    let base = [
        ("filter-forward", "filter", Hook::Forward, -110),
        ("nat-prerouting", "nat", Hook::Prerouting, priority::DSTNAT),
        ("nat-output", "nat", Hook::Output, priority::DSTNAT),
        (
            "nat-postrouting",
            "nat",
            Hook::Postrouting,
            priority::SRCNAT,
        ),
    ];
    for (name, t, hook, prio) in base {
        msgs.push(NftMessage::NewChain(chain(name).base(t, hook, prio)));
    }
    for name in [
        "services",
        "masquerading",
        "mark-for-masquerade",
        "reject-chain",
        SVC,
        EP1,
        EP2,
    ] {
        msgs.push(NftMessage::NewChain(chain(name)));
    }
    let svc_types = [
        DataType::IPV4_ADDR,
        DataType::INET_PROTO,
        DataType::INET_SERVICE,
    ];
    let sets = [
        Set {
            userdata: Some(
                UserData::new()
                    .u32(udata::SET_KEY_BYTEORDER, udata::BYTEORDER_BIG_ENDIAN)
                    .string(udata::SET_COMMENT, "Active ClusterIPs")
                    .into_bytes(),
            ),
            ..set("cluster-ips", DataType::IPV4_ADDR, 4)
        },
        verdict_map("service-ips", &svc_types, 12),
        verdict_map(
            "service-nodeports",
            &[DataType::INET_PROTO, DataType::INET_SERVICE],
            8,
        ),
        verdict_map("no-endpoint-services", &svc_types, 12),
        Set {
            flags: Some(set_flags::TIMEOUT | set_flags::EVAL),
            timeout_ms: Some(10_800_000),
            ..set(AFFINITY, DataType::IPV4_ADDR, 4)
        },
        verdict_map("endpoints-ULMVA6XW", &[DataType::INTEGER], 4),
    ];
    msgs.extend(sets.into_iter().map(NftMessage::NewSet));

    let clusterip = Ipv4Addr::new(10, 96, 0, 10);
    let mut elements = BTreeMap::new();
    elements.insert(
        "cluster-ips".to_string(),
        vec![Element::new(clusterip.octets().to_vec())],
    );
    elements.insert(
        "service-ips".to_string(),
        vec![Element {
            userdata: Some(
                UserData::new()
                    .string(udata::COMMENT, "ns1/svc1:p80")
                    .into_bytes(),
            ),
            ..Element::new(svc_key(clusterip, 6, 80)).with_data(goto(SVC))
        }],
    );
    elements.insert(
        "service-nodeports".to_string(),
        vec![Element::new(Key::new().proto(6).port(30080).into_bytes()).with_data(goto(SVC))],
    );
    elements.insert(
        "no-endpoint-services".to_string(),
        vec![
            Element::new(svc_key(Ipv4Addr::new(10, 96, 0, 11), 17, 53))
                .with_data(goto("reject-chain")),
        ],
    );
    elements.insert(
        "endpoints-ULMVA6XW".to_string(),
        vec![
            Element::new(Key::new().u32_host(0).into_bytes()).with_data(goto(EP1)),
            Element::new(Key::new().u32_host(1).into_bytes()).with_data(goto(EP2)),
        ],
    );
    for (name, elems) in &elements {
        let list = ElemList {
            elements: elems.clone(),
            ..ElemList::new(Family::Ip, KP, name.as_str())
        };
        msgs.push(NftMessage::NewSetElems(list));
    }

    let daddr_proto_port = || -> Vec<Expr> {
        vec![
            Payload::ip_addr(true, Reg::R1).into(),
            Meta::load(MetaKey::L4PROTO, Reg::r32(1)).into(),
            Payload::th_port(true, Reg::r32(2)).into(),
        ]
    };
    let with = |mut a: Vec<Expr>, b: Vec<Expr>| {
        a.extend(b);
        a
    };
    let ct_state = |bit: u32| -> Vec<Expr> {
        vec![
            Ct::load(CtKey::STATE, Reg::R1).into(),
            Bitwise::mask_xor(Reg::R1, Reg::R1, bit.to_ne_bytes().into(), vec![0; 4]).into(),
            Cmp::new(Reg::R1, CmpOp::Neq, [0; 4]).into(),
        ]
    };
    let rules = vec![
        rule(
            "filter-forward",
            with(ct_state(ct_state::INVALID), vec![verdict(Verdict::Drop)]),
        ),
        rule(
            "filter-forward",
            with(ct_state(ct_state::NEW), vec![Counter::default().into()]),
        ),
        rule(
            "nat-prerouting",
            vec![verdict(Verdict::Jump("services".into()))],
        ),
        rule(
            "nat-output",
            vec![verdict(Verdict::Jump("services".into()))],
        ),
        rule(
            "nat-postrouting",
            vec![verdict(Verdict::Jump("masquerading".into()))],
        ),
        rule(
            "masquerading",
            vec![
                Meta::load(MetaKey::MARK, Reg::R1).into(),
                mark(0x4000, 0),
                Cmp::new(Reg::R1, CmpOp::Eq, [0; 4]).into(),
                verdict(Verdict::Return),
            ],
        ),
        rule(
            "masquerading",
            vec![
                Meta::load(MetaKey::MARK, Reg::R1).into(),
                mark(!0, 0x4000),
                Meta::set(MetaKey::MARK, Reg::R1).into(),
            ],
        ),
        rule(
            "masquerading",
            vec![
                Masq {
                    flags: Some(nat_flags::PROTO_RANDOM_FULLY),
                    ..Masq::default()
                }
                .into(),
            ],
        ),
        rule(
            "mark-for-masquerade",
            vec![
                Meta::load(MetaKey::MARK, Reg::R1).into(),
                mark(!0x4000, 0x4000),
                Meta::set(MetaKey::MARK, Reg::R1).into(),
            ],
        ),
        rule(
            "services",
            with(
                daddr_proto_port(),
                vec![Lookup::map("service-ips", Reg::R1, Reg::VERDICT).into()],
            ),
        ),
        rule(
            "services",
            vec![
                Fib {
                    dreg: Reg::R1,
                    result: fib_result::ADDRTYPE,
                    flags: fib_flags::DADDR,
                }
                .into(),
                Cmp::new(Reg::R1, CmpOp::Eq, 2u32.to_ne_bytes()).into(),
                Meta::load(MetaKey::L4PROTO, Reg::R1).into(),
                Payload::th_port(true, Reg::r32(1)).into(),
                Lookup::map("service-nodeports", Reg::R1, Reg::VERDICT).into(),
            ],
        ),
        rule(
            "services",
            with(
                daddr_proto_port(),
                vec![Lookup::map("no-endpoint-services", Reg::R1, Reg::VERDICT).into()],
            ),
        ),
        rule(
            SVC,
            vec![
                Payload::ip_addr(false, Reg::R1).into(),
                Lookup::set(AFFINITY, Reg::R1).into(),
                verdict(Verdict::Goto(EP1.into())),
            ],
        ),
        rule(
            SVC,
            vec![
                Numgen::random(Reg::R1, 2).into(),
                Lookup::map("endpoints-ULMVA6XW", Reg::R1, Reg::VERDICT).into(),
            ],
        ),
        Rule {
            userdata: Some(
                UserData::new()
                    .string(udata::COMMENT, "hairpin")
                    .into_bytes(),
            ),
            ..rule(
                EP1,
                vec![
                    Payload::ip_addr(false, Reg::R1).into(),
                    Cmp::new(Reg::R1, CmpOp::Eq, [10, 180, 0, 1]).into(),
                    verdict(Verdict::Jump("mark-for-masquerade".into())),
                ],
            )
        },
        rule(
            EP1,
            vec![
                Payload::ip_addr(false, Reg::R1).into(),
                Dynset::update(AFFINITY, Reg::R1).into(),
            ],
        ),
        rule(
            EP1,
            vec![
                Meta::load(MetaKey::L4PROTO, Reg::R1).into(),
                Cmp::new(Reg::R1, CmpOp::Eq, [6]).into(),
                Immediate::value(Reg::R1, [10, 180, 0, 1]).into(),
                Immediate::value(Reg::R2, 80u16.to_be_bytes()).into(),
                Nat::dnat(Family::Ip, Reg::R1, Some(Reg::R2)).into(),
            ],
        ),
        rule(
            EP2,
            vec![
                Immediate::value(Reg::R1, [10, 180, 0, 2]).into(),
                Immediate::value(Reg::R2, 80u16.to_be_bytes()).into(),
                Nat::dnat(Family::Ip, Reg::R1, Some(Reg::R2)).into(),
            ],
        ),
        rule(
            "reject-chain",
            vec![
                Reject {
                    reject_type: RejectType::IcmpUnreach,
                    icmp_code: Some(RejectType::ICMP_PORT_UNREACH),
                }
                .into(),
            ],
        ),
    ];
    msgs.extend(rules.into_iter().map(NftMessage::NewRule));
    (msgs, elements)
}

fn sorted(elements: Vec<Element>) -> Vec<Element> {
    let mut elements: Vec<Element> = elements.iter().map(Element::normalized).collect();
    elements.sort_by(|a, b| a.key.cmp(&b.key));
    elements
}

#[test]
fn a_kube_proxy_table_reads_back_as_it_was_sent() {
    if !possible() {
        return;
    }
    let (ns, mut nft) = setup("nft-layout");
    let (msgs, elements) = kube_proxy_layout();
    let genid = nft.generation().expect("GETGEN");
    let mut batch = Batch::new().with_genid(genid);
    for m in &msgs {
        batch.push(m.clone());
    }
    let commit = nft.commit(&batch).expect("commit");
    assert_eq!(commit.parts, 1, "one sync is one transaction");
    assert_eq!(Some(commit.generation), commit.expected_generation);
    assert_eq!(nft.generation().unwrap(), commit.generation);

    let tables = nft.tables(Family::Ip).unwrap();
    assert_eq!(tables.len(), 1);
    let sent_table = msgs.iter().find_map(|m| match m {
        NftMessage::NewTable(t) => Some(t.clone()),
        _ => None,
    });
    assert_eq!(
        Some(tables[0].normalized()),
        sent_table.map(|t| t.normalized())
    );

    let sent_chains: Vec<Chain> = msgs
        .iter()
        .filter_map(|m| match m {
            NftMessage::NewChain(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let mut got: Vec<Chain> = nft.chains(Family::Ip, KP).unwrap();
    got = got.iter().map(Chain::normalized).collect();
    got.sort_by(|a, b| a.name.cmp(&b.name));
    let mut want: Vec<Chain> = sent_chains.iter().map(Chain::normalized).collect();
    want.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(got, want);

    let mut got: Vec<Set> = nft.sets(Family::Ip, KP).unwrap();
    got = got.iter().map(Set::normalized).collect();
    got.sort_by(|a, b| a.name.cmp(&b.name));
    let mut want: Vec<Set> = msgs
        .iter()
        .filter_map(|m| match m {
            NftMessage::NewSet(s) => Some(s.normalized()),
            _ => None,
        })
        .collect();
    want.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(got, want);

    for (set, want) in &elements {
        let got = nft.elements(Family::Ip, KP, set).unwrap();
        assert_eq!(sorted(got), sorted(want.clone()), "elements of {set}");
    }

    for c in &sent_chains {
        let got: Vec<Rule> = nft
            .rules(Family::Ip, KP, Some(&c.name))
            .unwrap()
            .into_iter()
            .map(|r| r.normalized())
            .collect();
        let want: Vec<Rule> = msgs
            .iter()
            .filter_map(|m| match m {
                NftMessage::NewRule(r) if r.chain == c.name => Some(r.normalized()),
                _ => None,
            })
            .collect();
        assert_eq!(got, want, "rules of {}", c.name);
    }
    let all_rules = nft.rules(Family::Ip, KP, None).unwrap();
    assert_eq!(
        all_rules.len(),
        msgs.iter()
            .filter(|m| matches!(m, NftMessage::NewRule(_)))
            .count()
    );

    // The way operators read it.
    let listed = nft_list(&ns);
    for line in [
        "comment \"rules for kube-proxy\"",
        "type nat hook prerouting priority dstnat; policy accept;",
        "type filter hook forward priority -110; policy accept;",
        "map service-ips {",
        "type ipv4_addr . inet_proto . inet_service : verdict",
        "10.96.0.10 . tcp . 80 comment \"ns1/svc1:p80\" : goto service-ULMVA6XW-ns1/svc1/tcp/p80",
        "ip daddr . meta l4proto . th dport vmap @service-ips",
        "fib daddr type local meta l4proto . th dport vmap @service-nodeports",
        "numgen random mod 2 vmap @endpoints-ULMVA6XW",
        "ip saddr @affinity-5OJB2KTY goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80",
        "update @affinity-5OJB2KTY { ip saddr }",
        "ip saddr 10.180.0.1 jump mark-for-masquerade comment \"hairpin\"",
        "meta l4proto tcp dnat to 10.180.0.1:80",
        "meta mark set meta mark | 0x00004000",
        "meta mark set meta mark ^ 0x00004000",
        "masquerade fully-random",
        "ct state invalid drop",
        "reject",
    ] {
        assert!(listed.contains(line), "no {line:?} in\n{listed}");
    }
}

#[test]
fn a_batch_against_a_stale_generation_is_refused_whole() {
    if !possible() {
        return;
    }
    let (ns, mut nft) = setup("nft-genid");
    let stale = nft.generation().unwrap();
    // Another writer commits in between.
    ns.exec(&["nft", "add", "table", "ip", "someone-else"]);
    assert_ne!(nft.generation().unwrap(), stale);

    let mut batch = Batch::new().with_genid(stale);
    batch.push(NftMessage::NewTable(Table::new(Family::Ip, KP)));
    batch.push(NftMessage::NewChain(chain("services")));
    match nft.commit(&batch) {
        Err(NftError::GenerationChanged { committed_parts: 0 }) => {}
        other => panic!("expected a refusal for the stale generation, got {other:?}"),
    }
    let tables = nft.tables(Family::Ip).unwrap();
    assert_eq!(
        tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["someone-else"],
        "nothing of the refused batch was applied"
    );

    // Recomputed against the current generation, the same batch goes through.
    let fresh = nft.generation().unwrap();
    let mut batch = Batch::new().with_genid(fresh);
    batch.push(NftMessage::NewTable(Table::new(Family::Ip, KP)));
    batch.push(NftMessage::NewChain(chain("services")));
    let commit = nft
        .commit(&batch)
        .expect("commit with the fresh generation");
    assert_eq!(commit.expected_generation, Some(Generation::next(fresh)));
    assert_eq!(commit.generation, Generation::next(fresh));
    assert!(nft_list(&ns).contains("chain services"));
}

#[test]
fn a_refused_message_is_named_and_its_batch_not_applied() {
    if !possible() {
        return;
    }
    let (ns, mut nft) = setup("nft-refused");
    let mut batch = Batch::new();
    batch.push(NftMessage::NewTable(Table::new(Family::Ip, KP)));
    batch.push(NftMessage::NewChain(chain("services")));
    batch.push(NftMessage::NewRule(rule(
        "services",
        vec![verdict(Verdict::Jump("no-such-chain".into()))],
    )));
    batch.push(NftMessage::NewChain(chain("masquerading")));
    let err = nft.commit(&batch).expect_err("a jump to a missing chain");
    let NftError::Refused {
        refusals,
        committed_parts: 0,
    } = err
    else {
        panic!("expected a refusal, got {err:?}")
    };
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].index, Some(2), "the rule is message 2");
    assert_eq!(refusals[0].ack.errno, nix::errno::Errno::ENOENT as i32);
    assert_eq!(
        refusals[0].what.as_deref(),
        Some("add rule ip kube-proxy services")
    );
    assert!(
        nft.tables(Family::Ip).unwrap().is_empty(),
        "nothing applied"
    );
    assert!(
        ns.exec_stdout(&["nft", "list", "ruleset"])
            .trim()
            .is_empty()
    );
}

fn many_elements(n: u32) -> (Batch, Vec<Element>) {
    let mut batch = Batch::new();
    batch.push(NftMessage::NewTable(Table::new(Family::Ip, KP)));
    batch.push(NftMessage::NewSet(set(
        "cluster-ips",
        DataType::IPV4_ADDR,
        4,
    )));
    let elements: Vec<Element> = (0..n)
        .map(|i| Element::new(Ipv4Addr::from(0x0a60_0000 + i).octets().to_vec()))
        .collect();
    let list = ElemList {
        elements: elements.clone(),
        ..ElemList::new(Family::Ip, KP, "cluster-ips")
    };
    batch.push(NftMessage::NewSetElems(list));
    (batch, elements)
}

#[test]
fn a_large_batch_goes_out_in_one_sendmsg() {
    if !possible() {
        return;
    }
    let (_ns, mut nft) = setup("nft-large");
    let (batch, elements) = many_elements(50_000);
    let bytes = batch.encode(1).bytes.len();
    assert!(
        bytes > 512 << 10,
        "{bytes} bytes: well past the default send buffer"
    );
    let before = nft.requests();
    let commit = nft.commit(&batch).expect("commit");
    assert_eq!(commit.parts, 1);
    assert_eq!(nft.requests() - before, 2, "the batch and its GETGEN");
    let got = nft.elements(Family::Ip, KP, "cluster-ips").unwrap();
    assert_eq!(sorted(got), sorted(elements));
}

#[test]
fn a_batch_past_the_limit_is_split_and_chained_by_generation() {
    if !possible() {
        return;
    }
    let (_ns, nft) = setup("nft-split");
    let mut nft = nft.with_max_batch_bytes(256 * 1024);
    let (batch, elements) = many_elements(30_000);
    let genid = nft.generation().unwrap();
    let batch = batch.with_genid(genid);
    let commit = nft.commit(&batch).expect("commit");
    assert!(commit.parts > 1, "{commit:?}");
    assert_eq!(Some(commit.generation), commit.expected_generation);
    let got = nft.elements(Family::Ip, KP, "cluster-ips").unwrap();
    assert_eq!(got.len(), elements.len());
}

#[test]
fn an_ip6_table_reads_back_as_it_was_sent() {
    if !possible() {
        return;
    }
    let (ns, mut nft) = setup("nft-ip6");
    let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap();
    let set = Set {
        key_type: Some(DataType::IPV6_ADDR),
        key_len: Some(16),
        ..Set::new(Family::Ip6, KP, "cluster-ips")
    };
    let elements = vec![Element::new(
        Key::new().ipv6(v6("fd00:10:96::1")).into_bytes(),
    )];
    let rules = vec![Rule::new(Family::Ip6, KP, "nat-output").with_exprs(vec![
        Payload::ip6_addr(true, Reg::R1).into(),
        Lookup::set("cluster-ips", Reg::R1).into(),
        Meta::load(MetaKey::L4PROTO, Reg::R1).into(),
        Cmp::new(Reg::R1, CmpOp::Eq, [6]).into(),
        Immediate::value(Reg::R1, v6("fd00:10:180::1").octets()).into(),
        Immediate::value(Reg::R2, 80u16.to_be_bytes()).into(),
        Nat::dnat(Family::Ip6, Reg::R1, Some(Reg::R2)).into(),
    ])];
    let mut batch = Batch::new();
    batch.push(NftMessage::NewTable(Table::new(Family::Ip6, KP)));
    batch.push(NftMessage::NewChain(
        Chain::new(Family::Ip6, KP, "nat-output").base("nat", Hook::Output, priority::DSTNAT),
    ));
    batch.push(NftMessage::NewSet(set.clone()));
    batch.push(NftMessage::NewSetElems(ElemList {
        elements: elements.clone(),
        ..ElemList::new(Family::Ip6, KP, "cluster-ips")
    }));
    for r in &rules {
        batch.push(NftMessage::NewRule(r.clone()));
    }
    nft.commit(&batch).expect("commit");

    assert!(
        nft.tables(Family::Ip).unwrap().is_empty(),
        "only the ip6 family"
    );
    let sets: Vec<Set> = nft
        .sets(Family::Ip6, KP)
        .unwrap()
        .iter()
        .map(Set::normalized)
        .collect();
    assert_eq!(sets, vec![set.normalized()]);
    let got = nft.elements(Family::Ip6, KP, "cluster-ips").unwrap();
    assert_eq!(sorted(got), sorted(elements));
    let got: Vec<Rule> = nft
        .rules(Family::Ip6, KP, None)
        .unwrap()
        .iter()
        .map(Rule::normalized)
        .collect();
    assert_eq!(got, rules.iter().map(Rule::normalized).collect::<Vec<_>>());
    let listed = ns.exec_stdout(&["nft", "list", "table", "ip6", KP]);
    for line in [
        "fd00:10:96::1",
        "ip6 daddr @cluster-ips meta l4proto tcp dnat to [fd00:10:180::1]:80",
    ] {
        assert!(listed.contains(line), "no {line:?} in\n{listed}");
    }
}
