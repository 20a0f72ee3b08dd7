//! Byte fixtures both ways: kproxy's requests must equal what the `conntrack` tool sent
//! (or, for what the tool never sends, the bytes the kernel's headers define), and the
//! tool's and kernel's bytes must decode to the expected messages and encode back
//! unchanged.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NetlinkBuffer, NetlinkMessage, NetlinkPayload};

use super::consts::*;
use super::fixtures::*;
use super::{ConntrackAttr, ConntrackCommand, ConntrackMessage, Entry, Request, Tuple, TupleAttr};

/// The sequence number the tool used, so that kproxy's bytes can match.
fn seq(fixture: &[u8]) -> u32 {
    u32::from_le_bytes(fixture[8..12].try_into().unwrap())
}

/// Splits a buffer of netlink messages, as one `recv` (or several joined) returns them,
/// keeping each message's bytes.
fn messages(buf: &[u8]) -> Vec<(&[u8], NetlinkMessage<ConntrackMessage>)> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < buf.len() {
        let len = NetlinkBuffer::new_checked(&buf[offset..]).unwrap().length() as usize;
        let raw = &buf[offset..offset + len];
        out.push((raw, NetlinkMessage::deserialize(raw).expect("decodes")));
        offset += len.div_ceil(4) * 4;
    }
    out
}

/// Every conntrack message in `buf` encodes back to its own bytes.
fn reencodes(buf: &[u8]) {
    for (raw, message) in messages(buf) {
        let mut out = vec![0; message.buffer_len()];
        message.serialize(&mut out);
        assert_eq!(out, raw, "re-encoding {message:?}");
    }
}

fn entries(buf: &[u8]) -> Vec<Entry> {
    messages(buf)
        .into_iter()
        .filter_map(|(_, m)| match m.payload {
            NetlinkPayload::InnerMessage(m) => Some(Entry::from_message(&m).expect("an entry")),
            _ => None,
        })
        .collect()
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn tuple(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, protocol: u8) -> Tuple {
    Tuple {
        src,
        dst,
        protocol,
        src_port: sport,
        dst_port: dport,
    }
}

/// `request` encodes to `fixture`, and `fixture` decodes to `request`.
fn both_ways(fixture: &[u8], request: Request) {
    let seq = seq(fixture);
    assert_eq!(request.to_bytes(seq), fixture, "encoding {request:?}");
    let decoded = NetlinkMessage::<ConntrackMessage>::deserialize(fixture).expect("decodes");
    assert_eq!(decoded, request.into_netlink(seq), "decoding");
}

#[test]
fn dump_requests_match_the_tool() {
    both_ways(DUMP_IPV4_REQUEST, Request::dump(AF_INET));
    both_ways(DUMP_IPV6_REQUEST, Request::dump(AF_INET6));
}

#[test]
fn ipv4_dump_decodes_every_entry_and_reencodes_unchanged() {
    let got = entries(DUMP_IPV4_REPLY);
    let pod = v4([10, 244, 1, 2]);
    let summary: Vec<_> = got.iter().map(|e| (e.orig, e.reply, e.zone)).collect();
    let udp = (
        tuple(pod, 40000, v4([10, 96, 0, 10]), 53, IPPROTO_UDP),
        tuple(v4([10, 244, 1, 5]), 5353, pod, 40000, IPPROTO_UDP),
        0,
    );
    let zoned = (
        tuple(
            v4([10, 244, 1, 3]),
            40000,
            v4([10, 96, 0, 10]),
            53,
            IPPROTO_UDP,
        ),
        tuple(
            v4([10, 244, 1, 5]),
            5353,
            v4([10, 244, 1, 3]),
            40000,
            IPPROTO_UDP,
        ),
        7,
    );
    let sctp = (
        tuple(pod, 40000, v4([10, 96, 0, 11]), 9000, IPPROTO_SCTP),
        tuple(v4([10, 244, 1, 6]), 9000, pod, 40000, IPPROTO_SCTP),
        0,
    );
    let tcp = (
        tuple(pod, 40000, v4([10, 96, 0, 12]), 80, IPPROTO_TCP),
        tuple(v4([10, 244, 1, 7]), 8080, pod, 40000, IPPROTO_TCP),
        0,
    );
    for expected in [udp, zoned, sctp, tcp] {
        assert!(summary.contains(&expected), "{expected:?} in {summary:?}");
    }
    assert_eq!(got.len(), 4);
    for e in &got {
        assert_eq!(e.family, AF_INET);
        assert!(e.id.is_some(), "the kernel names every entry");
        let timeout = e.timeout.expect("a timeout");
        assert!(timeout > 0 && timeout <= 120, "{timeout}");
        assert_ne!(e.status & IPS_CONFIRMED, 0, "{e}");
    }
    reencodes(DUMP_IPV4_REPLY);
}

#[test]
fn unknown_attributes_decode_as_other() {
    let (_, first) = &messages(DUMP_IPV4_REPLY)[0];
    let NetlinkPayload::InnerMessage(m) = &first.payload else {
        panic!("{first:?}")
    };
    assert_eq!(m.command, ConntrackCommand::New);
    // CTA_SYNPROXY (24), which kproxy has no use for, comes through whole.
    assert!(
        m.attrs
            .iter()
            .any(|a| matches!(a, ConntrackAttr::Other(nla) if netlink_packet_core::Nla::kind(nla) & 0xff == 24)),
        "{:?}",
        m.attrs
    );
}

#[test]
fn ipv6_dump_decodes_and_reencodes_unchanged() {
    let got = entries(DUMP_IPV6_REPLY);
    let addr = |s: &str| IpAddr::V6(s.parse::<Ipv6Addr>().unwrap());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].family, AF_INET6);
    assert_eq!(
        got[0].orig,
        tuple(addr("fd00::2"), 40000, addr("fd00:96::10"), 53, IPPROTO_UDP)
    );
    assert_eq!(
        got[0].reply,
        tuple(addr("fd00::5"), 5353, addr("fd00::2"), 40000, IPPROTO_UDP)
    );
    reencodes(DUMP_IPV6_REPLY);
}

