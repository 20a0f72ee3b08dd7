//! `cmp`: compare a register with a constant; a false comparison ends the rule.

use netlink_packet_core::DecodeError;

use super::{ExprData, Reg};
use crate::nftables::attr::{Attr, missing, parse_nested, u32_of, value_nest};
use crate::nftables::data::Data;

const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;

/// `NFT_CMP_*`. Orderings compare the bytes as a big-endian number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl CmpOp {
    fn code(self) -> u32 {
        self as u32
    }

    fn from_code(v: u32) -> Result<Self, DecodeError> {
        use CmpOp::*;
        [Eq, Neq, Lt, Lte, Gt, Gte]
            .get(v as usize)
            .copied()
            .ok_or_else(|| format!("unknown cmp operator {v}").into())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cmp {
    pub sreg: Reg,
    pub op: CmpOp,
    pub data: Vec<u8>,
}

impl Cmp {
    pub fn new(sreg: Reg, op: CmpOp, data: impl Into<Vec<u8>>) -> Self {
        Self {
            sreg,
            op,
            data: data.into(),
        }
    }
}

impl ExprData for Cmp {
    const NAME: &'static str = "cmp";

    fn attrs(&self) -> Vec<Attr<'_>> {
        vec![
            Attr::U32(NFTA_CMP_SREG, self.sreg.0),
            Attr::U32(NFTA_CMP_OP, self.op.code()),
            value_nest(NFTA_CMP_DATA, &self.data),
        ]
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let (mut sreg, mut op, mut data) = (None, CmpOp::Eq, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_CMP_SREG => sreg = Some(Reg::parse(v, "NFTA_CMP_SREG")?),
                NFTA_CMP_OP => op = CmpOp::from_code(u32_of(v, "NFTA_CMP_OP")?)?,
                NFTA_CMP_DATA => data = Some(Data::parse_value(v)?),
                _ => {}
            }
        }
        Ok(Cmp {
            sreg: sreg.ok_or_else(|| missing("NFTA_CMP_SREG"))?,
            op,
            data: data.ok_or_else(|| missing("NFTA_CMP_DATA"))?,
        })
    }
}
