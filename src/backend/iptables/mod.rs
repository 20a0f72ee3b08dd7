//! iptables mode: kube-proxy's chain layout, written with iptables-restore through the
//! shared plumbing in [`crate::netfilter::iptables`].

mod backend;
pub mod compile;
pub mod names;

/// The compiler imports the chain types by this path.
pub use crate::netfilter::iptables::ruleset;

pub use backend::IptablesBackend;

#[cfg(test)]
mod tests;
