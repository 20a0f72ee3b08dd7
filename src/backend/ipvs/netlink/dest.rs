//! Attributes describing a destination, i.e. a real server (`IPVS_DEST_ATTR_*`), nested in
//! `IPVS_CMD_ATTR_DEST`.

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorContext, Nla, NlaBuffer, NlasIterator, Parseable,
    emit_u16, emit_u16_be, emit_u32, parse_u8, parse_u16, parse_u16_be, parse_u32,
};

use super::addr::InetAddr;
use super::constants::*;
use super::stats::{StatsAttr, parse_stats};

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DestAttr {
    Addr(InetAddr),
    /// Port, host order here, network order on the wire.
    Port(u16),
    /// Forwarding method, `IP_VS_CONN_F_*` under `IP_VS_CONN_F_FWD_MASK` (0 = masquerading).
    FwdMethod(u32),
    Weight(u32),
    /// Upper connection threshold (0 = none).
    UThresh(u32),
    /// Lower connection threshold.
    LThresh(u32),
    ActiveConns(u32),
    InactConns(u32),
    PersistConns(u32),
    Stats(Vec<StatsAttr<u32>>),
    /// Address family of the destination (may differ from the service's for tunnels).
    AddrFamily(u16),
    Stats64(Vec<StatsAttr<u64>>),
    /// Tunnel type (`IP_VS_CONN_F_TUNNEL_TYPE_IPIP` = 0, GUE, GRE).
    TunType(u8),
    /// Tunnel port, host order here, network order on the wire.
    TunPort(u16),
    TunFlags(u16),
    Other(DefaultNla),
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        use DestAttr::*;
        match self {
            Addr(_) => INET_ADDR_LEN,
            Port(_) | AddrFamily(_) | TunPort(_) | TunFlags(_) => 2,
            TunType(_) => 1,
            FwdMethod(_) | Weight(_) | UThresh(_) | LThresh(_) | ActiveConns(_) | InactConns(_)
            | PersistConns(_) => 4,
            Stats(nlas) => nlas.as_slice().buffer_len(),
            Stats64(nlas) => nlas.as_slice().buffer_len(),
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use DestAttr::*;
        match self {
            Addr(_) => IPVS_DEST_ATTR_ADDR,
            Port(_) => IPVS_DEST_ATTR_PORT,
            FwdMethod(_) => IPVS_DEST_ATTR_FWD_METHOD,
            Weight(_) => IPVS_DEST_ATTR_WEIGHT,
            UThresh(_) => IPVS_DEST_ATTR_U_THRESH,
            LThresh(_) => IPVS_DEST_ATTR_L_THRESH,
            ActiveConns(_) => IPVS_DEST_ATTR_ACTIVE_CONNS,
            InactConns(_) => IPVS_DEST_ATTR_INACT_CONNS,
            PersistConns(_) => IPVS_DEST_ATTR_PERSIST_CONNS,
            Stats(_) => nested(IPVS_DEST_ATTR_STATS),
            AddrFamily(_) => IPVS_DEST_ATTR_ADDR_FAMILY,
            Stats64(_) => nested(IPVS_DEST_ATTR_STATS64),
            TunType(_) => IPVS_DEST_ATTR_TUN_TYPE,
            TunPort(_) => IPVS_DEST_ATTR_TUN_PORT,
            TunFlags(_) => IPVS_DEST_ATTR_TUN_FLAGS,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use DestAttr::*;
        // The buffer is sized by value_len, so the emit helpers cannot fail.
        let ok = "buffer sized by value_len";
        match self {
            Addr(a) => buf.copy_from_slice(&a.0),
            Port(v) | TunPort(v) => emit_u16_be(buf, *v).expect(ok),
            AddrFamily(v) | TunFlags(v) => emit_u16(buf, *v).expect(ok),
            TunType(v) => buf[0] = *v,
            FwdMethod(v) | Weight(v) | UThresh(v) | LThresh(v) | ActiveConns(v) | InactConns(v)
            | PersistConns(v) => emit_u32(buf, *v).expect(ok),
            Stats(nlas) => nlas.as_slice().emit(buf),
            Stats64(nlas) => nlas.as_slice().emit(buf),
            Other(nla) => nla.emit_value(buf),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DestAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        let u32_of = |name: &str| parse_u32(v).context(format!("invalid IPVS_DEST_ATTR_{name}"));
        use DestAttr::*;
        Ok(match buf.kind() {
            IPVS_DEST_ATTR_ADDR => Addr(InetAddr::parse(v).context("invalid IPVS_DEST_ATTR_ADDR")?),
            IPVS_DEST_ATTR_PORT => Port(parse_u16_be(v).context("invalid IPVS_DEST_ATTR_PORT")?),
            IPVS_DEST_ATTR_FWD_METHOD => FwdMethod(u32_of("FWD_METHOD")?),
            IPVS_DEST_ATTR_WEIGHT => Weight(u32_of("WEIGHT")?),
            IPVS_DEST_ATTR_U_THRESH => UThresh(u32_of("U_THRESH")?),
            IPVS_DEST_ATTR_L_THRESH => LThresh(u32_of("L_THRESH")?),
            IPVS_DEST_ATTR_ACTIVE_CONNS => ActiveConns(u32_of("ACTIVE_CONNS")?),
            IPVS_DEST_ATTR_INACT_CONNS => InactConns(u32_of("INACT_CONNS")?),
            IPVS_DEST_ATTR_PERSIST_CONNS => PersistConns(u32_of("PERSIST_CONNS")?),
            IPVS_DEST_ATTR_STATS => Stats(parse_stats(v).context("invalid IPVS_DEST_ATTR_STATS")?),
            IPVS_DEST_ATTR_ADDR_FAMILY => {
                AddrFamily(parse_u16(v).context("invalid IPVS_DEST_ATTR_ADDR_FAMILY")?)
            }
            IPVS_DEST_ATTR_STATS64 => {
                Stats64(parse_stats(v).context("invalid IPVS_DEST_ATTR_STATS64")?)
            }
            IPVS_DEST_ATTR_TUN_TYPE => {
                TunType(parse_u8(v).context("invalid IPVS_DEST_ATTR_TUN_TYPE")?)
            }
            IPVS_DEST_ATTR_TUN_PORT => {
                TunPort(parse_u16_be(v).context("invalid IPVS_DEST_ATTR_TUN_PORT")?)
            }
            IPVS_DEST_ATTR_TUN_FLAGS => {
                TunFlags(parse_u16(v).context("invalid IPVS_DEST_ATTR_TUN_FLAGS")?)
            }
            _ => Other(DefaultNla::parse(buf).context("invalid IPVS destination attribute")?),
        })
    }
}

/// Parses the attributes nested in `IPVS_CMD_ATTR_DEST`.
pub(crate) fn parse_dest(payload: &[u8]) -> Result<Vec<DestAttr>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| DestAttr::parse(&nla)))
        .collect()
}
