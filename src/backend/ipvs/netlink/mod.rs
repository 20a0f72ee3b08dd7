//! The IPVS generic netlink family, encoded and decoded without sockets (the shape of
//! `netlink-packet-generic`'s `ctrl` module). Numbers follow the kernel's
//! `include/uapi/linux/ip_vs.h`; the byte fixtures in `fixtures.rs` were captured from a
//! real kernel. `super::handle` is the only code that sends these messages.

mod addr;
mod cmd;
pub mod constants;
mod daemon;
mod dest;
mod error;
mod message;
mod real_server;
mod request;
mod service;
mod stats;
mod timeouts;
mod virtual_service;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

pub use addr::InetAddr;
pub use cmd::IpvsCmd;
pub use daemon::DaemonAttr;
pub use dest::DestAttr;
pub use error::AttrError;
pub use message::{IpvsAttr, IpvsMessage};
pub use real_server::{FwdMethod, RealServer};
pub use service::{IpvsFlags, SvcAttr};
pub use stats::{Counter, Stats, StatsAttr};
pub use timeouts::Timeouts;
pub use virtual_service::{ServiceFlags, ServiceKey, VirtualService, protocol_number};
