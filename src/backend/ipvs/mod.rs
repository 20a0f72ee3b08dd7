//! IPVS mode. `netlink` models the kernel's IPVS generic netlink family as pure data;
//! `handle` is the thin blocking client that sends it. `compile` turns the state into the
//! desired virtual servers, addresses and set members (pure); `diff` turns one virtual
//! server into the operations that repair it (pure); `rules` is the constant iptables
//! ruleset; `backend` is the executor, with `apply`, `link` (kube-ipvs0) and `sysctl`,
//! talking to the kernel through `kernel::IpvsKernel` (the real sockets, or
//! `kproxy::testing::ipvs::FakeKernel`); `breakdown` says where a sync's time went.

pub mod apply;
mod backend;
pub mod breakdown;
pub mod cleanup;
pub mod compile;
pub mod diff;
pub mod handle;
pub mod kernel;
pub mod link;
pub mod listing;
pub mod netlink;
pub mod rules;
pub mod sets;
pub mod sysctl;

pub use backend::{IpvsBackend, IpvsOptions};
pub use kernel::{Handles, IpvsKernel};
