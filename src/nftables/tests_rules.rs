//! Byte-fixture tests of rules and their expressions (the method is in `tests.rs`).

use std::net::Ipv4Addr;

use super::expr::*;
use super::fixtures::*;
use super::tests::{EP1_CHAIN, EP2_CHAIN, KP, SVC_CHAIN, assert_reply, assert_request, hex};
use super::udata::{self, UserData};
use super::*;

fn rule(chain: &str, exprs: Vec<Expr>) -> Rule {
    Rule::new(Family::Ip, KP, chain).with_exprs(exprs)
}

fn verdict(v: Verdict) -> Expr {
    Immediate::verdict(v).into()
}

/// `ip daddr . meta l4proto . th dport`: the key of the service dispatch maps.
fn daddr_proto_port() -> Vec<Expr> {
    vec![
        Payload::ip_addr(true, Reg::R1).into(),
        Meta::load(MetaKey::L4PROTO, Reg::r32(1)).into(),
        Payload::th_port(true, Reg::r32(2)).into(),
    ]
}

fn vmap(set: &str, set_id: u32, sreg: Reg) -> Expr {
    Lookup {
        set_id: Some(set_id),
        ..Lookup::map(set, sreg, Reg::VERDICT)
    }
    .into()
}

fn meta_l4proto_tcp() -> Vec<Expr> {
    vec![
        Meta::load(MetaKey::L4PROTO, Reg::R1).into(),
        Cmp::new(Reg::R1, CmpOp::Eq, [6]).into(),
    ]
}

#[test]
fn jump_to_a_chain() {
    let r = rule(
        "nat-prerouting",
        vec![verdict(Verdict::Jump("services".into()))],
    );
    assert_request(RULE_JUMP, NftMessage::NewRule(r));
}

#[test]
fn dispatch_through_a_verdict_map() {
    let mut exprs = daddr_proto_port();
    exprs.push(vmap("service-ips", 2, Reg::R1));
    assert_request(RULE_VMAP, NftMessage::NewRule(rule("services", exprs)));
}

#[test]
fn nodeports_for_local_addresses() {
    let exprs = vec![
        Fib {
            dreg: Reg::R1,
            result: fib_result::ADDRTYPE,
            flags: fib_flags::DADDR,
        }
        .into(),
        // RTN_LOCAL, host order.
        Cmp::new(Reg::R1, CmpOp::Eq, 2u32.to_ne_bytes()).into(),
        // `ip daddr != 127.0.0.0/8`: nft compares the first byte only.
        Payload::load(PayloadBase::Network, 16, 1, Reg::R1).into(),
        Cmp::new(Reg::R1, CmpOp::Neq, [127]).into(),
        Meta::load(MetaKey::L4PROTO, Reg::R1).into(),
        Payload::th_port(true, Reg::r32(1)).into(),
        vmap("service-nodeports", 3, Reg::R1),
    ];
    assert_request(
        RULE_FIB_NODEPORTS,
        NftMessage::NewRule(rule("services", exprs)),
    );
}

/// `ct state STATE`: a bit test, sent without a bitwise op.
fn ct_state(bit: u32, op: Option<BitwiseOp>) -> Vec<Expr> {
    vec![
        Ct::load(CtKey::STATE, Reg::R1).into(),
        Bitwise {
            op,
            ..Bitwise::mask_xor(Reg::R1, Reg::R1, bit.to_ne_bytes().into(), vec![0; 4])
        }
        .into(),
        Cmp::new(Reg::R1, CmpOp::Neq, [0; 4]).into(),
    ]
}

#[test]
fn conntrack_state_rules() {
    let mut exprs = ct_state(ct_state::NEW, None);
    exprs.push(verdict(Verdict::Jump("firewall-check".into())));
    assert_request(
        RULE_CT_STATE,
        NftMessage::NewRule(rule("filter-forward", exprs)),
    );
    let mut exprs = ct_state(ct_state::INVALID, None);
    exprs.push(verdict(Verdict::Drop));
    assert_request(
        RULE_CT_INVALID_DROP,
        NftMessage::NewRule(rule("filter-forward", exprs)),
    );
}

#[test]
fn counter_and_accept() {
    let exprs = vec![Counter::default().into(), verdict(Verdict::Accept)];
    assert_request(
        RULE_COUNTER_ACCEPT,
        NftMessage::NewRule(rule("filter-forward", exprs)),
    );
}

fn mark_set(mask: u32, xor: u32) -> Vec<Expr> {
    vec![
        Meta::load(MetaKey::MARK, Reg::R1).into(),
        Bitwise::mask_xor(
            Reg::R1,
            Reg::R1,
            mask.to_ne_bytes().into(),
            xor.to_ne_bytes().into(),
        )
        .into(),
        Meta::set(MetaKey::MARK, Reg::R1).into(),
    ]
}

