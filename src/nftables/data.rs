//! `NFTA_DATA_*`: a constant value or a verdict, as carried by `cmp`, `immediate`, `bitwise`
//! and set elements (keys and map values).

use netlink_packet_core::DecodeError;

use super::attr::{Attr, parse_nested, str_of, u32_of};

const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
const NFTA_VERDICT_CHAIN_ID: u16 = 3;

const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
const NFT_CONTINUE: u32 = -1i32 as u32;
const NFT_BREAK: u32 = -2i32 as u32;
const NFT_JUMP: u32 = -3i32 as u32;
const NFT_GOTO: u32 = -4i32 as u32;
const NFT_RETURN: u32 = -5i32 as u32;

/// What happens to the packet: a netfilter verdict or a move to another chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verdict {
    Drop,
    Accept,
    /// Go on with the next expression (the default).
    Continue,
    /// Stop this rule, go on with the next one.
    Break,
    /// Back to the chain that jumped here.
    Return,
    /// Evaluate the named chain, then come back.
    Jump(String),
    /// Evaluate the named chain instead of the rest of this one.
    Goto(String),
    /// Jump or goto (`code`) to a chain created earlier in the same batch, by its id.
    ToChainId {
        code: u32,
        chain_id: u32,
    },
    Other(u32),
}

impl Verdict {
    fn code(&self) -> u32 {
        match self {
            Verdict::Drop => NF_DROP,
            Verdict::Accept => NF_ACCEPT,
            Verdict::Continue => NFT_CONTINUE,
            Verdict::Break => NFT_BREAK,
            Verdict::Return => NFT_RETURN,
            Verdict::Jump(_) => NFT_JUMP,
            Verdict::Goto(_) => NFT_GOTO,
            Verdict::ToChainId { code, .. } => *code,
            Verdict::Other(code) => *code,
        }
    }

    /// The chain this verdict moves to, if any: what makes the kernel validate the table.
    pub fn chain(&self) -> Option<&str> {
        match self {
            Verdict::Jump(c) | Verdict::Goto(c) => Some(c),
            _ => None,
        }
    }

    pub(crate) fn attrs(&self) -> Vec<Attr<'_>> {
        let mut attrs = vec![Attr::U32(NFTA_VERDICT_CODE, self.code())];
        match self {
            Verdict::Jump(c) | Verdict::Goto(c) => attrs.push(Attr::Str(NFTA_VERDICT_CHAIN, c)),
            Verdict::ToChainId { chain_id, .. } => {
                attrs.push(Attr::U32(NFTA_VERDICT_CHAIN_ID, *chain_id))
            }
            _ => {}
        }
        attrs
    }

    pub(crate) fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let (mut code, mut chain, mut chain_id) = (None, None, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_VERDICT_CODE => code = Some(u32_of(v, "NFTA_VERDICT_CODE")?),
                NFTA_VERDICT_CHAIN => chain = Some(str_of(v, "NFTA_VERDICT_CHAIN")?),
                NFTA_VERDICT_CHAIN_ID => chain_id = Some(u32_of(v, "NFTA_VERDICT_CHAIN_ID")?),
                _ => {}
            }
        }
        let code = code.ok_or_else(|| super::attr::missing("NFTA_VERDICT_CODE"))?;
        Ok(match (code, chain, chain_id) {
            (NFT_JUMP, Some(c), _) => Verdict::Jump(c),
            (NFT_GOTO, Some(c), _) => Verdict::Goto(c),
            (code, None, Some(chain_id)) => Verdict::ToChainId { code, chain_id },
            (NF_DROP, ..) => Verdict::Drop,
            (NF_ACCEPT, ..) => Verdict::Accept,
            (NFT_CONTINUE, ..) => Verdict::Continue,
            (NFT_BREAK, ..) => Verdict::Break,
            (NFT_RETURN, ..) => Verdict::Return,
            (code, ..) => Verdict::Other(code),
        })
    }
}

/// The content of an `NFTA_*_DATA`-style nest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Data {
    /// Bytes exactly as the kernel compares them (network order for addresses and ports;
    /// concatenations pad each field to 4 bytes, see [`super::Key`]).
    Value(Vec<u8>),
    Verdict(Verdict),
}

impl Data {
    /// The single attribute inside the nest.
    pub(crate) fn attr(&self) -> Attr<'_> {
        match self {
            Data::Value(v) => Attr::Bytes(NFTA_DATA_VALUE, v),
            Data::Verdict(v) => Attr::Nested(NFTA_DATA_VERDICT, v.attrs()),
        }
    }

    /// The nest holding this data, as attribute `kind`.
    pub(crate) fn nest(&self, kind: u16) -> Attr<'_> {
        Attr::Nested(kind, vec![self.attr()])
    }

    pub(crate) fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_DATA_VALUE => return Ok(Data::Value(v.to_vec())),
                NFTA_DATA_VERDICT => return Ok(Data::Verdict(Verdict::parse(v)?)),
                _ => {}
            }
        }
        Err(super::attr::missing("NFTA_DATA_VALUE or NFTA_DATA_VERDICT"))
    }

    /// Parses a nest that must hold a plain value (a `cmp` or `bitwise` operand).
    pub(crate) fn parse_value(payload: &[u8]) -> Result<Vec<u8>, DecodeError> {
        match Data::parse(payload)? {
            Data::Value(v) => Ok(v),
            Data::Verdict(_) => Err("a verdict where a value was expected".into()),
        }
    }
}
