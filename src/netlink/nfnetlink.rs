//! The frame every nfnetlink message shares (ipset, conntrack; nf_tables has its own batch
//! framing on top): `nlmsg_type = subsystem << 8 | command`, then a `struct nfgenmsg`
//! (family, version `NFNETLINK_V0`, `res_id` 0), then the subsystem's attributes. Each
//! client keeps its own commands and attributes; this is only the frame around them.

use netlink_packet_core::{
    DecodeError, NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable,
};

/// `nfgenmsg.version`.
pub const NFNETLINK_V0: u8 = 0;
/// `sizeof(struct nfgenmsg)`.
pub const NFGENMSG_LEN: usize = 4;

/// `nlmsg_type` of `command` in `subsystem`.
pub fn message_type(subsystem: u8, command: u8) -> u16 {
    (u16::from(subsystem) << 8) | u16::from(command)
}

/// Writes the `nfgenmsg` at the start of `buffer` (`res_id` 0); attributes follow at
/// [`NFGENMSG_LEN`].
pub fn emit_header(buffer: &mut [u8], family: u8) {
    buffer[0] = family;
    buffer[1] = NFNETLINK_V0;
    buffer[2..4].copy_from_slice(&0u16.to_be_bytes());
}

/// A received message of `subsystem` (`name` says which, for the error): its command,
/// its family and the bytes of its attributes.
pub fn split<'a>(
    header: &NetlinkHeader,
    payload: &'a [u8],
    subsystem: u8,
    name: &str,
) -> Result<(u8, u8, &'a [u8]), DecodeError> {
    let got = (header.message_type >> 8) as u8;
    if got != subsystem {
        return Err(format!("netfilter subsystem {got} is not {name}").into());
    }
    if payload.len() < NFGENMSG_LEN {
        return Err(DecodeError::buffer_too_small(payload.len(), NFGENMSG_LEN));
    }
    let command = (header.message_type & 0xff) as u8;
    Ok((command, payload[0], &payload[NFGENMSG_LEN..]))
}

/// `message` with its netlink header (`flags`, `seq`), lengths filled in, ready to
/// serialize.
pub fn request<M: NetlinkSerializable>(flags: u16, seq: u32, message: M) -> NetlinkMessage<M> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut message = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
    message.finalize();
    message
}
