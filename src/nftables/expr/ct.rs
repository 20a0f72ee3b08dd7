//! `ct`: load (or set) connection-tracking state: `ct state`, `ct mark`, `ct status`, …

use netlink_packet_core::DecodeError;

use super::{ExprData, Reg};
use crate::nftables::attr::{Attr, missing, parse_nested, push_opt, u8_of, u32_of};

const NFTA_CT_DREG: u16 = 1;
const NFTA_CT_KEY: u16 = 2;
const NFTA_CT_DIRECTION: u16 = 3;
const NFTA_CT_SREG: u16 = 4;

/// `NFT_CT_*` keys kproxy uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CtKey(pub u32);

impl CtKey {
    /// A bit set of [`ct_state`] values, 4 bytes host order.
    pub const STATE: CtKey = CtKey(0);
    pub const DIRECTION: CtKey = CtKey(1);
    /// `IPS_*` status bits (`ct status dnat`).
    pub const STATUS: CtKey = CtKey(2);
    pub const MARK: CtKey = CtKey(3);
}

/// `NF_CT_STATE_*` bits of `ct state`.
pub mod ct_state {
    pub const INVALID: u32 = 1;
    pub const ESTABLISHED: u32 = 2;
    pub const RELATED: u32 = 4;
    pub const NEW: u32 = 8;
    pub const UNTRACKED: u32 = 64;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ct {
    pub key: CtKey,
    pub dreg: Option<Reg>,
    /// Original (0) or reply (1), for keys that depend on it (addresses, ports).
    pub direction: Option<u8>,
    pub sreg: Option<Reg>,
}

impl Ct {
    pub fn load(key: CtKey, dreg: Reg) -> Self {
        Self {
            key,
            dreg: Some(dreg),
            direction: None,
            sreg: None,
        }
    }
}

impl ExprData for Ct {
    const NAME: &'static str = "ct";

    fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = vec![Attr::U32(NFTA_CT_KEY, self.key.0)];
        push_opt(&mut a, self.dreg, |r| Attr::U32(NFTA_CT_DREG, r.0));
        push_opt(&mut a, self.direction, |v| Attr::U8(NFTA_CT_DIRECTION, v));
        push_opt(&mut a, self.sreg, |r| Attr::U32(NFTA_CT_SREG, r.0));
        a
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut ct = Ct::load(CtKey::STATE, Reg::VERDICT);
        ct.dreg = None;
        let mut key = None;
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_CT_KEY => key = Some(CtKey(u32_of(v, "NFTA_CT_KEY")?)),
                NFTA_CT_DREG => ct.dreg = Some(Reg::parse(v, "NFTA_CT_DREG")?),
                NFTA_CT_DIRECTION => ct.direction = Some(u8_of(v, "NFTA_CT_DIRECTION")?),
                NFTA_CT_SREG => ct.sreg = Some(Reg::parse(v, "NFTA_CT_SREG")?),
                _ => {}
            }
        }
        ct.key = key.ok_or_else(|| missing("NFTA_CT_KEY"))?;
        Ok(ct)
    }
}