/// What `conntrack -G` sends to look one entry up is what a delete by tuple carries: the
/// original tuple, encoded exactly as the tool encodes it.
#[test]
fn a_tuple_encodes_as_the_tool_encodes_it() {
    let orig = tuple(
        v4([10, 244, 1, 2]),
        40001,
        v4([10, 96, 0, 10]),
        53,
        IPPROTO_UDP,
    );
    let entry = Entry {
        family: AF_INET,
        orig,
        reply: orig,
        status: 0,
        timeout: None,
        zone: 0,
        id: None,
        mark: 0,
    };
    let mut get = Request::delete(&entry);
    get.message.command = ConntrackCommand::Get;
    both_ways(GET_MISSING_REQUEST, get);
}

#[test]
fn a_missing_entry_is_enoent_with_the_request_echoed() {
    let (_, reply) = &messages(GET_MISSING_REPLY)[0];
    let NetlinkPayload::Error(error) = &reply.payload else {
        panic!("{reply:?}")
    };
    assert_eq!(error.code.map(|c| -c.get()), Some(2), "ENOENT");
    assert_eq!(error.header.len(), GET_MISSING_REQUEST.len());
}

#[test]
fn the_tools_delete_decodes_and_kproxys_delete_names_the_same_tuple() {
    reencodes(DELETE_UDP);
    let (_, message) = &messages(DELETE_UDP)[0];
    let NetlinkPayload::InnerMessage(tool) = &message.payload else {
        panic!("{message:?}")
    };
    assert_eq!(tool.command, ConntrackCommand::Delete);
    let dumped = entries(DUMP_IPV4_REPLY)
        .into_iter()
        .find(|e| e.orig.dst == v4([10, 96, 0, 10]) && e.zone == 0)
        .unwrap();
    let ours = Request::delete(&dumped);
    let bytes = ours.to_bytes(seq(DELETE_UDP));
    // The same header fields and original tuple as the tool's (the tool sends back every
    // dumped attribute; the kernel reads only the tuple, the zone and the id).
    let tuple_len = 4 + 48; // CTA_TUPLE_ORIG's header and value
    assert_eq!(bytes[4..16], DELETE_UDP[4..16], "type, flags, seq, pid");
    assert_eq!(bytes[16..20 + tuple_len], DELETE_UDP[16..20 + tuple_len]);
    let decoded = NetlinkMessage::<ConntrackMessage>::deserialize(&bytes).unwrap();
    let NetlinkPayload::InnerMessage(decoded) = decoded.payload else {
        panic!()
    };
    assert_eq!(
        decoded.attrs,
        vec![
            ConntrackAttr::TupleOrig(dumped.orig.to_attrs()),
            ConntrackAttr::Id(dumped.id.unwrap()),
        ]
    );
    let (_, ack) = &messages(DELETE_UDP_ACK)[0];
    assert!(matches!(&ack.payload, NetlinkPayload::Error(e) if e.code.is_none()));
}

