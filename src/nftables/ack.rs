//! NLMSG_ERROR decoded for nf_tables: which message failed (its sequence number and
//! type), the errno, and the kernel's extended ack (a message, the offset of the attribute
//! it rejected) when the socket asked for `NETLINK_EXT_ACK`.

use std::num::NonZeroI32;

use netlink_packet_core::{ErrorMessage, NLM_F_ACK_TLVS, NLM_F_CAPPED, NetlinkHeader};

const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSGERR_ATTR_OFFS: u16 = 2;
const NLMSG_HDRLEN: usize = 16;

/// One kernel answer to a request: `errno` 0 is a plain ACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Sequence number of the request it answers.
    pub seq: u32,
    /// A positive errno (`EEXIST` = 17), or 0.
    pub errno: i32,
    /// `nlmsg_type` of the request it answers.
    pub request_type: u16,
    /// `NLMSGERR_ATTR_MSG`: the kernel's explanation, when it gave one.
    pub message: Option<String>,
    /// `NLMSGERR_ATTR_OFFS`: byte offset, in the request, of the attribute at fault.
    pub bad_attr_offset: Option<u32>,
}

impl Ack {
    /// Decodes the body of an NLMSG_ERROR whose netlink header is `header`.
    pub fn decode(header: &NetlinkHeader, error: &ErrorMessage) -> Self {
        let echoed = error.header.as_slice();
        let request_type = echoed
            .get(4..6)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
            .unwrap_or(0);
        // The echoed request: its header only when capped, else the whole message.
        let echoed_len = if header.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            echoed
                .get(..4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .unwrap_or(NLMSG_HDRLEN)
        };
        let mut ack = Ack {
            seq: header.sequence_number,
            errno: error.code.map(NonZeroI32::get).unwrap_or(0).abs(),
            request_type,
            message: None,
            bad_attr_offset: None,
        };
        if header.flags & NLM_F_ACK_TLVS != 0 {
            let tlvs = echoed.get(echoed_len.div_ceil(4) * 4..).unwrap_or(&[]);
            for (kind, v) in super::attr::parse_nested(tlvs).unwrap_or_default() {
                match kind {
                    NLMSGERR_ATTR_MSG => ack.message = super::attr::str_of(v, "msg").ok(),
                    NLMSGERR_ATTR_OFFS => {
                        ack.bad_attr_offset = v.try_into().ok().map(u32::from_ne_bytes)
                    }
                    _ => {}
                }
            }
        }
        ack
    }
}
