//! Conntrack over netlink (nfnetlink subsystem `CTNETLINK`): the messages (pure, byte
//! fixtures captured from the `conntrack` tool), a thin blocking client, and kube-proxy's
//! reconciler of stale UDP and SCTP entries (a pure decision plus a thin executor).
//!
//! kproxy never runs the `conntrack` binary; its tests use it to observe.

mod after_sync;
mod attr;
pub mod consts;
mod entry;
mod error;
mod filter;
mod handle;
mod message;
mod reconciler;
mod request;
pub mod stale;
mod tuple;

pub use after_sync::{CleanupAfterSync, with_conntrack_cleanup};
pub use attr::ConntrackAttr;
pub use entry::Entry;
pub use error::ConntrackError;
pub use filter::FilterAttr;
pub use handle::{ConntrackHandle, Deleted, Dump};
pub use message::{ConntrackCommand, ConntrackMessage};
pub use reconciler::{ConntrackTable, ReconcileReport, Reconciler};
pub use request::Request;
pub use tuple::{IpAttr, ProtoAttr, Tuple, TupleAttr};

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
