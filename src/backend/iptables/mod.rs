//! iptables mode: kube-proxy's chain layout, written with iptables-restore.

pub mod ruleset;
