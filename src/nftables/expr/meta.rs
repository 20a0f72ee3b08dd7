//! `meta`: load (or set) packet metadata such as the mark or the layer-4 protocol.

use netlink_packet_core::DecodeError;

use super::{ExprData, Reg};
use crate::nftables::attr::{Attr, missing, parse_nested, push_opt, u32_of};

const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFTA_META_SREG: u16 = 3;

/// `NFT_META_*` keys kproxy uses; any other number fits in the newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetaKey(pub u32);

impl MetaKey {
    pub const LEN: MetaKey = MetaKey(0);
    /// The ethertype (`meta protocol`).
    pub const PROTOCOL: MetaKey = MetaKey(1);
    pub const MARK: MetaKey = MetaKey(3);
    pub const IIF: MetaKey = MetaKey(4);
    pub const OIF: MetaKey = MetaKey(5);
    pub const IIFNAME: MetaKey = MetaKey(6);
    pub const OIFNAME: MetaKey = MetaKey(7);
    pub const NFPROTO: MetaKey = MetaKey(15);
    /// The transport protocol number (`meta l4proto`), one byte.
    pub const L4PROTO: MetaKey = MetaKey(16);
    pub const PKTTYPE: MetaKey = MetaKey(19);
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Meta {
    pub key: MetaKey,
    /// Load into this register.
    pub dreg: Option<Reg>,
    /// Or set the key from this register (`meta mark set …`).
    pub sreg: Option<Reg>,
}

impl Meta {
    pub fn load(key: MetaKey, dreg: Reg) -> Self {
        Self {
            key,
            dreg: Some(dreg),
            sreg: None,
        }
    }

    pub fn set(key: MetaKey, sreg: Reg) -> Self {
        Self {
            key,
            dreg: None,
            sreg: Some(sreg),
        }
    }
}

impl ExprData for Meta {
    const NAME: &'static str = "meta";

    fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = vec![Attr::U32(NFTA_META_KEY, self.key.0)];
        push_opt(&mut a, self.dreg, |r| Attr::U32(NFTA_META_DREG, r.0));
        push_opt(&mut a, self.sreg, |r| Attr::U32(NFTA_META_SREG, r.0));
        a
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let (mut key, mut dreg, mut sreg) = (None, None, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_META_KEY => key = Some(MetaKey(u32_of(v, "NFTA_META_KEY")?)),
                NFTA_META_DREG => dreg = Some(Reg::parse(v, "NFTA_META_DREG")?),
                NFTA_META_SREG => sreg = Some(Reg::parse(v, "NFTA_META_SREG")?),
                _ => {}
            }
        }
        let key = key.ok_or_else(|| missing("NFTA_META_KEY"))?;
        Ok(Meta { key, dreg, sreg })
    }
}
