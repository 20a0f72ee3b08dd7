//! A connection tuple: addresses, transport protocol and ports of one direction of an
//! entry. On the wire a `CTA_TUPLE_ORIG` / `CTA_TUPLE_REPLY` nest holds `CTA_TUPLE_IP`
//! (source and destination address) and `CTA_TUPLE_PROTO` (protocol number and ports).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorContext, NLA_F_NESTED, Nla, NlaBuffer, NlasIterator,
    Parseable, parse_u8, parse_u16_be,
};

use super::consts::*;

/// One attribute inside a tuple nest. Unknown ones decode to `Other`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TupleAttr {
    Ip(Vec<IpAttr>),
    Proto(Vec<ProtoAttr>),
    /// A zone that applies to this direction only.
    Zone(u16),
    Other(DefaultNla),
}

/// One attribute inside `CTA_TUPLE_IP`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpAttr {
    V4Src(Ipv4Addr),
    V4Dst(Ipv4Addr),
    V6Src(Ipv6Addr),
    V6Dst(Ipv6Addr),
    Other(DefaultNla),
}

/// One attribute inside `CTA_TUPLE_PROTO`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtoAttr {
    Num(u8),
    SrcPort(u16),
    DstPort(u16),
    Other(DefaultNla),
}

/// One direction of a UDP, SCTP or TCP entry. Ports are 0 for protocols without ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// `IPPROTO_*`.
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
}

impl Tuple {
    /// The attributes of this tuple in the order the kernel writes them.
    pub fn to_attrs(&self) -> Vec<TupleAttr> {
        let ip = match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => vec![IpAttr::V4Src(s), IpAttr::V4Dst(d)],
            (src, dst) => vec![IpAttr::V6Src(to_v6(src)), IpAttr::V6Dst(to_v6(dst))],
        };
        vec![
            TupleAttr::Ip(ip),
            TupleAttr::Proto(vec![
                ProtoAttr::Num(self.protocol),
                ProtoAttr::SrcPort(self.src_port),
                ProtoAttr::DstPort(self.dst_port),
            ]),
        ]
    }

    /// Reads a tuple nest; addresses and protocol must be present, ports default to 0.
    pub fn from_attrs(attrs: &[TupleAttr]) -> Result<Self, DecodeError> {
        let (mut src, mut dst, mut protocol) = (None, None, None);
        let (mut src_port, mut dst_port) = (0, 0);
        for attr in attrs {
            match attr {
                TupleAttr::Ip(ip) => {
                    for a in ip {
                        match a {
                            IpAttr::V4Src(a) => src = Some(IpAddr::V4(*a)),
                            IpAttr::V4Dst(a) => dst = Some(IpAddr::V4(*a)),
                            IpAttr::V6Src(a) => src = Some(IpAddr::V6(*a)),
                            IpAttr::V6Dst(a) => dst = Some(IpAddr::V6(*a)),
                            IpAttr::Other(_) => {}
                        }
                    }
                }
                TupleAttr::Proto(proto) => {
                    for p in proto {
                        match p {
                            ProtoAttr::Num(n) => protocol = Some(*n),
                            ProtoAttr::SrcPort(p) => src_port = *p,
                            ProtoAttr::DstPort(p) => dst_port = *p,
                            ProtoAttr::Other(_) => {}
                        }
                    }
                }
                TupleAttr::Zone(_) | TupleAttr::Other(_) => {}
            }
        }
        Ok(Self {
            src: src.ok_or("tuple without a source address")?,
            dst: dst.ok_or("tuple without a destination address")?,
            protocol: protocol.ok_or("tuple without a protocol")?,
            src_port,
            dst_port,
        })
    }
}

/// A mixed pair cannot come from the kernel; it is written as IPv6 (IPv4-mapped).
fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// Reads every attribute of a nest with `A`'s parser.
pub(crate) fn parse_nested<A>(value: &[u8]) -> Result<Vec<A>, DecodeError>
where
    A: for<'a> Parseable<NlaBuffer<&'a [u8]>>,
{
    NlasIterator::new(value)
        .map(|nla| A::parse(&nla?))
        .collect()
}

fn parse_v4(value: &[u8]) -> Result<Ipv4Addr, DecodeError> {
    let octets: [u8; 4] = value
        .try_into()
        .map_err(|_| DecodeError::from(format!("{} bytes for an IPv4 address", value.len())))?;
    Ok(Ipv4Addr::from(octets))
}

