//! Byte fixtures both ways: kproxy's requests must equal what the `ipset` tool sent,
//! and the tool's (and kernel's) bytes must decode to the expected messages.

use std::net::Ipv4Addr;

use netlink_packet_core::{NetlinkBuffer, NetlinkMessage, NetlinkPayload};

use crate::ipset::attr::CommandAttr;
use crate::ipset::data::DataAttr;
use crate::ipset::entry::Entry;
use crate::ipset::error::{KernelError, Operation};
use crate::ipset::fixtures::*;
use crate::ipset::message::{IpsetCommand, IpsetMessage};
use crate::ipset::reply::{
    VersionRange, failed_line, listings, protocol_range, revision_range, set_names,
};
use crate::ipset::request::{IfPresent, Request};
use crate::ipset::set_type::{CreateOptions, SetType};
use crate::model::Protocol;

const P: u8 = 7;

/// The sequence number the tool used, so that kproxy's bytes can match.
fn seq(fixture: &[u8]) -> u32 {
    u32::from_le_bytes(fixture[8..12].try_into().unwrap())
}

/// `request` encodes to `fixture`, and `fixture` decodes to `request`.
fn both_ways(fixture: &[u8], request: Request) {
    let seq = seq(fixture);
    assert_eq!(request.to_bytes(seq), fixture, "encoding {request:?}");
    let decoded = NetlinkMessage::<IpsetMessage>::deserialize(fixture).expect("decodes");
    assert_eq!(decoded, request.into_netlink(seq), "decoding");
}

/// Splits a buffer of netlink messages, as one `recv` (or several joined) returns them.
fn messages(buf: &[u8]) -> Vec<NetlinkMessage<IpsetMessage>> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < buf.len() {
        let len = NetlinkBuffer::new_checked(&buf[offset..]).unwrap().length() as usize;
        out.push(NetlinkMessage::deserialize(&buf[offset..offset + len]).expect("decodes"));
        offset += len.div_ceil(4) * 4;
    }
    out
}

