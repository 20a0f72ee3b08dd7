//! Byte-fixture tests both ways on messages captured from `nft` and the kernel (see
//! `fixtures.rs` for where they come from).
//!
//! Requests: `parse(raw) == expected` and `emit(expected) == raw`, the netlink header
//! (flags, sequence number) taken from `raw`. Kernel replies (dumps, NEWGEN): the kernel
//! orders attributes differently from `nft`, leaves `NLA_F_NESTED` off and numbers list
//! entries differently, while kproxy emits nft's form; so a reply is checked by
//! `parse(raw) == expected` and by `parse(emit(expected)) == expected`.

use std::net::{Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NLM_F_EXCL, NetlinkHeader, NetlinkMessage, NetlinkPayload};

use super::batch::append;
use super::fixtures::*;
use super::udata::{self, UserData};
use super::*;

pub(super) const KP: &str = "kube-proxy";
pub(super) const SVC_CHAIN: &str = "service-ULMVA6XW-ns1/svc1/tcp/p80";
pub(super) const EP1_CHAIN: &str = "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80";
pub(super) const EP2_CHAIN: &str = "endpoint-XGJ2WDZG-ns1/svc1/tcp/p80__10.180.0.2/80";

pub(super) fn parse(raw: &[u8]) -> (NetlinkHeader, NetlinkPayload<NftMessage>) {
    let msg = NetlinkMessage::<NftMessage>::deserialize(raw).expect("fixture parses");
    assert_eq!(msg.header.length as usize, raw.len(), "one whole message");
    (msg.header, msg.payload)
}

pub(super) fn message(raw: &[u8]) -> NftMessage {
    match parse(raw).1 {
        NetlinkPayload::InnerMessage(m) => m,
        other => panic!("not an nf_tables message: {other:?}"),
    }
}

/// Emits `msg` under the flags and sequence number of `raw`'s header.
pub(super) fn emit_like(raw: &[u8], msg: &NftMessage) -> Vec<u8> {
    let (header, _) = parse(raw);
    let mut buf = Vec::new();
    append(&mut buf, msg, header.flags, header.sequence_number);
    buf
}

pub(super) fn assert_request(raw: &[u8], expected: NftMessage) {
    assert_eq!(message(raw), expected, "parse(raw) == expected");
    assert_eq!(emit_like(raw, &expected), raw, "emit(expected) == raw");
}

pub(super) fn assert_reply(raw: &[u8], expected: NftMessage) {
    assert_eq!(message(raw), expected, "parse(raw) == expected");
    assert_eq!(
        message(&emit_like(raw, &expected)),
        expected,
        "parse(emit(expected))"
    );
}

pub(super) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn ipv4(a: u8, b: u8, c: u8, d: u8) -> Vec<u8> {
    Key::new().ipv4(Ipv4Addr::new(a, b, c, d)).into_bytes()
}

/// `ADDR . PROTO . PORT`, the key of kube-proxy's service-ips map.
fn addr_proto_port(addr: Ipv4Addr, proto: u8, port: u16) -> Vec<u8> {
    Key::new().ipv4(addr).proto(proto).port(port).into_bytes()
}

/// nft's user data for a set of big-endian keys (`type ipv4_addr`).
fn big_endian_keys() -> UserData {
    UserData::new().u32(udata::SET_KEY_BYTEORDER, udata::BYTEORDER_BIG_ENDIAN)
}

fn comment(text: &str) -> Option<Vec<u8>> {
    Some(UserData::new().string(udata::COMMENT, text).into_bytes())
}

#[test]
fn new_table_with_comment() {
    let table = Table {
        flags: Some(0),
        userdata: comment("rules for kube-proxy"),
        ..Table::new(Family::Ip, KP)
    };
    assert_request(NEW_TABLE, NftMessage::NewTable(table));
}

#[test]
fn tables_of_ip6_and_deletion() {
    let table = Table {
        flags: Some(0),
        ..Table::new(Family::Ip6, KP)
    };
    assert_request(NEW_TABLE_IP6, NftMessage::NewTable(table));
    assert_request(
        DEL_TABLE_IP6,
        NftMessage::DelTable(Table::new(Family::Ip6, KP)),
    );
}

