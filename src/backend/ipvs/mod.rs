//! IPVS mode. `netlink` models the kernel's IPVS generic netlink family as pure data;
//! `handle` is the thin blocking client that sends it.

pub mod handle;
pub mod netlink;
