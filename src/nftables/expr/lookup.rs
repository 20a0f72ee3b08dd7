//! `lookup`: test a register against a set, or with `dreg` fetch a map's value into a
//! register (`dreg` = [`Reg::VERDICT`] for a verdict map: `vmap`).

use netlink_packet_core::DecodeError;

use super::{ExprData, Reg};
use crate::nftables::attr::{Attr, missing, parse_nested, push_opt, str_of, u32_of};

const NFTA_LOOKUP_SET: u16 = 1;
const NFTA_LOOKUP_SREG: u16 = 2;
const NFTA_LOOKUP_DREG: u16 = 3;
const NFTA_LOOKUP_SET_ID: u16 = 4;
const NFTA_LOOKUP_FLAGS: u16 = 5;

/// `NFT_LOOKUP_F_INV`: match when the key is *not* in the set.
pub const LOOKUP_F_INV: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lookup {
    pub set: String,
    /// Names a set created earlier in the same batch.
    pub set_id: Option<u32>,
    pub sreg: Reg,
    pub dreg: Option<Reg>,
    pub flags: Option<u32>,
}

impl Lookup {
    /// `KEY @set`: the rule goes on when the key in `sreg` is in `set`.
    pub fn set(set: impl Into<String>, sreg: Reg) -> Self {
        Self {
            set: set.into(),
            set_id: None,
            sreg,
            dreg: None,
            flags: None,
        }
    }

    /// `KEY map @set` into `dreg`, or `KEY vmap @set` with [`Reg::VERDICT`].
    pub fn map(set: impl Into<String>, sreg: Reg, dreg: Reg) -> Self {
        Self {
            dreg: Some(dreg),
            ..Self::set(set, sreg)
        }
    }
}

impl ExprData for Lookup {
    const NAME: &'static str = "lookup";

    fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = vec![Attr::U32(NFTA_LOOKUP_SREG, self.sreg.0)];
        push_opt(&mut a, self.dreg, |r| Attr::U32(NFTA_LOOKUP_DREG, r.0));
        a.push(Attr::Str(NFTA_LOOKUP_SET, &self.set));
        push_opt(&mut a, self.set_id, |v| Attr::U32(NFTA_LOOKUP_SET_ID, v));
        push_opt(&mut a, self.flags, |v| Attr::U32(NFTA_LOOKUP_FLAGS, v));
        a
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut l = Lookup::set(String::new(), Reg::VERDICT);
        let (mut set, mut sreg) = (None, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_LOOKUP_SET => set = Some(str_of(v, "NFTA_LOOKUP_SET")?),
                NFTA_LOOKUP_SREG => sreg = Some(Reg::parse(v, "NFTA_LOOKUP_SREG")?),
                NFTA_LOOKUP_DREG => l.dreg = Some(Reg::parse(v, "NFTA_LOOKUP_DREG")?),
                NFTA_LOOKUP_SET_ID => l.set_id = Some(u32_of(v, "NFTA_LOOKUP_SET_ID")?),
                NFTA_LOOKUP_FLAGS => l.flags = Some(u32_of(v, "NFTA_LOOKUP_FLAGS")?),
                _ => {}
            }
        }
        l.set = set.ok_or_else(|| missing("NFTA_LOOKUP_SET"))?;
        l.sreg = sreg.ok_or_else(|| missing("NFTA_LOOKUP_SREG"))?;
        Ok(l)
    }
}
