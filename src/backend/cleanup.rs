//! `--cleanup`, for every proxy mode in one place. Whichever mode is configured, it removes
//! what any mode (kproxy's, or kube-proxy's before it) left in the kernel, as kube-proxy's
//! own `--cleanup` does, so a node can switch modes or drop kproxy.
//!
//! Order matters: first the iptables chains of every mode, in one read-back and one write
//! (IPVS mode's rules reference its ipsets, which cannot be destroyed while referenced);
//! then each mode's other kernel state. A part the kernel lacks (no IPVS, say) is skipped.
//! nftables mode adds its table as one more step.

use ipnet::Ipv4Net;
use prometheus_client::metrics::counter::Counter;
use thiserror::Error;

use super::iptables::names::is_owned_chain;
use super::ipvs;
use crate::netfilter::iptables::ruleset::Table;
use crate::netfilter::iptables::runner::{IptablesRunner, RunnerError};
use crate::netfilter::iptables::write::remove_owned;

#[derive(Debug, Error)]
pub enum CleanupError {
    #[error("removing iptables rules: {0}")]
    Iptables(#[from] RunnerError),
    #[error(transparent)]
    Ipvs(#[from] ipvs::cleanup::CleanupError),
}

/// What was removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub chains_and_jumps: usize,
    pub virtual_servers: usize,
    pub dummy_device: bool,
    pub sets: usize,
}

/// Whether any proxy mode owns this iptables chain.
pub fn owned_by_any_mode(table: Table, name: &str) -> bool {
    is_owned_chain(table, name) || ipvs::rules::is_ipvs_chain(table, name)
}

/// Removes every mode's iptables chains and the jumps into them; returns how many.
pub fn remove_chains(runner: &mut (impl IptablesRunner + ?Sized)) -> Result<usize, RunnerError> {
    remove_owned(runner, &owned_by_any_mode, &Counter::default())
}

/// Removes every mode's kernel state; virtual servers in `exclude`
/// (`--ipvs-exclude-cidrs`) belong to someone else and stay.
pub fn cleanup(
    runner: &mut (impl IptablesRunner + ?Sized),
    exclude: &[Ipv4Net],
) -> Result<Cleaned, CleanupError> {
    let chains_and_jumps = remove_chains(runner)?;
    let ipvs = ipvs::cleanup::remove_kernel_state(exclude)?;
    Ok(Cleaned {
        chains_and_jumps,
        virtual_servers: ipvs.virtual_servers,
        dummy_device: ipvs.dummy_device,
        sets: ipvs.sets,
    })
}
