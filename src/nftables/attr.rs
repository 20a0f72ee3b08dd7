//! The attribute vocabulary every nf_tables message is built from, in both directions.
//!
//! nf_tables has dozens of attribute sets, each a handful of big-endian numbers, strings and
//! nests. Rather than one `Nla` enum per set (hundreds of match arms saying the same thing),
//! each typed object lists its attributes as [`Attr`] values to emit, and reads them back
//! with [`parse_nested`] and the typed getters here. Emission sets `NLA_F_NESTED` on nests,
//! as `nft` does; decoding accepts nests with or without it (kernel dumps leave it off).

use netlink_packet_core::{
    DecodeError, Emitable, ErrorContext, NLA_TYPE_MASK, Nla, emit_u32_be, emit_u64_be,
    parse_string, parse_u8, parse_u32_be, parse_u64_be,
};

/// One attribute to emit. Numbers are big-endian on the wire, as nf_tables wants them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attr<'a> {
    U8(u16, u8),
    U32(u16, u32),
    U64(u16, u64),
    /// A NUL-terminated string.
    Str(u16, &'a str),
    Bytes(u16, &'a [u8]),
    Nested(u16, Vec<Attr<'a>>),
    /// A nest whose content is already encoded (an expression kproxy does not model).
    RawNested(u16, &'a [u8]),
}

impl Nla for Attr<'_> {
    fn value_len(&self) -> usize {
        match self {
            Attr::U8(..) => 1,
            Attr::U32(..) => 4,
            Attr::U64(..) => 8,
            Attr::Str(_, s) => s.len() + 1,
            Attr::Bytes(_, b) | Attr::RawNested(_, b) => b.len(),
            Attr::Nested(_, attrs) => attrs.as_slice().buffer_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Attr::U8(k, _)
            | Attr::U32(k, _)
            | Attr::U64(k, _)
            | Attr::Str(k, _)
            | Attr::Bytes(k, _)
            | Attr::Nested(k, _)
            | Attr::RawNested(k, _) => *k,
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        let ok = "buffer sized by value_len";
        match self {
            Attr::U8(_, v) => buf[0] = *v,
            Attr::U32(_, v) => emit_u32_be(buf, *v).expect(ok),
            Attr::U64(_, v) => emit_u64_be(buf, *v).expect(ok),
            Attr::Str(_, s) => {
                buf[..s.len()].copy_from_slice(s.as_bytes());
                buf[s.len()] = 0;
            }
            Attr::Bytes(_, b) | Attr::RawNested(_, b) => buf.copy_from_slice(b),
            Attr::Nested(_, attrs) => attrs.as_slice().emit(buf),
        }
    }

    fn is_nested(&self) -> bool {
        matches!(self, Attr::Nested(..) | Attr::RawNested(..))
    }
}

/// Pushes `make(value)` when `value` is present: most attributes are optional.
pub(crate) fn push_opt<'a, T: Copy>(
    attrs: &mut Vec<Attr<'a>>,
    value: Option<T>,
    make: impl FnOnce(T) -> Attr<'a>,
) {
    if let Some(v) = value {
        attrs.push(make(v));
    }
}

/// The attributes of `payload`, each as `(kind without flags, value)`.
pub(crate) fn parse_nested(mut payload: &[u8]) -> Result<Vec<(u16, &[u8])>, DecodeError> {
    let mut out = Vec::new();
    while payload.len() >= 4 {
        let len = u16::from_ne_bytes([payload[0], payload[1]]) as usize;
        let kind = u16::from_ne_bytes([payload[2], payload[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > payload.len() {
            return Err(DecodeError::nla_invalid_length(payload.len(), len));
        }
        out.push((kind, &payload[4..len]));
        payload = &payload[len.div_ceil(4).saturating_mul(4).min(payload.len())..];
    }
    Ok(out)
}

/// A nest holding one `NFTA_DATA_VALUE` (a key, a `cmp` operand, a mask).
pub(crate) fn value_nest(kind: u16, bytes: &[u8]) -> Attr<'_> {
    Attr::Nested(kind, vec![Attr::Bytes(1, bytes)])
}

pub(crate) fn u8_of(v: &[u8], what: &'static str) -> Result<u8, DecodeError> {
    parse_u8(v).context(what)
}

pub(crate) fn u32_of(v: &[u8], what: &'static str) -> Result<u32, DecodeError> {
    parse_u32_be(v).context(what)
}

pub(crate) fn u64_of(v: &[u8], what: &'static str) -> Result<u64, DecodeError> {
    parse_u64_be(v).context(what)
}

pub(crate) fn str_of(v: &[u8], what: &'static str) -> Result<String, DecodeError> {
    parse_string(v).context(what)
}

/// A required attribute that a decoded message lacked.
pub(crate) fn missing(what: &'static str) -> DecodeError {
    DecodeError::from(format!("missing attribute {what}"))
}
