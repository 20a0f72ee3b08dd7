//! Netfilter plumbing the proxy modes share: the iptables-restore layer (iptables mode's
//! rules and IPVS mode's constant rules go through it). nf_tables goes here later.

pub mod iptables;