#[test]
fn base_and_regular_chains() {
    let nat = Chain::new(Family::Ip, KP, "nat-prerouting").base(
        "nat",
        Hook::Prerouting,
        priority::DSTNAT,
    );
    assert_request(NEW_CHAIN_NAT_PREROUTING, NftMessage::NewChain(nat));
    let forward = Chain::new(Family::Ip, KP, "filter-forward").base("filter", Hook::Forward, -110);
    assert_request(NEW_CHAIN_FILTER_FORWARD, NftMessage::NewChain(forward));
    let output = Chain::new(Family::Ip6, KP, "nat-output").base("nat", Hook::Output, -100);
    assert_request(NEW_CHAIN_IP6_NAT_OUTPUT, NftMessage::NewChain(output));
    let regular = Chain::new(Family::Ip, KP, "services");
    assert_request(NEW_CHAIN_REGULAR, NftMessage::NewChain(regular));
    let deleted = Chain::new(Family::Ip, KP, "reject-chain");
    assert_request(DEL_CHAIN, NftMessage::DelChain(deleted));
}

#[test]
fn sets_of_addresses() {
    let cluster_ips = Set {
        flags: Some(0),
        key_type: Some(DataType::IPV4_ADDR),
        key_len: Some(4),
        id: Some(1),
        userdata: Some(
            big_endian_keys()
                .string(udata::SET_COMMENT, "Active ClusterIPs")
                .into_bytes(),
        ),
        ..Set::new(Family::Ip, KP, "cluster-ips")
    };
    assert_request(NEW_SET_CLUSTER_IPS, NftMessage::NewSet(cluster_ips));
    let ip6 = Set {
        flags: Some(0),
        key_type: Some(DataType::IPV6_ADDR),
        key_len: Some(16),
        id: Some(1),
        userdata: Some(big_endian_keys().into_bytes()),
        ..Set::new(Family::Ip6, KP, "cluster-ips")
    };
    assert_request(NEW_SET_IP6, NftMessage::NewSet(ip6));
    let deleted = Set::new(Family::Ip, KP, "cluster-ips");
    assert_request(DEL_SET, NftMessage::DelSet(deleted));
}

#[test]
fn interval_and_timeout_sets() {
    let interval = Set {
        flags: Some(set_flags::INTERVAL),
        key_type: Some(DataType::IPV4_ADDR),
        key_len: Some(4),
        id: Some(1),
        userdata: Some(big_endian_keys().into_bytes()),
        ..Set::new(Family::Ip, KP, "firewall-src")
    };
    assert_request(NEW_SET_INTERVAL, NftMessage::NewSet(interval));
    let affinity = Set {
        flags: Some(set_flags::TIMEOUT | set_flags::EVAL),
        key_type: Some(DataType::IPV4_ADDR),
        key_len: Some(4),
        id: Some(1),
        timeout_ms: Some(3 * 3600 * 1000),
        userdata: Some(big_endian_keys().into_bytes()),
        ..Set::new(Family::Ip, KP, "affinity-5OJB2KTY")
    };
    assert_request(NEW_SET_TIMEOUT, NftMessage::NewSet(affinity));
}

#[test]
fn verdict_map_with_concatenated_key() {
    let key = DataType::concat(&[
        DataType::IPV4_ADDR,
        DataType::INET_PROTO,
        DataType::INET_SERVICE,
    ]);
    assert_eq!(key, 0x730d);
    let map = Set {
        flags: Some(set_flags::MAP),
        key_type: Some(key),
        key_len: Some(12),
        data_type: Some(DataType::VERDICT),
        data_len: Some(0),
        id: Some(1),
        userdata: Some(hex(concat!(
            "000400000000010400000000030800040d00000001000604000000000732",
            "436c757374657249502c2045787465726e616c495020616e64204c6f616442",
            "616c616e636572204950207472616666696300"
        ))),
        ..Set::new(Family::Ip, KP, "service-ips")
    };
    assert_request(NEW_MAP_SERVICE_IPS, NftMessage::NewSet(map));
}

