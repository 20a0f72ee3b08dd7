//! The layout as netlink objects: each match and action becomes the expressions `nft`
//! would send for it (register use included), so the kernel holds the same rules whether
//! kproxy or `nft -f` of the `--dry-run` output wrote them.

use super::layout::*;
use super::names::{HAIRPIN_CONNECTIONS, TABLE};
use crate::nftables::expr::*;
use crate::nftables::udata::{self, UserData};
use crate::nftables::{
    Chain, Data, DataType, Element, Family, Key, Rule, Set, Table, Verdict, set_flags,
};

pub const FAMILY: Family = Family::Ip;
const RTN_LOCAL: u32 = 2;
/// `IPS_DST_NAT`: conntrack's "this connection was DNATed" status bit.
const IPS_DST_NAT: u32 = 1 << 5;

pub fn table() -> Table {
    Table {
        userdata: Some(
            UserData::new()
                .string(udata::COMMENT, "rules for kube-proxy")
                .into_bytes(),
        ),
        ..Table::new(FAMILY, TABLE)
    }
}

pub fn chain(spec: &ChainSpec) -> Chain {
    let c = Chain::new(FAMILY, TABLE, spec.name.as_str());
    match spec.base {
        Some(b) => c.base(b.chain_type, b.hook, b.priority),
        None => c,
    }
}

pub fn rule(chain: &str, r: &NftRule) -> Rule {
    let mut exprs = Vec::new();
    for m in &r.matches {
        matcher(m, &mut exprs);
    }
    action(&r.action, &mut exprs);
    Rule {
        userdata: r
            .comment
            .as_ref()
            .map(|c| UserData::new().string(udata::COMMENT, c).into_bytes()),
        ..Rule::new(FAMILY, TABLE, chain).with_exprs(exprs)
    }
}

pub fn set(spec: &SetSpec) -> Set {
    use DataType as T;
    let addr_proto_port = T::concat(&[T::IPV4_ADDR, T::INET_PROTO, T::INET_SERVICE]);
    let proto_port = T::concat(&[T::INET_PROTO, T::INET_SERVICE]);
    let (key_type, key_len, map, extra_flags, timeout_ms) = match spec.kind {
        SetKind::Addrs => (T::IPV4_ADDR, 4, false, 0, None),
        SetKind::AddrProtoPortVmap => (addr_proto_port, 12, true, 0, None),
        SetKind::ProtoPortVmap => (proto_port, 8, true, 0, None),
        SetKind::Hairpin => (
            T::concat(&[T::IPV4_ADDR, T::IPV4_ADDR, T::INET_PROTO, T::INET_SERVICE]),
            16,
            false,
            0,
            None,
        ),
        SetKind::Affinity { timeout_seconds } => (
            T::IPV4_ADDR,
            4,
            false,
            set_flags::TIMEOUT | set_flags::EVAL,
            Some(u64::from(timeout_seconds) * 1000),
        ),
    };
    let flags = extra_flags | if map { set_flags::MAP } else { 0 };
    let mut userdata = UserData::new();
    if key_type == T::IPV4_ADDR {
        userdata = userdata.u32(udata::SET_KEY_BYTEORDER, udata::BYTEORDER_BIG_ENDIAN);
    }
    if let Some(c) = spec.comment {
        userdata = userdata.string(udata::SET_COMMENT, c);
    }
    let userdata = userdata.into_bytes();
    Set {
        flags: Some(flags).filter(|f| *f != 0),
        key_type: Some(key_type),
        key_len: Some(key_len),
        data_type: map.then_some(T::VERDICT),
        data_len: map.then_some(0),
        timeout_ms,
        userdata: Some(userdata).filter(|u| !u.is_empty()),
        ..Set::new(FAMILY, TABLE, spec.name.as_str())
    }
}

pub fn key(k: &ElemKey) -> Vec<u8> {
    let p = |p| proto_number(p);
    match *k {
        ElemKey::Addr(a) => Key::new().ipv4(a).into_bytes(),
        ElemKey::AddrProtoPort(a, proto, port) => {
            Key::new().ipv4(a).proto(p(proto)).port(port).into_bytes()
        }
        ElemKey::ProtoPort(proto, port) => Key::new().proto(p(proto)).port(port).into_bytes(),
        ElemKey::Hairpin(a, b, proto, port) => Key::new()
            .ipv4(a)
            .ipv4(b)
            .proto(p(proto))
            .port(port)
            .into_bytes(),
    }
}

pub fn element(e: &ElementSpec) -> Element {
    let mut el = Element::new(key(&e.key));
    el.data = e.verdict.as_ref().map(|v| {
        Data::Verdict(match v {
            ElemVerdict::Goto(c) => Verdict::Goto(c.clone()),
            ElemVerdict::Drop => Verdict::Drop,
        })
    });
    el.userdata = e
        .comment
        .as_ref()
        .map(|c| UserData::new().string(udata::COMMENT, c).into_bytes());
    el
}

fn verdict(v: Verdict) -> Expr {
    Immediate::verdict(v).into()
}

fn cmp(op: CmpOp, data: impl Into<Vec<u8>>) -> Expr {
    Cmp::new(Reg::R1, op, data).into()
}

fn masked(mask: u32) -> Expr {
    Bitwise::mask_xor(Reg::R1, Reg::R1, mask.to_ne_bytes().into(), vec![0; 4]).into()
}

fn addr_in(daddr: bool, net: &ipnet::Ipv4Net, op: CmpOp, out: &mut Vec<Expr>) {
    out.push(Payload::ip_addr(daddr, Reg::R1).into());
    if net.prefix_len() < 32 {
        let mask = net.netmask().octets().to_vec();
        out.push(Bitwise::mask_xor(Reg::R1, Reg::R1, mask, vec![0; 4]).into());
    }
    out.push(cmp(op, net.network().octets()));
}

