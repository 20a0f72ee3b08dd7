//! Traffic counters of a service or destination (`IPVS_STATS_ATTR_*`), nested in the
//! `*_ATTR_STATS` and `*_ATTR_STATS64` attributes.

use std::fmt::Debug;

use netlink_packet_core::{
    DecodeError, DefaultNla, ErrorContext, Nla, NlaBuffer, NlasIterator, Parseable, emit_u64,
    parse_u32, parse_u64,
};

use super::constants::*;

/// The width of a counter: `IPVS_*_ATTR_STATS` sends most counters as `u32` (bytes as `u64`),
/// `IPVS_*_ATTR_STATS64` sends all of them as `u64`.
pub trait Counter: Copy + Debug + PartialEq + Eq + Into<u64> {
    const SIZE: usize;
    fn parse(payload: &[u8]) -> Result<Self, DecodeError>;
    fn emit(self, buffer: &mut [u8]);
}

impl Counter for u32 {
    const SIZE: usize = 4;
    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        parse_u32(payload)
    }
    fn emit(self, buffer: &mut [u8]) {
        buffer[..4].copy_from_slice(&self.to_ne_bytes());
    }
}

impl Counter for u64 {
    const SIZE: usize = 8;
    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        parse_u64(payload)
    }
    fn emit(self, buffer: &mut [u8]) {
        buffer[..8].copy_from_slice(&self.to_ne_bytes());
    }
}

/// One counter. `C` is `u32` inside `STATS` and `u64` inside `STATS64`; byte counters are
/// `u64` in both.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatsAttr<C> {
    Conns(C),
    InPkts(C),
    OutPkts(C),
    InBytes(u64),
    OutBytes(u64),
    Cps(C),
    InPps(C),
    OutPps(C),
    InBps(C),
    OutBps(C),
    /// Alignment padding the kernel inserts before a `u64` on architectures that need it.
    Pad,
    Other(DefaultNla),
}

impl<C: Counter> Nla for StatsAttr<C> {
    fn value_len(&self) -> usize {
        use StatsAttr::*;
        match self {
            Conns(_) | InPkts(_) | OutPkts(_) | Cps(_) | InPps(_) | OutPps(_) | InBps(_)
            | OutBps(_) => C::SIZE,
            InBytes(_) | OutBytes(_) => 8,
            Pad => 0,
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use StatsAttr::*;
        match self {
            Conns(_) => IPVS_STATS_ATTR_CONNS,
            InPkts(_) => IPVS_STATS_ATTR_INPKTS,
            OutPkts(_) => IPVS_STATS_ATTR_OUTPKTS,
            InBytes(_) => IPVS_STATS_ATTR_INBYTES,
            OutBytes(_) => IPVS_STATS_ATTR_OUTBYTES,
            Cps(_) => IPVS_STATS_ATTR_CPS,
            InPps(_) => IPVS_STATS_ATTR_INPPS,
            OutPps(_) => IPVS_STATS_ATTR_OUTPPS,
            InBps(_) => IPVS_STATS_ATTR_INBPS,
            OutBps(_) => IPVS_STATS_ATTR_OUTBPS,
            Pad => IPVS_STATS_ATTR_PAD,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        use StatsAttr::*;
        match self {
            Conns(v) | InPkts(v) | OutPkts(v) | Cps(v) | InPps(v) | OutPps(v) | InBps(v)
            | OutBps(v) => v.emit(buffer),
            InBytes(v) | OutBytes(v) => emit_u64(buffer, *v).expect("buffer sized by value_len"),
            Pad => {}
            Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<'a, C: Counter, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for StatsAttr<C> {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        let counter = |name: &str| C::parse(v).context(format!("invalid IPVS_STATS_ATTR_{name}"));
        let bytes = |name: &str| parse_u64(v).context(format!("invalid IPVS_STATS_ATTR_{name}"));
        use StatsAttr::*;
        Ok(match buf.kind() {
            IPVS_STATS_ATTR_CONNS => Conns(counter("CONNS")?),
            IPVS_STATS_ATTR_INPKTS => InPkts(counter("INPKTS")?),
            IPVS_STATS_ATTR_OUTPKTS => OutPkts(counter("OUTPKTS")?),
            IPVS_STATS_ATTR_INBYTES => InBytes(bytes("INBYTES")?),
            IPVS_STATS_ATTR_OUTBYTES => OutBytes(bytes("OUTBYTES")?),
            IPVS_STATS_ATTR_CPS => Cps(counter("CPS")?),
            IPVS_STATS_ATTR_INPPS => InPps(counter("INPPS")?),
            IPVS_STATS_ATTR_OUTPPS => OutPps(counter("OUTPPS")?),
            IPVS_STATS_ATTR_INBPS => InBps(counter("INBPS")?),
            IPVS_STATS_ATTR_OUTBPS => OutBps(counter("OUTBPS")?),
            IPVS_STATS_ATTR_PAD => Pad,
            _ => Other(DefaultNla::parse(buf).context("invalid IPVS stats attribute")?),
        })
    }
}

/// Parses the attributes nested in a stats attribute.
pub(crate) fn parse_stats<C: Counter>(payload: &[u8]) -> Result<Vec<StatsAttr<C>>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| StatsAttr::parse(&nla)))
        .collect()
}

/// Counters of a service or destination, widened to `u64`. Rates (`cps`, `*pps`, `*bps`)
/// are the kernel's estimates per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub conns: u64,
    pub in_pkts: u64,
    pub out_pkts: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub cps: u64,
    pub in_pps: u64,
    pub out_pps: u64,
    pub in_bps: u64,
    pub out_bps: u64,
}

impl<C: Counter> From<&[StatsAttr<C>]> for Stats {
    fn from(attrs: &[StatsAttr<C>]) -> Self {
        let mut s = Stats::default();
        for attr in attrs {
            use StatsAttr::*;
            match attr {
                Conns(v) => s.conns = (*v).into(),
                InPkts(v) => s.in_pkts = (*v).into(),
                OutPkts(v) => s.out_pkts = (*v).into(),
                InBytes(v) => s.in_bytes = *v,
                OutBytes(v) => s.out_bytes = *v,
                Cps(v) => s.cps = (*v).into(),
                InPps(v) => s.in_pps = (*v).into(),
                OutPps(v) => s.out_pps = (*v).into(),
                InBps(v) => s.in_bps = (*v).into(),
                OutBps(v) => s.out_bps = (*v).into(),
                Pad | Other(_) => {}
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    #[test]
    fn widths_follow_the_nest_kind() {
        let narrow: StatsAttr<u32> = StatsAttr::Conns(7);
        let wide: StatsAttr<u64> = StatsAttr::Conns(7);
        assert_eq!(narrow.buffer_len(), 8);
        assert_eq!(wide.buffer_len(), 12);
        assert_eq!(StatsAttr::<u32>::InBytes(1).buffer_len(), 12);
    }

    #[test]
    fn a_counter_of_the_wrong_width_is_an_error() {
        // IPVS_STATS_ATTR_CONNS with 8 bytes where a u32 is expected.
        let raw = [12u8, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        assert!(parse_stats::<u32>(&raw).is_err());
        assert_eq!(parse_stats::<u64>(&raw).unwrap(), vec![StatsAttr::Conns(1)]);
    }

    #[test]
    fn unknown_counters_are_kept() {
        let raw = [8u8, 0, 42, 0, 1, 2, 3, 4];
        let parsed = parse_stats::<u32>(&raw).unwrap();
        assert_eq!(
            parsed,
            vec![StatsAttr::Other(DefaultNla::new(42, vec![1, 2, 3, 4]))]
        );
    }
}
