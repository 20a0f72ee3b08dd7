//! Reading the kernel's replies: protocol and revision ranges, and list dumps, which
//! may split one set over several messages (the header only in the first).

use std::collections::BTreeSet;

use netlink_packet_core::{DecodeError, NetlinkMessage, NetlinkPayload};

use super::data::DataAttr;
use super::entry::{Entry, EntryError};
use super::message::IpsetMessage;
use super::set_type::SetType;

/// A range of versions the kernel offers: the protocol, or a type's revisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionRange {
    pub min: u8,
    pub max: u8,
}

/// The kernel's protocol range. Kernels before protocol 7 send no minimum.
pub fn protocol_range(reply: &IpsetMessage) -> Result<VersionRange, DecodeError> {
    let max = reply
        .protocol()
        .ok_or("protocol reply without IPSET_ATTR_PROTOCOL")?;
    Ok(VersionRange {
        min: reply.protocol_min().unwrap_or(max),
        max,
    })
}

/// The revisions the kernel offers of a type.
pub fn revision_range(reply: &IpsetMessage) -> Result<VersionRange, DecodeError> {
    let max = reply
        .revision()
        .ok_or("type reply without IPSET_ATTR_REVISION")?;
    Ok(VersionRange {
        min: reply.protocol_min().unwrap_or(max),
        max,
    })
}

/// One set as a list dump shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetListing {
    pub name: String,
    pub type_name: String,
    /// `None` for types kproxy does not model; their entries all land in `undecodable`.
    pub set_type: Option<SetType>,
    pub revision: u8,
    /// `IPSET_ATTR_FAMILY`: 2 for inet, 0 for bitmap:port.
    pub family: u8,
    /// The header's DATA: sizes, counts, the bitmap range.
    pub header: Vec<DataAttr>,
    pub entries: BTreeSet<Entry>,
    /// Members kproxy cannot represent (another protocol, IPv6, an unknown type).
    pub undecodable: Vec<EntryError>,
}

impl SetListing {
    fn header_u32(&self, pick: fn(&DataAttr) -> Option<u32>) -> Option<u32> {
        self.header.iter().find_map(pick)
    }

    /// How many iptables rules (or list:set sets) use the set; a used set cannot be
    /// destroyed.
    pub fn references(&self) -> Option<u32> {
        self.header_u32(|a| match a {
            DataAttr::References(n) => Some(*n),
            _ => None,
        })
    }

    /// The kernel's count of members.
    pub fn elements(&self) -> Option<u32> {
        self.header_u32(|a| match a {
            DataAttr::Elements(n) => Some(*n),
            _ => None,
        })
    }

    pub fn hash_size(&self) -> Option<u32> {
        self.header_u32(|a| match a {
            DataAttr::HashSize(n) => Some(*n),
            _ => None,
        })
    }

    pub fn max_elem(&self) -> Option<u32> {
        self.header_u32(|a| match a {
            DataAttr::MaxElem(n) => Some(*n),
            _ => None,
        })
    }
}

/// Assembles the sets of a list dump from its messages, in dump order.
pub fn listings(messages: &[IpsetMessage]) -> Result<Vec<SetListing>, DecodeError> {
    let mut sets: Vec<SetListing> = Vec::new();
    for message in messages {
        let name = message
            .set_name()
            .ok_or("list reply without IPSET_ATTR_SETNAME")?;
        if let Some(type_name) = message.type_name() {
            let family = message.family_attr().unwrap_or(0);
            let header = message.data().unwrap_or_default().to_vec();
            sets.push(SetListing {
                name: name.to_string(),
                type_name: type_name.to_string(),
                set_type: SetType::from_header(type_name, family, &header),
                revision: message.revision().unwrap_or(0),
                family,
                header,
                entries: BTreeSet::new(),
                undecodable: Vec::new(),
            });
        }
        let Some(items) = message.adt() else { continue };
        let set = match sets.last_mut() {
            Some(set) if set.name == name => set,
            _ => return Err(format!("entries of set {name:?} before its header").into()),
        };
        for item in items {
            let entry = match &set.set_type {
                Some(set_type) => Entry::from_data(set_type, item),
                None => Err(EntryError::Syntax {
                    text: format!("{item:?}"),
                    set_type: set.type_name.clone(),
                }),
            };
            match entry {
                Ok(entry) => {
                    set.entries.insert(entry);
                }
                Err(e) => set.undecodable.push(e),
            }
        }
    }
    Ok(sets)
}

/// The set names of an `ipset list -n` dump.
pub fn set_names(messages: &[IpsetMessage]) -> Result<Vec<String>, DecodeError> {
    messages
        .iter()
        .map(|m| {
            m.set_name()
                .map(str::to_string)
                .ok_or_else(|| "list reply without IPSET_ATTR_SETNAME".into())
        })
        .collect()
}

/// The 1-based position of the entry the kernel blamed in the echo of a failed batch
/// (see [`Request::batch`](super::request::Request::batch)); `None` when it blamed none
/// or the echo was cut short.
pub fn failed_line(echo: &[u8]) -> Option<usize> {
    let message = NetlinkMessage::<IpsetMessage>::deserialize(echo).ok()?;
    let NetlinkPayload::InnerMessage(message) = message.payload else {
        return None;
    };
    match message.line_no()? {
        0 => None,
        line => Some(line as usize),
    }
}
