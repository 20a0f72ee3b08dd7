//! `numgen`: a number in `offset..offset+modulus`, counting up or random
//! (`numgen random mod N` picks an endpoint).

use netlink_packet_core::DecodeError;

use super::{ExprData, Reg};
use crate::nftables::attr::{Attr, missing, parse_nested, push_opt, u32_of};

const NFTA_NG_DREG: u16 = 1;
const NFTA_NG_MODULUS: u16 = 2;
const NFTA_NG_TYPE: u16 = 3;
const NFTA_NG_OFFSET: u16 = 4;

/// `NFT_NG_INCREMENTAL` / `NFT_NG_RANDOM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumgenType {
    Incremental,
    Random,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Numgen {
    pub dreg: Reg,
    pub modulus: u32,
    pub ngen_type: NumgenType,
    pub offset: Option<u32>,
}

impl Numgen {
    /// `numgen random mod modulus`, with the offset 0 nft sends.
    pub fn random(dreg: Reg, modulus: u32) -> Self {
        Self {
            dreg,
            modulus,
            ngen_type: NumgenType::Random,
            offset: Some(0),
        }
    }
}

impl ExprData for Numgen {
    const NAME: &'static str = "numgen";

    fn attrs(&self) -> Vec<Attr<'_>> {
        let ngen_type = match self.ngen_type {
            NumgenType::Incremental => 0,
            NumgenType::Random => 1,
        };
        let mut a = vec![
            Attr::U32(NFTA_NG_DREG, self.dreg.0),
            Attr::U32(NFTA_NG_MODULUS, self.modulus),
            Attr::U32(NFTA_NG_TYPE, ngen_type),
        ];
        push_opt(&mut a, self.offset, |v| Attr::U32(NFTA_NG_OFFSET, v));
        a
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let (mut dreg, mut modulus, mut ngen_type, mut offset) = (None, None, None, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_NG_DREG => dreg = Some(Reg::parse(v, "NFTA_NG_DREG")?),
                NFTA_NG_MODULUS => modulus = Some(u32_of(v, "NFTA_NG_MODULUS")?),
                NFTA_NG_TYPE => ngen_type = Some(u32_of(v, "NFTA_NG_TYPE")?),
                NFTA_NG_OFFSET => offset = Some(u32_of(v, "NFTA_NG_OFFSET")?),
                _ => {}
            }
        }
        Ok(Numgen {
            dreg: dreg.ok_or_else(|| missing("NFTA_NG_DREG"))?,
            modulus: modulus.ok_or_else(|| missing("NFTA_NG_MODULUS"))?,
            ngen_type: match ngen_type.ok_or_else(|| missing("NFTA_NG_TYPE"))? {
                0 => NumgenType::Incremental,
                1 => NumgenType::Random,
                t => return Err(format!("unknown numgen type {t}").into()),
            },
            offset,
        })
    }
}
