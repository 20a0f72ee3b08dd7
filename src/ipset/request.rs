//! The requests kproxy sends, built the way the `ipset` tool builds them (same
//! attributes, order and netlink flags), so the byte fixtures can compare them.

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage,
};

use super::attr::CommandAttr;
use super::consts::{IPSET_FLAG_LIST_SETNAME, NFPROTO_IPV4};
use super::data::DataAttr;
use super::entry::Entry;
use super::message::{IpsetCommand, IpsetMessage};
use super::set_type::{CreateOptions, SetType};
use crate::netlink::nfnetlink;

/// A request: its netlink flags and payload. The sequence number comes at send time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub flags: u16,
    pub message: IpsetMessage,
}

/// Whether an add may meet an entry already present, or a del an entry already gone.
/// Without it the kernel answers `IPSET_ERR_EXIST` (the tool's `-exist` drops
/// `NLM_F_EXCL`, which is what the kernel looks at).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfPresent {
    Fail,
    Ignore,
}

const ACKED: u16 = NLM_F_REQUEST | NLM_F_ACK;

impl Request {
    fn new(flags: u16, command: IpsetCommand, attrs: Vec<CommandAttr>) -> Self {
        Self {
            flags,
            message: IpsetMessage::new(command, attrs),
        }
    }

    /// The netlink message with `seq`, ready to serialize.
    pub fn into_netlink(self, seq: u32) -> NetlinkMessage<IpsetMessage> {
        nfnetlink::request(self.flags, seq, self.message)
    }

    /// The bytes sent to the kernel.
    pub fn to_bytes(&self, seq: u32) -> Vec<u8> {
        let message = self.clone().into_netlink(seq);
        let mut buffer = vec![0; message.buffer_len()];
        message.serialize(&mut buffer);
        buffer
    }

    /// Asks for the kernel's protocol range; sent with kproxy's highest.
    pub fn protocol(protocol: u8) -> Self {
        Self::new(
            NLM_F_REQUEST,
            IpsetCommand::Protocol,
            vec![CommandAttr::Protocol(protocol)],
        )
    }

    /// Asks for the revisions the kernel offers of a type.
    pub fn type_revisions(protocol: u8, set_type: &SetType) -> Self {
        Self::new(
            NLM_F_REQUEST,
            IpsetCommand::Type,
            vec![
                CommandAttr::Protocol(protocol),
                CommandAttr::TypeName(set_type.type_name().to_string()),
                CommandAttr::Family(NFPROTO_IPV4),
            ],
        )
    }

    /// `ipset create [-exist] NAME TYPE ...`.
    pub fn create(
        protocol: u8,
        name: &str,
        set_type: &SetType,
        revision: u8,
        options: &CreateOptions,
        if_present: IfPresent,
    ) -> Self {
        Self::new(
            ACKED | NLM_F_CREATE | exclusive(if_present),
            IpsetCommand::Create,
            vec![
                CommandAttr::Protocol(protocol),
                CommandAttr::SetName(name.to_string()),
                CommandAttr::TypeName(set_type.type_name().to_string()),
                CommandAttr::Revision(revision),
                CommandAttr::Family(set_type.family()),
                CommandAttr::Data(set_type.create_data(options)),
            ],
        )
    }

    /// `ipset destroy NAME`.
    pub fn destroy(protocol: u8, name: &str) -> Self {
        Self::named(ACKED | NLM_F_EXCL, IpsetCommand::Destroy, protocol, name)
    }

    /// `ipset flush NAME`.
    pub fn flush(protocol: u8, name: &str) -> Self {
        Self::named(ACKED, IpsetCommand::Flush, protocol, name)
    }

    /// `ipset swap FROM TO`: the two names trade contents and types, atomically.
    pub fn swap(protocol: u8, from: &str, to: &str) -> Self {
        Self::two_names(IpsetCommand::Swap, protocol, from, to)
    }

    /// `ipset rename FROM TO`.
    pub fn rename(protocol: u8, from: &str, to: &str) -> Self {
        Self::two_names(IpsetCommand::Rename, protocol, from, to)
    }

