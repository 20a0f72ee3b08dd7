//! The nf_tables client: the only code that sends the messages of `super` to the kernel.
//! Blocking, one request (or one batch part) in flight at a time, which is all a sync
//! loop needs. A socket belongs to the network namespace it was opened in.
//!
//! Committing a batch: the whole batch goes out in one `sendmsg`, the socket's send buffer
//! grown to fit it (`SO_SNDBUFFORCE`; nf_tables needs `CAP_NET_ADMIN` anyway), so one sync
//! is one transaction. Only past `max_batch_bytes` is it split ([`Batch::encode_split`]
//! says what that costs). Messages carry no `NLM_F_ACK`: success is silent, and a refusal
//! comes back as NLMSG_ERROR with the refused message's sequence number. After each part
//! the client sends NFT_MSG_GETGEN; its reply comes after every error of the part, so it
//! marks the end of them, and it tells the generation after the commit.
//!
//! `crate::netlink::Connection` (the shared blocking connection, in progress on another
//! branch) covers `request` below; the batch path needs it to also send prepared bytes,
//! hand out sequence numbers and grow the send buffer. Until then this module keeps its
//! own socket, in the same shape, so switching is a local change.

mod error;
mod replies;

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};
use nix::errno::Errno;
use nix::sys::socket::{getsockopt, setsockopt, sockopt};

pub use error::{NftError, Refusal};
use replies::{Reply, decode, repeats_a_key};

use super::batch::append;
use super::{
    Ack, Batch, Chain, ElemList, Element, Family, Generation, Get, NftMessage, Object, Rule, Set,
    Table,
};

/// Default largest batch sent as one transaction (the kernel copies it into one skb).
pub const DEFAULT_MAX_BATCH_BYTES: usize = 256 << 20;
/// Dumps of one set tried before giving up on a consistent one (a resize settles within
/// milliseconds; seen needing a second dump under load, never a third).
const MAX_ELEMENT_DUMPS: usize = 5;
/// What netlink keeps of the send buffer for itself (`sk_sndbuf - 32` is the largest message).
const SNDBUF_SLACK: usize = 32;

/// The result of a committed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    /// The ruleset generation right after the last part (from GETGEN).
    pub generation: u32,
    /// The generation the batch's own commits lead to from its `genid`: equal to
    /// `generation` unless another process committed in between (or the batch changed
    /// nothing, which does not bump it).
    pub expected_generation: Option<u32>,
    pub parts: usize,
}

/// A netlink socket talking to nf_tables in one network namespace.
pub struct NftHandle {
    socket: Socket,
    seq: u32,
    sndbuf: usize,
    max_batch_bytes: usize,
    requests: u64,
}

impl NftHandle {
    /// Opens a socket in the calling thread's network namespace, with extended acks (the
    /// kernel says which attribute it refused) and capped acks (errors do not echo whole
    /// messages).
    pub fn new() -> Result<Self, NftError> {
        let io = |source| NftError::Io { op: "open", source };
        let mut socket = Socket::new(NETLINK_NETFILTER).map_err(io)?;
        socket.bind_auto().map_err(io)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        socket.set_ext_ack(true).map_err(io)?;
        socket.set_cap_ack(true).map_err(io)?;
        let sndbuf = getsockopt(&socket, sockopt::SndBuf).map_err(|e| io(e.into()))?;
        Ok(Self {
            socket,
            seq: 0,
            sndbuf,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            requests: 0,
        })
    }