fn inner(buf: &[u8]) -> Vec<IpsetMessage> {
    messages(buf)
        .into_iter()
        .filter_map(|m| match m.payload {
            NetlinkPayload::InnerMessage(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// The positive error code of an NLMSG_ERROR fixture (0 for an ACK).
fn error_code(buf: &[u8]) -> i32 {
    match &messages(buf)[0].payload {
        NetlinkPayload::Error(e) => -e.raw_code(),
        other => panic!("not an error: {other:?}"),
    }
}

fn ip_port(ip: [u8; 4], proto: Protocol, port: u16) -> Entry {
    Entry::IpPort {
        ip: Ipv4Addr::from(ip),
        proto,
        port,
    }
}

#[test]
fn protocol_request_and_reply() {
    both_ways(PROTOCOL_REQUEST, Request::protocol(P));
    let reply = &inner(PROTOCOL_REPLY)[0];
    assert_eq!(reply.command, IpsetCommand::Protocol);
    assert_eq!(
        protocol_range(reply).unwrap(),
        VersionRange { min: 6, max: 7 }
    );
}

#[test]
fn type_request_and_reply() {
    both_ways(
        TYPE_HASH_IP_PORT_REQUEST,
        Request::type_revisions(P, &SetType::HashIpPort),
    );
    let reply = &inner(TYPE_HASH_IP_PORT_REPLY)[0];
    assert_eq!(reply.type_name(), Some("hash:ip,port"));
    assert_eq!(
        revision_range(reply).unwrap(),
        VersionRange { min: 0, max: 7 }
    );
}

#[test]
fn replies_without_addresses_encode_back_to_the_same_bytes() {
    for fixture in [PROTOCOL_REPLY, TYPE_HASH_IP_PORT_REPLY, LIST_NAMES_REPLY] {
        let mut out = Vec::new();
        for message in messages(fixture) {
            let mut buf = vec![0; message.buffer_len()];
            message.serialize(&mut buf);
            out.extend(buf);
        }
        assert_eq!(out, fixture);
    }
}

#[test]
fn create_requests() {
    let kube_sizes = CreateOptions {
        hash_size: Some(1024),
        max_elem: Some(65536),
    };
    let none = CreateOptions::default();
    let cases = [
        (
            CREATE_HASH_IP_PORT,
            "KUBE-CLUSTER-IP",
            SetType::HashIpPort,
            7,
            kube_sizes,
        ),
        (
            CREATE_HASH_IP_PORT_IP,
            "KUBE-LOOP-BACK",
            SetType::HashIpPortIp,
            6,
            kube_sizes,
        ),
        (
            CREATE_BITMAP_PORT,
            "KUBE-NODE-PORT-TCP",
            SetType::ALL_PORTS,
            3,
            none,
        ),
        (CREATE_HASH_IP, "ips", SetType::HashIp, 6, none),
        (CREATE_HASH_NET, "nets", SetType::HashNet, 7, none),
        (
            CREATE_HASH_IP_PORT_NET,
            "KUBE-LOAD-BALANCER-SOURCE-CIDR",
            SetType::HashIpPortNet,
            8,
            kube_sizes,
        ),
    ];
    for (fixture, name, set_type, revision, options) in cases {
        let request = Request::create(P, name, &set_type, revision, &options, IfPresent::Fail);
        both_ways(fixture, request);
    }
}

#[test]
fn add_del_test_requests() {
    let lb = Entry::IpPortIp {
        ip: Ipv4Addr::new(10, 244, 1, 5),
        proto: Protocol::Tcp,
        port: 8080,
        ip2: Ipv4Addr::new(10, 244, 1, 5),
    };
    let https = ip_port([10, 96, 0, 1], Protocol::Tcp, 443);
    let cases = [
        (ADD_IP_PORT_TCP, "KUBE-CLUSTER-IP", https, IfPresent::Fail),
        (
            ADD_IP_PORT_UDP,
            "KUBE-CLUSTER-IP",
            ip_port([10, 96, 0, 10], Protocol::Udp, 53),
            IfPresent::Fail,
        ),
        (ADD_EXIST, "KUBE-CLUSTER-IP", https, IfPresent::Ignore),
        (ADD_IP_PORT_IP, "KUBE-LOOP-BACK", lb, IfPresent::Fail),
        (
            ADD_PORT,
            "KUBE-NODE-PORT-TCP",
            Entry::Port(30080),
            IfPresent::Fail,
        ),
        (
            ADD_IP,
            "ips",
            Entry::Ip(Ipv4Addr::new(192, 168, 1, 1)),
            IfPresent::Fail,
        ),
        (
            ADD_NET,
            "nets",
            Entry::Net("10.0.0.0/8".parse().unwrap()),
            IfPresent::Fail,
        ),
        (
            ADD_IP_PORT_NET,
            "KUBE-LOAD-BALANCER-SOURCE-CIDR",
            Entry::IpPortNet {
                ip: Ipv4Addr::new(5, 6, 7, 8),
                proto: Protocol::Tcp,
                port: 80,
                net: "203.0.113.0/24".parse().unwrap(),
            },
            IfPresent::Fail,
        ),
    ];
    for (fixture, name, entry, if_present) in cases {
        both_ways(fixture, Request::add(P, name, &entry, if_present));
    }
    let sctp = ip_port([10, 96, 0, 11], Protocol::Sctp, 9000);
    both_ways(
        DEL_IP_PORT_SCTP,
        Request::del(P, "KUBE-CLUSTER-IP", &sctp, IfPresent::Fail),
    );
    both_ways(TEST_IP_PORT, Request::test(P, "KUBE-CLUSTER-IP", &https));
}

#[test]
fn set_level_requests() {
    both_ways(SWAP, Request::swap(P, "KUBE-CLUSTER-IP", "tmp"));
    both_ways(FLUSH, Request::flush(P, "tmp"));
    both_ways(DESTROY, Request::destroy(P, "tmp"));
    both_ways(LIST_REQUEST, Request::list(P, "KUBE-CLUSTER-IP"));
    both_ways(LIST_NAMES_REQUEST, Request::list_names(P));
}

#[test]
fn batch_request_matches_ipset_restore_but_for_the_command_line_number() {
    let entries = [
        ip_port([10, 96, 0, 20], Protocol::Tcp, 80),
        ip_port([10, 96, 0, 21], Protocol::Udp, 53),
    ];
    let request = Request::batch(
        IpsetCommand::Add,
        P,
        "KUBE-CLUSTER-IP",
        &entries,
        IfPresent::Fail,
    );
    // The command-level IPSET_ATTR_LINENO (bytes 0x30..0x38) carries the first line
    // number in the tool's message and 0 in kproxy's, see `Request::batch`.
    let mut expected = RESTORE_ADD_BATCH.to_vec();
    assert_eq!(expected[0x30..0x38], [0x08, 0x00, 0x09, 0x40, 0, 0, 0, 1]);
    expected[0x37] = 0;
    both_ways(&expected, request);
}

#[test]
fn acks_and_errors_map_to_kernel_errors() {
    assert_eq!(error_code(ACK_CREATE), 0);
    assert_eq!(error_code(TEST_MEMBER_ACK), 0);
    let cases = [
        (
            TEST_NOT_MEMBER_REPLY,
            Operation::Test,
            false,
            KernelError::EntryMissing,
        ),
        (
            ADD_DUPLICATE_REPLY,
            Operation::Add,
            false,
            KernelError::EntryExists,
        ),
        (
            DESTROY_MISSING_REPLY,
            Operation::Destroy,
            false,
            KernelError::NoSuchSet,
        ),
        (
            RESTORE_OUT_OF_RANGE_REPLY,
            Operation::Add,
            true,
            KernelError::OutOfRange,
        ),
    ];
    for (fixture, op, bitmap, expected) in cases {
        assert_eq!(
            KernelError::from_code(error_code(fixture), op, bitmap),
            expected
        );
    }
}

#[test]
fn a_failed_batch_names_its_line() {
    let NetlinkPayload::Error(error) = &messages(RESTORE_OUT_OF_RANGE_REPLY)[0].payload else {
        panic!("not an error")
    };
    assert_eq!(failed_line(&error.header), Some(3));
    // A plain error echo (no batch) blames no line.
    let NetlinkPayload::Error(error) = &messages(DESTROY_MISSING_REPLY)[0].payload else {
        panic!("not an error")
    };
    assert_eq!(failed_line(&error.header), None);
}

#[test]
fn list_reply_of_one_set() {
    let mut buf = LIST_REPLY.to_vec();
    buf.extend_from_slice(LIST_DONE);
    assert!(matches!(
        messages(&buf).last().unwrap().payload,
        NetlinkPayload::Done(_)
    ));
    let sets = listings(&inner(&buf)).unwrap();
    assert_eq!(sets.len(), 1);
    let set = &sets[0];
    assert_eq!(set.name, "KUBE-CLUSTER-IP");
    assert_eq!(set.set_type, Some(SetType::HashIpPort));
    assert_eq!(set.revision, 7);
    assert_eq!(set.hash_size(), Some(1024));
    assert_eq!(set.max_elem(), Some(65536));
    assert_eq!(set.elements(), Some(2));
    assert_eq!(set.references(), Some(0));
    let shown: Vec<String> = set.entries.iter().map(Entry::to_string).collect();
    assert_eq!(shown, ["10.96.0.1,tcp:443", "10.96.0.10,udp:53"]);
    assert!(set.undecodable.is_empty());
}

#[test]
fn list_reply_of_every_set() {
    let sets = listings(&inner(LIST_ALL_REPLY)).unwrap();
    let summary: Vec<(String, String, Vec<String>)> = sets
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.set_type.unwrap().to_string(),
                s.entries.iter().map(Entry::to_string).collect(),
            )
        })
        .collect();
    let expected = [
        (
            "KUBE-CLUSTER-IP",
            "hash:ip,port",
            vec!["10.96.0.1,tcp:443", "10.96.0.10,udp:53"],
        ),
        (
            "KUBE-LOOP-BACK",
            "hash:ip,port,ip",
            vec!["10.244.1.5,tcp:8080,10.244.1.5"],
        ),
        (
            "KUBE-NODE-PORT-TCP",
            "bitmap:port range 0-65535",
            vec!["30080"],
        ),
        ("ips", "hash:ip", vec!["192.168.1.1"]),
        ("nets", "hash:net", vec!["10.0.0.0/8", "10.1.2.3"]),
    ];
    let expected: Vec<(String, String, Vec<String>)> = expected
        .iter()
        .map(|(n, t, e)| {
            (
                n.to_string(),
                t.to_string(),
                e.iter().map(|s| s.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(summary, expected);
}

#[test]
fn list_names_reply() {
    let names = set_names(&inner(LIST_NAMES_REPLY)).unwrap();
    assert_eq!(
        names,
        [
            "KUBE-CLUSTER-IP",
            "KUBE-LOOP-BACK",
            "KUBE-NODE-PORT-TCP",
            "ips",
            "nets"
        ]
    );
}

#[test]
fn unknown_attributes_and_entries_decode_instead_of_failing() {
    // An entry with a protocol kproxy does not model (icmp) and an unknown attribute.
    let header = IpsetMessage::new(
        IpsetCommand::List,
        vec![
            CommandAttr::SetName("s".into()),
            CommandAttr::TypeName("hash:ip,port".into()),
            CommandAttr::Family(2),
            CommandAttr::Data(vec![]),
            CommandAttr::Adt(vec![
                vec![
                    DataAttr::Ip(Ipv4Addr::new(1, 2, 3, 4).into()),
                    DataAttr::Port(0),
                    DataAttr::Proto(1),
                ],
                vec![
                    DataAttr::Ip(Ipv4Addr::new(1, 2, 3, 4).into()),
                    DataAttr::Port(80),
                    DataAttr::Proto(6),
                ],
            ]),
        ],
    );
    let request = Request {
        flags: 0,
        message: header,
    };
    let bytes = request.to_bytes(1);
    let mut with_unknown = bytes.clone();
    // Append an unknown command-level attribute 30 and fix the length.
    with_unknown.extend_from_slice(&[0x08, 0x00, 30, 0x00, 1, 2, 3, 4]);
    let len = with_unknown.len() as u32;
    with_unknown[..4].copy_from_slice(&len.to_le_bytes());
    let decoded = inner(&with_unknown);
    assert!(matches!(
        decoded[0].attrs.last(),
        Some(CommandAttr::Other(_))
    ));
    let sets = listings(&decoded).unwrap();
    assert_eq!(sets[0].entries.len(), 1);
    assert_eq!(sets[0].undecodable.len(), 1);
}

#[test]
fn entries_before_their_header_are_an_error() {
    let orphan = IpsetMessage::new(
        IpsetCommand::List,
        vec![
            CommandAttr::SetName("s".into()),
            CommandAttr::Adt(vec![vec![DataAttr::Port(1)]]),
        ],
    );
    assert!(listings(&[orphan]).is_err());
}

#[test]
fn truncated_messages_are_errors_not_panics() {
    for fixture in [LIST_REPLY, CREATE_HASH_IP_PORT, RESTORE_OUT_OF_RANGE_REPLY] {
        for cut in 0..fixture.len() {
            let _ = NetlinkMessage::<IpsetMessage>::deserialize(&fixture[..cut]);
            // The same cut with a length that agrees, so the attributes themselves end
            // early.
            if cut >= 16 {
                let mut short = fixture[..cut].to_vec();
                short[..4].copy_from_slice(&(cut as u32).to_le_bytes());
                let _ = NetlinkMessage::<IpsetMessage>::deserialize(&short);
            }
        }
    }
}

proptest::proptest! {
    #[test]
    fn random_payloads_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let mut buf = LIST_REPLY[..16].to_vec();
        buf.extend(body);
        let len = buf.len() as u32;
        buf[..4].copy_from_slice(&len.to_le_bytes());
        if let Ok(message) = NetlinkMessage::<IpsetMessage>::deserialize(&buf)
            && let NetlinkPayload::InnerMessage(m) = message.payload
        {
            let _ = listings(&[m]);
        }
    }
}
