//! Attributes of a conntrack message: an entry's tuples, status, timeout, zone and id,
//! and the filter of a dump request.

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorContext, NLA_F_NESTED, Nla, NlaBuffer, Parseable,
    parse_u16_be, parse_u32_be,
};

use super::consts::*;
use super::filter::FilterAttr;
use super::tuple::{TupleAttr, parse_nested};

/// One top-level attribute. Unknown ones decode to `Other`, so a newer kernel's
/// attributes never fail a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConntrackAttr {
    TupleOrig(Vec<TupleAttr>),
    TupleReply(Vec<TupleAttr>),
    /// `IPS_*` bits.
    Status(u32),
    /// Seconds until the entry expires.
    Timeout(u32),
    Mark(u32),
    /// Reference count.
    Use(u32),
    /// The entry's id: a delete that names it removes only that entry, not a newer one
    /// with the same tuple.
    Id(u32),
    Zone(u16),
    Filter(Vec<FilterAttr>),
    Other(DefaultNla),
}

impl Nla for ConntrackAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::TupleOrig(attrs) | Self::TupleReply(attrs) => attrs.as_slice().buffer_len(),
            Self::Status(_) | Self::Timeout(_) | Self::Mark(_) | Self::Use(_) | Self::Id(_) => 4,
            Self::Zone(_) => 2,
            Self::Filter(attrs) => attrs.as_slice().buffer_len(),
            Self::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::TupleOrig(_) => CTA_TUPLE_ORIG | NLA_F_NESTED,
            Self::TupleReply(_) => CTA_TUPLE_REPLY | NLA_F_NESTED,
            Self::Status(_) => CTA_STATUS,
            Self::Timeout(_) => CTA_TIMEOUT,
            Self::Mark(_) => CTA_MARK,
            Self::Use(_) => CTA_USE,
            Self::Id(_) => CTA_ID,
            Self::Zone(_) => CTA_ZONE,
            Self::Filter(_) => CTA_FILTER | NLA_F_NESTED,
            Self::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::TupleOrig(attrs) | Self::TupleReply(attrs) => attrs.as_slice().emit(buffer),
            Self::Status(v) | Self::Timeout(v) | Self::Mark(v) | Self::Use(v) | Self::Id(v) => {
                buffer[..4].copy_from_slice(&v.to_be_bytes())
            }
            Self::Zone(v) => buffer[..2].copy_from_slice(&v.to_be_bytes()),
            Self::Filter(attrs) => attrs.as_slice().emit(buffer),
            Self::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&T>> for ConntrackAttr {
    fn parse(buf: &NlaBuffer<&T>) -> Result<Self, DecodeError> {
        let value = buf.value();
        let kind = buf.kind();
        let context = || format!("failed to parse conntrack attribute {kind}");
        let u32_be = || parse_u32_be(value).with_context(context);
        Ok(match kind {
            CTA_TUPLE_ORIG => Self::TupleOrig(parse_nested(value).with_context(context)?),
            CTA_TUPLE_REPLY => Self::TupleReply(parse_nested(value).with_context(context)?),
            CTA_STATUS => Self::Status(u32_be()?),
            CTA_TIMEOUT => Self::Timeout(u32_be()?),
            CTA_MARK => Self::Mark(u32_be()?),
            CTA_USE => Self::Use(u32_be()?),
            CTA_ID => Self::Id(u32_be()?),
            CTA_ZONE => Self::Zone(parse_u16_be(value).with_context(context)?),
            CTA_FILTER => Self::Filter(parse_nested(value).with_context(context)?),
            _ => Self::Other(DefaultNla::parse(buf).with_context(context)?),
        })
    }
}