#[test]
fn masquerade_mark_rules() {
    // `meta mark set meta mark or 0x4000`, `… xor 0x4000`.
    let or = rule("mark-for-masquerade", mark_set(!0x4000, 0x4000));
    assert_request(RULE_MARK_OR, NftMessage::NewRule(or));
    let xor = rule("masquerading", mark_set(!0, 0x4000));
    assert_request(RULE_MARK_XOR, NftMessage::NewRule(xor));
    // `meta mark and 0x4000 == 0 return`.
    let exprs = vec![
        Meta::load(MetaKey::MARK, Reg::R1).into(),
        Bitwise::mask_xor(Reg::R1, Reg::R1, 0x4000u32.to_ne_bytes().into(), vec![0; 4]).into(),
        Cmp::new(Reg::R1, CmpOp::Eq, [0; 4]).into(),
        verdict(Verdict::Return),
    ];
    assert_request(
        RULE_MARK_RETURN,
        NftMessage::NewRule(rule("masquerading", exprs)),
    );
    let masq = Masq {
        flags: Some(nat_flags::PROTO_RANDOM_FULLY),
        ..Masq::default()
    };
    let r = rule("masquerading", vec![masq.into()]);
    assert_request(RULE_MASQUERADE, NftMessage::NewRule(r));
}

#[test]
fn affinity_lookup_and_update() {
    let lookup = Lookup {
        set_id: Some(5),
        ..Lookup::set("affinity-5OJB2KTY", Reg::R1)
    };
    let exprs = vec![
        Payload::ip_addr(false, Reg::R1).into(),
        lookup.into(),
        verdict(Verdict::Goto(EP1_CHAIN.into())),
    ];
    assert_request(
        RULE_AFFINITY_LOOKUP,
        NftMessage::NewRule(rule(SVC_CHAIN, exprs)),
    );
    let update = Dynset {
        set_id: Some(5),
        ..Dynset::update("affinity-5OJB2KTY", Reg::R1)
    };
    let exprs = vec![Payload::ip_addr(false, Reg::R1).into(), update.into()];
    assert_request(RULE_DYNSET, NftMessage::NewRule(rule(EP1_CHAIN, exprs)));
}

#[test]
fn hairpin_rule_with_comment() {
    let r = Rule {
        userdata: Some(
            UserData::new()
                .string(udata::COMMENT, "hairpin")
                .into_bytes(),
        ),
        ..rule(
            EP1_CHAIN,
            vec![
                Payload::ip_addr(false, Reg::R1).into(),
                Cmp::new(Reg::R1, CmpOp::Eq, Ipv4Addr::new(10, 180, 0, 1).octets()).into(),
                verdict(Verdict::Jump("mark-for-masquerade".into())),
            ],
        )
    };
    assert_request(RULE_HAIRPIN_COMMENT, NftMessage::NewRule(r));
}

#[test]
fn dnat_snat_and_dnat_through_a_map() {
    let mut exprs = meta_l4proto_tcp();
    exprs.push(Immediate::value(Reg::R1, Ipv4Addr::new(10, 180, 0, 1).octets()).into());
    exprs.push(Immediate::value(Reg::R2, 80u16.to_be_bytes()).into());
    exprs.push(Nat::dnat(Family::Ip, Reg::R1, Some(Reg::R2)).into());
    assert_request(RULE_DNAT, NftMessage::NewRule(rule(EP1_CHAIN, exprs)));

    let mut exprs = daddr_proto_port();
    let lookup = Lookup {
        set_id: Some(6),
        ..Lookup::map("service-dnat", Reg::R1, Reg::R1)
    };
    exprs.push(lookup.into());
    // Address in R1, port in the 4-byte register after it; no port flag here.
    let nat = Nat {
        flags: None,
        ..Nat::dnat(Family::Ip, Reg::R1, Some(Reg::r32(1)))
    };
    exprs.push(nat.into());
    assert_request(RULE_DNAT_MAP, NftMessage::NewRule(rule("services", exprs)));

    let snat = Nat {
        nat_type: NatType::Snat,
        ..Nat::dnat(Family::Ip, Reg::R1, None)
    };
    let exprs = vec![
        Immediate::value(Reg::R1, Ipv4Addr::new(192, 168, 0, 1).octets()).into(),
        snat.into(),
    ];
    assert_request(RULE_SNAT, NftMessage::NewRule(rule("masquerading", exprs)));
}

