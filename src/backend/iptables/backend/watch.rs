//! Whether anyone but kproxy may have written iptables since kproxy last looked, found
//! out in O(1), so that a periodic resync on an idle node reads nothing back (reading
//! 155k chains back costs ~14 CPU-seconds at 10k services: `benches/idle.rs`).
//!
//! * iptables-nft: the rules live in nf_tables, whose namespace-wide generation id every
//!   commit that changes something bumps (`NFT_MSG_GETGEN`: one message, no lock). kproxy
//!   records the generation around each of its own writes. Its restores bump it by at most
//!   one per table section (`*nat` … `COMMIT`: one nf_tables transaction each), so a write
//!   that moved it further, or a generation that moved between kproxy's writes, means
//!   another writer.
//! * iptables-legacy: no such counter. kube-proxy's canary, an empty `KUBE-PROXY-CANARY`
//!   chain in mangle, nat and filter, disappears when the tables are flushed or replaced (a
//!   firewall reload, `iptables -F; iptables -X`); like kube-proxy's monitor, kproxy looks
//!   for it in mangle, the small table (one iptables-save of a table holding little else).
//!   Edits in place of kproxy's chains are not seen that way; the backstop finds them.
//! * Either way, a read-back at least every [`FULL_READ_PERIOD`] (kube-proxy's
//!   `FullSyncPeriod`), for whatever the cheap check cannot see.

use std::sync::Arc;
use std::time::Duration;

use tracing::debug;

use crate::netfilter::iptables::ruleset::{Chain, Table};
use crate::netfilter::iptables::runner::{Flavour, IptablesRunner, RunnerError};
use crate::nftables::client::NftHandle;

pub use crate::backend::iptables::names::KUBE_PROXY_CANARY as CANARY;

/// The longest a resync goes without reading the kernel back, whatever the cheap check
/// says (kube-proxy: `proxyutil.FullSyncPeriod`).
pub const FULL_READ_PERIOD: Duration = Duration::from_secs(3600);

/// The canary chains, one per table: part of every desired ruleset.
pub fn canaries() -> Vec<Arc<Chain>> {
    // kube-proxy's order: mangle first, the table its monitor polls.
    [Table::Mangle, Table::Nat, Table::Filter]
        .into_iter()
        .map(|t| Arc::new(Chain::new(t, CANARY, Vec::<String>::new())))
        .collect()
}

/// The namespace's nf_tables generation (a fake in tests).
pub trait GenerationSource: Send {
    fn generation(&mut self) -> Result<u32, String>;
}

impl GenerationSource for NftHandle {
    fn generation(&mut self) -> Result<u32, String> {
        NftHandle::generation(self).map_err(|e| e.to_string())
    }
}

/// How a backend notices other writers.
pub enum Watch {
    /// iptables-nft: the nf_tables generation.
    Generation(GenerationWatch),
    /// iptables-legacy: the canary chain in mangle.
    Canary,
    /// Nothing cheap to ask (test fakes, or no nf_tables socket): every resync reads back.
    Blind,
}

