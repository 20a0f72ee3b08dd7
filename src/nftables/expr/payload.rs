//! `payload`: load bytes from a packet header into a register (or write them back).

use netlink_packet_core::DecodeError;

use super::{ExprData, Reg};
use crate::nftables::attr::{Attr, parse_nested, push_opt, u32_of};

const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFTA_PAYLOAD_SREG: u16 = 5;
const NFTA_PAYLOAD_CSUM_TYPE: u16 = 6;
const NFTA_PAYLOAD_CSUM_OFFSET: u16 = 7;

/// Which header `offset` counts from (`NFT_PAYLOAD_*_HEADER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadBase {
    Link,
    Network,
    Transport,
    Other(u32),
}

impl From<PayloadBase> for u32 {
    fn from(b: PayloadBase) -> u32 {
        match b {
            PayloadBase::Link => 0,
            PayloadBase::Network => 1,
            PayloadBase::Transport => 2,
            PayloadBase::Other(v) => v,
        }
    }
}

impl From<u32> for PayloadBase {
    fn from(v: u32) -> Self {
        match v {
            0 => PayloadBase::Link,
            1 => PayloadBase::Network,
            2 => PayloadBase::Transport,
            v => PayloadBase::Other(v),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Payload {
    pub base: PayloadBase,
    pub offset: u32,
    pub len: u32,
    /// Load into this register.
    pub dreg: Option<Reg>,
    /// Or write this register into the packet.
    pub sreg: Option<Reg>,
    pub csum_type: Option<u32>,
    pub csum_offset: Option<u32>,
}

impl Payload {
    /// Loads `len` bytes at `offset` of the `base` header into `dreg`.
    pub fn load(base: PayloadBase, offset: u32, len: u32, dreg: Reg) -> Self {
        Self {
            base,
            offset,
            len,
            dreg: Some(dreg),
            sreg: None,
            csum_type: None,
            csum_offset: None,
        }
    }

    /// `ip saddr` (`ip daddr` with `daddr`), 4 bytes.
    pub fn ip_addr(daddr: bool, dreg: Reg) -> Self {
        Self::load(PayloadBase::Network, if daddr { 16 } else { 12 }, 4, dreg)
    }

    /// `ip6 saddr` (`ip6 daddr` with `daddr`), 16 bytes.
    pub fn ip6_addr(daddr: bool, dreg: Reg) -> Self {
        Self::load(PayloadBase::Network, if daddr { 24 } else { 8 }, 16, dreg)
    }

    /// `th dport` (`th sport` without `dport`): the port of TCP, UDP or SCTP.
    pub fn th_port(dport: bool, dreg: Reg) -> Self {
        Self::load(PayloadBase::Transport, if dport { 2 } else { 0 }, 2, dreg)
    }
}

impl ExprData for Payload {
    const NAME: &'static str = "payload";

    fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = Vec::new();
        push_opt(&mut a, self.dreg, |r| Attr::U32(NFTA_PAYLOAD_DREG, r.0));
        push_opt(&mut a, self.sreg, |r| Attr::U32(NFTA_PAYLOAD_SREG, r.0));
        a.push(Attr::U32(NFTA_PAYLOAD_BASE, self.base.into()));
        a.push(Attr::U32(NFTA_PAYLOAD_OFFSET, self.offset));
        a.push(Attr::U32(NFTA_PAYLOAD_LEN, self.len));
        push_opt(&mut a, self.csum_type, |v| {
            Attr::U32(NFTA_PAYLOAD_CSUM_TYPE, v)
        });
        push_opt(&mut a, self.csum_offset, |v| {
            Attr::U32(NFTA_PAYLOAD_CSUM_OFFSET, v)
        });
        a
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut p = Payload::load(PayloadBase::Link, 0, 0, Reg::VERDICT);
        p.dreg = None;
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_PAYLOAD_DREG => p.dreg = Some(Reg::parse(v, "NFTA_PAYLOAD_DREG")?),
                NFTA_PAYLOAD_SREG => p.sreg = Some(Reg::parse(v, "NFTA_PAYLOAD_SREG")?),
                NFTA_PAYLOAD_BASE => p.base = u32_of(v, "NFTA_PAYLOAD_BASE")?.into(),
                NFTA_PAYLOAD_OFFSET => p.offset = u32_of(v, "NFTA_PAYLOAD_OFFSET")?,
                NFTA_PAYLOAD_LEN => p.len = u32_of(v, "NFTA_PAYLOAD_LEN")?,
                NFTA_PAYLOAD_CSUM_TYPE => p.csum_type = Some(u32_of(v, "NFTA_PAYLOAD_CSUM_TYPE")?),
                NFTA_PAYLOAD_CSUM_OFFSET => {
                    p.csum_offset = Some(u32_of(v, "NFTA_PAYLOAD_CSUM_OFFSET")?)
                }
                _ => {}
            }
        }
        Ok(p)
    }
}
