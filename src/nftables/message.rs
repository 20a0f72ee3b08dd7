//! One nfnetlink message of the nf_tables subsystem: `nfgenmsg` (family, version, res_id)
//! and the typed body. It plugs into `netlink_packet_core::NetlinkMessage`, which handles
//! the `nlmsghdr` and NLMSG_ERROR / NLMSG_DONE.
//!
//! Decoding ignores `res_id` (the kernel puts the low 16 bits of the generation there in
//! replies); emission writes 0, or `NFNL_SUBSYS_NFTABLES` in batch begin/end as the kernel
//! wants.

use netlink_packet_core::{
    DecodeError, Emitable, ErrorContext, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REQUEST,
    NetlinkDeserializable, NetlinkHeader, NetlinkSerializable,
};

use super::attr::{Attr, parse_nested, push_opt, str_of, u32_of};
use super::chain::Chain;
use super::element::ElemList;
use super::family::Family;
use super::generation::Generation;
use super::rule::Rule;
use super::set::Set;
use super::table::Table;

/// `NFNL_SUBSYS_NFTABLES`: the high byte of every nf_tables message type.
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNL_BATCH_GENID: u16 = 1;
const NFNETLINK_V0: u8 = 0;
const NFGENMSG_LEN: usize = 4;

const NFT_MSG_NEWTABLE: u8 = 0;
const NFT_MSG_GETTABLE: u8 = 1;
const NFT_MSG_DELTABLE: u8 = 2;
const NFT_MSG_NEWCHAIN: u8 = 3;
const NFT_MSG_GETCHAIN: u8 = 4;
const NFT_MSG_DELCHAIN: u8 = 5;
const NFT_MSG_NEWRULE: u8 = 6;
const NFT_MSG_GETRULE: u8 = 7;
const NFT_MSG_DELRULE: u8 = 8;
const NFT_MSG_NEWSET: u8 = 9;
const NFT_MSG_GETSET: u8 = 10;
const NFT_MSG_DELSET: u8 = 11;
const NFT_MSG_NEWSETELEM: u8 = 12;
const NFT_MSG_GETSETELEM: u8 = 13;
const NFT_MSG_DELSETELEM: u8 = 14;
const NFT_MSG_NEWGEN: u8 = 15;
const NFT_MSG_GETGEN: u8 = 16;

/// What a GET request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Object {
    Table,
    Chain,
    Set,
    /// The elements of one set (`name`).
    SetElem,
    Rule,
}

/// A GETTABLE/GETCHAIN/GETSET/GETSETELEM/GETRULE request: everything of that kind in
/// `family` (Unspec: all families), narrowed to `table` and then to `name` (the chain of
/// the rules, the set of the elements, the one chain or set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Get {
    pub object: Object,
    pub family: Family,
    pub table: Option<String>,
    pub name: Option<String>,
}

impl Get {
    pub fn new(object: Object, family: Family, table: Option<&str>, name: Option<&str>) -> Self {
        Self {
            object,
            family,
            table: table.map(Into::into),
            name: name.map(Into::into),
        }
    }

    fn msg_type(&self) -> u8 {
        match self.object {
            Object::Table => NFT_MSG_GETTABLE,
            Object::Chain => NFT_MSG_GETCHAIN,
            Object::Set => NFT_MSG_GETSET,
            Object::SetElem => NFT_MSG_GETSETELEM,
            Object::Rule => NFT_MSG_GETRULE,
        }
    }

    /// (table attribute, name attribute) numbers of this object kind.
    fn kinds(object: Object) -> (u16, u16) {
        match object {
            Object::Table => (0, 1),
            Object::Chain => (1, 3),
            Object::Set | Object::SetElem | Object::Rule => (1, 2),
        }
    }

    /// In nft's order (GETSETELEM names the set before the table).
    fn attrs(&self) -> Vec<Attr<'_>> {
        let (table_kind, name_kind) = Self::kinds(self.object);
        let mut a = Vec::new();
        let table = self.table.as_deref().filter(|_| table_kind != 0);
        let table = table.map(|t| Attr::Str(table_kind, t));
        let name = self.name.as_deref().map(|n| Attr::Str(name_kind, n));
        let (first, second) = match self.object {
            Object::SetElem => (name, table),
            _ => (table, name),
        };
        a.extend(first);
        a.extend(second);
        a
    }

    fn parse(object: Object, family: Family, payload: &[u8]) -> Result<Self, DecodeError> {
        let (table_kind, name_kind) = Self::kinds(object);
        let mut get = Get::new(object, family, None, None);
        for (kind, v) in parse_nested(payload)? {
            if kind == table_kind {
                get.table = Some(str_of(v, "table name")?);
            } else if kind == name_kind {
                get.name = Some(str_of(v, "object name")?);
            }
        }
        Ok(get)
    }
}