#[test]
fn map_with_concatenated_data() {
    let map = Set {
        flags: Some(set_flags::MAP),
        key_type: Some(0x730d),
        key_len: Some(12),
        data_type: Some(DataType::concat(&[
            DataType::IPV4_ADDR,
            DataType::INET_SERVICE,
        ])),
        data_len: Some(8),
        id: Some(1),
        userdata: Some(hex(
            "000400000000010400000000030800040d0000000100040800040d0000000100060400000000",
        )),
        ..Set::new(Family::Ip, KP, "service-dnat")
    };
    assert_request(NEW_MAP_CONCAT_DATA, NftMessage::NewSet(map));
}

fn elems(set: &str, set_id: Option<u32>, elements: Vec<Element>) -> ElemList {
    ElemList {
        set_id,
        elements,
        ..ElemList::new(Family::Ip, KP, set)
    }
}

#[test]
fn address_elements_added_created_and_deleted() {
    let one = || vec![Element::new(ipv4(10, 96, 0, 1))];
    let added = elems("cluster-ips", Some(1), one());
    assert_request(NEW_ELEM_ADDR, NftMessage::NewSetElems(added.clone()));
    assert_eq!(parse(CREATE_ELEM_EXISTS).0.flags & NLM_F_EXCL, NLM_F_EXCL);
    assert_request(CREATE_ELEM_EXISTS, NftMessage::NewSetElems(added));
    let deleted = elems("cluster-ips", None, one());
    assert_request(DEL_ELEM, NftMessage::DelSetElems(deleted));
    let ip6 = ElemList {
        family: Family::Ip6,
        ..elems(
            "cluster-ips",
            Some(7),
            vec![Element::new(
                Key::new()
                    .ipv6("fd00:10:96::1".parse::<Ipv6Addr>().unwrap())
                    .into_bytes(),
            )],
        )
    };
    assert_request(NEW_ELEM_IP6, NftMessage::NewSetElems(ip6));
}

#[test]
fn verdict_elements_with_concatenated_keys_and_comment() {
    let goto = || Data::Verdict(Verdict::Goto(SVC_CHAIN.into()));
    let service = Element {
        userdata: comment("ns1/svc1:p80"),
        ..Element::new(addr_proto_port(Ipv4Addr::new(10, 96, 0, 10), 6, 80)).with_data(goto())
    };
    let list = elems("service-ips", Some(2), vec![service]);
    assert_request(NEW_ELEM_VERDICT, NftMessage::NewSetElems(list));
    let nodeport = Element::new(Key::new().proto(6).port(30080).into_bytes()).with_data(goto());
    let list = elems("service-nodeports", Some(3), vec![nodeport]);
    assert_request(NEW_ELEM_NODEPORT, NftMessage::NewSetElems(list));
}

#[test]
fn interval_timeout_and_data_elements() {
    let end = |key| Element {
        flags: Some(ELEM_F_INTERVAL_END),
        ..Element::new(key)
    };
    // `{ 10.0.0.0/8, 192.168.1.1 }`: nft sends every interval as start and end-after.
    let intervals = vec![
        end(ipv4(0, 0, 0, 0)),
        Element::new(ipv4(10, 0, 0, 0)),
        end(ipv4(11, 0, 0, 0)),
        Element::new(ipv4(192, 168, 1, 1)),
        end(ipv4(192, 168, 1, 2)),
    ];
    let list = elems("firewall-src", Some(4), intervals);
    assert_request(NEW_ELEM_INTERVAL, NftMessage::NewSetElems(list));
    let timed = Element {
        timeout_ms: Some(3600 * 1000),
        ..Element::new(ipv4(10, 0, 1, 1))
    };
    let list = elems("affinity-5OJB2KTY", Some(5), vec![timed]);
    assert_request(NEW_ELEM_TIMEOUT, NftMessage::NewSetElems(list));
    let dnat =
        Element::new(addr_proto_port(Ipv4Addr::new(10, 96, 0, 10), 6, 80)).with_data(Data::Value(
            Key::new()
                .ipv4(Ipv4Addr::new(10, 180, 0, 1))
                .port(8080)
                .into_bytes(),
        ));
    let list = elems("service-dnat", Some(6), vec![dnat]);
    assert_request(NEW_ELEM_CONCAT_DATA, NftMessage::NewSetElems(list));
}