#[test]
fn a_zoned_delete_carries_the_zone_as_the_tool_does() {
    reencodes(DELETE_ZONE);
    let (_, message) = &messages(DELETE_ZONE)[0];
    let NetlinkPayload::InnerMessage(tool) = &message.payload else {
        panic!()
    };
    assert!(
        tool.attrs.contains(&ConntrackAttr::Zone(7)),
        "{:?}",
        tool.attrs
    );
    let dumped = entries(DUMP_IPV4_REPLY)
        .into_iter()
        .find(|e| e.zone == 7)
        .unwrap();
    let mut ours = Request::delete(&dumped);
    ours.message
        .attrs
        .retain(|a| !matches!(a, ConntrackAttr::Id(_)));
    let attrs: Vec<_> = tool
        .attrs
        .iter()
        .filter(|a| matches!(a, ConntrackAttr::TupleOrig(_) | ConntrackAttr::Zone(_)))
        .cloned()
        .collect();
    assert_eq!(ours.message.attrs, attrs);
}

/// conntrack-tools 1.4.7 filters by protocol in userspace, so these bytes come from the
/// kernel's headers: CTA_TUPLE_ORIG { CTA_TUPLE_PROTO { CTA_PROTO_NUM 17 } } and CTA_FILTER
/// { ORIG_FLAGS CTA_FILTER_F_CTA_PROTO_NUM, REPLY_FLAGS 0 } (host byte order). The kernel
/// test `conntrack_table::a_protocol_dump_returns_only_that_protocol` shows the kernel
/// takes them.
#[test]
fn a_protocol_dump_carries_a_kernel_filter() {
    let bytes = Request::dump_protocol(AF_INET, IPPROTO_UDP).to_bytes(7);
    let flags = CTA_FILTER_F_CTA_PROTO_NUM.to_ne_bytes();
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &[0x38, 0, 0, 0, 0x01, 0x01, 0x01, 0x03, 7, 0, 0, 0, 0, 0, 0, 0][..],
        &[AF_INET, 0, 0, 0],
        &[0x10, 0, 0x01, 0x80, 0x0c, 0, 0x02, 0x80, 0x05, 0, 0x01, 0, 17, 0, 0, 0],
        &[0x14, 0, 25, 0x80, 0x08, 0, 0x01, 0],
        &flags,
        &[0x08, 0, 0x02, 0, 0, 0, 0, 0],
    ]
    .concat();
    assert_eq!(bytes, expected);
    let decoded = NetlinkMessage::<ConntrackMessage>::deserialize(&bytes).unwrap();
    assert_eq!(
        decoded,
        Request::dump_protocol(AF_INET, IPPROTO_UDP).into_netlink(7)
    );
}

#[test]
fn a_tuple_reads_back_from_its_attributes() {
    let t = tuple(
        IpAddr::V6("fd00::1".parse().unwrap()),
        1,
        IpAddr::V6("fd00::2".parse().unwrap()),
        2,
        IPPROTO_SCTP,
    );
    assert_eq!(Tuple::from_attrs(&t.to_attrs()).unwrap(), t);
    assert!(Tuple::from_attrs(&[TupleAttr::Zone(1)]).is_err());
}
