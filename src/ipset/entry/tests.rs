use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use proptest::prelude::*;

use super::*;

fn set_type_of(entry: &Entry) -> SetType {
    match entry {
        Entry::IpPort { .. } => SetType::HashIpPort,
        Entry::IpPortIp { .. } => SetType::HashIpPortIp,
        Entry::IpPortNet { .. } => SetType::HashIpPortNet,
        Entry::Port(_) => SetType::ALL_PORTS,
        Entry::Ip(_) => SetType::HashIp,
        Entry::Net(_) => SetType::HashNet,
    }
}

fn any_entry() -> impl Strategy<Value = Entry> {
    let ip = any::<u32>().prop_map(Ipv4Addr::from);
    let proto = prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Sctp)
    ];
    prop_oneof![
        (ip.clone(), proto.clone(), any::<u16>()).prop_map(|(ip, proto, port)| Entry::IpPort {
            ip,
            proto,
            port
        }),
        (
            ip.clone(),
            proto.clone(),
            any::<u16>(),
            ip.clone(),
            1u8..=32
        )
            .prop_map(|(ip, proto, port, net, len)| Entry::IpPortNet {
                ip,
                proto,
                port,
                net: Ipv4Net::new(net, len).unwrap().trunc(),
            }),
        (ip.clone(), proto, any::<u16>(), ip.clone()).prop_map(|(ip, proto, port, ip2)| {
            Entry::IpPortIp {
                ip,
                proto,
                port,
                ip2,
            }
        }),
        any::<u16>().prop_map(Entry::Port),
        ip.clone().prop_map(Entry::Ip),
        (ip, 1u8..=32).prop_map(|(ip, len)| Entry::Net(Ipv4Net::new(ip, len).unwrap().trunc())),
    ]
}

proptest! {
    #[test]
    fn attributes_and_text_round_trip(entry in any_entry()) {
        let set_type = set_type_of(&entry);
        prop_assert!(set_type.accepts(&entry));
        prop_assert_eq!(Entry::from_data(&set_type, &entry.to_data()), Ok(entry));
        prop_assert_eq!(Entry::parse(&set_type, &entry.to_string()), Ok(entry));
    }
}

#[test]
fn display_matches_ipset_list() {
    let cases = [
        (
            Entry::IpPort {
                ip: Ipv4Addr::new(10, 96, 0, 1),
                proto: Protocol::Tcp,
                port: 443,
            },
            "10.96.0.1,tcp:443",
        ),
        (
            Entry::IpPortIp {
                ip: Ipv4Addr::new(10, 244, 1, 5),
                proto: Protocol::Sctp,
                port: 8080,
                ip2: Ipv4Addr::new(10, 244, 1, 6),
            },
            "10.244.1.5,sctp:8080,10.244.1.6",
        ),
        (Entry::Port(30080), "30080"),
        (Entry::Ip(Ipv4Addr::new(192, 168, 1, 1)), "192.168.1.1"),
        (Entry::Net("10.0.0.0/8".parse().unwrap()), "10.0.0.0/8"),
        (Entry::Net("10.1.2.3/32".parse().unwrap()), "10.1.2.3"),
    ];
    for (entry, text) in cases {
        assert_eq!(entry.to_string(), text);
    }
}

#[test]
fn nets_normalize_like_the_kernel() {
    let net = Entry::Net("10.1.2.3/8".parse().unwrap());
    assert_eq!(net.normalized(), Entry::Net("10.0.0.0/8".parse().unwrap()));
}

#[test]
fn bad_text_and_attributes_are_errors() {
    assert!(Entry::parse(&SetType::HashIpPort, "10.96.0.1,icmp:0").is_err());
    assert!(Entry::parse(&SetType::HashIpPort, "10.96.0.1").is_err());
    assert!(Entry::parse(&SetType::HashIpPortIp, "10.96.0.1,tcp:1,1.2.3.4,5").is_err());
    assert!(Entry::parse(&SetType::ALL_PORTS, "70000").is_err());
    let icmp = [
        DataAttr::Ip(Ipv4Addr::new(1, 1, 1, 1).into()),
        DataAttr::Port(0),
        DataAttr::Proto(1),
    ];
    assert_eq!(
        Entry::from_data(&SetType::HashIpPort, &icmp),
        Err(EntryError::Protocol(1))
    );
    let v6 = [DataAttr::Ip("::1".parse().unwrap())];
    assert!(matches!(
        Entry::from_data(&SetType::HashIp, &v6),
        Err(EntryError::Ipv6(_))
    ));
    assert_eq!(
        Entry::from_data(&SetType::HashIp, &[]),
        Err(EntryError::Missing("an address"))
    );
}

#[test]
fn types_accept_only_their_entries() {
    let bitmap = SetType::BitmapPort {
        from: 30000,
        to: 32767,
    };
    assert!(bitmap.accepts(&Entry::Port(30080)));
    assert!(!bitmap.accepts(&Entry::Port(80)));
    assert!(!SetType::HashIp.accepts(&Entry::Port(80)));
    assert!(!SetType::HashNet.accepts(&Entry::Net("0.0.0.0/0".parse().unwrap())));
}
