//! Set elements (`NFTA_SET_ELEM_LIST_*`, `NFTA_SET_ELEM_*`): NEWSETELEM and DELSETELEM carry
//! many elements of one set, and the kernel finds the set once per message.

use netlink_packet_core::DecodeError;

use super::attr::{Attr, missing, parse_nested, push_opt, str_of, u32_of, u64_of, value_nest};
use super::data::Data;
use super::family::Family;

const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_LIST_SET_ID: u16 = 4;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
const NFTA_SET_ELEM_USERDATA: u16 = 6;
const NFTA_SET_ELEM_KEY_END: u16 = 10;

/// `NFT_SET_ELEM_INTERVAL_END`: this key ends the interval the previous key started.
pub const ELEM_F_INTERVAL_END: u32 = 1;
/// `NFT_SET_ELEM_CATCHALL`: the element matches every key (`*`).
pub const ELEM_F_CATCHALL: u32 = 2;

/// One element: a key (or, in an interval set, an interval boundary), and for a map its
/// value. The kernel reports `expiration_ms` (time left) for elements with a timeout.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Element {
    pub key: Option<Vec<u8>>,
    /// The inclusive end of a range, for concatenated interval sets.
    pub key_end: Option<Vec<u8>>,
    pub data: Option<Data>,
    pub flags: Option<u32>,
    pub timeout_ms: Option<u64>,
    pub expiration_ms: Option<u64>,
    pub userdata: Option<Vec<u8>>,
}

impl Element {
    pub fn new(key: Vec<u8>) -> Self {
        Self {
            key: Some(key),
            ..Self::default()
        }
    }

    pub fn with_data(mut self, data: Data) -> Self {
        self.data = Some(data);
        self
    }

    /// Attributes in the order `nft` sends them (flags and timeout before the key).
    fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = Vec::new();
        push_opt(&mut a, self.flags, |v| Attr::U32(NFTA_SET_ELEM_FLAGS, v));
        push_opt(&mut a, self.timeout_ms, |v| {
            Attr::U64(NFTA_SET_ELEM_TIMEOUT, v)
        });
        push_opt(&mut a, self.expiration_ms, |v| {
            Attr::U64(NFTA_SET_ELEM_EXPIRATION, v)
        });
        if let Some(k) = &self.key {
            a.push(value_nest(NFTA_SET_ELEM_KEY, k));
        }
        if let Some(k) = &self.key_end {
            a.push(value_nest(NFTA_SET_ELEM_KEY_END, k));
        }
        if let Some(d) = &self.data {
            a.push(d.nest(NFTA_SET_ELEM_DATA));
        }
        if let Some(u) = &self.userdata {
            a.push(Attr::Bytes(NFTA_SET_ELEM_USERDATA, u));
        }
        a
    }

    /// Bytes this element adds to a message's element list.
    pub(crate) fn encoded_len(&self) -> usize {
        use netlink_packet_core::Emitable;
        Attr::Nested(1, self.attrs()).buffer_len()
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut e = Element::default();
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_SET_ELEM_KEY => e.key = Some(Data::parse_value(v)?),
                NFTA_SET_ELEM_KEY_END => e.key_end = Some(Data::parse_value(v)?),
                NFTA_SET_ELEM_DATA => e.data = Some(Data::parse(v)?),
                NFTA_SET_ELEM_FLAGS => e.flags = Some(u32_of(v, "NFTA_SET_ELEM_FLAGS")?),
                NFTA_SET_ELEM_TIMEOUT => e.timeout_ms = Some(u64_of(v, "NFTA_SET_ELEM_TIMEOUT")?),
                NFTA_SET_ELEM_EXPIRATION => {
                    e.expiration_ms = Some(u64_of(v, "NFTA_SET_ELEM_EXPIRATION")?)
                }
                NFTA_SET_ELEM_USERDATA => e.userdata = Some(v.to_vec()),
                _ => {}
            }
        }
        Ok(e)
    }
}

/// The elements of one set in one message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ElemList {
    pub family: Family,
    pub table: String,
    pub set: String,
    /// Names a set created earlier in the same batch (an anonymous set has no name yet).
    pub set_id: Option<u32>,
    pub elements: Vec<Element>,
}

impl ElemList {
    pub fn new(family: Family, table: impl Into<String>, set: impl Into<String>) -> Self {
        Self {
            family,
            table: table.into(),
            set: set.into(),
            ..Self::default()
        }
    }

    /// Attributes in the order `nft` sends them. Elements are numbered from 1 as nft does
    /// (the kernel ignores the number); a message holds at most 64 KiB of elements, so the
    /// number stays far below the attribute flag bits.
    pub(crate) fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = vec![
            Attr::Str(NFTA_SET_ELEM_LIST_TABLE, &self.table),
            Attr::Str(NFTA_SET_ELEM_LIST_SET, &self.set),
        ];
        push_opt(&mut a, self.set_id, |v| {
            Attr::U32(NFTA_SET_ELEM_LIST_SET_ID, v)
        });
        if !self.elements.is_empty() {
            let elems = self.elements.iter().enumerate();
            let elems = elems.map(|(i, e)| Attr::Nested(i as u16 + 1, e.attrs()));
            a.push(Attr::Nested(NFTA_SET_ELEM_LIST_ELEMENTS, elems.collect()));
        }
        a
    }

    pub(crate) fn parse(family: Family, payload: &[u8]) -> Result<Self, DecodeError> {
        let mut l = ElemList {
            family,
            ..ElemList::default()
        };
        let (mut table, mut set) = (None, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_SET_ELEM_LIST_TABLE => table = Some(str_of(v, "NFTA_SET_ELEM_LIST_TABLE")?),
                NFTA_SET_ELEM_LIST_SET => set = Some(str_of(v, "NFTA_SET_ELEM_LIST_SET")?),
                NFTA_SET_ELEM_LIST_SET_ID => {
                    l.set_id = Some(u32_of(v, "NFTA_SET_ELEM_LIST_SET_ID")?)
                }
                NFTA_SET_ELEM_LIST_ELEMENTS => {
                    for (_, elem) in parse_nested(v)? {
                        l.elements.push(Element::parse(elem)?);
                    }
                }
                _ => {}
            }
        }
        l.table = table.ok_or_else(|| missing("NFTA_SET_ELEM_LIST_TABLE"))?;
        l.set = set.ok_or_else(|| missing("NFTA_SET_ELEM_LIST_SET"))?;
        Ok(l)
    }

    /// Splits the elements into lists whose element nest stays under `max_bytes` (the
    /// nest's length is a u16). An element larger than `max_bytes` goes alone.
    pub fn split(self, max_bytes: usize) -> Vec<ElemList> {
        let mut out = Vec::new();
        let mut current = ElemList {
            elements: Vec::new(),
            ..self.clone_header()
        };
        let mut size = 0;
        for e in self.elements {
            let len = e.encoded_len();
            if !current.elements.is_empty() && size + len > max_bytes {
                let header = current.clone_header();
                out.push(std::mem::replace(&mut current, header));
                size = 0;
            }
            size += len;
            current.elements.push(e);
        }
        if !current.elements.is_empty() || out.is_empty() {
            out.push(current);
        }
        out
    }

    fn clone_header(&self) -> ElemList {
        ElemList {
            family: self.family,
            table: self.table.clone(),
            set: self.set.clone(),
            set_id: self.set_id,
            elements: Vec::new(),
        }
    }
}
