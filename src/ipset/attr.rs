//! Attributes at command level of an ipset message.

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorContext, NLA_F_NESTED, NLA_F_NET_BYTEORDER, Nla,
    NlaBuffer, NlasIterator, Parseable, ParseableParametrized, parse_string, parse_u8,
    parse_u16_be, parse_u32_be,
};

use super::consts::*;
use super::data::{DataAttr, DataContext, parse_data};

/// One command-level attribute. Unknown ones decode to `Other`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandAttr {
    Protocol(u8),
    SetName(String),
    /// The type name at create and type queries, or the second set name at swap and
    /// rename (`IPSET_ATTR_SETNAME2` shares the number).
    TypeName(String),
    Revision(u8),
    Family(u8),
    Flags(u32),
    Data(Vec<DataAttr>),
    /// Several entries in one add/del message, or the entries of a list reply.
    Adt(Vec<Vec<DataAttr>>),
    /// At command level: the kernel overwrites it with the line number of the entry
    /// that failed in a batch. Its presence is what makes the kernel do so.
    LineNo(u32),
    /// The kernel's minimum protocol, or a type's minimum revision (same number).
    ProtocolMin(u8),
    Index(u16),
    Other(DefaultNla),
}

impl Nla for CommandAttr {
    fn value_len(&self) -> usize {
        use CommandAttr::*;
        match self {
            Protocol(_) | Revision(_) | Family(_) | ProtocolMin(_) => 1,
            SetName(s) | TypeName(s) => s.len() + 1,
            Flags(_) | LineNo(_) => 4,
            Index(_) => 2,
            Data(attrs) => attrs.as_slice().buffer_len(),
            Adt(entries) => entries.iter().map(|e| DataNest(e).buffer_len()).sum(),
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use CommandAttr::*;
        match self {
            Protocol(_) => IPSET_ATTR_PROTOCOL,
            SetName(_) => IPSET_ATTR_SETNAME,
            TypeName(_) => IPSET_ATTR_TYPENAME,
            Revision(_) => IPSET_ATTR_REVISION,
            Family(_) => IPSET_ATTR_FAMILY,
            Flags(_) => IPSET_ATTR_FLAGS | NLA_F_NET_BYTEORDER,
            Data(_) => IPSET_ATTR_DATA | NLA_F_NESTED,
            Adt(_) => IPSET_ATTR_ADT | NLA_F_NESTED,
            LineNo(_) => IPSET_ATTR_LINENO | NLA_F_NET_BYTEORDER,
            ProtocolMin(_) => IPSET_ATTR_PROTOCOL_MIN,
            Index(_) => IPSET_ATTR_INDEX | NLA_F_NET_BYTEORDER,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        use CommandAttr::*;
        match self {
            Protocol(v) | Revision(v) | Family(v) | ProtocolMin(v) => buffer[0] = *v,
            SetName(s) | TypeName(s) => {
                buffer[..s.len()].copy_from_slice(s.as_bytes());
                buffer[s.len()] = 0;
            }
            Flags(v) | LineNo(v) => buffer[..4].copy_from_slice(&v.to_be_bytes()),
            Index(v) => buffer[..2].copy_from_slice(&v.to_be_bytes()),
            Data(attrs) => attrs.as_slice().emit(buffer),
            Adt(entries) => {
                let mut offset = 0;
                for entry in entries {
                    let nest = DataNest(entry);
                    nest.emit(&mut buffer[offset..]);
                    offset += nest.buffer_len();
                }
            }
            Other(nla) => nla.emit_value(buffer),
        }
    }
}

/// One `IPSET_ATTR_DATA` nest inside `IPSET_ATTR_ADT`.
struct DataNest<'a>(&'a [DataAttr]);

impl Nla for DataNest<'_> {
    fn value_len(&self) -> usize {
        self.0.buffer_len()
    }

    fn kind(&self) -> u16 {
        IPSET_ATTR_DATA | NLA_F_NESTED
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        self.0.emit(buffer)
    }
}

impl<T: AsRef<[u8]> + ?Sized> ParseableParametrized<NlaBuffer<&T>, u8> for CommandAttr {
    /// `command` decides how the DATA nest reads (see [`DataContext`]).
    fn parse_with_param(buf: &NlaBuffer<&T>, command: u8) -> Result<Self, DecodeError> {
        let value = buf.value();
        let kind = buf.kind();
        let context_err = || format!("failed to parse ipset attribute {kind}");
        let attr = match kind {
            IPSET_ATTR_PROTOCOL => Self::Protocol(parse_u8(value).with_context(context_err)?),
            IPSET_ATTR_SETNAME => Self::SetName(parse_string(value).with_context(context_err)?),
            IPSET_ATTR_TYPENAME => Self::TypeName(parse_string(value).with_context(context_err)?),
            IPSET_ATTR_REVISION => Self::Revision(parse_u8(value).with_context(context_err)?),
            IPSET_ATTR_FAMILY => Self::Family(parse_u8(value).with_context(context_err)?),
            IPSET_ATTR_FLAGS => Self::Flags(parse_u32_be(value).with_context(context_err)?),
            IPSET_ATTR_DATA => {
                Self::Data(parse_data(value, data_context(command)).with_context(context_err)?)
            }
            IPSET_ATTR_ADT => Self::Adt(parse_adt(value).with_context(context_err)?),
            IPSET_ATTR_LINENO => Self::LineNo(parse_u32_be(value).with_context(context_err)?),
            IPSET_ATTR_PROTOCOL_MIN => {
                Self::ProtocolMin(parse_u8(value).with_context(context_err)?)
            }
            IPSET_ATTR_INDEX => Self::Index(parse_u16_be(value).with_context(context_err)?),
            _ => Self::Other(DefaultNla::parse(buf).with_context(context_err)?),
        };
        Ok(attr)
    }
}

/// DATA holds an entry in add/del/test, and create parameters (or a header) elsewhere.
fn data_context(command: u8) -> DataContext {
    match command {
        IPSET_CMD_ADD | IPSET_CMD_DEL | IPSET_CMD_TEST => DataContext::Entry,
        _ => DataContext::Create,
    }
}

fn parse_adt(value: &[u8]) -> Result<Vec<Vec<DataAttr>>, DecodeError> {
    let mut entries = Vec::new();
    for nla in NlasIterator::new(value) {
        let nla = nla?;
        if nla.kind() != IPSET_ATTR_DATA {
            return Err(format!("unexpected attribute {} in ADT", nla.kind()).into());
        }
        entries.push(parse_data(nla.value(), DataContext::Entry)?);
    }
    Ok(entries)
}
