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

pub use backend::{IptablesBackend, cleanup, cleanup_owned, read_kernel, read_kernel_owned};

#[cfg(test)]
mod tests;
