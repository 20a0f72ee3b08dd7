//! Errors of the ipset client, each naming the operation and the set.

use std::fmt;
use std::io;

use nix::errno::Errno;
use thiserror::Error;

use super::consts::*;
use super::entry::Entry;
use super::set_type::SetType;

/// What the client was doing when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Protocol,
    Type,
    Create,
    Destroy,
    Flush,
    Swap,
    Rename,
    Add,
    Del,
    Test,
    List,
    ListNames,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Protocol => "negotiating the ipset protocol",
            Self::Type => "looking up the revisions of",
            Self::Create => "creating set",
            Self::Destroy => "destroying set",
            Self::Flush => "flushing set",
            Self::Swap => "swapping set",
            Self::Rename => "renaming set",
            Self::Add => "adding to set",
            Self::Del => "deleting from set",
            Self::Test => "testing membership in set",
            Self::List => "listing set",
            Self::ListNames => "listing set names",
        })
    }
}

/// The kernel's refusal, from the errno of an `NLMSG_ERROR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelError {
    /// ENOENT: no set of that name.
    NoSuchSet,
    /// EEXIST: create found a set of that name (with another type, or without `-exist`).
    SetExists,
    /// IPSET_ERR_EXIST at add: the entry is already a member.
    EntryExists,
    /// IPSET_ERR_EXIST at del or test: the entry is not a member.
    EntryMissing,
    /// IPSET_ERR_BUSY / IPSET_ERR_REFERENCED: iptables rules use the set.
    SetInUse,
    /// IPSET_ERR_EXIST_SETNAME2: rename's new name is taken.
    NameTaken,
    /// IPSET_ERR_TYPE_MISMATCH: swap of sets whose types differ.
    TypeMismatch,
    /// IPSET_ERR_FIND_TYPE: the kernel lacks the type or revision.
    UnknownType,
    /// IPSET_ERR_PROTOCOL: a message the kernel could not read.
    Protocol,
    /// IPSET_ERR_MAX_SETS.
    TooManySets,
    /// IPSET_ERR_TYPE_SPECIFIC for a hash: maxelem reached.
    SetFull,
    /// IPSET_ERR_TYPE_SPECIFIC for a bitmap: the entry is outside the set's range.
    OutOfRange,
    /// IPSET_ERR_INVALID_CIDR.
    InvalidCidr,
    /// EPERM: no CAP_NET_ADMIN in the socket's network namespace.
    PermissionDenied,
    /// Anything else: the positive errno or ipset code.
    Other(i32),
}

impl KernelError {
    /// Reads the positive `code` of a failed `op`; `bitmap` says whether the set is a
    /// bitmap, which decides what the first type-specific code means.
    pub fn from_code(code: i32, op: Operation, bitmap: bool) -> Self {
        match code {
            ENOENT => Self::NoSuchSet,
            EEXIST => Self::SetExists,
            EPERM => Self::PermissionDenied,
            IPSET_ERR_EXIST if op == Operation::Add => Self::EntryExists,
            IPSET_ERR_EXIST => Self::EntryMissing,
            IPSET_ERR_BUSY | IPSET_ERR_REFERENCED => Self::SetInUse,
            IPSET_ERR_EXIST_SETNAME2 => Self::NameTaken,
            IPSET_ERR_TYPE_MISMATCH => Self::TypeMismatch,
            IPSET_ERR_FIND_TYPE => Self::UnknownType,
            IPSET_ERR_PROTOCOL => Self::Protocol,
            IPSET_ERR_MAX_SETS => Self::TooManySets,
            IPSET_ERR_TYPE_SPECIFIC if bitmap => Self::OutOfRange,
            IPSET_ERR_TYPE_SPECIFIC => Self::SetFull,
            IPSET_ERR_INVALID_CIDR => Self::InvalidCidr,
            other => Self::Other(other),
        }
    }
}

const ENOENT: i32 = Errno::ENOENT as i32;
const EEXIST: i32 = Errno::EEXIST as i32;
const EPERM: i32 = Errno::EPERM as i32;

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchSet => f.write_str("no set of that name"),
            Self::SetExists => f.write_str("a set of that name already exists"),
            Self::EntryExists => f.write_str("already a member"),
            Self::EntryMissing => f.write_str("not a member"),
            Self::SetInUse => f.write_str("the set is in use (referenced by iptables rules)"),
            Self::NameTaken => f.write_str("the new name is taken"),
            Self::TypeMismatch => f.write_str("the sets' types differ"),
            Self::UnknownType => f.write_str("the kernel lacks this set type or revision"),
            Self::Protocol => f.write_str("the kernel rejected the message (ipset protocol error)"),
            Self::TooManySets => f.write_str("the kernel's maximum number of sets is reached"),
            Self::SetFull => f.write_str("the set is full (maxelem)"),
            Self::OutOfRange => f.write_str("outside the set's range"),
            Self::InvalidCidr => f.write_str("invalid prefix length"),
            Self::PermissionDenied => f.write_str("permission denied (needs CAP_NET_ADMIN)"),
            Self::Other(code) if *code < 4096 => {
                write!(f, "{}", io::Error::from_raw_os_error(*code))
            }
            Self::Other(code) => write!(f, "ipset error {code}"),
        }
    }
}

/// An ipset client error. `Io` errors are retryable; kernel refusals usually mean the
/// kernel's state differs from what the caller assumed (a full resync repairs that).
#[derive(Debug, Error)]
pub enum IpsetError {
    #[error("opening a NETLINK_NETFILTER socket: {0}")]
    Open(#[source] io::Error),
    #[error("{op} {set:?}: netlink I/O: {source}")]
    Io {
        op: Operation,
        set: String,
        #[source]
        source: io::Error,
    },
    #[error("{op} {set:?}{}: {kind}", entry.map(|e| format!(", entry {e}")).unwrap_or_default())]
    Kernel {
        op: Operation,
        set: String,
        /// The entry the kernel refused, when it said which.
        entry: Option<Entry>,
        kind: KernelError,
    },
    #[error("{op} {set:?}: unreadable reply: {reason}")]
    Decode {
        op: Operation,
        set: String,
        reason: String,
    },
    #[error("the kernel speaks ipset protocol {min} to {max}; kproxy speaks 6 and 7")]
    UnsupportedProtocol { min: u8, max: u8 },
    #[error("invalid set name {0:?}: use 1 to 31 bytes without NUL")]
    InvalidName(String),
    #[error("set {set:?}: entry {entry} does not fit its type {set_type}")]
    EntryMismatch {
        set: String,
        entry: Entry,
        set_type: SetType,
    },
    #[error("set {set:?} exists as {found}, not {wanted}, and is in use, so it cannot be replaced")]
    TypeMismatch {
        set: String,
        found: String,
        wanted: SetType,
    },
}

impl IpsetError {
    /// The kernel's refusal, if that is what this is.
    pub fn kernel_error(&self) -> Option<KernelError> {
        match self {
            Self::Kernel { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}
