//! iptables mode: kube-proxy's chain layout, written with iptables-restore.

mod backend;
pub mod compile;
pub mod kernel;
pub mod names;
pub mod plan;
pub mod restore;
pub mod ruleset;

pub use backend::{IptablesBackend, cleanup, cleanup_owned, read_kernel, read_kernel_owned};

#[cfg(test)]
mod tests;