/// An nf_tables message. Dump replies arrive as the `New*` variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NftMessage {
    /// Opens a transaction; with `genid`, the kernel refuses it (`ERESTART`) unless the
    /// ruleset generation is still `genid`.
    BatchBegin {
        genid: Option<u32>,
    },
    BatchEnd,
    NewTable(Table),
    DelTable(Table),
    NewChain(Chain),
    DelChain(Chain),
    NewSet(Set),
    DelSet(Set),
    NewSetElems(ElemList),
    DelSetElems(ElemList),
    NewRule(Rule),
    DelRule(Rule),
    Get(Get),
    GetGen,
    NewGen(Generation),
    /// A message kproxy does not model: its type (without the subsystem), family, body.
    Other {
        msg_type: u8,
        family: Family,
        payload: Vec<u8>,
    },
}

impl NftMessage {
    /// A short description for a log line: the message type and the object it names.
    pub fn describe(&self) -> String {
        use NftMessage::*;
        let f = |family: Family| family.keyword();
        match self {
            BatchBegin { .. } => "batch begin".into(),
            BatchEnd => "batch end".into(),
            NewTable(t) => format!("add table {} {}", f(t.family), t.name),
            DelTable(t) => format!("delete table {} {}", f(t.family), t.name),
            NewChain(c) => format!("add chain {} {} {}", f(c.family), c.table, c.name),
            DelChain(c) => format!("delete chain {} {} {}", f(c.family), c.table, c.name),
            NewSet(s) => format!("add set {} {} {}", f(s.family), s.table, s.name),
            DelSet(s) => format!("delete set {} {} {}", f(s.family), s.table, s.name),
            NewSetElems(l) | DelSetElems(l) => format!(
                "{} {} elements of {} {} {}",
                if matches!(self, NewSetElems(_)) {
                    "add"
                } else {
                    "delete"
                },
                l.elements.len(),
                f(l.family),
                l.table,
                l.set
            ),
            NewRule(r) => format!("add rule {} {} {}", f(r.family), r.table, r.chain),
            DelRule(r) => match r.handle {
                Some(h) => format!(
                    "delete rule {} {} {} handle {h}",
                    f(r.family),
                    r.table,
                    r.chain
                ),
                None => format!("flush chain {} {} {}", f(r.family), r.table, r.chain),
            },
            Get(g) => format!("get {:?} of {}", g.object, f(g.family)),
            GetGen => "get generation".into(),
            NewGen(g) => format!("generation {}", g.id),
            Other { msg_type, .. } => format!("nf_tables message {msg_type}"),
        }
    }

    fn family(&self) -> Family {
        use NftMessage::*;
        match self {
            BatchBegin { .. } | BatchEnd | GetGen | NewGen(_) => Family::Unspec,
            NewTable(t) | DelTable(t) => t.family,
            NewChain(c) | DelChain(c) => c.family,
            NewSet(s) | DelSet(s) => s.family,
            NewSetElems(l) | DelSetElems(l) => l.family,
            NewRule(r) | DelRule(r) => r.family,
            Get(g) => g.family,
            Other { family, .. } => *family,
        }
    }

    fn type_byte(&self) -> u8 {
        use NftMessage::*;
        match self {
            BatchBegin { .. } | BatchEnd => 0,
            NewTable(_) => NFT_MSG_NEWTABLE,
            DelTable(_) => NFT_MSG_DELTABLE,
            NewChain(_) => NFT_MSG_NEWCHAIN,
            DelChain(_) => NFT_MSG_DELCHAIN,
            NewSet(_) => NFT_MSG_NEWSET,
            DelSet(_) => NFT_MSG_DELSET,
            NewSetElems(_) => NFT_MSG_NEWSETELEM,
            DelSetElems(_) => NFT_MSG_DELSETELEM,
            NewRule(_) => NFT_MSG_NEWRULE,
            DelRule(_) => NFT_MSG_DELRULE,
            Get(g) => g.msg_type(),
            GetGen => NFT_MSG_GETGEN,
            NewGen(_) => NFT_MSG_NEWGEN,
            Other { msg_type, .. } => *msg_type,
        }
    }

    /// The `nlmsghdr` flags `nft` uses for this message in a request: NEW* create (rules
    /// append unless positioned), GET of a whole kind dumps.
    pub fn request_flags(&self) -> u16 {
        use NftMessage::*;
        match self {
            NewChain(_) | NewSet(_) | NewSetElems(_) => NLM_F_REQUEST | NLM_F_CREATE,
            NewRule(r) if r.position.is_none() && r.position_id.is_none() => {
                NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND
            }
            NewRule(_) => NLM_F_REQUEST | NLM_F_CREATE,
            Get(g) if matches!(g.object, Object::SetElem | Object::Rule) || g.name.is_none() => {
                NLM_F_REQUEST | NLM_F_DUMP
            }
            _ => NLM_F_REQUEST,
        }
    }

