//! `bitwise`: `dreg = (sreg & mask) ^ xor` (the boolean form), or a shift by `data`.
//! `meta mark set meta mark or 0x4000` is mask `!0x4000`, xor `0x4000`.

use netlink_packet_core::DecodeError;

use super::{ExprData, Reg};
use crate::nftables::attr::{Attr, missing, parse_nested, push_opt, u32_of, value_nest};
use crate::nftables::data::Data;

const NFTA_BITWISE_SREG: u16 = 1;
const NFTA_BITWISE_DREG: u16 = 2;
const NFTA_BITWISE_LEN: u16 = 3;
const NFTA_BITWISE_MASK: u16 = 4;
const NFTA_BITWISE_XOR: u16 = 5;
const NFTA_BITWISE_OP: u16 = 6;
const NFTA_BITWISE_DATA: u16 = 7;

/// `NFT_BITWISE_*`. The kernel treats a missing op as `Bool`; `nft` sends it for some
/// rules and not others, so the field is optional to keep both forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BitwiseOp {
    /// `(sreg & mask) ^ xor`.
    Bool,
    Lshift,
    Rshift,
    Other(u32),
}

impl From<BitwiseOp> for u32 {
    fn from(op: BitwiseOp) -> u32 {
        match op {
            BitwiseOp::Bool => 0,
            BitwiseOp::Lshift => 1,
            BitwiseOp::Rshift => 2,
            BitwiseOp::Other(v) => v,
        }
    }
}

impl From<u32> for BitwiseOp {
    fn from(v: u32) -> Self {
        match v {
            0 => BitwiseOp::Bool,
            1 => BitwiseOp::Lshift,
            2 => BitwiseOp::Rshift,
            v => BitwiseOp::Other(v),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bitwise {
    pub sreg: Reg,
    pub dreg: Reg,
    pub len: u32,
    pub op: Option<BitwiseOp>,
    pub mask: Option<Vec<u8>>,
    pub xor: Option<Vec<u8>>,
    /// The shift amount of `Lshift`/`Rshift`.
    pub data: Option<Vec<u8>>,
}

impl Bitwise {
    /// `(sreg & mask) ^ xor` into `dreg`, with an explicit `Bool` op as nft sends it for
    /// `meta mark set`.
    pub fn mask_xor(sreg: Reg, dreg: Reg, mask: Vec<u8>, xor: Vec<u8>) -> Self {
        Self {
            sreg,
            dreg,
            len: mask.len() as u32,
            op: Some(BitwiseOp::Bool),
            mask: Some(mask),
            xor: Some(xor),
            data: None,
        }
    }
}

impl ExprData for Bitwise {
    const NAME: &'static str = "bitwise";

    fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = vec![
            Attr::U32(NFTA_BITWISE_SREG, self.sreg.0),
            Attr::U32(NFTA_BITWISE_DREG, self.dreg.0),
        ];
        push_opt(&mut a, self.op, |op| Attr::U32(NFTA_BITWISE_OP, op.into()));
        a.push(Attr::U32(NFTA_BITWISE_LEN, self.len));
        if let Some(m) = &self.mask {
            a.push(value_nest(NFTA_BITWISE_MASK, m));
        }
        if let Some(x) = &self.xor {
            a.push(value_nest(NFTA_BITWISE_XOR, x));
        }
        if let Some(d) = &self.data {
            a.push(value_nest(NFTA_BITWISE_DATA, d));
        }
        a
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let (mut sreg, mut dreg, mut len) = (None, None, None);
        let (mut op, mut mask, mut xor, mut data) = (None, None, None, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_BITWISE_SREG => sreg = Some(Reg::parse(v, "NFTA_BITWISE_SREG")?),
                NFTA_BITWISE_DREG => dreg = Some(Reg::parse(v, "NFTA_BITWISE_DREG")?),
                NFTA_BITWISE_LEN => len = Some(u32_of(v, "NFTA_BITWISE_LEN")?),
                NFTA_BITWISE_OP => op = Some(u32_of(v, "NFTA_BITWISE_OP")?.into()),
                NFTA_BITWISE_MASK => mask = Some(Data::parse_value(v)?),
                NFTA_BITWISE_XOR => xor = Some(Data::parse_value(v)?),
                NFTA_BITWISE_DATA => data = Some(Data::parse_value(v)?),
                _ => {}
            }
        }
        Ok(Bitwise {
            sreg: sreg.ok_or_else(|| missing("NFTA_BITWISE_SREG"))?,
            dreg: dreg.ok_or_else(|| missing("NFTA_BITWISE_DREG"))?,
            len: len.ok_or_else(|| missing("NFTA_BITWISE_LEN"))?,
            op,
            mask,
            xor,
            data,
        })
    }
}