#[test]
fn generation_request_and_reply() {
    assert_request(GETGEN_REQUEST, NftMessage::GetGen);
    let reply = Generation {
        id: 1,
        proc_pid: Some(0x6e4f),
        proc_name: Some("nft".into()),
    };
    assert_reply(GETGEN_REPLY, NftMessage::NewGen(reply));
    assert_eq!(Generation::next(7), 8);
    assert_eq!(
        Generation::next(u32::MAX),
        1,
        "the kernel skips generation 0"
    );
}

#[test]
fn dump_requests() {
    // nft left the last padding byte of its GET requests uninitialised (the kernel ignores
    // padding); kproxy writes zeros.
    let zero_last_pad = |raw: &[u8]| {
        let mut raw = raw.to_vec();
        assert_eq!(raw.pop(), Some(3), "the stray byte of the capture");
        raw.push(0);
        raw
    };
    let table = Get::new(Object::Table, Family::Ip, None, Some(KP));
    assert_request(&zero_last_pad(DUMP_TABLES_REQUEST), NftMessage::Get(table));
    let elems = Get::new(Object::SetElem, Family::Ip, Some(KP), Some("cluster-ips"));
    assert_request(&zero_last_pad(DUMP_ELEMS_REQUEST), NftMessage::Get(elems));
}

#[test]
fn dumped_table_and_chains() {
    let table = Table {
        flags: Some(0),
        use_count: Some(0x10),
        handle: Some(1),
        userdata: comment("rules for kube-proxy"),
        ..Table::new(Family::Ip, KP)
    };
    assert_reply(DUMP_TABLE_REPLY, NftMessage::NewTable(table));
    let base = Chain {
        handle: Some(1),
        flags: Some(CHAIN_F_BASE),
        use_count: Some(1),
        ..Chain::new(Family::Ip, KP, "nat-prerouting").base("nat", Hook::Prerouting, -100)
    };
    assert_reply(DUMP_CHAIN_BASE_REPLY, NftMessage::NewChain(base));
    let regular = Chain {
        handle: Some(3),
        use_count: Some(5),
        ..Chain::new(Family::Ip, KP, "services")
    };
    assert_reply(DUMP_CHAIN_REGULAR_REPLY, NftMessage::NewChain(regular));
}

#[test]
fn dumped_sets() {
    let set = Set {
        handle: Some(0xb),
        key_type: Some(DataType::IPV4_ADDR),
        key_len: Some(4),
        desc: Some(SetDesc::default()),
        userdata: Some(
            big_endian_keys()
                .string(udata::SET_COMMENT, "Active ClusterIPs")
                .into_bytes(),
        ),
        ..Set::new(Family::Ip, KP, "cluster-ips")
    };
    assert_reply(DUMP_SET_REPLY, NftMessage::NewSet(set));
    let NftMessage::NewSet(map) = message(DUMP_MAP_REPLY) else {
        panic!("not a set")
    };
    assert_eq!(map.name, "service-ips");
    assert!(map.has_flag(set_flags::MAP));
    assert_eq!(
        (map.key_type, map.key_len, map.data_type, map.data_len),
        (Some(0x730d), Some(12), Some(DataType::VERDICT), Some(16)),
        "the kernel reports a verdict's size, nft sends 0"
    );
}

#[test]
fn dumped_elements() {
    let list = elems("cluster-ips", None, vec![Element::new(ipv4(10, 96, 0, 1))]);
    assert_reply(DUMP_ELEMS_REPLY, NftMessage::NewSetElems(list));
    let service = Element {
        userdata: comment("ns1/svc1:p80"),
        ..Element::new(addr_proto_port(Ipv4Addr::new(10, 96, 0, 10), 6, 80))
            .with_data(Data::Verdict(Verdict::Goto(SVC_CHAIN.into())))
    };
    let list = elems("service-ips", None, vec![service]);
    assert_reply(DUMP_ELEMS_VERDICT_REPLY, NftMessage::NewSetElems(list));
}

