//! Sets and maps (`NFTA_SET_*`): named collections of keys, optionally mapping each key to
//! a value or a verdict. Key and data types are nft's datatype numbers (see [`DataType`]);
//! the kernel only checks their lengths, `nft` uses them to print the elements.

use netlink_packet_core::DecodeError;

use super::attr::{Attr, missing, parse_nested, push_opt, str_of, u32_of, u64_of};
use super::family::Family;

const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_DATA_TYPE: u16 = 6;
const NFTA_SET_DATA_LEN: u16 = 7;
const NFTA_SET_POLICY: u16 = 8;
const NFTA_SET_DESC: u16 = 9;
const NFTA_SET_ID: u16 = 10;
const NFTA_SET_TIMEOUT: u16 = 11;
const NFTA_SET_GC_INTERVAL: u16 = 12;
const NFTA_SET_USERDATA: u16 = 13;
const NFTA_SET_HANDLE: u16 = 16;
const NFTA_SET_DESC_SIZE: u16 = 1;
const NFTA_SET_DESC_CONCAT: u16 = 2;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_FIELD_LEN: u16 = 1;

/// `NFT_SET_*` flags.
pub mod flags {
    pub const ANONYMOUS: u32 = 0x1;
    pub const CONSTANT: u32 = 0x2;
    pub const INTERVAL: u32 = 0x4;
    pub const MAP: u32 = 0x8;
    pub const TIMEOUT: u32 = 0x10;
    /// `dynamic` in nft: rules may add elements (`update @set`).
    pub const EVAL: u32 = 0x20;
    pub const OBJECT: u32 = 0x40;
    pub const CONCAT: u32 = 0x80;
}

/// nft's datatype numbers (`enum datatypes` in nftables' `datatype.h`).
pub struct DataType;

impl DataType {
    pub const INTEGER: u32 = 4;
    pub const MARK: u32 = 19;
    pub const IPV4_ADDR: u32 = 7;
    pub const IPV6_ADDR: u32 = 8;
    pub const INET_PROTO: u32 = 12;
    pub const INET_SERVICE: u32 = 13;
    /// `NFT_DATA_VERDICT`: the data type of a verdict map.
    pub const VERDICT: u32 = 0xffff_ff00;

    /// The type of a concatenation `a . b . c`: each type in 6 bits, first one highest.
    pub fn concat(types: &[u32]) -> u32 {
        types.iter().fold(0, |acc, t| (acc << 6) | t)
    }
}

/// `NFTA_SET_DESC`: the expected size, and the field lengths of a concatenated key (the
/// kernel needs those for concatenated interval sets).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetDesc {
    pub size: Option<u32>,
    pub concat: Vec<u32>,
}

/// A set or map as sent in NEWSET/DELSET and as dumped. `data_type`/`data_len` make it a map
/// (with [`flags::MAP`]); `timeout_ms` is the default lifetime of an element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Set {
    pub family: Family,
    pub table: String,
    pub name: String,
    pub handle: Option<u64>,
    pub flags: Option<u32>,
    pub key_type: Option<u32>,
    pub key_len: Option<u32>,
    pub data_type: Option<u32>,
    pub data_len: Option<u32>,
    /// Batch-local id, so elements and lookups in the same batch can name the set.
    pub id: Option<u32>,
    pub policy: Option<u32>,
    pub desc: Option<SetDesc>,
    pub timeout_ms: Option<u64>,
    pub gc_interval_ms: Option<u32>,
    pub userdata: Option<Vec<u8>>,
}

