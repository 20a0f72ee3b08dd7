//! An ipset netlink message: `nlmsg_type = NFNL_SUBSYS_IPSET << 8 | command`, then a
//! `struct nfgenmsg` (family, version `NFNETLINK_V0`, `res_id` 0), then command-level
//! attributes. The netlink header itself is `netlink_packet_core`'s.

use netlink_packet_core::{
    DecodeError, Emitable, ErrorContext, NetlinkDeserializable, NetlinkHeader, NetlinkSerializable,
    NlasIterator, ParseableParametrized,
};

use super::attr::CommandAttr;
use super::consts::*;
use super::data::DataAttr;

use crate::netlink::nfnetlink::{self, NFGENMSG_LEN};

/// An ipset command (`enum ipset_cmd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpsetCommand {
    Protocol,
    Create,
    Destroy,
    Flush,
    Rename,
    Swap,
    List,
    Save,
    Add,
    Del,
    Test,
    Header,
    Type,
    GetByName,
    GetByIndex,
    Other(u8),
}

impl From<IpsetCommand> for u8 {
    fn from(command: IpsetCommand) -> u8 {
        use IpsetCommand::*;
        match command {
            Protocol => IPSET_CMD_PROTOCOL,
            Create => IPSET_CMD_CREATE,
            Destroy => IPSET_CMD_DESTROY,
            Flush => IPSET_CMD_FLUSH,
            Rename => IPSET_CMD_RENAME,
            Swap => IPSET_CMD_SWAP,
            List => IPSET_CMD_LIST,
            Save => IPSET_CMD_SAVE,
            Add => IPSET_CMD_ADD,
            Del => IPSET_CMD_DEL,
            Test => IPSET_CMD_TEST,
            Header => IPSET_CMD_HEADER,
            Type => IPSET_CMD_TYPE,
            GetByName => IPSET_CMD_GET_BYNAME,
            GetByIndex => IPSET_CMD_GET_BYINDEX,
            Other(n) => n,
        }
    }
}

impl From<u8> for IpsetCommand {
    fn from(n: u8) -> Self {
        use IpsetCommand::*;
        match n {
            IPSET_CMD_PROTOCOL => Protocol,
            IPSET_CMD_CREATE => Create,
            IPSET_CMD_DESTROY => Destroy,
            IPSET_CMD_FLUSH => Flush,
            IPSET_CMD_RENAME => Rename,
            IPSET_CMD_SWAP => Swap,
            IPSET_CMD_LIST => List,
            IPSET_CMD_SAVE => Save,
            IPSET_CMD_ADD => Add,
            IPSET_CMD_DEL => Del,
            IPSET_CMD_TEST => Test,
            IPSET_CMD_HEADER => Header,
            IPSET_CMD_TYPE => Type,
            IPSET_CMD_GET_BYNAME => GetByName,
            IPSET_CMD_GET_BYINDEX => GetByIndex,
            other => Other(other),
        }
    }
}

/// The payload of an ipset netlink message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpsetMessage {
    pub command: IpsetCommand,
    /// `nfgenmsg.nfgen_family`: the `ipset` tool always sends `NFPROTO_IPV4`.
    pub family: u8,
    pub attrs: Vec<CommandAttr>,
}

impl IpsetMessage {
    pub fn new(command: IpsetCommand, attrs: Vec<CommandAttr>) -> Self {
        Self {
            command,
            family: NFPROTO_IPV4,
            attrs,
        }
    }

    pub fn set_name(&self) -> Option<&str> {
        self.attrs.iter().find_map(|a| match a {
            CommandAttr::SetName(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn type_name(&self) -> Option<&str> {
        self.attrs.iter().find_map(|a| match a {
            CommandAttr::TypeName(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn data(&self) -> Option<&[DataAttr]> {
        self.attrs.iter().find_map(|a| match a {
            CommandAttr::Data(d) => Some(d.as_slice()),
            _ => None,
        })
    }

    pub fn adt(&self) -> Option<&[Vec<DataAttr>]> {
        self.attrs.iter().find_map(|a| match a {
            CommandAttr::Adt(d) => Some(d.as_slice()),
            _ => None,
        })
    }

    pub fn revision(&self) -> Option<u8> {
        self.attrs.iter().find_map(|a| match a {
            CommandAttr::Revision(n) => Some(*n),
            _ => None,
        })
    }

    /// `IPSET_ATTR_FAMILY` (not the nfgenmsg family).
    pub fn family_attr(&self) -> Option<u8> {
        self.attrs.iter().find_map(|a| match a {
            CommandAttr::Family(n) => Some(*n),
            _ => None,
        })
    }

    pub fn protocol(&self) -> Option<u8> {
        self.attrs.iter().find_map(|a| match a {
            CommandAttr::Protocol(n) => Some(*n),
            _ => None,
        })
    }

    /// The kernel's minimum protocol, or a type's minimum revision.
    pub fn protocol_min(&self) -> Option<u8> {
        self.attrs.iter().find_map(|a| match a {
            CommandAttr::ProtocolMin(n) => Some(*n),
            _ => None,
        })
    }

    pub fn line_no(&self) -> Option<u32> {
        self.attrs.iter().find_map(|a| match a {
            CommandAttr::LineNo(n) => Some(*n),
            _ => None,
        })
    }
}

impl NetlinkSerializable for IpsetMessage {
    fn message_type(&self) -> u16 {
        nfnetlink::message_type(NFNL_SUBSYS_IPSET, self.command.into())
    }

    fn buffer_len(&self) -> usize {
        NFGENMSG_LEN + self.attrs.as_slice().buffer_len()
    }

    fn serialize(&self, buffer: &mut [u8]) {
        nfnetlink::emit_header(buffer, self.family);
        self.attrs.as_slice().emit(&mut buffer[NFGENMSG_LEN..]);
    }
}

impl NetlinkDeserializable for IpsetMessage {
    type Error = DecodeError;

    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        let (command, family, attrs) =
            nfnetlink::split(header, payload, NFNL_SUBSYS_IPSET, "ipset")?;
        let attrs = NlasIterator::new(attrs)
            .map(|nla| CommandAttr::parse_with_param(&nla?, command))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("failed to parse ipset command {command}"))?;
        Ok(Self {
            command: command.into(),
            family,
            attrs,
        })
    }
}

#[cfg(test)]
mod tests;
