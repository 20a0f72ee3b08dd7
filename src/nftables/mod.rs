//! nf_tables over netlink, encoded and decoded without sockets (the shape of the IPVS
//! message layer in `backend::ipvs::netlink`). Numbers follow the kernel's
//! `include/uapi/linux/netfilter/nf_tables.h` and `nfnetlink.h`; the byte fixtures in
//! `fixtures.rs` were captured from `nft` talking to a real kernel
//! (`tests/nftables/capture.py`). `client` is the only code that sends these messages.
//!
//! One file per kernel concept: [`Table`], [`Chain`], [`Set`], [`ElemList`] of
//! [`Element`]s, [`Rule`] of [`Expr`]essions, [`Batch`], [`Generation`], [`Ack`].
//! Typed objects serve both directions: a request built by kproxy and a dump reply read
//! back from the kernel decode into the same types, so a read-back compares with what a
//! sync sent (kernel-filled fields such as `handle` and `use_count` aside).
//!
//! Why not `netlink-packet-netfilter` (0.4, which builds on netlink-packet-core 0.9): its
//! batch-begin message cannot carry `NFNL_BATCH_GENID`, it models six of the fifteen
//! expressions kproxy needs (no ct, nat, masq, numgen, fib, reject, dynset, counter), and
//! its message enum is closed, so the missing parts could not be added beside it.

mod ack;
mod attr;
mod batch;
mod chain;
pub mod client;
mod data;
mod element;
pub mod expr;
mod family;
mod generation;
mod key;
mod message;
mod normalize;
mod rule;
mod set;
mod table;
pub mod udata;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_rules;

pub use ack::Ack;
pub use batch::{Batch, Encoded, MAX_ELEMENT_BYTES};
pub use chain::{CHAIN_F_BASE, Chain, ChainHook, Hook, Policy, priority};
pub use data::{Data, Verdict};
pub use element::{ELEM_F_CATCHALL, ELEM_F_INTERVAL_END, ElemList, Element};
pub use expr::{Expr, Reg};
pub use family::Family;
pub use generation::Generation;
pub use key::Key;
pub use message::{Get, NftMessage, Object};
pub use rule::Rule;
pub use set::{DataType, Set, SetDesc, flags as set_flags};
pub use table::{TABLE_F_DORMANT, TABLE_F_OWNER, Table};
