//! Attributes inside `IPSET_ATTR_DATA`: a set's create parameters (and the header of a
//! list reply), or one entry of add/del/test (and of a list reply's `IPSET_ATTR_ADT`).
//!
//! Numbers from 17 up mean different things in the two places (20 is NETMASK at create
//! and IP2 in an entry), so decoding takes a [`DataContext`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorContext, NLA_F_NESTED, NLA_F_NET_BYTEORDER, Nla,
    NlaBuffer, NlasIterator, Parseable, ParseableParametrized, parse_string, parse_u8,
    parse_u16_be, parse_u32_be,
};

use super::consts::*;

/// Where a DATA attribute sits, which decides how numbers from 17 up are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataContext {
    /// Create parameters, or the header of a list reply.
    Create,
    /// One entry: add, del, test, or an item of a list reply's ADT.
    Entry,
}

/// One attribute inside `IPSET_ATTR_DATA`. Unknown ones decode to `Other`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataAttr {
    Ip(IpAddr),
    IpTo(IpAddr),
    Cidr(u8),
    Port(u16),
    PortTo(u16),
    Timeout(u32),
    Proto(u8),
    CadtFlags(u32),
    /// Restore line number of an entry; the kernel reports it back when the entry fails.
    LineNo(u32),
    // Create / header only.
    InitVal(u32),
    HashSize(u32),
    MaxElem(u32),
    NetMask(u8),
    BucketSize(u8),
    Resize(u8),
    Size(u32),
    Elements(u32),
    References(u32),
    MemSize(u32),
    // Entry only.
    Ip2(IpAddr),
    Cidr2(u8),
    Bytes(u64),
    Packets(u64),
    Comment(String),
    Other(DefaultNla),
}

const NBO: u16 = NLA_F_NET_BYTEORDER;