#[test]
fn dump_done_and_eexist_error() {
    assert!(matches!(parse(DUMP_DONE).1, NetlinkPayload::Done(_)));
    let (header, payload) = parse(ERROR_EEXIST);
    let NetlinkPayload::Error(err) = payload else {
        panic!("not an error")
    };
    let ack = Ack::decode(&header, &err);
    assert_eq!(
        ack,
        Ack {
            seq: 1,
            errno: 17,
            request_type: 0x0a0c,
            message: None,
            bad_attr_offset: Some(0x40),
        }
    );
    // The offset points into the echoed request: at the first (and only) element of
    // CREATE_ELEM_EXISTS, the one that exists.
    let offset = ack.bad_attr_offset.unwrap() as usize;
    assert_eq!(
        &CREATE_ELEM_EXISTS[offset - 4..offset],
        &[20, 0, 3, 0x80],
        "in the list"
    );
    assert_eq!(
        &CREATE_ELEM_EXISTS[offset + 2..offset + 4],
        &[1, 0x80],
        "element 1"
    );
}

#[test]
fn whole_batch_matches_nft() {
    let mut batch = Batch::new();
    let table = Table {
        flags: Some(0),
        userdata: comment("rules for kube-proxy"),
        ..Table::new(Family::Ip, KP)
    };
    batch.push(NftMessage::NewTable(table));
    let encoded = batch.encode(0);
    assert_eq!(
        encoded.bytes, BATCH_NEW_TABLE,
        "begin, NEWTABLE, end, seq 0..=2"
    );
    assert_eq!((encoded.index_of(1), encoded.index_of(2)), (Some(0), None));
    assert_eq!(encoded.next_seq(), 3);
}

#[test]
fn batch_begin_carries_the_generation() {
    let encoded = Batch::new().with_genid(0x0102_0304).encode(5);
    let begin = &encoded.bytes[..28];
    assert_eq!(
        u16::from_ne_bytes([begin[4], begin[5]]),
        0x10,
        "NFNL_MSG_BATCH_BEGIN"
    );
    assert_eq!(
        &begin[16..20],
        &[0, 0, 0, 10],
        "AF_UNSPEC, v0, res_id NFNL_SUBSYS_NFTABLES"
    );
    assert_eq!(
        &begin[20..28],
        &[8, 0, 1, 0, 1, 2, 3, 4],
        "NFNL_BATCH_GENID, big-endian"
    );
    assert_eq!(
        message(begin),
        NftMessage::BatchBegin {
            genid: Some(0x0102_0304)
        }
    );
}

#[test]
fn large_element_lists_become_several_messages() {
    let elements = (0..10_000u32)
        .map(|i| Element::new(i.to_be_bytes().to_vec()))
        .collect::<Vec<_>>();
    let mut batch = Batch::new();
    batch.push(NftMessage::NewSetElems(elems(
        "big",
        None,
        elements.clone(),
    )));
    assert!(batch.len() > 1);
    let mut seen = Vec::new();
    for m in batch.messages() {
        let NftMessage::NewSetElems(l) = m else {
            panic!("not elements")
        };
        assert!(l.elements.iter().map(Element::encoded_len).sum::<usize>() <= MAX_ELEMENT_BYTES);
        seen.extend(l.elements.iter().cloned());
    }
    assert_eq!(seen, elements, "every element once, in order");
}

#[test]
fn split_batches_chain_their_generations() {
    let mut batch = Batch::new().with_genid(41);
    for i in 0..100 {
        batch.push(NftMessage::NewChain(Chain::new(
            Family::Ip,
            KP,
            format!("chain-{i}"),
        )));
    }
    let whole = batch.encode(1);
    let parts = batch.encode_split(1, 2000);
    assert!(parts.len() > 1);
    let mut index = 0;
    let mut seq = 1;
    for (i, part) in parts.iter().enumerate() {
        assert!(
            part.bytes.len() <= 2000,
            "part {i} is {} bytes",
            part.bytes.len()
        );
        assert_eq!(
            part.genid,
            Some(41 + i as u32),
            "each part expects the previous commit"
        );
        assert_eq!((part.first_index, part.begin_seq), (index, seq));
        assert_eq!(part.index_of(seq + 1), Some(index));
        index += part.count;
        seq = part.next_seq() + 1;
    }
    assert_eq!(index, batch.len());
    let single = batch.encode_split(1, usize::MAX);
    assert_eq!(single, vec![whole], "no split when it fits");
}
