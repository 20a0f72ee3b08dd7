//! Tables (`NFTA_TABLE_*`): the namespace of chains and sets, one per family and name.

use netlink_packet_core::DecodeError;

use super::attr::{Attr, missing, parse_nested, push_opt, str_of, u32_of, u64_of};
use super::family::Family;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
const NFTA_TABLE_USE: u16 = 3;
const NFTA_TABLE_HANDLE: u16 = 4;
const NFTA_TABLE_USERDATA: u16 = 6;
const NFTA_TABLE_OWNER: u16 = 7;

/// `NFT_TABLE_F_DORMANT`: the table's base chains are unhooked.
pub const TABLE_F_DORMANT: u32 = 1;
/// `NFT_TABLE_F_OWNER`: the table goes away with the netlink socket that created it.
pub const TABLE_F_OWNER: u32 = 2;

/// A table as sent in NEWTABLE/DELTABLE/GETTABLE and as the kernel dumps it. Fields the
/// kernel fills in (`handle`, `use_count`, `owner`) are `None` in requests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    pub family: Family,
    pub name: String,
    pub flags: Option<u32>,
    /// Comment records (see [`super::udata`]).
    pub userdata: Option<Vec<u8>>,
    pub handle: Option<u64>,
    /// How many chains, sets and other objects the table holds.
    pub use_count: Option<u32>,
    pub owner: Option<u32>,
}

impl Table {
    pub fn new(family: Family, name: impl Into<String>) -> Self {
        Self {
            family,
            name: name.into(),
            ..Self::default()
        }
    }

    /// Attributes in the order `nft` sends them (the kernel's dump order is a superset).
    pub(crate) fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = vec![Attr::Str(NFTA_TABLE_NAME, &self.name)];
        push_opt(&mut a, self.use_count, |v| Attr::U32(NFTA_TABLE_USE, v));
        push_opt(&mut a, self.handle, |v| Attr::U64(NFTA_TABLE_HANDLE, v));
        push_opt(&mut a, self.flags, |v| Attr::U32(NFTA_TABLE_FLAGS, v));
        if let Some(u) = &self.userdata {
            a.push(Attr::Bytes(NFTA_TABLE_USERDATA, u));
        }
        push_opt(&mut a, self.owner, |v| Attr::U32(NFTA_TABLE_OWNER, v));
        a
    }

    pub(crate) fn parse(family: Family, payload: &[u8]) -> Result<Self, DecodeError> {
        let mut t = Table {
            family,
            ..Table::default()
        };
        let mut name = None;
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_TABLE_NAME => name = Some(str_of(v, "NFTA_TABLE_NAME")?),
                NFTA_TABLE_FLAGS => t.flags = Some(u32_of(v, "NFTA_TABLE_FLAGS")?),
                NFTA_TABLE_USE => t.use_count = Some(u32_of(v, "NFTA_TABLE_USE")?),
                NFTA_TABLE_HANDLE => t.handle = Some(u64_of(v, "NFTA_TABLE_HANDLE")?),
                NFTA_TABLE_USERDATA => t.userdata = Some(v.to_vec()),
                NFTA_TABLE_OWNER => t.owner = Some(u32_of(v, "NFTA_TABLE_OWNER")?),
                _ => {}
            }
        }
        t.name = name.ok_or_else(|| missing("NFTA_TABLE_NAME"))?;
        Ok(t)
    }
}
