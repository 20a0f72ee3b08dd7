//! iptables mode: kube-proxy's chain layout, written with iptables-restore.

mod backend;
pub mod compile;
pub mod fake;
pub mod kernel;
pub mod names;
pub mod parse;
pub mod plan;
pub mod restore;
pub mod ruleset;
pub mod trace;

pub use backend::{IptablesBackend, cleanup, read_kernel};

#[cfg(test)]
mod tests;
