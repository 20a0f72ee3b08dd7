//! iptables mode: kube-proxy's chain layout, written with iptables-restore.

pub mod ruleset;
pub mod compile;
pub mod names;
pub mod parse;
pub mod trace;

#[cfg(test)]
mod tests;