impl Set {
    pub fn new(family: Family, table: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            family,
            table: table.into(),
            name: name.into(),
            ..Self::default()
        }
    }

    /// Whether the set has `flag` (a [`flags`] constant).
    pub fn has_flag(&self, flag: u32) -> bool {
        self.flags.unwrap_or(0) & flag != 0
    }

    /// Attributes in the order `nft` (libnftnl) sends them.
    pub(crate) fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = vec![
            Attr::Str(NFTA_SET_TABLE, &self.table),
            Attr::Str(NFTA_SET_NAME, &self.name),
        ];
        push_opt(&mut a, self.handle, |v| Attr::U64(NFTA_SET_HANDLE, v));
        push_opt(&mut a, self.flags, |v| Attr::U32(NFTA_SET_FLAGS, v));
        push_opt(&mut a, self.key_type, |v| Attr::U32(NFTA_SET_KEY_TYPE, v));
        push_opt(&mut a, self.key_len, |v| Attr::U32(NFTA_SET_KEY_LEN, v));
        push_opt(&mut a, self.data_type, |v| Attr::U32(NFTA_SET_DATA_TYPE, v));
        push_opt(&mut a, self.data_len, |v| Attr::U32(NFTA_SET_DATA_LEN, v));
        push_opt(&mut a, self.id, |v| Attr::U32(NFTA_SET_ID, v));
        push_opt(&mut a, self.policy, |v| Attr::U32(NFTA_SET_POLICY, v));
        if let Some(desc) = &self.desc {
            a.push(Attr::Nested(NFTA_SET_DESC, desc_attrs(desc)));
        }
        push_opt(&mut a, self.timeout_ms, |v| Attr::U64(NFTA_SET_TIMEOUT, v));
        push_opt(&mut a, self.gc_interval_ms, |v| {
            Attr::U32(NFTA_SET_GC_INTERVAL, v)
        });
        if let Some(u) = &self.userdata {
            a.push(Attr::Bytes(NFTA_SET_USERDATA, u));
        }
        a
    }

    pub(crate) fn parse(family: Family, payload: &[u8]) -> Result<Self, DecodeError> {
        let mut s = Set {
            family,
            ..Set::default()
        };
        let (mut table, mut name) = (None, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_SET_TABLE => table = Some(str_of(v, "NFTA_SET_TABLE")?),
                NFTA_SET_NAME => name = Some(str_of(v, "NFTA_SET_NAME")?),
                NFTA_SET_HANDLE => s.handle = Some(u64_of(v, "NFTA_SET_HANDLE")?),
                NFTA_SET_FLAGS => s.flags = Some(u32_of(v, "NFTA_SET_FLAGS")?),
                NFTA_SET_KEY_TYPE => s.key_type = Some(u32_of(v, "NFTA_SET_KEY_TYPE")?),
                NFTA_SET_KEY_LEN => s.key_len = Some(u32_of(v, "NFTA_SET_KEY_LEN")?),
                NFTA_SET_DATA_TYPE => s.data_type = Some(u32_of(v, "NFTA_SET_DATA_TYPE")?),
                NFTA_SET_DATA_LEN => s.data_len = Some(u32_of(v, "NFTA_SET_DATA_LEN")?),
                NFTA_SET_ID => s.id = Some(u32_of(v, "NFTA_SET_ID")?),
                NFTA_SET_POLICY => s.policy = Some(u32_of(v, "NFTA_SET_POLICY")?),
                NFTA_SET_DESC => s.desc = Some(parse_desc(v)?),
                NFTA_SET_TIMEOUT => s.timeout_ms = Some(u64_of(v, "NFTA_SET_TIMEOUT")?),
                NFTA_SET_GC_INTERVAL => s.gc_interval_ms = Some(u32_of(v, "NFTA_SET_GC_INTERVAL")?),
                NFTA_SET_USERDATA => s.userdata = Some(v.to_vec()),
                _ => {}
            }
        }
        s.table = table.ok_or_else(|| missing("NFTA_SET_TABLE"))?;
        s.name = name.ok_or_else(|| missing("NFTA_SET_NAME"))?;
        Ok(s)
    }
}

fn desc_attrs(desc: &SetDesc) -> Vec<Attr<'_>> {
    let mut a = Vec::new();
    push_opt(&mut a, desc.size, |v| Attr::U32(NFTA_SET_DESC_SIZE, v));
    if !desc.concat.is_empty() {
        let fields = desc
            .concat
            .iter()
            .map(|len| Attr::Nested(NFTA_LIST_ELEM, vec![Attr::U32(NFTA_SET_FIELD_LEN, *len)]));
        a.push(Attr::Nested(NFTA_SET_DESC_CONCAT, fields.collect()));
    }
    a
}

fn parse_desc(payload: &[u8]) -> Result<SetDesc, DecodeError> {
    let mut desc = SetDesc::default();
    for (kind, v) in parse_nested(payload)? {
        match kind {
            NFTA_SET_DESC_SIZE => desc.size = Some(u32_of(v, "NFTA_SET_DESC_SIZE")?),
            NFTA_SET_DESC_CONCAT => {
                for (_, field) in parse_nested(v)? {
                    for (kind, len) in parse_nested(field)? {
                        if kind == NFTA_SET_FIELD_LEN {
                            desc.concat.push(u32_of(len, "NFTA_SET_FIELD_LEN")?);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(desc)
}
