//! What one `recv` returned, split into messages: data, the end of a dump, or an ack or
//! error. Pure, so it is tested on captured bytes.

use netlink_packet_core::{
    DecodeError, NLM_F_DUMP_INTR, NetlinkBuffer, NetlinkMessage, NetlinkPayload,
};

use std::collections::HashSet;

use crate::nftables::{Ack, ELEM_F_CATCHALL, Element, NftMessage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    Message {
        seq: u32,
        message: NftMessage,
        /// `NLM_F_DUMP_INTR`: the ruleset changed during the dump.
        interrupted: bool,
    },
    Done {
        seq: u32,
        interrupted: bool,
    },
    /// An NLMSG_ERROR: an ack (errno 0) or a refusal.
    Error(Ack),
}

/// Decodes every message of `buf` (messages are 4-byte aligned one after the other).
pub(super) fn decode(buf: &[u8]) -> Result<Vec<Reply>, DecodeError> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let len = NetlinkBuffer::new_checked(rest)?.length() as usize;
        let (one, tail) = rest.split_at(len.min(rest.len()));
        rest = &tail[(len.next_multiple_of(4) - len).min(tail.len())..];
        let msg = NetlinkMessage::<NftMessage>::deserialize(one)?;
        let (seq, interrupted) = (
            msg.header.sequence_number,
            msg.header.flags & NLM_F_DUMP_INTR != 0,
        );
        match msg.payload {
            NetlinkPayload::InnerMessage(message) => out.push(Reply::Message {
                seq,
                message,
                interrupted,
            }),
            NetlinkPayload::Done(_) => out.push(Reply::Done { seq, interrupted }),
            NetlinkPayload::Error(e) => out.push(Reply::Error(Ack::decode(&msg.header, &e))),
            _ => {}
        }
    }
    Ok(out)
}

/// Whether a set dump holds some element twice (by key, range end and catch-all flag):
/// the sign of a dump resumed across a resize of the set's hash table.
pub(super) fn repeats_a_key(elements: &[Element]) -> bool {
    let mut seen = HashSet::with_capacity(elements.len());
    !elements
        .iter()
        .all(|e| seen.insert((&e.key, &e.key_end, e.flags.unwrap_or(0) & ELEM_F_CATCHALL)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nftables::fixtures::{DUMP_DONE, DUMP_ELEMS_REPLY, ERROR_EEXIST};

    #[test]
    fn one_receive_can_hold_data_and_the_end_of_a_dump() {
        let mut buf = DUMP_ELEMS_REPLY.to_vec();
        buf.extend_from_slice(DUMP_DONE);
        let replies = decode(&buf).unwrap();
        assert!(matches!(
            &replies[..],
            [
                Reply::Message {
                    message: NftMessage::NewSetElems(_),
                    interrupted: false,
                    ..
                },
                Reply::Done { .. }
            ]
        ));
    }

    #[test]
    fn errors_name_the_refused_message() {
        let replies = decode(ERROR_EEXIST).unwrap();
        let [Reply::Error(ack)] = &replies[..] else {
            panic!("{replies:?}")
        };
        assert_eq!((ack.seq, ack.errno), (1, 17));
    }

    #[test]
    fn an_interrupted_dump_is_flagged() {
        let mut buf = DUMP_ELEMS_REPLY.to_vec();
        buf[6] |= NLM_F_DUMP_INTR as u8;
        let replies = decode(&buf).unwrap();
        assert!(matches!(
            &replies[..],
            [Reply::Message {
                interrupted: true,
                ..
            }]
        ));
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(decode(&DUMP_DONE[..10]).is_err());
    }

    #[test]
    fn a_dump_resumed_across_a_resize_repeats_a_key() {
        let e = |k: u8| Element::new(vec![10, 0, 0, k]);
        assert!(!repeats_a_key(&[e(1), e(2), e(3)]));
        assert!(repeats_a_key(&[e(1), e(2), e(1)]));
        let catch_all = Element {
            flags: Some(ELEM_F_CATCHALL),
            ..Element::default()
        };
        assert!(!repeats_a_key(&[catch_all.clone(), e(1)]));
        assert!(repeats_a_key(&[catch_all.clone(), catch_all]));
    }
}
