//! A thin blocking conntrack client over a `NETLINK_NETFILTER` socket: dumps and batched
//! deletes. The only code in this module that touches the kernel.
//!
//! A netlink socket belongs to the network namespace of the thread that opened it, for
//! its whole life, whichever thread uses it later.
//!
//! The socket loop (`send`, then read until `NLMSG_DONE` or every ACK) is written here
//! until the shared netlink connection type exists; only [`ConntrackHandle::dump_raw`]
//! and [`ConntrackHandle::acks`] would change.

use std::collections::HashMap;
use std::io;

use netlink_packet_core::{NetlinkBuffer, NetlinkMessage, NetlinkPayload};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

use super::entry::Entry;
use super::error::ConntrackError;
use super::message::ConntrackMessage;
use super::request::Request;

/// Deletes per `send`: ~80 bytes each, so ~16 KiB a batch; the ACKs (capped to their
/// headers) fit the default receive buffer many times over.
const DELETE_BATCH: usize = 200;
/// `NLM_F_DUMP_INTR`: the table changed while the dump ran; what came is still valid.
const NLM_F_DUMP_INTR: u16 = 0x10;
const ENOENT: i32 = 2;

/// The entries one dump returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dump {
    pub entries: Vec<Entry>,
    /// The table changed during the dump: some entries may be missing (kube-proxy goes on
    /// with the partial result, and so does the reconciler).
    pub interrupted: bool,
}

/// What a batch of deletes did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    pub deleted: usize,
    /// Gone already (expired, or deleted by someone else): not an error.
    pub missing: usize,
}

/// A failed exchange, before it is given an operation.
enum Failure {
    Io(io::Error),
    Decode(String),
    /// The positive errno.
    Kernel(i32),
}

impl Failure {
    fn into_error(self, op: &'static str) -> ConntrackError {
        match self {
            Self::Io(source) => ConntrackError::Io { op, source },
            Self::Decode(reason) => ConntrackError::Decode { op, reason },
            Self::Kernel(code) => ConntrackError::Kernel { op, code },
        }
    }
}

/// The conntrack client. Not `Sync`: one exchange at a time.
pub struct ConntrackHandle {
    socket: Socket,
    seq: u32,
    /// Whether the kernel filters dumps by protocol (5.8 and later); learnt at the first
    /// protocol dump.
    kernel_filter: Option<bool>,
}

impl ConntrackHandle {
    /// Opens a socket in the calling thread's network namespace.
    pub fn new() -> Result<Self, ConntrackError> {
        let mut socket = Socket::new(NETLINK_NETFILTER).map_err(ConntrackError::Open)?;
        socket.bind_auto().map_err(ConntrackError::Open)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(ConntrackError::Open)?;
        // ACKs and errors without the request echoed: a batch of deletes stays small.
        socket.set_cap_ack(true).map_err(ConntrackError::Open)?;
        Ok(Self {
            socket,
            seq: 0,
            kernel_filter: None,
        })
    }

    /// Whether the kernel filtered the protocol dumps so far (`None` before the first).
    pub fn kernel_filters(&self) -> Option<bool> {
        self.kernel_filter
    }

    /// The entries of `family`'s table (`AF_INET`, `AF_INET6`) whose transport protocol is
    /// `protocol`: filtered by the kernel where it can, else here.
    pub fn dump(&mut self, family: u8, protocol: u8) -> Result<Dump, ConntrackError> {
        let op = "dumping";
        if self.kernel_filter != Some(false) {
            match self.dump_raw(Request::dump_protocol(family, protocol)) {
                Ok(dump) => {
                    self.kernel_filter = Some(true);
                    return dump.into_entries(protocol).map_err(|f| f.into_error(op));
                }
                // Kernels before 5.8 refuse CTA_FILTER (EINVAL or EOPNOTSUPP).
                Err(Failure::Kernel(_)) if self.kernel_filter.is_none() => {
                    self.kernel_filter = Some(false);
                }
                Err(f) => return Err(f.into_error(op)),
            }
        }
        self.dump_raw(Request::dump(family))
            .and_then(|d| d.into_entries(protocol))
            .map_err(|f| f.into_error(op))
    }

