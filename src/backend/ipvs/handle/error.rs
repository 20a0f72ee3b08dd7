//! What a netlink operation on IPVS was, what it named, and how it failed.

use std::fmt;
use std::io;

use netlink_packet_core::DecodeError;
use nix::errno::Errno;
use thiserror::Error;

use crate::backend::ipvs::netlink::ServiceKey;

/// One kind of request the handle sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    ResolveFamily,
    AddService,
    UpdateService,
    DeleteService,
    ListServices,
    AddDestination,
    UpdateDestination,
    DeleteDestination,
    ListDestinations,
    Flush,
    GetTimeouts,
    SetTimeouts,
    GetInfo,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ResolveFamily => "resolve generic netlink family IPVS",
            Self::AddService => "add service",
            Self::UpdateService => "update service",
            Self::DeleteService => "delete service",
            Self::ListServices => "list services",
            Self::AddDestination => "add destination",
            Self::UpdateDestination => "update destination",
            Self::DeleteDestination => "delete destination",
            Self::ListDestinations => "list destinations of",
            Self::Flush => "flush",
            Self::GetTimeouts => "get timeouts",
            Self::SetTimeouts => "set timeouts",
            Self::GetInfo => "get info",
        })
    }
}

/// The kernel object an operation named, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Nothing,
    Service(ServiceKey),
    /// A destination `addr:port` of a service.
    Destination(ServiceKey, std::net::Ipv4Addr, u16),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nothing => Ok(()),
            Self::Service(svc) => write!(f, " {svc}"),
            Self::Destination(svc, addr, port) => write!(f, " {addr}:{port} of {svc}"),
        }
    }
}

/// Why an IPVS operation failed. `Unavailable` and `Socket` are not retryable (the kernel
/// lacks IPVS, or the process lacks permissions); `Kernel` errors are retryable after a
/// full resync re-reads the kernel state (`EEXIST`, `ENOENT`/`ESRCH` mean the kernel
/// differs from what the caller believed); `Io` and `Decode` are retryable.
#[derive(Debug, Error)]
pub enum IpvsError {
    #[error("opening a generic netlink socket: {0}")]
    Socket(#[source] io::Error),
    #[error(
        "IPVS is not available: the kernel has no generic netlink family IPVS (ip_vs not loaded?)"
    )]
    Unavailable,
    #[error("{op}{target}: {errno}")]
    Kernel {
        op: Operation,
        target: Target,
        errno: Errno,
    },
    #[error("{op}{target}: netlink I/O: {source}")]
    Io {
        op: Operation,
        target: Target,
        #[source]
        source: io::Error,
    },
    #[error("{op}{target}: undecodable reply: {source}")]
    Decode {
        op: Operation,
        target: Target,
        #[source]
        source: DecodeError,
    },
}

impl IpvsError {
    /// The kernel's errno, when the kernel refused the operation.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Self::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// The object to add exists already.
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(Errno::EEXIST)
    }

    /// The object to change or delete does not exist (IPVS says `ESRCH` for a missing
    /// service and `ENOENT` for a missing destination or scheduler).
    pub fn is_not_found(&self) -> bool {
        matches!(self.errno(), Some(Errno::ENOENT | Errno::ESRCH))
    }
}
