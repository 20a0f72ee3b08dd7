//! Errors of the conntrack client. Every one is retryable: the reconciler logs it and
//! tries again after the next sync.

use std::io;

use nix::errno::Errno;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConntrackError {
    #[error("opening a netlink socket for conntrack: {0}")]
    Open(#[source] io::Error),
    #[error("{op} conntrack entries: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{op} conntrack entries: undecodable reply: {reason}")]
    Decode { op: &'static str, reason: String },
    #[error("{op} conntrack entries: the kernel refused: {}", Errno::from_raw(*code))]
    Kernel { op: &'static str, code: i32 },
}
