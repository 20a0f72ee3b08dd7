//! Splitting what one `recv` returned into the messages answering a request: data, the
//! end of a dump (`NLMSG_DONE`), an ACK, or the kernel's error. Pure, so it is tested on
//! captured bytes.

use netlink_packet_core::{NetlinkBuffer, NetlinkDeserializable, NetlinkMessage, NetlinkPayload};

use super::NetlinkError;

/// What ends the reply to a request, from its flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyEnd {
    /// `NLM_F_DUMP`: data messages up to `NLMSG_DONE` (the kernel sends no ACK after it).
    Done,
    /// `NLM_F_ACK`: data messages (if any) up to the ACK.
    Ack,
    /// Neither: the first data message is the whole reply.
    FirstMessage,
}

impl ReplyEnd {
    /// How the reply to a request sent with `flags` ends. A dump wins over an ACK.
    pub fn for_flags(flags: u16) -> Self {
        use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP};
        if flags & NLM_F_DUMP == NLM_F_DUMP {
            Self::Done
        } else if flags & NLM_F_ACK != 0 {
            Self::Ack
        } else {
            Self::FirstMessage
        }
    }
}

/// What one received buffer meant for the request with sequence number `seq`.
#[derive(Debug, PartialEq, Eq)]
pub struct Batch<I> {
    /// Data messages, in order.
    pub messages: Vec<I>,
    /// The reply is complete.
    pub finished: bool,
}

/// Decodes the messages in `buf` that answer request `seq`. Messages for another sequence
/// number (a stale reply to an earlier, failed request) are skipped without being decoded;
/// data after the end of the reply is ignored. An error message, or a `NLMSG_DONE` with a
/// non-zero code, is [`NetlinkError::Kernel`].
pub fn parse_batch<I: NetlinkDeserializable>(
    buf: &[u8],
    seq: u32,
    end: ReplyEnd,
) -> Result<Batch<I>, NetlinkError> {
    let mut batch = Batch {
        messages: Vec::new(),
        finished: false,
    };
    let mut rest = buf;
    while !rest.is_empty() && !batch.finished {
        let header = NetlinkBuffer::new_checked(rest).map_err(NetlinkError::Decode)?;
        let len = header.length() as usize;
        let message_seq = header.sequence_number();
        let (one, tail) = rest.split_at(len.min(rest.len()));
        // nlmsg_len is aligned to 4 between messages.
        rest = &tail[(len.next_multiple_of(4) - len).min(tail.len())..];
        if message_seq != seq {
            continue;
        }
        let msg = NetlinkMessage::<I>::deserialize(one).map_err(NetlinkError::Decode)?;
        match msg.payload {
            NetlinkPayload::InnerMessage(m) => {
                batch.messages.push(m);
                batch.finished = end == ReplyEnd::FirstMessage;
            }
            NetlinkPayload::Done(done) if done.code != 0 => {
                return Err(NetlinkError::Kernel {
                    code: -done.code,
                    echo: Vec::new(),
                });
            }
            NetlinkPayload::Done(_) => batch.finished = true,
            NetlinkPayload::Error(e) => match e.code {
                None => batch.finished = true,
                Some(code) => {
                    return Err(NetlinkError::Kernel {
                        code: -code.get(),
                        echo: e.header,
                    });
                }
            },
            _ => {}
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use netlink_packet_generic::GenlMessage;
    use nix::errno::Errno;

    use super::*;
    use crate::backend::ipvs::netlink::{IpvsCmd, IpvsMessage, VirtualService};

    // Replies captured from the kernel (see that module for how).
    use crate::backend::ipvs::netlink::fixtures::{
        ADD_DEST_EXISTS_ERROR as EEXIST, DUMP_DONE, SERVICES_DUMP,
    };
    /// The sequence number of ipvsadm's services dump in the capture.
    const DUMP_SEQ: u32 = 0x6b02_5689;

    type Ipvs = GenlMessage<IpvsMessage>;

    #[test]
    fn a_dump_spans_receives_until_done() {
        let first: Batch<Ipvs> = parse_batch(SERVICES_DUMP, DUMP_SEQ, ReplyEnd::Done).unwrap();
        assert_eq!(first.messages.len(), 2);
        assert!(!first.finished);
        assert!(
            first
                .messages
                .iter()
                .all(|m| m.payload.cmd == IpvsCmd::NewService)
        );
        let names: Vec<_> = first
            .messages
            .iter()
            .map(|m| {
                VirtualService::from_attrs(m.payload.service().unwrap())
                    .unwrap()
                    .scheduler
            })
            .collect();
        assert_eq!(names, ["lc", "rr"]);

        let last: Batch<Ipvs> = parse_batch(DUMP_DONE, DUMP_SEQ, ReplyEnd::Done).unwrap();
        assert!(last.messages.is_empty());
        assert!(last.finished);
    }

    #[test]
    fn without_ack_or_dump_the_first_message_is_the_reply() {
        let batch: Batch<Ipvs> =
            parse_batch(SERVICES_DUMP, DUMP_SEQ, ReplyEnd::FirstMessage).unwrap();
        assert_eq!(batch.messages.len(), 1);
        assert!(batch.finished);
    }

    #[test]
    fn messages_of_other_requests_are_skipped() {
        let batch: Batch<Ipvs> = parse_batch(SERVICES_DUMP, DUMP_SEQ + 1, ReplyEnd::Done).unwrap();
        assert_eq!(
            batch,
            Batch {
                messages: vec![],
                finished: false
            }
        );
    }

    #[test]
    fn a_refusal_carries_the_errno_and_the_echoed_request() {
        let seq = NetlinkBuffer::new(EEXIST).sequence_number();
        match parse_batch::<Ipvs>(EEXIST, seq, ReplyEnd::Ack) {
            Err(e @ NetlinkError::Kernel { .. }) => {
                assert_eq!(e.errno(), Some(Errno::EEXIST));
                let NetlinkError::Kernel { echo, .. } = e else {
                    unreachable!()
                };
                assert_eq!(NetlinkBuffer::new(&echo[..]).sequence_number(), seq);
            }
            other => panic!("expected EEXIST, got {other:?}"),
        }
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let mut bad = DUMP_DONE.to_vec();
        bad[0] = 200; // nlmsg_len past the end of the buffer
        assert!(matches!(
            parse_batch::<Ipvs>(&bad, DUMP_SEQ, ReplyEnd::Done),
            Err(NetlinkError::Decode(_))
        ));
    }
}