    /// `ipset add [-exist] NAME ENTRY`.
    pub fn add(protocol: u8, name: &str, entry: &Entry, if_present: IfPresent) -> Self {
        Self::one_entry(IpsetCommand::Add, protocol, name, entry, if_present)
    }

    /// `ipset del [-exist] NAME ENTRY`.
    pub fn del(protocol: u8, name: &str, entry: &Entry, if_absent: IfPresent) -> Self {
        Self::one_entry(IpsetCommand::Del, protocol, name, entry, if_absent)
    }

    /// `ipset test NAME ENTRY`: ACK when present, `IPSET_ERR_EXIST` when not.
    pub fn test(protocol: u8, name: &str, entry: &Entry) -> Self {
        Self::new(
            ACKED,
            IpsetCommand::Test,
            vec![
                CommandAttr::Protocol(protocol),
                CommandAttr::SetName(name.to_string()),
                CommandAttr::Data(entry.to_data()),
            ],
        )
    }

    /// Several adds (or dels) in one message, as `ipset restore` sends them: each entry
    /// carries its 1-based position as line number, and when one fails the kernel echoes
    /// the request with the command-level line number set to that entry's. Entries
    /// before it stay applied. kproxy sends 0 there (the tool sends its first line
    /// number), so an echo with 0 means no entry was at fault (e.g. no such set).
    pub fn batch(
        command: IpsetCommand,
        protocol: u8,
        name: &str,
        entries: &[Entry],
        if_present: IfPresent,
    ) -> Self {
        let items = entries
            .iter()
            .zip(1u32..)
            .map(|(entry, line)| {
                let mut data = entry.to_data();
                data.push(DataAttr::LineNo(line));
                data
            })
            .collect();
        Self::new(
            ACKED | exclusive(if_present),
            command,
            vec![
                CommandAttr::Protocol(protocol),
                CommandAttr::SetName(name.to_string()),
                CommandAttr::LineNo(0),
                CommandAttr::Adt(items),
            ],
        )
    }

    /// `ipset list NAME`: a dump of the set's header and entries.
    pub fn list(protocol: u8, name: &str) -> Self {
        Self::named(ACKED | NLM_F_DUMP, IpsetCommand::List, protocol, name)
    }

    /// `ipset list -n`: a dump of every set's name.
    pub fn list_names(protocol: u8) -> Self {
        Self::new(
            ACKED | NLM_F_DUMP,
            IpsetCommand::List,
            vec![
                CommandAttr::Protocol(protocol),
                CommandAttr::Flags(IPSET_FLAG_LIST_SETNAME),
            ],
        )
    }

    fn named(flags: u16, command: IpsetCommand, protocol: u8, name: &str) -> Self {
        Self::new(
            flags,
            command,
            vec![
                CommandAttr::Protocol(protocol),
                CommandAttr::SetName(name.to_string()),
            ],
        )
    }

    fn two_names(command: IpsetCommand, protocol: u8, from: &str, to: &str) -> Self {
        Self::new(
            ACKED,
            command,
            vec![
                CommandAttr::Protocol(protocol),
                CommandAttr::SetName(from.to_string()),
                CommandAttr::TypeName(to.to_string()),
            ],
        )
    }

    fn one_entry(
        command: IpsetCommand,
        protocol: u8,
        name: &str,
        entry: &Entry,
        if_present: IfPresent,
    ) -> Self {
        let mut data = entry.to_data();
        data.push(DataAttr::LineNo(0));
        Self::new(
            ACKED | exclusive(if_present),
            command,
            vec![
                CommandAttr::Protocol(protocol),
                CommandAttr::SetName(name.to_string()),
                CommandAttr::Data(data),
            ],
        )
    }
}

fn exclusive(if_present: IfPresent) -> u16 {
    match if_present {
        IfPresent::Fail => NLM_F_EXCL,
        IfPresent::Ignore => 0,
    }
}