    fn attrs(&self) -> Vec<Attr<'_>> {
        use NftMessage::*;
        match self {
            BatchBegin { genid } => {
                let mut a = Vec::new();
                push_opt(&mut a, *genid, |g| Attr::U32(NFNL_BATCH_GENID, g));
                a
            }
            BatchEnd | GetGen => Vec::new(),
            NewTable(t) | DelTable(t) => t.attrs(),
            NewChain(c) | DelChain(c) => c.attrs(),
            NewSet(s) | DelSet(s) => s.attrs(),
            NewSetElems(l) | DelSetElems(l) => l.attrs(),
            NewRule(r) | DelRule(r) => r.attrs(),
            Get(g) => g.attrs(),
            NewGen(g) => g.attrs(),
            // Serialised from its raw payload (see `serialize`).
            Other { .. } => Vec::new(),
        }
    }
}

impl NetlinkSerializable for NftMessage {
    fn message_type(&self) -> u16 {
        match self {
            NftMessage::BatchBegin { .. } => NFNL_MSG_BATCH_BEGIN,
            NftMessage::BatchEnd => NFNL_MSG_BATCH_END,
            m => (NFNL_SUBSYS_NFTABLES << 8) | u16::from(m.type_byte()),
        }
    }

    fn buffer_len(&self) -> usize {
        let body = match self {
            NftMessage::Other { payload, .. } => payload.len(),
            m => m.attrs().as_slice().buffer_len(),
        };
        NFGENMSG_LEN + body
    }

    fn serialize(&self, buf: &mut [u8]) {
        let res_id = match self {
            NftMessage::BatchBegin { .. } | NftMessage::BatchEnd => NFNL_SUBSYS_NFTABLES,
            _ => 0,
        };
        buf[0] = self.family().into();
        buf[1] = NFNETLINK_V0;
        buf[2..4].copy_from_slice(&res_id.to_be_bytes());
        match self {
            NftMessage::Other { payload, .. } => buf[4..].copy_from_slice(payload),
            m => m.attrs().as_slice().emit(&mut buf[4..]),
        }
    }
}

impl NetlinkDeserializable for NftMessage {
    type Error = DecodeError;

    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        if payload.len() < NFGENMSG_LEN {
            return Err(DecodeError::buffer_too_small(payload.len(), NFGENMSG_LEN));
        }
        let family = Family::from(payload[0]);
        let body = &payload[NFGENMSG_LEN..];
        let t = header.message_type;
        let parsed = match t {
            NFNL_MSG_BATCH_BEGIN => {
                let mut genid = None;
                for (kind, v) in parse_nested(body)? {
                    if kind == NFNL_BATCH_GENID {
                        genid = Some(u32_of(v, "NFNL_BATCH_GENID")?);
                    }
                }
                Ok(NftMessage::BatchBegin { genid })
            }
            NFNL_MSG_BATCH_END => Ok(NftMessage::BatchEnd),
            t if t >> 8 == NFNL_SUBSYS_NFTABLES => parse_body(t as u8, family, body),
            t => Err(format!("message type {t:#x} is not nf_tables").into()),
        };
        parsed.with_context(|| format!("failed to parse nf_tables message type {t:#x}"))
    }
}

fn parse_body(msg_type: u8, family: Family, body: &[u8]) -> Result<NftMessage, DecodeError> {
    use NftMessage::*;
    let get = |object| self::Get::parse(object, family, body).map(NftMessage::Get);
    Ok(match msg_type {
        NFT_MSG_NEWTABLE => NewTable(Table::parse(family, body)?),
        NFT_MSG_DELTABLE => DelTable(Table::parse(family, body)?),
        NFT_MSG_NEWCHAIN => NewChain(Chain::parse(family, body)?),
        NFT_MSG_DELCHAIN => DelChain(Chain::parse(family, body)?),
        NFT_MSG_NEWSET => NewSet(Set::parse(family, body)?),
        NFT_MSG_DELSET => DelSet(Set::parse(family, body)?),
        NFT_MSG_NEWSETELEM => NewSetElems(ElemList::parse(family, body)?),
        NFT_MSG_DELSETELEM => DelSetElems(ElemList::parse(family, body)?),
        NFT_MSG_NEWRULE => NewRule(Rule::parse(family, body)?),
        NFT_MSG_DELRULE => DelRule(Rule::parse(family, body)?),
        NFT_MSG_GETTABLE => get(Object::Table)?,
        NFT_MSG_GETCHAIN => get(Object::Chain)?,
        NFT_MSG_GETSET => get(Object::Set)?,
        NFT_MSG_GETSETELEM => get(Object::SetElem)?,
        NFT_MSG_GETRULE => get(Object::Rule)?,
        NFT_MSG_GETGEN => GetGen,
        NFT_MSG_NEWGEN => NewGen(Generation::parse(body)?),
        msg_type => Other {
            msg_type,
            family,
            payload: body.to_vec(),
        },
    })
}