impl Watch {
    /// The watch for what `runner` drives; the generation socket opens in the calling
    /// thread's network namespace.
    pub fn for_runner(runner: &mut dyn IptablesRunner) -> Self {
        match runner.flavour() {
            Some(Flavour::Nft) => match NftHandle::new() {
                Ok(handle) => Watch::Generation(GenerationWatch::new(Box::new(handle))),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot ask nf_tables for its generation; every resync reads the rules back");
                    Watch::Blind
                }
            },
            Some(Flavour::Legacy) => Watch::Canary,
            None => Watch::Blind,
        }
    }

    /// Just before kproxy writes.
    pub fn before_write(&mut self) {
        if let Watch::Generation(g) = self {
            g.before_write();
        }
    }

    /// Just after kproxy wrote `sections` table sections (or failed to: then what the
    /// kernel holds is unknown anyway and the next sync reads it back).
    pub fn after_write(&mut self, sections: usize) {
        if let Watch::Generation(g) = self {
            g.after_write(sections);
        }
    }

    /// A read-back of the kernel starts now: what it reads is the reference from here on.
    pub fn reading(&mut self) {
        if let Watch::Generation(g) = self {
            g.reading();
        }
    }

    /// Whether the kernel may hold something other than what kproxy last wrote or read.
    pub fn may_have_changed(&mut self, runner: &mut dyn IptablesRunner) -> bool {
        match self {
            Watch::Generation(g) => g.may_have_changed(),
            Watch::Canary => match canary_present(runner) {
                Ok(present) => !present,
                Err(e) => {
                    debug!(error = %e, "cannot look for the canary chain");
                    true
                }
            },
            Watch::Blind => true,
        }
    }
}

/// Whether mangle still has the canary chain.
fn canary_present(runner: &mut dyn IptablesRunner) -> Result<bool, RunnerError> {
    let declaration = format!(":{CANARY} ");
    let mut found = false;
    runner.save_lines(Table::Mangle, &mut |line| {
        found |= line.starts_with(&declaration);
    })?;
    Ok(found)
}

/// The nf_tables generation at which the kernel last held what kproxy knows of it.
pub struct GenerationWatch {
    source: Box<dyn GenerationSource>,
    /// `None`: someone else wrote (or the generation could not be read) since the last
    /// read-back began.
    known: Option<u32>,
    /// The generation just before kproxy's write in progress.
    before: Option<u32>,
}

impl GenerationWatch {
    pub fn new(source: Box<dyn GenerationSource>) -> Self {
        Self {
            source,
            known: None,
            before: None,
        }
    }

    fn now(&mut self) -> Option<u32> {
        self.source
            .generation()
            .inspect_err(|e| debug!(error = %e, "cannot read the nf_tables generation"))
            .ok()
    }

    fn before_write(&mut self) {
        let now = self.now();
        if now != self.known {
            self.known = None;
        }
        self.before = now;
    }

    fn after_write(&mut self, sections: usize) {
        let now = self.now();
        let own = match (self.before.take(), now) {
            // A generation that wraps skips 0 (`Generation::next`): a wrapped write looks
            // one commit longer, and is taken as someone else's (a needless read-back).
            (Some(before), Some(now)) => now.wrapping_sub(before) as usize <= sections,
            _ => false,
        };
        self.known = if own && self.known.is_some() {
            now
        } else {
            None
        };
    }

    fn reading(&mut self) {
        self.known = self.now();
    }

    fn may_have_changed(&mut self) -> bool {
        let Some(known) = self.known else {
            return true;
        };
        self.now() != Some(known)
    }
}

/// Table sections in restore input: the most nf_tables commits it makes.
pub fn sections(input: &str) -> usize {
    input.lines().filter(|l| l.starts_with('*')).count()
}

/// A runner that counts the table sections of the restores it passes on.
pub struct Counting<'a, R: ?Sized> {
    pub inner: &'a mut R,
    pub sections: usize,
}

impl<R: IptablesRunner + ?Sized> IptablesRunner for Counting<'_, R> {
    fn restore(&mut self, input: &str) -> Result<(), RunnerError> {
        self.sections += sections(input);
        self.inner.restore(input)
    }

    fn save(&mut self, table: Table) -> Result<String, RunnerError> {
        self.inner.save(table)
    }

    fn save_lines(&mut self, table: Table, each: &mut dyn FnMut(&str)) -> Result<(), RunnerError> {
        self.inner.save_lines(table, each)
    }

    fn max_chains_per_restore(&mut self) -> Option<usize> {
        self.inner.max_chains_per_restore()
    }

    fn flavour(&mut self) -> Option<Flavour> {
        self.inner.flavour()
    }
}

#[cfg(test)]
mod tests;
