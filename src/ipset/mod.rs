//! An ipset client over netlink (`NETLINK_NETFILTER`, subsystem `NFNL_SUBSYS_IPSET`,
//! protocol 6/7) for IPVS mode, which keeps its iptables rules constant by matching
//! sets (KUBE-CLUSTER-IP, KUBE-NODE-PORT-TCP, KUBE-LOOP-BACK, …). kproxy shells out to
//! nothing but iptables-restore/-save, so it speaks ipset itself.
//!
//! Layers, following rust-netlink: [`message`], [`attr`] and [`data`] encode and decode
//! bytes with no socket; [`request`] and [`reply`] build and read whole exchanges;
//! [`handle`] is the thin blocking client; [`sync`] diffs a set against a desired list.

pub mod attr;
pub mod consts;
pub mod data;
pub mod entry;
pub mod error;
pub mod handle;
pub mod message;
pub mod reply;
pub mod request;
pub mod set_type;
pub mod sync;

#[cfg(test)]
mod fixtures;

pub use entry::{Entry, EntryError};
pub use error::{IpsetError, KernelError, Operation};
pub use handle::IpsetHandle;
pub use reply::SetListing;
pub use request::IfPresent;
pub use set_type::{CreateOptions, SetType};
pub use sync::{EntryDiff, IpsetOps, SetChanges, diff, sync_set};