    /// Deletes `entries`, [`DELETE_BATCH`] requests per send. Entries already gone are
    /// counted as missing; any other refusal stops the batch with an error.
    pub fn delete_all(&mut self, entries: &[Entry]) -> Result<Deleted, ConntrackError> {
        let mut result = Deleted::default();
        for chunk in entries.chunks(DELETE_BATCH) {
            let requests: Vec<_> = chunk.iter().map(Request::delete).collect();
            let codes = self.acks(&requests).map_err(|f| f.into_error("deleting"))?;
            for code in codes {
                match code {
                    0 => result.deleted += 1,
                    ENOENT => result.missing += 1,
                    code => {
                        return Err(ConntrackError::Kernel {
                            op: "deleting",
                            code,
                        });
                    }
                }
            }
        }
        Ok(result)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends a dump request and collects its messages up to `NLMSG_DONE`. Messages of
    /// other sequence numbers (left over from an earlier failure) are skipped.
    fn dump_raw(&mut self, request: Request) -> Result<RawDump, Failure> {
        let seq = self.next_seq();
        self.socket
            .send(&request.to_bytes(seq), 0)
            .map_err(Failure::Io)?;
        let mut dump = RawDump::default();
        loop {
            let (buf, _) = self.socket.recv_from_full().map_err(Failure::Io)?;
            for (raw, flags) in split(&buf)? {
                if raw.seq != seq {
                    continue;
                }
                dump.interrupted |= flags & NLM_F_DUMP_INTR != 0;
                match raw.message.payload {
                    NetlinkPayload::InnerMessage(m) => dump.messages.push(m),
                    NetlinkPayload::Error(e) => {
                        return Err(e
                            .code
                            .map_or(Failure::Kernel(0), |c| Failure::Kernel(-c.get())));
                    }
                    NetlinkPayload::Done(done) if done.code != 0 => {
                        return Err(Failure::Kernel(-done.code));
                    }
                    NetlinkPayload::Done(_) => return Ok(dump),
                    _ => {}
                }
            }
        }
    }

    /// Sends acknowledged requests in one buffer and returns each one's errno (0 for an
    /// ACK), in request order.
    fn acks(&mut self, requests: &[Request]) -> Result<Vec<i32>, Failure> {
        let mut bytes = Vec::new();
        let mut index = HashMap::with_capacity(requests.len());
        for (i, request) in requests.iter().enumerate() {
            let seq = self.next_seq();
            index.insert(seq, i);
            request.write_to(seq, &mut bytes);
        }
        self.socket.send(&bytes, 0).map_err(Failure::Io)?;
        let mut codes = vec![None; requests.len()];
        let mut pending = requests.len();
        while pending > 0 {
            let (buf, _) = self.socket.recv_from_full().map_err(Failure::Io)?;
            for (raw, _) in split(&buf)? {
                let Some(&i) = index.get(&raw.seq) else {
                    continue;
                };
                if let NetlinkPayload::Error(e) = raw.message.payload
                    && codes[i].is_none()
                {
                    codes[i] = Some(e.code.map_or(0, |c| -c.get()));
                    pending -= 1;
                }
            }
        }
        Ok(codes.into_iter().map(|c| c.unwrap_or(0)).collect())
    }
}

/// Messages of one dump, before they are read as entries.
#[derive(Default)]
struct RawDump {
    messages: Vec<ConntrackMessage>,
    interrupted: bool,
}

impl RawDump {
    /// The entries of `protocol`: what the kernel's filter already kept, or, after an
    /// unfiltered dump, those of that protocol.
    fn into_entries(self, protocol: u8) -> Result<Dump, Failure> {
        let mut entries = Vec::with_capacity(self.messages.len());
        for m in &self.messages {
            let entry = Entry::from_message(m).map_err(|e| Failure::Decode(e.to_string()))?;
            if entry.orig.protocol == protocol {
                entries.push(entry);
            }
        }
        Ok(Dump {
            entries,
            interrupted: self.interrupted,
        })
    }
}

struct Raw {
    seq: u32,
    message: NetlinkMessage<ConntrackMessage>,
}

/// The messages of one datagram, with their netlink flags.
fn split(buf: &[u8]) -> Result<Vec<(Raw, u16)>, Failure> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < buf.len() {
        let raw = &buf[offset..];
        let header = NetlinkBuffer::new_checked(raw).map_err(|e| Failure::Decode(e.to_string()))?;
        let length = header.length() as usize;
        let (seq, flags) = (header.sequence_number(), header.flags());
        offset += length.div_ceil(4) * 4;
        let message = NetlinkMessage::<ConntrackMessage>::deserialize(&raw[..length])
            .map_err(|e| Failure::Decode(e.to_string()))?;
        out.push((Raw { seq, message }, flags));
    }
    Ok(out)
}
