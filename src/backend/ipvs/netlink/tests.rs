//! Byte-fixture tests both ways: `parse(raw) == expected` and `emit(expected) == raw`, on
//! messages captured from ipvsadm and the kernel (see `fixtures.rs` for where they come from).

use std::net::Ipv4Addr;

use netlink_packet_core::{
    NLA_F_NESTED, NLM_F_DUMP, NLM_F_MULTIPART, NLM_F_REQUEST, NetlinkBuffer, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;

use super::fixtures::*;
use super::*;
use crate::model::Protocol;

type Msg = NetlinkMessage<GenlMessage<IpvsMessage>>;

/// The IPVS family id of the captures.
const FAMILY: u16 = 0x20;

fn parse(raw: &[u8]) -> Msg {
    Msg::deserialize(raw).expect("fixture parses")
}

fn payload(raw: &[u8]) -> IpvsMessage {
    match parse(raw).payload {
        NetlinkPayload::InnerMessage(genl) => {
            assert_eq!(genl.header.version, 1);
            genl.payload
        }
        other => panic!("not an IPVS message: {other:?}"),
    }
}

/// Emits `message` under the netlink header (flags, sequence, port) of `raw`.
fn emit_like(raw: &[u8], message: IpvsMessage) -> Vec<u8> {
    let mut genl = GenlMessage::from_payload(message);
    genl.set_resolved_family_id(FAMILY);
    let mut msg = NetlinkMessage::new(parse(raw).header, NetlinkPayload::InnerMessage(genl));
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

/// Clears `NLA_F_NESTED` on every nest of an emitted message. kproxy flags its nests (as
/// libnl does); the kernel builds its replies without the flag. Nothing else may differ.
fn without_nested_flags(mut buf: Vec<u8>) -> Vec<u8> {
    fn walk(buf: &mut [u8]) {
        let mut pos = 0;
        while pos + 4 <= buf.len() {
            let len = u16::from_ne_bytes([buf[pos], buf[pos + 1]]) as usize;
            let kind = u16::from_ne_bytes([buf[pos + 2], buf[pos + 3]]);
            if kind & NLA_F_NESTED != 0 {
                buf[pos + 2..pos + 4].copy_from_slice(&(kind & !NLA_F_NESTED).to_ne_bytes());
                walk(&mut buf[pos + 4..pos + len]);
            }
            pos += len.div_ceil(4) * 4;
        }
    }
    walk(&mut buf[20..]); // after nlmsghdr (16) and genlmsghdr (4)
    buf
}

fn assert_request(raw: &[u8], expected: IpvsMessage) {
    assert_eq!(payload(raw), expected, "parse(raw) == expected");
    assert_eq!(emit_like(raw, expected), raw, "emit(expected) == raw");
}

fn assert_reply(raw: &[u8], expected: IpvsMessage) {
    assert_eq!(payload(raw), expected, "parse(raw) == expected");
    assert_eq!(
        without_nested_flags(emit_like(raw, expected)),
        raw,
        "emit(expected) == raw, nest flags aside"
    );
}

fn tcp_443() -> ServiceKey {
    ServiceKey::new(Protocol::Tcp, Ipv4Addr::new(10, 96, 0, 1), 443)
}

fn udp_53() -> ServiceKey {
    ServiceKey::new(Protocol::Udp, Ipv4Addr::new(10, 96, 0, 10), 53)
}

/// What ipvsadm sends as the service of a destination operation or a delete: the key, an
/// empty scheduler and default options. kproxy sends the key alone.
fn ipvsadm_service_ref(key: ServiceKey) -> Vec<SvcAttr> {
    let mut attrs = key.to_attrs();
    attrs.extend([
        SvcAttr::SchedName(String::new()),
        SvcAttr::Flags(IpvsFlags {
            flags: 0,
            mask: u32::MAX,
        }),
        SvcAttr::Timeout(0),
        SvcAttr::Netmask(u32::MAX),
    ]);
    attrs
}

fn zero_stats<C: Counter + Default>() -> Vec<StatsAttr<C>> {
    let z = C::default();
    use StatsAttr::*;
    vec![
        Conns(z),
        InPkts(z),
        OutPkts(z),
        InBytes(0),
        OutBytes(0),
        Cps(z),
        InPps(z),
        OutPps(z),
        InBps(z),
        OutBps(z),
    ]
}

#[test]
fn add_service_is_byte_for_byte_what_ipvsadm_sends() {
    let svc = VirtualService::new(tcp_443(), "rr");
    assert_request(ADD_SERVICE_TCP_RR, IpvsMessage::new_service(&svc));
    let header = parse(ADD_SERVICE_TCP_RR).header;
    assert_eq!(header.flags, NLM_F_REQUEST | netlink_packet_core::NLM_F_ACK);
}

#[test]
fn persistent_service_sets_the_flag_and_timeout() {
    let mut svc = VirtualService::new(udp_53(), "wrr");
    svc.persistent_timeout = Some(10800);
    assert_request(
        ADD_SERVICE_UDP_WRR_PERSISTENT,
        IpvsMessage::new_service(&svc),
    );
    let attrs = svc.to_attrs();
    assert!(attrs.contains(&SvcAttr::Flags(IpvsFlags {
        flags: 1,
        mask: u32::MAX
    })));
    assert!(attrs.contains(&SvcAttr::Timeout(10800)));
}

#[test]
fn edit_service_sends_the_whole_service() {
    let svc = VirtualService::new(udp_53(), "lc");
    assert_request(EDIT_SERVICE_UDP_LC, IpvsMessage::set_service(&svc));
}

#[test]
fn delete_service_names_the_service() {
    let expected = IpvsMessage::new(
        IpvsCmd::DelService,
        vec![IpvsAttr::Service(ipvsadm_service_ref(udp_53()))],
    );
    assert_request(DEL_SERVICE_UDP, expected);
    // kproxy sends the identifying prefix of the same list.
    let ours = IpvsMessage::del_service(&udp_53());
    assert_eq!(
        ours.service().unwrap(),
        &payload(DEL_SERVICE_UDP).service().unwrap()[..4]
    );
}

#[test]
fn add_and_edit_destination_carry_ipvsadms_dest_attributes() {
    for (raw, cmd, weight) in [
        (ADD_DEST_TCP, IpvsCmd::NewDest, 1),
        (EDIT_DEST_TCP, IpvsCmd::SetDest, 3),
    ] {
        let rs = RealServer::new(Ipv4Addr::new(10, 244, 1, 2), 8443, weight);
        let expected = IpvsMessage::new(
            cmd,
            vec![
                IpvsAttr::Service(ipvsadm_service_ref(tcp_443())),
                IpvsAttr::Dest(rs.to_attrs()),
            ],
        );
        assert_request(raw, expected);
        let ours = match cmd {
            IpvsCmd::NewDest => IpvsMessage::new_dest(&tcp_443(), &rs),
            _ => IpvsMessage::set_dest(&tcp_443(), &rs),
        };
        assert_eq!(ours.dest(), payload(raw).dest());
        assert_eq!(ours.service().unwrap(), tcp_443().to_attrs());
    }
}

#[test]
fn delete_destination_names_the_destination() {
    let parsed = payload(DEL_DEST_TCP);
    assert_eq!(parsed.cmd, IpvsCmd::DelDest);
    let mut rs = RealServer::new(Ipv4Addr::new(10, 244, 1, 2), 8443, 1);
    rs.fwd_method = FwdMethod::DirectRoute;
    // ipvsadm fills in its defaults (-g, -w 1); the kernel only reads the key.
    assert_eq!(parsed.dest().unwrap(), rs.to_attrs());
    let ours = IpvsMessage::del_dest(&tcp_443(), &rs);
    assert_eq!(ours.dest().unwrap(), &parsed.dest().unwrap()[..3]);
    assert_request(DEL_DEST_TCP, parsed);
}

#[test]
fn dump_requests_are_byte_for_byte_what_ipvsadm_sends() {
    assert_request(GET_SERVICES_REQUEST, IpvsMessage::get_services());
    assert_request(GET_DESTS_REQUEST, IpvsMessage::get_dests(&tcp_443()));
    for raw in [GET_SERVICES_REQUEST, GET_DESTS_REQUEST] {
        assert_eq!(parse(raw).header.flags & NLM_F_DUMP, NLM_F_DUMP);
    }
}

#[test]
fn services_dump_decodes_both_services_of_one_recv() {
    let first_len = NetlinkBuffer::new(SERVICES_DUMP).length() as usize;
    let (first, second) = SERVICES_DUMP.split_at(first_len);
    assert_eq!(parse(first).header.flags, NLM_F_MULTIPART);

    let service = |key: ServiceKey, sched: &str| {
        let mut attrs = key.to_attrs();
        attrs.extend([
            SvcAttr::SchedName(sched.into()),
            SvcAttr::Flags(IpvsFlags {
                flags: constants::IP_VS_SVC_F_HASHED,
                mask: u32::MAX,
            }),
            SvcAttr::Timeout(0),
            SvcAttr::Netmask(u32::MAX),
            SvcAttr::Stats(zero_stats()),
            SvcAttr::Stats64(zero_stats()),
        ]);
        IpvsMessage::new(IpvsCmd::NewService, vec![IpvsAttr::Service(attrs)])
    };
    assert_reply(first, service(udp_53(), "lc"));
    assert_reply(second, service(tcp_443(), "rr"));

    let typed = VirtualService::from_attrs(payload(first).service().unwrap()).unwrap();
    let mut expected = VirtualService::new(udp_53(), "lc");
    expected.stats = Some(Stats::default());
    assert_eq!(typed, expected);
}

#[test]
fn dests_dump_decodes_counters_in_kernel_order() {
    let dest = vec![
        DestAttr::Addr(Ipv4Addr::new(10, 244, 1, 2).into()),
        DestAttr::Port(8443),
        DestAttr::FwdMethod(constants::IP_VS_CONN_F_MASQ),
        DestAttr::Weight(3),
        DestAttr::TunType(0),
        DestAttr::TunPort(0),
        DestAttr::TunFlags(0),
        DestAttr::UThresh(0),
        DestAttr::LThresh(0),
        DestAttr::ActiveConns(0),
        DestAttr::InactConns(0),
        DestAttr::PersistConns(0),
        DestAttr::AddrFamily(constants::AF_INET),
        DestAttr::Stats(zero_stats()),
        DestAttr::Stats64(zero_stats()),
    ];
    assert_reply(
        DESTS_DUMP,
        IpvsMessage::new(IpvsCmd::NewDest, vec![IpvsAttr::Dest(dest)]),
    );
    let typed = RealServer::from_attrs(payload(DESTS_DUMP).dest().unwrap()).unwrap();
    let mut expected = RealServer::new(Ipv4Addr::new(10, 244, 1, 2), 8443, 3);
    expected.stats = Some(Stats::default());
    assert_eq!(typed, expected);
}

#[test]
fn timeouts_round_trip() {
    let t = Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    };
    assert_request(SET_CONFIG, IpvsMessage::set_config(&t));
    assert_request(GET_CONFIG_REQUEST, IpvsMessage::get_config());
    let reply = payload(GET_CONFIG_REPLY);
    assert_eq!(reply.cmd, IpvsCmd::SetConfig);
    assert_eq!(Timeouts::from_attrs(&reply.nlas), t);
    assert_reply(
        GET_CONFIG_REPLY,
        IpvsMessage::new(IpvsCmd::SetConfig, t.to_attrs()),
    );
}

#[test]
fn info_reply_reuses_attribute_numbers_for_plain_values() {
    assert_request(GET_INFO_REQUEST, IpvsMessage::get_info());
    assert_reply(
        GET_INFO_REPLY,
        IpvsMessage::new(
            IpvsCmd::SetInfo,
            vec![
                IpvsAttr::InfoVersion(0x010201),
                IpvsAttr::InfoConnTabSize(4096),
            ],
        ),
    );
}

#[test]
fn flush_has_no_attributes() {
    assert_request(FLUSH, IpvsMessage::flush());
}

#[test]
fn done_and_error_replies_are_netlink_control_messages() {
    assert!(matches!(parse(DUMP_DONE).payload, NetlinkPayload::Done(_)));
    match parse(ADD_DEST_EXISTS_ERROR).payload {
        NetlinkPayload::Error(e) => assert_eq!(e.raw_code(), -17), // -EEXIST
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn unknown_attributes_decode_as_other_and_emit_unchanged() {
    // A service nest holding a future attribute 42 (4 bytes) next to a known port.
    let mut raw = ADD_SERVICE_TCP_RR.to_vec();
    raw.extend([8, 0, 42, 0, 0xde, 0xad, 0xbe, 0xef]);
    raw[0] += 8; // nlmsg_len
    raw[20] += 8; // the service nest's length
    let parsed = payload(&raw);
    let nest = parsed.service().unwrap();
    assert_eq!(
        nest.last(),
        Some(&SvcAttr::Other(netlink_packet_core::DefaultNla::new(
            42,
            vec![0xde, 0xad, 0xbe, 0xef]
        )))
    );
    assert_eq!(emit_like(&raw, parsed), raw);
}

#[test]
fn foreign_services_are_refused_by_name() {
    let mut v6 = tcp_443().to_attrs();
    v6[0] = SvcAttr::Af(constants::AF_INET6);
    v6.push(SvcAttr::SchedName("rr".into()));
    assert_eq!(
        VirtualService::from_attrs(&v6),
        Err(AttrError::UnsupportedFamily(10))
    );
    let fwmark = vec![
        SvcAttr::Af(constants::AF_INET),
        SvcAttr::Fwmark(7),
        SvcAttr::SchedName("rr".into()),
    ];
    assert_eq!(
        VirtualService::from_attrs(&fwmark),
        Err(AttrError::FwmarkService(7))
    );
    let mut icmp = tcp_443().to_attrs();
    icmp[1] = SvcAttr::Protocol(1);
    icmp.push(SvcAttr::SchedName("rr".into()));
    assert_eq!(
        VirtualService::from_attrs(&icmp),
        Err(AttrError::UnsupportedProtocol(1))
    );
}

#[test]
fn typed_service_survives_attrs_and_back() {
    let mut svc = VirtualService::new(tcp_443(), "sh");
    svc.persistent_timeout = Some(60);
    svc.flags = ServiceFlags(ServiceFlags::SH_PORT | ServiceFlags::SH_FALLBACK);
    svc.netmask = Ipv4Addr::new(255, 255, 255, 0);
    assert_eq!(VirtualService::from_attrs(&svc.to_attrs()), Ok(svc));

    let mut rs = RealServer::new(Ipv4Addr::new(10, 244, 9, 9), 80, 0);
    rs.upper_threshold = 100;
    rs.lower_threshold = 10;
    assert_eq!(RealServer::from_attrs(&rs.to_attrs()), Ok(rs));
}

#[test]
fn truncated_messages_are_errors_not_panics() {
    for raw in [ADD_DEST_TCP, SERVICES_DUMP, DESTS_DUMP] {
        for cut in (20..raw.len()).step_by(7) {
            let mut short = raw[..cut].to_vec();
            short[..4].copy_from_slice(&(cut as u32).to_ne_bytes());
            let _ = Msg::deserialize(&short); // must return, Ok or Err
        }
    }
}
