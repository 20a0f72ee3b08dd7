//! Chains (`NFTA_CHAIN_*`): base chains hook into the stack at a priority; regular chains
//! are only reached by jump and goto.

use netlink_packet_core::DecodeError;

use super::attr::{Attr, missing, parse_nested, push_opt, str_of, u32_of, u64_of};
use super::family::Family;

const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_HANDLE: u16 = 2;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_USE: u16 = 6;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_CHAIN_FLAGS: u16 = 10;
const NFTA_CHAIN_ID: u16 = 11;
const NFTA_CHAIN_USERDATA: u16 = 12;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;

/// `NFT_CHAIN_BASE`, set by the kernel on chains with a hook.
pub const CHAIN_F_BASE: u32 = 1;

/// The netfilter hooks of the ip/ip6/inet families (`NF_INET_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
    Ingress,
    Other(u32),
}

impl From<Hook> for u32 {
    fn from(h: Hook) -> u32 {
        match h {
            Hook::Prerouting => 0,
            Hook::Input => 1,
            Hook::Forward => 2,
            Hook::Output => 3,
            Hook::Postrouting => 4,
            Hook::Ingress => 5,
            Hook::Other(v) => v,
        }
    }
}

impl From<u32> for Hook {
    fn from(v: u32) -> Hook {
        match v {
            0 => Hook::Prerouting,
            1 => Hook::Input,
            2 => Hook::Forward,
            3 => Hook::Output,
            4 => Hook::Postrouting,
            5 => Hook::Ingress,
            v => Hook::Other(v),
        }
    }
}

/// Named priorities of the ip families, as `nft` spells them (`dstnat` = -100, …).
pub mod priority {
    pub const RAW: i32 = -300;
    pub const MANGLE: i32 = -150;
    pub const DSTNAT: i32 = -100;
    pub const FILTER: i32 = 0;
    pub const SECURITY: i32 = 50;
    pub const SRCNAT: i32 = 100;
}

/// Where a base chain hooks in; chains at a lower priority see packets first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHook {
    pub hook: Hook,
    pub priority: i32,
}

/// A base chain's verdict for packets that reach its end (`NF_ACCEPT` / `NF_DROP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    Drop,
    Accept,
}

/// A chain as sent in NEWCHAIN/DELCHAIN and as dumped. A base chain has `hook`,
/// `chain_type` (`"filter"`, `"nat"`, `"route"`) and usually `policy`; a regular chain has
/// none of them. `handle`, `use_count` and `flags` come from the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain {
    pub family: Family,
    pub table: String,
    pub name: String,
    pub chain_type: Option<String>,
    pub policy: Option<Policy>,
    pub hook: Option<ChainHook>,
    pub handle: Option<u64>,
    /// Batch-local id, so rules in the same batch can name the chain before it exists.
    pub id: Option<u32>,
    pub userdata: Option<Vec<u8>>,
    pub flags: Option<u32>,
    /// How many rules jump or go to this chain.
    pub use_count: Option<u32>,
}

impl Chain {
    /// A regular chain.
    pub fn new(family: Family, table: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            family,
            table: table.into(),
            name: name.into(),
            ..Self::default()
        }
    }

    /// A base chain of `chain_type` at `hook` and `priority`, with policy accept.
    pub fn base(mut self, chain_type: &str, hook: Hook, priority: i32) -> Self {
        self.chain_type = Some(chain_type.into());
        self.hook = Some(ChainHook { hook, priority });
        self.policy = Some(Policy::Accept);
        self
    }

    /// Attributes in the order `nft` sends them.
    pub(crate) fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = vec![Attr::Str(NFTA_CHAIN_TABLE, &self.table)];
        push_opt(&mut a, self.handle, |v| Attr::U64(NFTA_CHAIN_HANDLE, v));
        a.push(Attr::Str(NFTA_CHAIN_NAME, &self.name));
        if let Some(t) = &self.chain_type {
            a.push(Attr::Str(NFTA_CHAIN_TYPE, t));
        }
        push_opt(&mut a, self.policy, |p| {
            Attr::U32(NFTA_CHAIN_POLICY, (p == Policy::Accept) as u32)
        });
        push_opt(&mut a, self.hook, |h| {
            Attr::Nested(
                NFTA_CHAIN_HOOK,
                vec![
                    Attr::U32(NFTA_HOOK_HOOKNUM, h.hook.into()),
                    Attr::U32(NFTA_HOOK_PRIORITY, h.priority as u32),
                ],
            )
        });
        push_opt(&mut a, self.flags, |v| Attr::U32(NFTA_CHAIN_FLAGS, v));
        push_opt(&mut a, self.use_count, |v| Attr::U32(NFTA_CHAIN_USE, v));
        push_opt(&mut a, self.id, |v| Attr::U32(NFTA_CHAIN_ID, v));
        if let Some(u) = &self.userdata {
            a.push(Attr::Bytes(NFTA_CHAIN_USERDATA, u));
        }
        a
    }

    pub(crate) fn parse(family: Family, payload: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Chain {
            family,
            ..Chain::default()
        };
        let (mut table, mut name) = (None, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_CHAIN_TABLE => table = Some(str_of(v, "NFTA_CHAIN_TABLE")?),
                NFTA_CHAIN_NAME => name = Some(str_of(v, "NFTA_CHAIN_NAME")?),
                NFTA_CHAIN_HANDLE => c.handle = Some(u64_of(v, "NFTA_CHAIN_HANDLE")?),
                NFTA_CHAIN_TYPE => c.chain_type = Some(str_of(v, "NFTA_CHAIN_TYPE")?),
                NFTA_CHAIN_POLICY => {
                    c.policy = Some(match u32_of(v, "NFTA_CHAIN_POLICY")? {
                        0 => Policy::Drop,
                        _ => Policy::Accept,
                    })
                }
                NFTA_CHAIN_HOOK => c.hook = Some(parse_hook(v)?),
                NFTA_CHAIN_FLAGS => c.flags = Some(u32_of(v, "NFTA_CHAIN_FLAGS")?),
                NFTA_CHAIN_USE => c.use_count = Some(u32_of(v, "NFTA_CHAIN_USE")?),
                NFTA_CHAIN_ID => c.id = Some(u32_of(v, "NFTA_CHAIN_ID")?),
                NFTA_CHAIN_USERDATA => c.userdata = Some(v.to_vec()),
                _ => {}
            }
        }
        c.table = table.ok_or_else(|| missing("NFTA_CHAIN_TABLE"))?;
        c.name = name.ok_or_else(|| missing("NFTA_CHAIN_NAME"))?;
        Ok(c)
    }
}

fn parse_hook(payload: &[u8]) -> Result<ChainHook, DecodeError> {
    let (mut hook, mut priority) = (None, 0);
    for (kind, v) in parse_nested(payload)? {
        match kind {
            NFTA_HOOK_HOOKNUM => hook = Some(Hook::from(u32_of(v, "NFTA_HOOK_HOOKNUM")?)),
            NFTA_HOOK_PRIORITY => priority = u32_of(v, "NFTA_HOOK_PRIORITY")? as i32,
            _ => {}
        }
    }
    Ok(ChainHook {
        hook: hook.ok_or_else(|| missing("NFTA_HOOK_HOOKNUM"))?,
        priority,
    })
}
