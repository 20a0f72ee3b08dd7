//! `dynset`: add or refresh an element from the packet (`update @affinity { ip saddr }`,
//! kproxy's session affinity).

use netlink_packet_core::DecodeError;

use super::{ExprData, Reg};
use crate::nftables::attr::{Attr, missing, parse_nested, push_opt, str_of, u32_of, u64_of};

const NFTA_DYNSET_SET_NAME: u16 = 1;
const NFTA_DYNSET_SET_ID: u16 = 2;
const NFTA_DYNSET_OP: u16 = 3;
const NFTA_DYNSET_SREG_KEY: u16 = 4;
const NFTA_DYNSET_SREG_DATA: u16 = 5;
const NFTA_DYNSET_TIMEOUT: u16 = 6;
const NFTA_DYNSET_FLAGS: u16 = 9;

/// `NFT_DYNSET_OP_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DynsetOp {
    /// Add if missing.
    Add,
    /// Add if missing, and restart the timeout of an existing element.
    Update,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dynset {
    pub set: String,
    pub set_id: Option<u32>,
    pub op: DynsetOp,
    pub sreg_key: Reg,
    pub sreg_data: Option<Reg>,
    /// Overrides the set's default timeout.
    pub timeout_ms: Option<u64>,
    pub flags: Option<u32>,
}

impl Dynset {
    /// `update @set { KEY }` with the key in `sreg_key`.
    pub fn update(set: impl Into<String>, sreg_key: Reg) -> Self {
        Self {
            set: set.into(),
            set_id: None,
            op: DynsetOp::Update,
            sreg_key,
            sreg_data: None,
            timeout_ms: None,
            flags: None,
        }
    }
}

impl ExprData for Dynset {
    const NAME: &'static str = "dynset";

    fn attrs(&self) -> Vec<Attr<'_>> {
        let op = match self.op {
            DynsetOp::Add => 0,
            DynsetOp::Update => 1,
            DynsetOp::Delete => 2,
        };
        let mut a = vec![Attr::U32(NFTA_DYNSET_SREG_KEY, self.sreg_key.0)];
        push_opt(&mut a, self.sreg_data, |r| {
            Attr::U32(NFTA_DYNSET_SREG_DATA, r.0)
        });
        a.push(Attr::U32(NFTA_DYNSET_OP, op));
        a.push(Attr::Str(NFTA_DYNSET_SET_NAME, &self.set));
        push_opt(&mut a, self.set_id, |v| Attr::U32(NFTA_DYNSET_SET_ID, v));
        push_opt(&mut a, self.timeout_ms, |v| {
            Attr::U64(NFTA_DYNSET_TIMEOUT, v)
        });
        push_opt(&mut a, self.flags, |v| Attr::U32(NFTA_DYNSET_FLAGS, v));
        a
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Dynset::update(String::new(), Reg::VERDICT);
        let (mut set, mut op, mut sreg_key) = (None, None, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_DYNSET_SET_NAME => set = Some(str_of(v, "NFTA_DYNSET_SET_NAME")?),
                NFTA_DYNSET_SET_ID => d.set_id = Some(u32_of(v, "NFTA_DYNSET_SET_ID")?),
                NFTA_DYNSET_OP => op = Some(u32_of(v, "NFTA_DYNSET_OP")?),
                NFTA_DYNSET_SREG_KEY => sreg_key = Some(Reg::parse(v, "NFTA_DYNSET_SREG_KEY")?),
                NFTA_DYNSET_SREG_DATA => {
                    d.sreg_data = Some(Reg::parse(v, "NFTA_DYNSET_SREG_DATA")?)
                }
                NFTA_DYNSET_TIMEOUT => d.timeout_ms = Some(u64_of(v, "NFTA_DYNSET_TIMEOUT")?),
                NFTA_DYNSET_FLAGS => d.flags = Some(u32_of(v, "NFTA_DYNSET_FLAGS")?),
                _ => {}
            }
        }
        d.set = set.ok_or_else(|| missing("NFTA_DYNSET_SET_NAME"))?;
        d.sreg_key = sreg_key.ok_or_else(|| missing("NFTA_DYNSET_SREG_KEY"))?;
        d.op = match op.ok_or_else(|| missing("NFTA_DYNSET_OP"))? {
            0 => DynsetOp::Add,
            1 => DynsetOp::Update,
            2 => DynsetOp::Delete,
            o => return Err(format!("unknown dynset op {o}").into()),
        };
        Ok(d)
    }
}
