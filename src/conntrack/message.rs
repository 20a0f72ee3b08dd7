//! A conntrack netlink message: `nlmsg_type = NFNL_SUBSYS_CTNETLINK << 8 | command`, then
//! a `struct nfgenmsg` (family, version `NFNETLINK_V0`, `res_id` 0), then attributes. The
//! netlink header itself is `netlink_packet_core`'s.

use netlink_packet_core::{
    DecodeError, Emitable, ErrorContext, NetlinkDeserializable, NetlinkHeader, NetlinkSerializable,
    NlasIterator, Parseable,
};

use super::attr::ConntrackAttr;
use super::consts::*;

use crate::netlink::nfnetlink::{self, NFGENMSG_LEN};

/// A conntrack command (`enum cntl_msg_types`). The kernel answers a dump with `New`
/// messages, one per entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConntrackCommand {
    New,
    Get,
    Delete,
    Other(u8),
}

impl From<ConntrackCommand> for u8 {
    fn from(command: ConntrackCommand) -> u8 {
        match command {
            ConntrackCommand::New => IPCTNL_MSG_CT_NEW,
            ConntrackCommand::Get => IPCTNL_MSG_CT_GET,
            ConntrackCommand::Delete => IPCTNL_MSG_CT_DELETE,
            ConntrackCommand::Other(n) => n,
        }
    }
}

impl From<u8> for ConntrackCommand {
    fn from(n: u8) -> Self {
        match n {
            IPCTNL_MSG_CT_NEW => Self::New,
            IPCTNL_MSG_CT_GET => Self::Get,
            IPCTNL_MSG_CT_DELETE => Self::Delete,
            other => Self::Other(other),
        }
    }
}

/// The payload of a conntrack netlink message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConntrackMessage {
    pub command: ConntrackCommand,
    /// `nfgenmsg.nfgen_family`: the table (`AF_INET`, `AF_INET6`; `AF_UNSPEC` is both).
    pub family: u8,
    pub attrs: Vec<ConntrackAttr>,
}

impl ConntrackMessage {
    pub fn new(command: ConntrackCommand, family: u8, attrs: Vec<ConntrackAttr>) -> Self {
        Self {
            command,
            family,
            attrs,
        }
    }
}

impl NetlinkSerializable for ConntrackMessage {
    fn message_type(&self) -> u16 {
        nfnetlink::message_type(NFNL_SUBSYS_CTNETLINK, self.command.into())
    }

    fn buffer_len(&self) -> usize {
        NFGENMSG_LEN + self.attrs.as_slice().buffer_len()
    }

    fn serialize(&self, buffer: &mut [u8]) {
        nfnetlink::emit_header(buffer, self.family);
        self.attrs.as_slice().emit(&mut buffer[NFGENMSG_LEN..]);
    }
}

impl NetlinkDeserializable for ConntrackMessage {
    type Error = DecodeError;

    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        let (command, family, attrs) =
            nfnetlink::split(header, payload, NFNL_SUBSYS_CTNETLINK, "conntrack")?;
        let attrs = NlasIterator::new(attrs)
            .map(|nla| ConntrackAttr::parse(&nla?))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("failed to parse conntrack message {command}"))?;
        Ok(Self {
            command: command.into(),
            family,
            attrs,
        })
    }
}
