//! `reject`: drop the packet and answer with an ICMP error or a TCP reset (a service
//! without endpoints).

use netlink_packet_core::DecodeError;

use super::ExprData;
use crate::nftables::attr::{Attr, missing, parse_nested, push_opt, u8_of, u32_of};

const NFTA_REJECT_TYPE: u16 = 1;
const NFTA_REJECT_ICMP_CODE: u16 = 2;

/// `NFT_REJECT_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectType {
    /// An ICMP (ip) or ICMPv6 (ip6) destination-unreachable with `icmp_code`.
    IcmpUnreach,
    TcpRst,
    /// The family-independent ICMPX codes of inet tables.
    IcmpxUnreach,
}

impl RejectType {
    /// ICMP code "port unreachable" for an ip table.
    pub const ICMP_PORT_UNREACH: u8 = 3;
    /// ICMPv6 code "port unreachable" for an ip6 table.
    pub const ICMPV6_PORT_UNREACH: u8 = 4;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reject {
    pub reject_type: RejectType,
    pub icmp_code: Option<u8>,
}

impl ExprData for Reject {
    const NAME: &'static str = "reject";

    fn attrs(&self) -> Vec<Attr<'_>> {
        let t = match self.reject_type {
            RejectType::IcmpUnreach => 0,
            RejectType::TcpRst => 1,
            RejectType::IcmpxUnreach => 2,
        };
        let mut a = vec![Attr::U32(NFTA_REJECT_TYPE, t)];
        push_opt(&mut a, self.icmp_code, |c| {
            Attr::U8(NFTA_REJECT_ICMP_CODE, c)
        });
        a
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let (mut t, mut icmp_code) = (None, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_REJECT_TYPE => t = Some(u32_of(v, "NFTA_REJECT_TYPE")?),
                NFTA_REJECT_ICMP_CODE => icmp_code = Some(u8_of(v, "NFTA_REJECT_ICMP_CODE")?),
                _ => {}
            }
        }
        let reject_type = match t.ok_or_else(|| missing("NFTA_REJECT_TYPE"))? {
            0 => RejectType::IcmpUnreach,
            1 => RejectType::TcpRst,
            2 => RejectType::IcmpxUnreach,
            t => return Err(format!("unknown reject type {t}").into()),
        };
        Ok(Reject {
            reject_type,
            icmp_code,
        })
    }
}
