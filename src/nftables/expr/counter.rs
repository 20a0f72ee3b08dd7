//! `counter`: packets and bytes that reached it. Sent empty; the kernel dumps the counts.

use netlink_packet_core::DecodeError;

use super::ExprData;
use crate::nftables::attr::{Attr, parse_nested, push_opt, u64_of};

const NFTA_COUNTER_BYTES: u16 = 1;
const NFTA_COUNTER_PACKETS: u16 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Counter {
    pub bytes: Option<u64>,
    pub packets: Option<u64>,
}

impl ExprData for Counter {
    const NAME: &'static str = "counter";

    fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = Vec::new();
        push_opt(&mut a, self.bytes, |v| Attr::U64(NFTA_COUNTER_BYTES, v));
        push_opt(&mut a, self.packets, |v| Attr::U64(NFTA_COUNTER_PACKETS, v));
        a
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Counter::default();
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_COUNTER_BYTES => c.bytes = Some(u64_of(v, "NFTA_COUNTER_BYTES")?),
                NFTA_COUNTER_PACKETS => c.packets = Some(u64_of(v, "NFTA_COUNTER_PACKETS")?),
                _ => {}
            }
        }
        Ok(c)
    }
}
