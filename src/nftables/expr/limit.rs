//! `limit`: a token-bucket rate limit (`limit rate 10/second burst 5 packets`).

use netlink_packet_core::DecodeError;

use super::ExprData;
use crate::nftables::attr::{Attr, parse_nested, u32_of, u64_of};

const NFTA_LIMIT_RATE: u16 = 1;
const NFTA_LIMIT_UNIT: u16 = 2;
const NFTA_LIMIT_BURST: u16 = 3;
const NFTA_LIMIT_TYPE: u16 = 4;
const NFTA_LIMIT_FLAGS: u16 = 5;

/// `rate` packets (or bytes, `limit_type` 1) per `unit_secs`; flag 1 inverts the match.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Limit {
    pub rate: u64,
    pub unit_secs: u64,
    pub burst: u32,
    pub limit_type: u32,
    pub flags: u32,
}

impl ExprData for Limit {
    const NAME: &'static str = "limit";

    fn attrs(&self) -> Vec<Attr<'_>> {
        vec![
            Attr::U64(NFTA_LIMIT_RATE, self.rate),
            Attr::U64(NFTA_LIMIT_UNIT, self.unit_secs),
            Attr::U32(NFTA_LIMIT_BURST, self.burst),
            Attr::U32(NFTA_LIMIT_TYPE, self.limit_type),
            Attr::U32(NFTA_LIMIT_FLAGS, self.flags),
        ]
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut l = Limit::default();
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_LIMIT_RATE => l.rate = u64_of(v, "NFTA_LIMIT_RATE")?,
                NFTA_LIMIT_UNIT => l.unit_secs = u64_of(v, "NFTA_LIMIT_UNIT")?,
                NFTA_LIMIT_BURST => l.burst = u32_of(v, "NFTA_LIMIT_BURST")?,
                NFTA_LIMIT_TYPE => l.limit_type = u32_of(v, "NFTA_LIMIT_TYPE")?,
                NFTA_LIMIT_FLAGS => l.flags = u32_of(v, "NFTA_LIMIT_FLAGS")?,
                _ => {}
            }
        }
        Ok(l)
    }
}
