//! Splitting what one `recv` returned into the messages answering a request: data, the
//! end of a dump (`NLMSG_DONE`), an ACK, or the kernel's errno. Pure, so it is tested on
//! captured bytes.

use std::fmt::Debug;

use netlink_packet_core::{
    DecodeError, Emitable, NetlinkBuffer, NetlinkMessage, NetlinkPayload, ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use nix::errno::Errno;

/// What one received buffer meant for the request with sequence number `seq`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Batch<F> {
    /// Data messages, in order.
    pub messages: Vec<F>,
    /// The reply is complete (an ACK, or `NLMSG_DONE` ending a dump).
    pub finished: bool,
}

#[derive(Debug)]
pub(super) enum ReplyError {
    /// The kernel refused the request with this errno.
    Kernel(Errno),
    Decode(DecodeError),
}

/// Decodes every netlink message in `buf`. Messages for another sequence number (a stale
/// reply) are skipped; data after the end of the reply is ignored.
pub(super) fn parse_batch<F>(buf: &[u8], seq: u32) -> Result<Batch<F>, ReplyError>
where
    F: GenlFamily + Emitable + ParseableParametrized<[u8], GenlHeader> + Debug,
{
    let mut batch = Batch {
        messages: Vec::new(),
        finished: false,
    };
    let mut rest = buf;
    while !rest.is_empty() && !batch.finished {
        let len = NetlinkBuffer::new_checked(rest)
            .map_err(ReplyError::Decode)?
            .length() as usize;
        let (one, tail) = rest.split_at(len.min(rest.len()));
        // nlmsg_len is aligned to 4 between messages.
        rest = &tail[(len.next_multiple_of(4) - len).min(tail.len())..];
        let msg = NetlinkMessage::<GenlMessage<F>>::deserialize(one).map_err(ReplyError::Decode)?;
        if msg.header.sequence_number != seq {
            continue;
        }
        match msg.payload {
            NetlinkPayload::InnerMessage(genl) => batch.messages.push(genl.payload),
            NetlinkPayload::Done(_) => batch.finished = true,
            NetlinkPayload::Error(e) => match e.code {
                None => batch.finished = true,
                Some(code) => return Err(ReplyError::Kernel(Errno::from_raw(-code.get()))),
            },
            _ => {}
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ipvs::netlink::{IpvsCmd, IpvsMessage, VirtualService};

    // Replies captured from the kernel (see that module for how).
    use crate::backend::ipvs::netlink::fixtures::{
        ADD_DEST_EXISTS_ERROR as EEXIST, DUMP_DONE, SERVICES_DUMP,
    };
    /// The sequence number of ipvsadm's services dump in the capture.
    const DUMP_SEQ: u32 = 0x6b02_5689;

    #[test]
    fn a_dump_spans_receives_until_done() {
        let first: Batch<IpvsMessage> = parse_batch(SERVICES_DUMP, DUMP_SEQ).unwrap();
        assert_eq!(first.messages.len(), 2);
        assert!(!first.finished);
        assert!(first.messages.iter().all(|m| m.cmd == IpvsCmd::NewService));
        let names: Vec<_> = first
            .messages
            .iter()
            .map(|m| {
                VirtualService::from_attrs(m.service().unwrap())
                    .unwrap()
                    .scheduler
            })
            .collect();
        assert_eq!(names, ["lc", "rr"]);

        let last: Batch<IpvsMessage> = parse_batch(DUMP_DONE, DUMP_SEQ).unwrap();
        assert!(last.messages.is_empty());
        assert!(last.finished);
    }

    #[test]
    fn messages_of_other_requests_are_skipped() {
        let batch: Batch<IpvsMessage> = parse_batch(SERVICES_DUMP, DUMP_SEQ + 1).unwrap();
        assert_eq!(
            batch,
            Batch {
                messages: vec![],
                finished: false
            }
        );
    }

    #[test]
    fn a_refusal_carries_the_errno() {
        let seq = NetlinkBuffer::new(EEXIST).sequence_number();
        match parse_batch::<IpvsMessage>(EEXIST, seq) {
            Err(ReplyError::Kernel(errno)) => assert_eq!(errno, Errno::EEXIST),
            other => panic!("expected EEXIST, got {other:?}"),
        }
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let mut bad = DUMP_DONE.to_vec();
        bad[0] = 200; // nlmsg_len past the end of the buffer
        assert!(matches!(
            parse_batch::<IpvsMessage>(&bad, DUMP_SEQ),
            Err(ReplyError::Decode(_))
        ));
    }
}
