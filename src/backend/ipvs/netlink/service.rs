//! Attributes describing a virtual service (`IPVS_SVC_ATTR_*`), nested in
//! `IPVS_CMD_ATTR_SERVICE`.

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorContext, Nla, NlaBuffer, NlasIterator, Parseable,
    emit_u16, emit_u16_be, emit_u32, emit_u32_be, parse_string, parse_u16, parse_u16_be, parse_u32,
    parse_u32_be,
};

use super::addr::InetAddr;
use super::constants::*;
use super::stats::{StatsAttr, parse_stats};

/// `struct ip_vs_flags`: the kernel sets `svc.flags = (svc.flags & !mask) | (flags & mask)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IpvsFlags {
    pub flags: u32,
    pub mask: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SvcAttr {
    /// Address family (`AF_INET` = 2).
    Af(u16),
    /// IP protocol number (`IPPROTO_TCP` = 6, …).
    Protocol(u16),
    Addr(InetAddr),
    /// Port, host order here, network order on the wire.
    Port(u16),
    /// Firewall mark of a fwmark service (instead of protocol/address/port).
    Fwmark(u32),
    /// Scheduler name (`rr`, `wrr`, `lc`, …).
    SchedName(String),
    Flags(IpvsFlags),
    /// Persistence timeout in seconds.
    Timeout(u32),
    /// Persistence netmask, as a big-endian number (`0xffff_ffff` for a /32).
    Netmask(u32),
    Stats(Vec<StatsAttr<u32>>),
    /// Persistence engine name (`sip`).
    PeName(String),
    Stats64(Vec<StatsAttr<u64>>),
    Other(DefaultNla),
}

impl Nla for SvcAttr {
    fn value_len(&self) -> usize {
        use SvcAttr::*;
        match self {
            Af(_) | Protocol(_) | Port(_) => 2,
            Addr(_) => INET_ADDR_LEN,
            Fwmark(_) | Timeout(_) | Netmask(_) => 4,
            SchedName(s) | PeName(s) => s.len() + 1,
            Flags(_) => 8,
            Stats(nlas) => nlas.as_slice().buffer_len(),
            Stats64(nlas) => nlas.as_slice().buffer_len(),
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use SvcAttr::*;
        match self {
            Af(_) => IPVS_SVC_ATTR_AF,
            Protocol(_) => IPVS_SVC_ATTR_PROTOCOL,
            Addr(_) => IPVS_SVC_ATTR_ADDR,
            Port(_) => IPVS_SVC_ATTR_PORT,
            Fwmark(_) => IPVS_SVC_ATTR_FWMARK,
            SchedName(_) => IPVS_SVC_ATTR_SCHED_NAME,
            Flags(_) => IPVS_SVC_ATTR_FLAGS,
            Timeout(_) => IPVS_SVC_ATTR_TIMEOUT,
            Netmask(_) => IPVS_SVC_ATTR_NETMASK,
            Stats(_) => nested(IPVS_SVC_ATTR_STATS),
            PeName(_) => IPVS_SVC_ATTR_PE_NAME,
            Stats64(_) => nested(IPVS_SVC_ATTR_STATS64),
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use SvcAttr::*;
        // The buffer is sized by value_len, so the emit helpers cannot fail.
        let ok = "buffer sized by value_len";
        match self {
            Af(v) | Protocol(v) => emit_u16(buf, *v).expect(ok),
            Port(v) => emit_u16_be(buf, *v).expect(ok),
            Addr(a) => buf.copy_from_slice(&a.0),
            Fwmark(v) | Timeout(v) => emit_u32(buf, *v).expect(ok),
            Netmask(v) => emit_u32_be(buf, *v).expect(ok),
            SchedName(s) | PeName(s) => {
                buf[..s.len()].copy_from_slice(s.as_bytes());
                buf[s.len()] = 0;
            }
            Flags(f) => {
                emit_u32(&mut buf[..4], f.flags).expect(ok);
                emit_u32(&mut buf[4..], f.mask).expect(ok);
            }
            Stats(nlas) => nlas.as_slice().emit(buf),
            Stats64(nlas) => nlas.as_slice().emit(buf),
            Other(nla) => nla.emit_value(buf),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for SvcAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        use SvcAttr::*;
        Ok(match buf.kind() {
            IPVS_SVC_ATTR_AF => Af(parse_u16(v).context("invalid IPVS_SVC_ATTR_AF")?),
            IPVS_SVC_ATTR_PROTOCOL => {
                Protocol(parse_u16(v).context("invalid IPVS_SVC_ATTR_PROTOCOL")?)
            }
            IPVS_SVC_ATTR_ADDR => Addr(InetAddr::parse(v).context("invalid IPVS_SVC_ATTR_ADDR")?),
            IPVS_SVC_ATTR_PORT => Port(parse_u16_be(v).context("invalid IPVS_SVC_ATTR_PORT")?),
            IPVS_SVC_ATTR_FWMARK => Fwmark(parse_u32(v).context("invalid IPVS_SVC_ATTR_FWMARK")?),
            IPVS_SVC_ATTR_SCHED_NAME => {
                SchedName(parse_string(v).context("invalid IPVS_SVC_ATTR_SCHED_NAME")?)
            }
            IPVS_SVC_ATTR_FLAGS => {
                if v.len() != 8 {
                    return Err(DecodeError::invalid_number(8, v.len()))
                        .context("invalid IPVS_SVC_ATTR_FLAGS");
                }
                Flags(IpvsFlags {
                    flags: parse_u32(&v[..4])?,
                    mask: parse_u32(&v[4..])?,
                })
            }
            IPVS_SVC_ATTR_TIMEOUT => {
                Timeout(parse_u32(v).context("invalid IPVS_SVC_ATTR_TIMEOUT")?)
            }
            IPVS_SVC_ATTR_NETMASK => {
                Netmask(parse_u32_be(v).context("invalid IPVS_SVC_ATTR_NETMASK")?)
            }
            IPVS_SVC_ATTR_STATS => Stats(parse_stats(v).context("invalid IPVS_SVC_ATTR_STATS")?),
            IPVS_SVC_ATTR_PE_NAME => {
                PeName(parse_string(v).context("invalid IPVS_SVC_ATTR_PE_NAME")?)
            }
            IPVS_SVC_ATTR_STATS64 => {
                Stats64(parse_stats(v).context("invalid IPVS_SVC_ATTR_STATS64")?)
            }
            _ => Other(DefaultNla::parse(buf).context("invalid IPVS service attribute")?),
        })
    }
}

/// Parses the attributes nested in `IPVS_CMD_ATTR_SERVICE`.
pub(crate) fn parse_service(payload: &[u8]) -> Result<Vec<SvcAttr>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| SvcAttr::parse(&nla)))
        .collect()
}
