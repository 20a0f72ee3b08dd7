//! The ruleset generation (`NFTA_GEN_*`): a namespace-wide counter bumped by every commit
//! that changes something. NFT_MSG_GETGEN asks for it; the kernel answers NFT_MSG_NEWGEN.

use netlink_packet_core::DecodeError;

use super::attr::{Attr, missing, parse_nested, push_opt, str_of, u32_of};

const NFTA_GEN_ID: u16 = 1;
const NFTA_GEN_PROC_PID: u16 = 2;
const NFTA_GEN_PROC_NAME: u16 = 3;

/// A NEWGEN reply. A generation equal to the one a sync recorded proves that nobody
/// changed any nf_tables state since (kproxy's one-message drift check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub id: u32,
    /// The process that asked (a GETGEN reply names the caller).
    pub proc_pid: Option<u32>,
    pub proc_name: Option<String>,
}

impl Generation {
    /// The generation a commit on top of `self` produces: the kernel skips 0 when it wraps.
    pub fn next(id: u32) -> u32 {
        match id.wrapping_add(1) {
            0 => 1,
            n => n,
        }
    }

    pub(crate) fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = vec![Attr::U32(NFTA_GEN_ID, self.id)];
        push_opt(&mut a, self.proc_pid, |v| Attr::U32(NFTA_GEN_PROC_PID, v));
        if let Some(name) = &self.proc_name {
            a.push(Attr::Str(NFTA_GEN_PROC_NAME, name));
        }
        a
    }

    pub(crate) fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let (mut id, mut proc_pid, mut proc_name) = (None, None, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_GEN_ID => id = Some(u32_of(v, "NFTA_GEN_ID")?),
                NFTA_GEN_PROC_PID => proc_pid = Some(u32_of(v, "NFTA_GEN_PROC_PID")?),
                NFTA_GEN_PROC_NAME => proc_name = Some(str_of(v, "NFTA_GEN_PROC_NAME")?),
                _ => {}
            }
        }
        Ok(Generation {
            id: id.ok_or_else(|| missing("NFTA_GEN_ID"))?,
            proc_pid,
            proc_name,
        })
    }
}
