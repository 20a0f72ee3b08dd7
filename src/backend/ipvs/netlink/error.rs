//! Why a kernel attribute list does not make a typed service or destination.

use thiserror::Error;

/// A decoded attribute list that kproxy's typed structs cannot represent. Not retryable:
/// the same kernel object gives the same error (e.g. an IPv6 or fwmark service that some
/// other tool created).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AttrError {
    #[error("missing attribute {0}")]
    Missing(&'static str),
    #[error("address family {0} is not IPv4")]
    UnsupportedFamily(u16),
    #[error("IP protocol {0} is not tcp, udp or sctp")]
    UnsupportedProtocol(u16),
    #[error("fwmark service (mark {0:#x}) has no address and port")]
    FwmarkService(u32),
    #[error("unknown forwarding method {0}")]
    UnknownFwdMethod(u32),
}