    /// Batches larger than this are split into several transactions.
    pub fn with_max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes;
        self
    }

    /// `sendmsg` calls and requests made so far (batch parts count one each).
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The current ruleset generation: one message, no lock in the kernel.
    pub fn generation(&mut self) -> Result<u32, NftError> {
        let replies = self.request("get generation", NftMessage::GetGen, NLM_F_REQUEST)?;
        replies
            .into_iter()
            .find_map(|m| match m {
                NftMessage::NewGen(g) => Some(g.id),
                _ => None,
            })
            .ok_or(NftError::Decode {
                op: "get generation",
                source: "no NEWGEN in the reply".into(),
            })
    }

    /// Every table of `family` (`Family::Unspec`: of all families).
    pub fn tables(&mut self, family: Family) -> Result<Vec<Table>, NftError> {
        let get = Get::new(Object::Table, family, None, None);
        self.dump_of("list tables", get, |m| match m {
            NftMessage::NewTable(t) => vec![t],
            _ => vec![],
        })
    }

    pub fn chains(&mut self, family: Family, table: &str) -> Result<Vec<Chain>, NftError> {
        let get = Get::new(Object::Chain, family, Some(table), None);
        self.dump_of("list chains", get, |m| match m {
            NftMessage::NewChain(c) => vec![c],
            _ => vec![],
        })
    }

    pub fn sets(&mut self, family: Family, table: &str) -> Result<Vec<Set>, NftError> {
        let get = Get::new(Object::Set, family, Some(table), None);
        self.dump_of("list sets", get, |m| match m {
            NftMessage::NewSet(s) => vec![s],
            _ => vec![],
        })
    }

    /// The elements of one set (a dump spreads them over several messages).
    ///
    /// A dump that repeats a key is dumped again: the kernel resumes each part of a set
    /// dump by skipping as many elements as it already sent, so a hash set the kernel
    /// resizes in between (its worker grows the table for a while after a large commit)
    /// yields some elements twice and as many not at all. The generation does not change,
    /// so `NLM_F_DUMP_INTR` does not say so. Every part walks the whole set and the parts
    /// together send as many elements as the set holds, so a dump without a repeated key
    /// is complete.
    pub fn elements(
        &mut self,
        family: Family,
        table: &str,
        set: &str,
    ) -> Result<Vec<Element>, NftError> {
        let op = "list set elements";
        for _ in 0..MAX_ELEMENT_DUMPS {
            let get = Get::new(Object::SetElem, family, Some(table), Some(set));
            let elements = self.dump_of(op, get, |m| match m {
                NftMessage::NewSetElems(ElemList { elements, .. }) => elements,
                _ => vec![],
            })?;
            if !repeats_a_key(&elements) {
                return Ok(elements);
            }
        }
        Err(NftError::DumpInconsistent { op })
    }

    /// The rules of a table, or of one chain of it.
    pub fn rules(
        &mut self,
        family: Family,
        table: &str,
        chain: Option<&str>,
    ) -> Result<Vec<Rule>, NftError> {
        let get = Get::new(Object::Rule, family, Some(table), chain);
        self.dump_of("list rules", get, |m| match m {
            NftMessage::NewRule(r) => vec![r],
            _ => vec![],
        })
    }

    /// A dump, each reply turned into the objects it holds.
    fn dump_of<T>(
        &mut self,
        op: &'static str,
        get: Get,
        pick: impl Fn(NftMessage) -> Vec<T>,
    ) -> Result<Vec<T>, NftError> {
        Ok(self.dump(op, get)?.into_iter().flat_map(pick).collect())
    }

    /// Sends a GET request as a dump and collects the replies up to NLMSG_DONE.
    pub fn dump(&mut self, op: &'static str, get: Get) -> Result<Vec<NftMessage>, NftError> {
        let msg = NftMessage::Get(get);
        let flags = msg.request_flags() | NLM_F_DUMP;
        self.request(op, msg, flags)
    }

    /// Commits `batch`: in one `sendmsg` when it fits `max_batch_bytes`, else in parts.
    /// An empty batch sends nothing and reports the current generation.
    pub fn commit(&mut self, batch: &Batch) -> Result<Commit, NftError> {
        if batch.is_empty() {
            let generation = self.generation()?;
            return Ok(Commit {
                generation,
                expected_generation: batch.genid(),
                parts: 0,
            });
        }
        let parts = batch.encode_split(self.seq.wrapping_add(1), self.max_batch_bytes);
        let mut generation = 0;
        for (i, part) in parts.iter().enumerate() {
            self.grow_sndbuf(part.bytes.len());
            self.seq = part.next_seq().wrapping_sub(1);
            self.requests += 1;
            self.socket
                .send(&part.bytes, 0)
                .map_err(|source| NftError::Io {
                    op: "send batch",
                    source,
                })?;
            let mut refusals = Vec::new();
            generation = self.sentinel_generation(|ack| {
                if let Some(index) = part.index_of(ack.seq) {
                    refusals.push(Refusal {
                        index: Some(index),
                        what: batch.message(index).map(NftMessage::describe),
                        ack,
                    });
                } else if ack.seq == part.begin_seq {
                    refusals.push(Refusal {
                        index: None,
                        what: None,
                        ack,
                    });
                }
            })?;
            if refusals
                .iter()
                .any(|r| r.index.is_none() && r.ack.errno == Errno::ERESTART as i32)
            {
                return Err(NftError::GenerationChanged { committed_parts: i });
            }
            if !refusals.is_empty() {
                return Err(NftError::Refused {
                    refusals,
                    committed_parts: i,
                });
            }
        }
        let expected_generation = batch
            .genid()
            .map(|g| (0..parts.len()).fold(g, |g, _| Generation::next(g)));
        Ok(Commit {
            generation,
            expected_generation,
            parts: parts.len(),
        })
    }

    /// Sends GETGEN and reads until its reply, handing every error before it to `on_error`.
    fn sentinel_generation(&mut self, mut on_error: impl FnMut(Ack)) -> Result<u32, NftError> {
        let op = "commit batch";
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.send_one(op, &NftMessage::GetGen, NLM_F_REQUEST, seq)?;
        loop {
            for reply in self.receive(op)? {
                match reply {
                    Reply::Error(ack) if ack.seq != seq => on_error(ack),
                    Reply::Message {
                        seq: s,
                        message: NftMessage::NewGen(g),
                        ..
                    } if s == seq => return Ok(g.id),
                    Reply::Error(ack) => {
                        return Err(NftError::Kernel {
                            op,
                            errno: ack.errno,
                        });
                    }
                    _ => {}
                }
            }
        }
    }

    /// Sends one request and collects its data messages: up to NLMSG_DONE for a dump, the
    /// first message otherwise.
    fn request(
        &mut self,
        op: &'static str,
        msg: NftMessage,
        flags: u16,
    ) -> Result<Vec<NftMessage>, NftError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.send_one(op, &msg, flags, seq)?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        loop {
            for reply in self.receive(op)? {
                match reply {
                    Reply::Message { seq: s, .. } | Reply::Done { seq: s, .. } if s != seq => {}
                    Reply::Error(ack) if ack.seq != seq => {}
                    Reply::Message {
                        interrupted: true, ..
                    }
                    | Reply::Done {
                        interrupted: true, ..
                    } => {
                        return Err(NftError::DumpInterrupted { op });
                    }
                    Reply::Message { message, .. } => {
                        out.push(message);
                        if !dump {
                            return Ok(out);
                        }
                    }
                    Reply::Done { .. } => return Ok(out),
                    Reply::Error(ack) if ack.errno == 0 => return Ok(out),
                    Reply::Error(ack) => {
                        return Err(NftError::Kernel {
                            op,
                            errno: ack.errno,
                        });
                    }
                }
            }
        }
    }

    fn send_one(
        &mut self,
        op: &'static str,
        msg: &NftMessage,
        flags: u16,
        seq: u32,
    ) -> Result<(), NftError> {
        let mut buf = Vec::new();
        append(&mut buf, msg, flags, seq);
        self.requests += 1;
        self.socket
            .send(&buf, 0)
            .map_err(|source| NftError::Io { op, source })?;
        Ok(())
    }

    fn receive(&mut self, op: &'static str) -> Result<Vec<Reply>, NftError> {
        let (buf, _) = self
            .socket
            .recv_from_full()
            .map_err(|source| NftError::Io { op, source })?;
        decode(&buf).map_err(|source| NftError::Decode { op, source })
    }

    /// Grows the send buffer so that `len` bytes go in one `sendmsg`. `SO_SNDBUFFORCE`
    /// ignores `wmem_max` (it needs `CAP_NET_ADMIN`, which nf_tables needs anyway); without
    /// it, `SO_SNDBUF` gets what `wmem_max` allows, and the send fails with `EMSGSIZE` if
    /// that is too little.
    fn grow_sndbuf(&mut self, len: usize) {
        if len + SNDBUF_SLACK <= self.sndbuf {
            return;
        }
        // The kernel doubles the value it is given.
        let want = (len + SNDBUF_SLACK).div_ceil(2);
        if setsockopt(&self.socket, sockopt::SndBufForce, &want).is_err() {
            let _ = setsockopt(&self.socket, sockopt::SndBuf, &want);
        }
        self.sndbuf = getsockopt(&self.socket, sockopt::SndBuf).unwrap_or(self.sndbuf);
    }
}
