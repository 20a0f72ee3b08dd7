//! `immediate`: put a constant in a register, or a verdict (`accept`, `jump CHAIN`, …) in
//! the verdict register.

use netlink_packet_core::DecodeError;

use super::{ExprData, Reg};
use crate::nftables::attr::{Attr, missing, parse_nested};
use crate::nftables::data::{Data, Verdict};

const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Immediate {
    pub dreg: Reg,
    pub data: Data,
}

impl Immediate {
    pub fn verdict(v: Verdict) -> Self {
        Self {
            dreg: Reg::VERDICT,
            data: Data::Verdict(v),
        }
    }

    pub fn value(dreg: Reg, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            dreg,
            data: Data::Value(bytes.into()),
        }
    }
}

impl ExprData for Immediate {
    const NAME: &'static str = "immediate";

    fn attrs(&self) -> Vec<Attr<'_>> {
        vec![
            Attr::U32(NFTA_IMMEDIATE_DREG, self.dreg.0),
            self.data.nest(NFTA_IMMEDIATE_DATA),
        ]
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let (mut dreg, mut data) = (None, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_IMMEDIATE_DREG => dreg = Some(Reg::parse(v, "NFTA_IMMEDIATE_DREG")?),
                NFTA_IMMEDIATE_DATA => data = Some(Data::parse(v)?),
                _ => {}
            }
        }
        Ok(Immediate {
            dreg: dreg.ok_or_else(|| missing("NFTA_IMMEDIATE_DREG"))?,
            data: data.ok_or_else(|| missing("NFTA_IMMEDIATE_DATA"))?,
        })
    }
}
