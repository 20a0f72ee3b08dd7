//! Netlink plumbing the kernel clients share: one blocking [`Connection`] type that does
//! sequence numbers, multi-part dumps, ACK/DONE and errors for the IPVS client (generic
//! netlink), the ipset client (nfnetlink) and kube-ipvs0's rtnetlink code (later
//! nf_tables). Message encoding stays with each client; replies are split by the pure
//! [`reply`] step, tested on captured bytes.

mod connection;
pub mod nfnetlink;
pub mod reply;

pub use connection::{Connection, NetlinkError};