impl Nla for DataAttr {
    fn value_len(&self) -> usize {
        use DataAttr::*;
        match self {
            Ip(ip) | IpTo(ip) | Ip2(ip) => IpAddrNla(*ip).buffer_len(),
            Cidr(_) | Proto(_) | NetMask(_) | BucketSize(_) | Resize(_) | Cidr2(_) => 1,
            Port(_) | PortTo(_) => 2,
            Timeout(_) | CadtFlags(_) | LineNo(_) | InitVal(_) | HashSize(_) | MaxElem(_)
            | Size(_) | Elements(_) | References(_) | MemSize(_) => 4,
            Bytes(_) | Packets(_) => 8,
            Comment(s) => s.len() + 1,
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use DataAttr::*;
        match self {
            Ip(_) => IPSET_ATTR_IP | NLA_F_NESTED,
            IpTo(_) => IPSET_ATTR_IP_TO | NLA_F_NESTED,
            Cidr(_) => IPSET_ATTR_CIDR,
            Port(_) => IPSET_ATTR_PORT | NBO,
            PortTo(_) => IPSET_ATTR_PORT_TO | NBO,
            Timeout(_) => IPSET_ATTR_TIMEOUT | NBO,
            Proto(_) => IPSET_ATTR_PROTO,
            CadtFlags(_) => IPSET_ATTR_CADT_FLAGS | NBO,
            LineNo(_) => IPSET_ATTR_CADT_LINENO | NBO,
            InitVal(_) => IPSET_ATTR_INITVAL | NBO,
            HashSize(_) => IPSET_ATTR_HASHSIZE | NBO,
            MaxElem(_) => IPSET_ATTR_MAXELEM | NBO,
            NetMask(_) => IPSET_ATTR_NETMASK,
            BucketSize(_) => IPSET_ATTR_BUCKETSIZE,
            Resize(_) => IPSET_ATTR_RESIZE,
            Size(_) => IPSET_ATTR_SIZE | NBO,
            Elements(_) => IPSET_ATTR_ELEMENTS | NBO,
            References(_) => IPSET_ATTR_REFERENCES | NBO,
            MemSize(_) => IPSET_ATTR_MEMSIZE | NBO,
            Ip2(_) => IPSET_ATTR_IP2 | NLA_F_NESTED,
            Cidr2(_) => IPSET_ATTR_CIDR2,
            Bytes(_) => IPSET_ATTR_BYTES | NBO,
            Packets(_) => IPSET_ATTR_PACKETS | NBO,
            Comment(_) => IPSET_ATTR_COMMENT,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        use DataAttr::*;
        match self {
            Ip(ip) | IpTo(ip) | Ip2(ip) => IpAddrNla(*ip).emit(buffer),
            Cidr(v) | Proto(v) | NetMask(v) | BucketSize(v) | Resize(v) | Cidr2(v) => {
                buffer[0] = *v
            }
            Port(v) | PortTo(v) => buffer[..2].copy_from_slice(&v.to_be_bytes()),
            Timeout(v) | CadtFlags(v) | LineNo(v) | InitVal(v) | HashSize(v) | MaxElem(v)
            | Size(v) | Elements(v) | References(v) | MemSize(v) => {
                buffer[..4].copy_from_slice(&v.to_be_bytes())
            }
            Bytes(v) | Packets(v) => buffer[..8].copy_from_slice(&v.to_be_bytes()),
            Comment(s) => {
                buffer[..s.len()].copy_from_slice(s.as_bytes());
                buffer[s.len()] = 0;
            }
            Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<T: AsRef<[u8]> + ?Sized> ParseableParametrized<NlaBuffer<&T>, DataContext> for DataAttr {
    fn parse_with_param(buf: &NlaBuffer<&T>, context: DataContext) -> Result<Self, DecodeError> {
        let value = buf.value();
        let kind = buf.kind();
        let context_err = || format!("failed to parse ipset DATA attribute {kind}");
        let attr = match (kind, context) {
            (IPSET_ATTR_IP, _) => Self::Ip(parse_ip_nest(value).with_context(context_err)?),
            (IPSET_ATTR_IP_TO, _) => Self::IpTo(parse_ip_nest(value).with_context(context_err)?),
            (IPSET_ATTR_CIDR, _) => Self::Cidr(parse_u8(value).with_context(context_err)?),
            (IPSET_ATTR_PORT, _) => Self::Port(parse_u16_be(value).with_context(context_err)?),
            (IPSET_ATTR_PORT_TO, _) => Self::PortTo(parse_u16_be(value).with_context(context_err)?),
            (IPSET_ATTR_TIMEOUT, _) => {
                Self::Timeout(parse_u32_be(value).with_context(context_err)?)
            }
            (IPSET_ATTR_PROTO, _) => Self::Proto(parse_u8(value).with_context(context_err)?),
            (IPSET_ATTR_CADT_FLAGS, _) => {
                Self::CadtFlags(parse_u32_be(value).with_context(context_err)?)
            }
            (IPSET_ATTR_CADT_LINENO, _) => {
                Self::LineNo(parse_u32_be(value).with_context(context_err)?)
            }
            (IPSET_ATTR_INITVAL, DataContext::Create) => {
                Self::InitVal(parse_u32_be(value).with_context(context_err)?)
            }
            (IPSET_ATTR_HASHSIZE, DataContext::Create) => {
                Self::HashSize(parse_u32_be(value).with_context(context_err)?)
            }
            (IPSET_ATTR_MAXELEM, DataContext::Create) => {
                Self::MaxElem(parse_u32_be(value).with_context(context_err)?)
            }
            (IPSET_ATTR_NETMASK, DataContext::Create) => {
                Self::NetMask(parse_u8(value).with_context(context_err)?)
            }
            (IPSET_ATTR_BUCKETSIZE, DataContext::Create) => {
                Self::BucketSize(parse_u8(value).with_context(context_err)?)
            }
            (IPSET_ATTR_RESIZE, DataContext::Create) => {
                Self::Resize(parse_u8(value).with_context(context_err)?)
            }
            (IPSET_ATTR_SIZE, DataContext::Create) => {
                Self::Size(parse_u32_be(value).with_context(context_err)?)
            }
            (IPSET_ATTR_ELEMENTS, DataContext::Create) => {
                Self::Elements(parse_u32_be(value).with_context(context_err)?)
            }
            (IPSET_ATTR_REFERENCES, DataContext::Create) => {
                Self::References(parse_u32_be(value).with_context(context_err)?)
            }
            (IPSET_ATTR_MEMSIZE, DataContext::Create) => {
                Self::MemSize(parse_u32_be(value).with_context(context_err)?)
            }
            (IPSET_ATTR_IP2, DataContext::Entry) => {
                Self::Ip2(parse_ip_nest(value).with_context(context_err)?)
            }
            (IPSET_ATTR_CIDR2, DataContext::Entry) => {
                Self::Cidr2(parse_u8(value).with_context(context_err)?)
            }
            (IPSET_ATTR_BYTES, DataContext::Entry) => {
                Self::Bytes(parse_u64(value).with_context(context_err)?)
            }
            (IPSET_ATTR_PACKETS, DataContext::Entry) => {
                Self::Packets(parse_u64(value).with_context(context_err)?)
            }
            (IPSET_ATTR_COMMENT, DataContext::Entry) => {
                Self::Comment(parse_string(value).with_context(context_err)?)
            }
            _ => Self::Other(DefaultNla::parse(buf).with_context(context_err)?),
        };
        Ok(attr)
    }
}

/// Parses the attributes of one DATA nest.
pub fn parse_data(value: &[u8], context: DataContext) -> Result<Vec<DataAttr>, DecodeError> {
    NlasIterator::new(value)
        .map(|nla| DataAttr::parse_with_param(&nla?, context))
        .collect()
}

fn parse_u64(value: &[u8]) -> Result<u64, DecodeError> {
    let bytes: [u8; 8] = value
        .try_into()
        .map_err(|_| DecodeError::invalid_number(8, value.len()))?;
    Ok(u64::from_be_bytes(bytes))
}

/// The nest inside `IPSET_ATTR_IP`: one `IPSET_ATTR_IPADDR_IPV4` or `_IPV6`, in network
/// byte order. ipset sets `NLA_F_NET_BYTEORDER` on it; the kernel's replies do not.
struct IpAddrNla(IpAddr);

impl Nla for IpAddrNla {
    fn value_len(&self) -> usize {
        match self.0 {
            IpAddr::V4(_) => 4,
            IpAddr::V6(_) => 16,
        }
    }

    fn kind(&self) -> u16 {
        match self.0 {
            IpAddr::V4(_) => IPSET_ATTR_IPADDR_IPV4 | NBO,
            IpAddr::V6(_) => IPSET_ATTR_IPADDR_IPV6 | NBO,
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self.0 {
            IpAddr::V4(ip) => buffer[..4].copy_from_slice(&ip.octets()),
            IpAddr::V6(ip) => buffer[..16].copy_from_slice(&ip.octets()),
        }
    }
}

fn parse_ip_nest(value: &[u8]) -> Result<IpAddr, DecodeError> {
    let mut found = None;
    for nla in NlasIterator::new(value) {
        let nla = nla?;
        let value = nla.value();
        found = Some(match nla.kind() {
            IPSET_ATTR_IPADDR_IPV4 => {
                let octets: [u8; 4] = value
                    .try_into()
                    .map_err(|_| DecodeError::invalid_ip_address(value.len()))?;
                IpAddr::V4(Ipv4Addr::from(octets))
            }
            IPSET_ATTR_IPADDR_IPV6 => {
                let octets: [u8; 16] = value
                    .try_into()
                    .map_err(|_| DecodeError::invalid_ip_address(value.len()))?;
                IpAddr::V6(Ipv6Addr::from(octets))
            }
            other => return Err(format!("unknown address attribute {other}").into()),
        });
    }
    found.ok_or_else(|| "empty address nest".into())
}
