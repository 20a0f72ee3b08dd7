//! iptables mode: kube-proxy's chain layout, written with iptables-restore.

pub mod compile;
pub mod names;
pub mod parse;
pub mod ruleset;
pub mod trace;

#[cfg(test)]
mod tests;
