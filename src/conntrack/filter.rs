//! `CTA_FILTER` (kernel 5.8 and later): which fields of the tuples sent beside it a dump
//! must match, so the kernel, not kproxy, skips the entries of other protocols.

use netlink_packet_core::{DecodeError, DefaultNla, ErrorContext, Nla, NlaBuffer, Parseable};

use super::consts::*;

/// One attribute inside `CTA_FILTER`. The flags are `CTA_FILTER_F_*` bits, in host byte
/// order (the kernel reads them with `nla_get_u32`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterAttr {
    OrigFlags(u32),
    ReplyFlags(u32),
    Other(DefaultNla),
}

impl Nla for FilterAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::OrigFlags(_) | Self::ReplyFlags(_) => 4,
            Self::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::OrigFlags(_) => CTA_FILTER_ORIG_FLAGS,
            Self::ReplyFlags(_) => CTA_FILTER_REPLY_FLAGS,
            Self::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::OrigFlags(v) | Self::ReplyFlags(v) => {
                buffer[..4].copy_from_slice(&v.to_ne_bytes())
            }
            Self::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&T>> for FilterAttr {
    fn parse(buf: &NlaBuffer<&T>) -> Result<Self, DecodeError> {
        let value = buf.value();
        let kind = buf.kind();
        let context = || format!("failed to parse conntrack filter attribute {kind}");
        let flags = || -> Result<u32, DecodeError> {
            let bytes: [u8; 4] = value
                .try_into()
                .map_err(|_| DecodeError::from(format!("{} bytes for flags", value.len())))?;
            Ok(u32::from_ne_bytes(bytes))
        };
        Ok(match kind {
            CTA_FILTER_ORIG_FLAGS => Self::OrigFlags(flags().with_context(context)?),
            CTA_FILTER_REPLY_FLAGS => Self::ReplyFlags(flags().with_context(context)?),
            _ => Self::Other(DefaultNla::parse(buf).with_context(context)?),
        })
    }
}