#[test]
fn ip6_dnat_and_reject() {
    let mut exprs = meta_l4proto_tcp();
    let addr: std::net::Ipv6Addr = "fd00:10:180::1".parse().unwrap();
    exprs.push(Immediate::value(Reg::R1, addr.octets()).into());
    exprs.push(Immediate::value(Reg::R2, 80u16.to_be_bytes()).into());
    exprs.push(Nat::dnat(Family::Ip6, Reg::R1, Some(Reg::R2)).into());
    let r = Rule::new(Family::Ip6, KP, "nat-output").with_exprs(exprs);
    assert_request(RULE_DNAT_IP6, NftMessage::NewRule(r));
    let reject = Reject {
        reject_type: RejectType::IcmpUnreach,
        icmp_code: Some(RejectType::ICMPV6_PORT_UNREACH),
    };
    let r = Rule::new(Family::Ip6, KP, "nat-output").with_exprs(vec![reject.into()]);
    assert_request(RULE_REJECT_IP6, NftMessage::NewRule(r));
}

#[test]
fn reject_with_icmp_and_tcp_reset() {
    let icmp = Reject {
        reject_type: RejectType::IcmpUnreach,
        icmp_code: Some(RejectType::ICMP_PORT_UNREACH),
    };
    let r = rule("reject-chain", vec![icmp.into()]);
    assert_request(RULE_REJECT, NftMessage::NewRule(r));
    let mut exprs = meta_l4proto_tcp();
    let reset = Reject {
        reject_type: RejectType::TcpRst,
        icmp_code: Some(0),
    };
    exprs.push(reset.into());
    assert_request(
        RULE_REJECT_TCP_RESET,
        NftMessage::NewRule(rule("reject-chain", exprs)),
    );
}

#[test]
fn rule_positions_handles_and_flush() {
    let inserted = Rule {
        position: Some(0x12),
        ..rule("services", vec![Counter::default().into()])
    };
    assert_request(RULE_INSERT_POSITION, NftMessage::NewRule(inserted));
    let deleted = Rule {
        handle: Some(0x25),
        ..rule("services", vec![])
    };
    assert_request(DEL_RULE_HANDLE, NftMessage::DelRule(deleted));
    assert_request(
        FLUSH_CHAIN,
        NftMessage::DelRule(rule("reject-chain", vec![])),
    );
}

#[test]
fn numgen_into_an_anonymous_verdict_map() {
    // `numgen random mod 2 vmap { 0 : goto A, 1 : goto B }`: nft sends the anonymous map,
    // its elements and the rule in one batch, tied together by set id 7.
    let map = Set {
        flags: Some(set_flags::ANONYMOUS | set_flags::CONSTANT | set_flags::MAP),
        key_type: Some(DataType::INTEGER),
        key_len: Some(4),
        data_type: Some(DataType::VERDICT),
        data_len: Some(0),
        id: Some(7),
        desc: Some(SetDesc {
            size: Some(2),
            concat: vec![],
        }),
        userdata: Some(hex(
            "00040100000001040000000004080004010000000100060400000000",
        )),
        ..Set::new(Family::Ip, KP, "__map%d")
    };
    let goto = |n: u32, chain: &str| {
        Element::new(Key::new().u32_host(n).into_bytes())
            .with_data(Data::Verdict(Verdict::Goto(chain.into())))
    };
    let elements = ElemList {
        set_id: Some(7),
        elements: vec![goto(0, EP1_CHAIN), goto(1, EP2_CHAIN)],
        ..ElemList::new(Family::Ip, KP, "__map%d")
    };
    let exprs = vec![
        Numgen::random(Reg::R1, 2).into(),
        vmap("__map%d", 7, Reg::R1),
    ];
    let mut batch = Batch::new();
    batch.push(NftMessage::NewSet(map));
    batch.push(NftMessage::NewSetElems(elements));
    batch.push(NftMessage::NewRule(rule(SVC_CHAIN, exprs)));
    let encoded = batch.encode(0);
    assert_eq!(encoded.bytes, BATCH_NUMGEN_ANON_VMAP);
}

#[test]
fn dumped_rule_decodes_into_the_same_types() {
    let mut exprs = ct_state(ct_state::NEW, Some(BitwiseOp::Bool));
    exprs.push(verdict(Verdict::Jump("firewall-check".into())));
    let r = Rule {
        handle: Some(0x14),
        ..rule("filter-forward", exprs)
    };
    assert_reply(DUMP_RULE_REPLY, NftMessage::NewRule(r));
}

#[test]
fn unknown_expressions_keep_their_bytes() {
    let other = Expr::Other {
        name: "log".into(),
        data: vec![8, 0, 1, 0, 0, 0, 0, 1],
    };
    let r = rule("services", vec![other.clone()]);
    let mut buf = Vec::new();
    super::batch::append(&mut buf, &NftMessage::NewRule(r.clone()), 1, 1);
    assert_eq!(super::tests::message(&buf), NftMessage::NewRule(r));
    assert_eq!(other.name(), "log");
}
