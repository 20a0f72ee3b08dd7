//! A blocking netlink socket with one request in flight at a time, which is all a sync loop
//! needs. A netlink socket belongs to the network namespace of the thread that opened it,
//! for its whole life, whichever thread uses it later.

use std::fmt::Debug;
use std::io;

use netlink_packet_core::{
    DecodeError, NLM_F_REQUEST, NetlinkDeserializable, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, NetlinkSerializable,
};
use netlink_sys::{Socket, SocketAddr};
use nix::errno::Errno;
use thiserror::Error;

use super::reply::{ReplyEnd, parse_batch};

/// Why a request failed. Clients wrap it with what they asked for.
#[derive(Debug, Error)]
pub enum NetlinkError {
    #[error("netlink I/O: {0}")]
    Io(#[source] io::Error),
    #[error("undecodable reply: {0}")]
    Decode(#[source] DecodeError),
    /// The kernel refused the request. `code` is positive: an errno, or a subsystem's own
    /// code (ipset's start at 4097). `echo` is the request as the kernel sent it back (it
    /// says which entry of a batch failed); empty when it sent none.
    #[error("{}", Errno::from_raw(*code))]
    Kernel { code: i32, echo: Vec<u8> },
}

impl NetlinkError {
    /// The errno of a refusal.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Self::Kernel { code, .. } => Some(Errno::from_raw(*code)),
            _ => None,
        }
    }
}

/// A netlink socket of one protocol (`NETLINK_GENERIC`, `NETLINK_NETFILTER`,
/// `NETLINK_ROUTE`), connected to the kernel.
pub struct Connection {
    socket: Socket,
    seq: u32,
}

impl Connection {
    /// Opens and binds a socket in the calling thread's network namespace.
    pub fn open(protocol: isize) -> io::Result<Self> {
        let mut socket = Socket::new(protocol)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Self { socket, seq: 0 })
    }

    /// Sends `payload` with `flags` (`NLM_F_REQUEST` is added) and the next sequence
    /// number, and collects the data messages of its reply: up to `NLMSG_DONE` for a dump,
    /// up to the ACK for `NLM_F_ACK`, the first message otherwise ([`ReplyEnd`]).
    pub fn request<I>(&mut self, payload: I, flags: u16) -> Result<Vec<I>, NetlinkError>
    where
        I: NetlinkSerializable + NetlinkDeserializable + Debug,
    {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(payload));
        msg.finalize();
        let mut buf = vec![0; msg.buffer_len()];
        msg.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(NetlinkError::Io)?;

        let end = ReplyEnd::for_flags(flags);
        let mut messages = Vec::new();
        loop {
            let (buf, _) = self.socket.recv_from_full().map_err(NetlinkError::Io)?;
            let batch = parse_batch::<I>(&buf, self.seq, end)?;
            messages.extend(batch.messages);
            if batch.finished {
                return Ok(messages);
            }
        }
    }
}
