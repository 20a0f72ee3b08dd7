//! `fib`: a routing lookup; kproxy asks whether the destination is a local address
//! (`fib daddr type local`, the NodePort test).

use netlink_packet_core::DecodeError;

use super::{ExprData, Reg};
use crate::nftables::attr::{Attr, missing, parse_nested, u32_of};

const NFTA_FIB_DREG: u16 = 1;
const NFTA_FIB_RESULT: u16 = 2;
const NFTA_FIB_FLAGS: u16 = 3;

/// `NFT_FIB_RESULT_*`.
pub mod fib_result {
    pub const OIF: u32 = 1;
    pub const OIFNAME: u32 = 2;
    /// The `RTN_*` address type, 4 bytes host order (`RTN_LOCAL` = 2).
    pub const ADDRTYPE: u32 = 3;
}

/// `NFTA_FIB_F_*`.
pub mod fib_flags {
    pub const SADDR: u32 = 1;
    pub const DADDR: u32 = 2;
    pub const MARK: u32 = 4;
    pub const IIF: u32 = 8;
    pub const OIF: u32 = 16;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fib {
    pub dreg: Reg,
    pub result: u32,
    pub flags: u32,
}

impl ExprData for Fib {
    const NAME: &'static str = "fib";

    fn attrs(&self) -> Vec<Attr<'_>> {
        vec![
            Attr::U32(NFTA_FIB_FLAGS, self.flags),
            Attr::U32(NFTA_FIB_RESULT, self.result),
            Attr::U32(NFTA_FIB_DREG, self.dreg.0),
        ]
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let (mut dreg, mut result, mut flags) = (None, None, 0);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_FIB_DREG => dreg = Some(Reg::parse(v, "NFTA_FIB_DREG")?),
                NFTA_FIB_RESULT => result = Some(u32_of(v, "NFTA_FIB_RESULT")?),
                NFTA_FIB_FLAGS => flags = u32_of(v, "NFTA_FIB_FLAGS")?,
                _ => {}
            }
        }
        Ok(Fib {
            dreg: dreg.ok_or_else(|| missing("NFTA_FIB_DREG"))?,
            result: result.ok_or_else(|| missing("NFTA_FIB_RESULT"))?,
            flags,
        })
    }
}
