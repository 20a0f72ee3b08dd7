//! `--cleanup`, for every proxy mode in one place. Whichever mode is configured, it removes
//! what any mode (kproxy's, or kube-proxy's before it) left in the kernel, as kube-proxy's
//! own `--cleanup` does, so a node can switch modes or drop kproxy.
//!
//! Order matters: first the iptables chains of every mode, in one read-back and one write
//! (IPVS mode's rules reference its ipsets, which cannot be destroyed while referenced);
//! then each mode's other kernel state. A part the kernel lacks (no IPVS, say) is skipped.
//! kube-proxy's nftables mode leaves its `kube-proxy` tables (families `ip` and `ip6`).
//!
//! Starting in one mode, [`OtherModesCleanup`] removes the other modes' state once, after
//! the first successful sync: by then the chains both modes share (`KUBE-SERVICES`, ...)
//! hold this mode's rules and no longer reference the other mode's chains or sets, and
//! traffic never goes unproxied in between.

use ipnet::Ipv4Net;
use prometheus_client::metrics::counter::Counter;
use thiserror::Error;
use tracing::{info, warn};

use super::after_sync::AfterSync;
use super::iptables::names::is_owned_chain;
use super::ipvs;
use crate::config::ProxyMode;
use crate::model::ProxyState;
use crate::netfilter::iptables::ruleset::Table;
use crate::netfilter::iptables::runner::CommandRunner;
use crate::netfilter::iptables::runner::{IptablesRunner, RunnerError};
use crate::netfilter::iptables::write::remove_owned;
use crate::nftables::client::{NftError, NftHandle};
use crate::nftables::{Batch, Family, NftMessage, Table as NftTable};

#[derive(Debug, Error)]
pub enum CleanupError {
    #[error("removing iptables rules: {0}")]
    Iptables(#[from] RunnerError),
    #[error(transparent)]
    Ipvs(#[from] ipvs::cleanup::CleanupError),
    #[error("removing nftables tables: {0}")]
    Nftables(#[from] NftError),
}

/// The table kube-proxy's nftables mode programs, in each family it serves.
pub const NFTABLES_TABLE: &str = "kube-proxy";
const NFTABLES_FAMILIES: [Family; 2] = [Family::Ip, Family::Ip6];

/// What was removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub chains_and_jumps: usize,
    pub virtual_servers: usize,
    pub dummy_device: bool,
    pub sets: usize,
    pub nftables_tables: usize,
}

impl Cleaned {
    /// One info line: `what` was removed, and how much of each kind.
    pub fn log(&self, what: &str) {
        info!(
            chains_and_jumps = self.chains_and_jumps,
            virtual_servers = self.virtual_servers,
            dummy_device = self.dummy_device,
            sets = self.sets,
            nftables_tables = self.nftables_tables,
            "removed {what}"
        );
    }
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
        nftables_tables: remove_nftables_tables()?,
    })
}

/// Removes what the modes other than `mode` left: their own iptables chains (not the ones
/// `mode` shares or writes), IPVS mode's virtual servers outside `exclude`, kube-ipvs0 and
/// sets, and nftables mode's tables. Call it once `mode` has synced (see the module doc).
pub fn remove_other_modes(
    runner: &mut (impl IptablesRunner + ?Sized),
    mode: ProxyMode,
    exclude: &[Ipv4Net],
) -> Result<Cleaned, CleanupError> {
    let mut cleaned = Cleaned::default();
    match mode {
        ProxyMode::Iptables => {
            let ipvs_only =
                |t: Table, n: &str| ipvs::rules::is_ipvs_chain(t, n) && !is_owned_chain(t, n);
            cleaned.chains_and_jumps = remove_owned(runner, &ipvs_only, &Counter::default())?;
            let ipvs = ipvs::cleanup::remove_kernel_state(exclude)?;
            cleaned.virtual_servers = ipvs.virtual_servers;
            cleaned.dummy_device = ipvs.dummy_device;
            cleaned.sets = ipvs.sets;
        }
        ProxyMode::Ipvs => {
            let iptables_only =
                |t: Table, n: &str| is_owned_chain(t, n) && !ipvs::rules::is_ipvs_chain(t, n);
            cleaned.chains_and_jumps = remove_owned(runner, &iptables_only, &Counter::default())?;
        }
        ProxyMode::Nftables => {
            // Both other modes' chains, IPVS mode's state; the tables are this mode's own.
            cleaned.chains_and_jumps = remove_chains(runner)?;
            let ipvs = ipvs::cleanup::remove_kernel_state(exclude)?;
            cleaned.virtual_servers = ipvs.virtual_servers;
            cleaned.dummy_device = ipvs.dummy_device;
            cleaned.sets = ipvs.sets;
            return Ok(cleaned);
        }
    }
    cleaned.nftables_tables = remove_nftables_tables()?;
    Ok(cleaned)
}

/// Deletes kube-proxy's nftables tables, in one transaction; returns how many there were.
/// A kernel without nf_tables has none.
pub fn remove_nftables_tables() -> Result<usize, NftError> {
    let mut nft = match NftHandle::new() {
        Ok(nft) => nft,
        Err(e) => {
            info!(error = %e, "no nf_tables here; no nftables tables to remove");
            return Ok(0);
        }
    };
    let mut batch = Batch::new();
    for family in NFTABLES_FAMILIES {
        if nft.tables(family)?.iter().any(|t| t.name == NFTABLES_TABLE) {
            batch.push(NftMessage::DelTable(NftTable::new(family, NFTABLES_TABLE)));
        }
    }
    if !batch.is_empty() {
        nft.commit(&batch)?;
    }
    Ok(batch.len())
}

/// The after-sync step that runs [`remove_other_modes`] after the first successful sync,
/// and again after later syncs until it succeeds once.
pub struct OtherModesCleanup {
    mode: ProxyMode,
    exclude: Vec<Ipv4Net>,
    done: bool,
}

impl OtherModesCleanup {
    pub fn new(mode: ProxyMode, exclude: Vec<Ipv4Net>) -> Self {
        Self {
            mode,
            exclude,
            done: false,
        }
    }
}

impl AfterSync for OtherModesCleanup {
    fn after_sync(&mut self, _state: &ProxyState, _full: bool) {
        if self.done {
            return;
        }
        match remove_other_modes(&mut CommandRunner::default(), self.mode, &self.exclude) {
            Ok(c) => {
                self.done = true;
                if c != Cleaned::default() {
                    c.log("other proxy modes' leftovers");
                }
            }
            Err(e) => {
                warn!(error = %e, "removing other proxy modes' leftovers failed; retrying after the next sync")
            }
        }
    }
}