fn fib_local(flags: u32, out: &mut Vec<Expr>) {
    out.push(
        Fib {
            dreg: Reg::R1,
            result: fib_result::ADDRTYPE,
            flags,
        }
        .into(),
    );
    out.push(cmp(CmpOp::Eq, RTN_LOCAL.to_ne_bytes()));
}

fn matcher(m: &Match, out: &mut Vec<Expr>) {
    match m {
        Match::CtStateNew => {
            out.push(Ct::load(CtKey::STATE, Reg::R1).into());
            out.push(masked(ct_state::NEW));
            out.push(cmp(CmpOp::Neq, [0; 4]));
        }
        Match::CtStatusDnat => {
            out.push(Ct::load(CtKey::STATUS, Reg::R1).into());
            out.push(masked(IPS_DST_NAT));
            out.push(cmp(CmpOp::Neq, [0; 4]));
        }
        Match::DaddrInSet(s) => {
            out.push(Payload::ip_addr(true, Reg::R1).into());
            out.push(Lookup::set(*s, Reg::R1).into());
        }
        Match::SaddrInSet(s) => {
            out.push(Payload::ip_addr(false, Reg::R1).into());
            out.push(Lookup::set(s.as_str(), Reg::R1).into());
        }
        Match::Daddr(n) => addr_in(true, n, CmpOp::Eq, out),
        Match::Saddr(n) => addr_in(false, n, CmpOp::Eq, out),
        Match::NotSaddr(n) => addr_in(false, n, CmpOp::Neq, out),
        Match::DaddrNotLoopback => {
            // `ip daddr != 127.0.0.0/8`: nft compares the first byte only.
            out.push(Payload::load(PayloadBase::Network, 16, 1, Reg::R1).into());
            out.push(cmp(CmpOp::Neq, [127]));
        }
        Match::FibDaddrLocal => fib_local(fib_flags::DADDR, out),
        Match::FibSaddrLocal => fib_local(fib_flags::SADDR, out),
        Match::MarkAny(mark) => {
            out.push(Meta::load(MetaKey::MARK, Reg::R1).into());
            out.push(masked(*mark));
            out.push(cmp(CmpOp::Neq, [0; 4]));
        }
        Match::L4proto(p) => {
            out.push(Meta::load(MetaKey::L4PROTO, Reg::R1).into());
            out.push(cmp(CmpOp::Eq, [proto_number(*p)]));
        }
        Match::OneIn(n) => {
            out.push(Numgen::random(Reg::R1, *n).into());
            out.push(cmp(CmpOp::Eq, 0u32.to_ne_bytes()));
        }
        Match::Hairpin => {
            out.push(Payload::ip_addr(false, Reg::R1).into());
            out.push(Payload::ip_addr(true, Reg::r32(1)).into());
            out.push(Meta::load(MetaKey::L4PROTO, Reg::r32(2)).into());
            out.push(Payload::th_port(true, Reg::r32(3)).into());
            out.push(Lookup::set(HAIRPIN_CONNECTIONS, Reg::R1).into());
        }
    }
}

fn set_mark(mask: u32, xor: u32, out: &mut Vec<Expr>) {
    out.push(Meta::load(MetaKey::MARK, Reg::R1).into());
    out.push(
        Bitwise::mask_xor(
            Reg::R1,
            Reg::R1,
            mask.to_ne_bytes().into(),
            xor.to_ne_bytes().into(),
        )
        .into(),
    );
    out.push(Meta::set(MetaKey::MARK, Reg::R1).into());
}

fn masquerade() -> Expr {
    Masq {
        flags: Some(nat_flags::PROTO_RANDOM_FULLY),
        ..Masq::default()
    }
    .into()
}

fn action(a: &Action, out: &mut Vec<Expr>) {
    match a {
        Action::Jump(c) => out.push(verdict(Verdict::Jump(c.clone()))),
        Action::Goto(c) => out.push(verdict(Verdict::Goto(c.clone()))),
        Action::Drop => out.push(verdict(Verdict::Drop)),
        Action::Reject => out.push(
            Reject {
                reject_type: RejectType::IcmpUnreach,
                icmp_code: Some(RejectType::ICMP_PORT_UNREACH),
            }
            .into(),
        ),
        Action::VmapAddrProtoPort(m) => {
            out.push(Payload::ip_addr(true, Reg::R1).into());
            out.push(Meta::load(MetaKey::L4PROTO, Reg::r32(1)).into());
            out.push(Payload::th_port(true, Reg::r32(2)).into());
            out.push(Lookup::map(*m, Reg::R1, Reg::VERDICT).into());
        }
        Action::VmapProtoPort(m) => {
            out.push(Meta::load(MetaKey::L4PROTO, Reg::R1).into());
            out.push(Payload::th_port(true, Reg::r32(1)).into());
            out.push(Lookup::map(*m, Reg::R1, Reg::VERDICT).into());
        }
        Action::SetMark(m) => set_mark(!m, *m, out),
        Action::ClearMarkAndMasquerade(m) => {
            set_mark(!0, *m, out);
            out.push(masquerade());
        }
        Action::Masquerade => out.push(masquerade()),
        Action::Dnat(to) => {
            out.push(Immediate::value(Reg::R1, to.ip().octets()).into());
            out.push(Immediate::value(Reg::R2, to.port().to_be_bytes()).into());
            out.push(Nat::dnat(FAMILY, Reg::R1, Some(Reg::R2)).into());
        }
        Action::UpdateAffinity(s) => {
            out.push(Payload::ip_addr(false, Reg::R1).into());
            out.push(Dynset::update(s.as_str(), Reg::R1).into());
        }
    }
}