fn parse_v6(value: &[u8]) -> Result<Ipv6Addr, DecodeError> {
    let octets: [u8; 16] = value
        .try_into()
        .map_err(|_| DecodeError::from(format!("{} bytes for an IPv6 address", value.len())))?;
    Ok(Ipv6Addr::from(octets))
}

impl Nla for TupleAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::Ip(attrs) => attrs.as_slice().buffer_len(),
            Self::Proto(attrs) => attrs.as_slice().buffer_len(),
            Self::Zone(_) => 2,
            Self::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::Ip(_) => CTA_TUPLE_IP | NLA_F_NESTED,
            Self::Proto(_) => CTA_TUPLE_PROTO | NLA_F_NESTED,
            Self::Zone(_) => CTA_TUPLE_ZONE,
            Self::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::Ip(attrs) => attrs.as_slice().emit(buffer),
            Self::Proto(attrs) => attrs.as_slice().emit(buffer),
            Self::Zone(z) => buffer[..2].copy_from_slice(&z.to_be_bytes()),
            Self::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&T>> for TupleAttr {
    fn parse(buf: &NlaBuffer<&T>) -> Result<Self, DecodeError> {
        let value = buf.value();
        let kind = buf.kind();
        let context = || format!("failed to parse conntrack tuple attribute {kind}");
        Ok(match kind {
            CTA_TUPLE_IP => Self::Ip(parse_nested(value).with_context(context)?),
            CTA_TUPLE_PROTO => Self::Proto(parse_nested(value).with_context(context)?),
            CTA_TUPLE_ZONE => Self::Zone(parse_u16_be(value).with_context(context)?),
            _ => Self::Other(DefaultNla::parse(buf).with_context(context)?),
        })
    }
}

impl Nla for IpAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::V4Src(_) | Self::V4Dst(_) => 4,
            Self::V6Src(_) | Self::V6Dst(_) => 16,
            Self::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::V4Src(_) => CTA_IP_V4_SRC,
            Self::V4Dst(_) => CTA_IP_V4_DST,
            Self::V6Src(_) => CTA_IP_V6_SRC,
            Self::V6Dst(_) => CTA_IP_V6_DST,
            Self::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::V4Src(a) | Self::V4Dst(a) => buffer[..4].copy_from_slice(&a.octets()),
            Self::V6Src(a) | Self::V6Dst(a) => buffer[..16].copy_from_slice(&a.octets()),
            Self::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&T>> for IpAttr {
    fn parse(buf: &NlaBuffer<&T>) -> Result<Self, DecodeError> {
        let value = buf.value();
        let kind = buf.kind();
        let context = || format!("failed to parse conntrack address attribute {kind}");
        Ok(match kind {
            CTA_IP_V4_SRC => Self::V4Src(parse_v4(value).with_context(context)?),
            CTA_IP_V4_DST => Self::V4Dst(parse_v4(value).with_context(context)?),
            CTA_IP_V6_SRC => Self::V6Src(parse_v6(value).with_context(context)?),
            CTA_IP_V6_DST => Self::V6Dst(parse_v6(value).with_context(context)?),
            _ => Self::Other(DefaultNla::parse(buf).with_context(context)?),
        })
    }
}

impl Nla for ProtoAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::Num(_) => 1,
            Self::SrcPort(_) | Self::DstPort(_) => 2,
            Self::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::Num(_) => CTA_PROTO_NUM,
            Self::SrcPort(_) => CTA_PROTO_SRC_PORT,
            Self::DstPort(_) => CTA_PROTO_DST_PORT,
            Self::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::Num(n) => buffer[0] = *n,
            Self::SrcPort(p) | Self::DstPort(p) => buffer[..2].copy_from_slice(&p.to_be_bytes()),
            Self::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&T>> for ProtoAttr {
    fn parse(buf: &NlaBuffer<&T>) -> Result<Self, DecodeError> {
        let value = buf.value();
        let kind = buf.kind();
        let context = || format!("failed to parse conntrack protocol attribute {kind}");
        Ok(match kind {
            CTA_PROTO_NUM => Self::Num(parse_u8(value).with_context(context)?),
            CTA_PROTO_SRC_PORT => Self::SrcPort(parse_u16_be(value).with_context(context)?),
            CTA_PROTO_DST_PORT => Self::DstPort(parse_u16_be(value).with_context(context)?),
            _ => Self::Other(DefaultNla::parse(buf).with_context(context)?),
        })
    }
}
