//! A batch: the messages between NFNL_MSG_BATCH_BEGIN and NFNL_MSG_BATCH_END, which the
//! kernel applies as one transaction (all of them or, on any error, none).
//!
//! One batch should be one `sendmsg`: the kernel reads a batch from a single skb. When a
//! batch is larger than the socket lets one `sendmsg` be, [`Batch::encode_split`] cuts it
//! at message boundaries into several batches, each its own transaction; each later part
//! carries the generation the earlier part will produce, so a concurrent commit in between
//! makes the kernel refuse the rest (`ERESTART`) instead of applying it on top of someone
//! else's change. The caller then knows the state is partial and must read back and repair.
//! Parts must not refer to each other by batch-local ids (`set_id`, `chain_id`).

use netlink_packet_core::{NLM_F_EXCL, NetlinkSerializable};

use super::generation::Generation;
use super::message::NftMessage;

/// Bytes of elements per NEWSETELEM/DELSETELEM message: the element nest's length is a u16.
pub const MAX_ELEMENT_BYTES: usize = 60 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    msg: NftMessage,
    flags: u16,
}

/// Messages to commit together, optionally only on top of generation `genid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    genid: Option<u32>,
    entries: Vec<Entry>,
    /// The last batch-local set id handed out.
    last_set_id: u32,
}

/// A batch (or part of one) ready to send, with the sequence numbers it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    /// Sequence number of the BATCH_BEGIN; message `i` of this part has `begin_seq + 1 + i`.
    pub begin_seq: u32,
    /// Index, in the whole batch, of this part's first message.
    pub first_index: usize,
    /// Messages in this part (begin and end not counted).
    pub count: usize,
    pub genid: Option<u32>,
}

impl Encoded {
    /// The batch index of the message sent with `seq`, if it is one of this part's.
    pub fn index_of(&self, seq: u32) -> Option<usize> {
        let i = seq.checked_sub(self.begin_seq)?.checked_sub(1)? as usize;
        (i < self.count).then_some(self.first_index + i)
    }

    /// The sequence number after this part's BATCH_END.
    pub fn next_seq(&self) -> u32 {
        self.begin_seq.wrapping_add(self.count as u32 + 2)
    }
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the kernel refuse the batch unless the ruleset is still at generation `genid`.
    pub fn with_genid(mut self, genid: u32) -> Self {
        self.genid = Some(genid);
        self
    }

    pub fn genid(&self) -> Option<u32> {
        self.genid
    }

    /// Adds a message with the flags `nft` would use. Element lists larger than one
    /// message can hold become several messages.
    pub fn push(&mut self, msg: NftMessage) {
        let flags = msg.request_flags();
        self.push_with_flags(msg, flags);
    }

    /// Adds a NEW* message that fails with `EEXIST` if the object exists.
    pub fn create(&mut self, msg: NftMessage) {
        let flags = msg.request_flags() | NLM_F_EXCL;
        self.push_with_flags(msg, flags);
    }

    /// Adds a message with explicit `nlmsghdr` flags. A NEWSET without an id gets the next
    /// batch-local one: the kernel requires `NFTA_SET_ID`.
    pub fn push_with_flags(&mut self, msg: NftMessage, flags: u16) {
        let split = |l: super::ElemList| l.split(MAX_ELEMENT_BYTES);
        match msg {
            NftMessage::NewSet(mut s) => {
                if s.id.is_none() {
                    self.last_set_id += 1;
                    s.id = Some(self.last_set_id);
                }
                self.entries.push(Entry {
                    msg: NftMessage::NewSet(s),
                    flags,
                });
            }
            NftMessage::NewSetElems(l) => {
                for part in split(l) {
                    self.entries.push(Entry {
                        msg: NftMessage::NewSetElems(part),
                        flags,
                    });
                }
            }
            NftMessage::DelSetElems(l) => {
                for part in split(l) {
                    self.entries.push(Entry {
                        msg: NftMessage::DelSetElems(part),
                        flags,
                    });
                }
            }
            msg => self.entries.push(Entry { msg, flags }),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The message at batch index `i` (to name the one an error is about).
    pub fn message(&self, i: usize) -> Option<&NftMessage> {
        self.entries.get(i).map(|e| &e.msg)
    }

    pub fn messages(&self) -> impl Iterator<Item = &NftMessage> {
        self.entries.iter().map(|e| &e.msg)
    }

    /// The whole batch as one buffer, BATCH_BEGIN with sequence number `begin_seq`.
    pub fn encode(&self, begin_seq: u32) -> Encoded {
        self.encode_part(begin_seq, 0, self.entries.len(), self.genid)
    }

    /// The batch in parts of at most `max_bytes` each (a single message larger than that
    /// still gets a part of its own), numbered on from `begin_seq`. Each part leaves its
    /// [`Encoded::next_seq`] unused, for a request that marks the end of the part's replies.
    pub fn encode_split(&self, begin_seq: u32, max_bytes: usize) -> Vec<Encoded> {
        let framing = 2 * message_len(&NftMessage::BatchEnd) + self.genid.map_or(0, |_| 8);
        let mut parts = Vec::new();
        let (mut start, mut size, mut seq, mut genid) = (0, framing, begin_seq, self.genid);
        for (i, e) in self.entries.iter().enumerate() {
            let len = message_len(&e.msg);
            if i > start && size + len > max_bytes {
                let part = self.encode_part(seq, start, i - start, genid);
                seq = part.next_seq().wrapping_add(1);
                genid = genid.map(Generation::next);
                parts.push(part);
                (start, size) = (i, framing);
            }
            size += len;
        }
        if start < self.entries.len() || parts.is_empty() {
            parts.push(self.encode_part(seq, start, self.entries.len() - start, genid));
        }
        parts
    }

    fn encode_part(
        &self,
        begin_seq: u32,
        first: usize,
        count: usize,
        genid: Option<u32>,
    ) -> Encoded {
        let entries = &self.entries[first..first + count];
        let begin = NftMessage::BatchBegin { genid };
        let end = NftMessage::BatchEnd;
        let flags = netlink_packet_core::NLM_F_REQUEST;
        let all = std::iter::once((&begin, flags))
            .chain(entries.iter().map(|e| (&e.msg, e.flags)))
            .chain(std::iter::once((&end, flags)));
        let mut bytes = Vec::new();
        for (i, (msg, flags)) in all.enumerate() {
            append(&mut bytes, msg, flags, begin_seq.wrapping_add(i as u32));
        }
        Encoded {
            bytes,
            begin_seq,
            first_index: first,
            count,
            genid,
        }
    }
}

/// Appends one whole netlink message (`nlmsghdr` with port id 0, `nfgenmsg`, attributes)
/// to `buf`. Written by hand rather than through `NetlinkMessage`, which would need the
/// message by value.
pub fn append(buf: &mut Vec<u8>, msg: &NftMessage, flags: u16, seq: u32) {
    let len = message_len(msg);
    let start = buf.len();
    buf.resize(start + len, 0);
    let header = &mut buf[start..start + NLMSG_HDRLEN];
    header[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    header[4..6].copy_from_slice(&msg.message_type().to_ne_bytes());
    header[6..8].copy_from_slice(&flags.to_ne_bytes());
    header[8..12].copy_from_slice(&seq.to_ne_bytes());
    msg.serialize(&mut buf[start + NLMSG_HDRLEN..]);
}

const NLMSG_HDRLEN: usize = 16;

fn message_len(msg: &NftMessage) -> usize {
    NLMSG_HDRLEN + msg.buffer_len()
}
