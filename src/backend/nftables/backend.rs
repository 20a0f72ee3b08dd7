//! The executor: the only part of nftables mode that talks to the kernel.
//!
//! * First sync (and after any failure): read the generation, read kproxy's table back,
//!   diff everything against the desired table, send the difference (nothing when the
//!   kernel already holds it; the table is never flushed, so affinity entries survive a
//!   restart).
//! * Partial sync: diff only what the changed services touched, against the mirror of
//!   what kproxy last wrote.
//! * Periodic resync: one `NFT_MSG_GETGEN`; the same generation as kproxy's last write
//!   proves nobody changed anything, so nothing is read. Another generation: read back
//!   and repair.
//! * Every batch carries the generation its diff was computed against
//!   (`NFNL_BATCH_GENID`): a concurrent writer makes the kernel refuse it whole
//!   (`ERESTART`), and the sync reads back and recomputes.

use std::collections::BTreeMap;

use tracing::{debug, info, warn};

use super::lower::FAMILY;
use super::names::TABLE;
use super::plan::plan;
use super::state::{Mirror, element_digest, rules_digest};
use super::{Compiler, Options};
use crate::backend::{Backend, SyncError, SyncReport};
use crate::metrics::Metrics;
use crate::model::{PendingChanges, ProxyState};
use crate::nftables::client::{NftError, NftHandle};
use crate::nftables::{Batch, Rule, set_flags};

/// Commits refused for a stale generation that a sync retries before it gives up (and
/// the sync loop retries it as a full sync).
const MAX_ATTEMPTS: usize = 4;
/// Read-backs tried before one sees a generation that stayed put while it ran.
const MAX_READS: usize = 4;

/// What the executor needs from the kernel: a contract per method, so a fake can stand in.
pub trait NftKernel: Send {
    /// The namespace's ruleset generation (one message).
    fn generation(&mut self) -> Result<u32, NftError>;
    /// kproxy's table as the kernel holds it (empty when there is none).
    fn read_back(&mut self) -> Result<Mirror, NftError>;
    /// Commits the batch; returns the generation it produced.
    fn commit(&mut self, batch: &Batch) -> Result<u32, NftError>;
}

impl NftKernel for NftHandle {
    fn generation(&mut self) -> Result<u32, NftError> {
        NftHandle::generation(self)
    }

    fn read_back(&mut self) -> Result<Mirror, NftError> {
        read_back(self)
    }

    fn commit(&mut self, batch: &Batch) -> Result<u32, NftError> {
        let c = NftHandle::commit(self, batch)?;
        Ok(c.expected_generation.unwrap_or(c.generation))
    }
}

/// Reads table `ip kube-proxy` into a [`Mirror`]: chains with the digest of their rules,
/// the static sets' definitions and elements (dynamic and anonymous sets are the
/// kernel's and the rules' own, and are left out).
pub fn read_back(nft: &mut NftHandle) -> Result<Mirror, NftError> {
    if !nft.tables(FAMILY)?.iter().any(|t| t.name == TABLE) {
        return Ok(Mirror::default());
    }
    let mut rules: BTreeMap<String, Vec<Rule>> = BTreeMap::new();
    for r in nft.rules(FAMILY, TABLE, None)? {
        rules.entry(r.chain.clone()).or_default().push(r);
    }
    let mut m = Mirror {
        table: true,
        ..Mirror::default()
    };
    for c in nft.chains(FAMILY, TABLE)? {
        let digest = rules_digest(rules.get(&c.name).map_or(&[][..], Vec::as_slice));
        m.chains.insert(c.name.clone(), (c.normalized(), digest));
    }
    for s in nft.sets(FAMILY, TABLE)? {
        if s.has_flag(set_flags::ANONYMOUS) {
            continue;
        }
        if !s.has_flag(set_flags::EVAL) {
            let elements = nft.elements(FAMILY, TABLE, &s.name)?;
            let elements = elements
                .into_iter()
                .map(|e| (e.key.clone().unwrap_or_default(), element_digest(&e)))
                .collect();
            m.elements.insert(s.name.clone(), elements);
        }
        m.sets.insert(s.name.clone(), s.normalized());
    }
    Ok(m)
}

pub struct NftablesBackend<K> {
    compiler: Compiler,
    kernel: K,
    metrics: Metrics,
    /// What the kernel holds as of `generation`; `None` until read (or after a failure).
    mirror: Option<Mirror>,
    /// The generation right after kproxy's last write (or the one it last read at).
    generation: Option<u32>,
}

impl<K: NftKernel> NftablesBackend<K> {
    pub fn new(options: Options, kernel: K, metrics: Metrics) -> Self {
        Self {
            compiler: Compiler::new(options),
            kernel,
            metrics,
            mirror: None,
            generation: None,
        }
    }

    pub fn kernel_mut(&mut self) -> &mut K {
        &mut self.kernel
    }

    /// Reads the kernel back at a generation that did not move while reading.
    fn reload(&mut self) -> Result<(), NftError> {
        let mut last = None;
        for _ in 0..MAX_READS {
            let before = self.kernel.generation()?;
            let mirror = self.kernel.read_back()?;
            if self.kernel.generation()? == before {
                self.mirror = Some(mirror);
                self.generation = Some(before);
                return Ok(());
            }
            last = Some(before);
        }
        debug!(generation = ?last, "the ruleset kept changing during read-back");
        Err(NftError::DumpInterrupted {
            op: "read back kube-proxy table",
        })
    }
}

impl<K: NftKernel> Backend for NftablesBackend<K> {
    fn sync(
        &mut self,
        state: &ProxyState,
        changes: &PendingChanges,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        let mut compare_all = full || self.mirror.is_none();
        let changed = (!compare_all).then_some(&changes.dirty);
        let touched = self.compiler.update(state, changed);
        if full && self.mirror.is_some() {
            let now = self.kernel.generation().map_err(SyncError::Nftables)?;
            if Some(now) != self.generation {
                info!(
                    generation = now,
                    last_written = ?self.generation,
                    "another process changed nf_tables since kproxy's last write; reading back"
                );
                self.mirror = None;
            } else {
                // Nothing changed in the kernel: only what the state changed.
                compare_all = false;
            }
        }
        for _ in 0..MAX_ATTEMPTS {
            let repairing = self.mirror.is_none() && self.generation.is_some();
            if self.mirror.is_none() {
                self.reload().map_err(SyncError::Nftables)?;
                compare_all = true;
            }
            let mirror = self.mirror.as_mut().expect("loaded above");
            let scope = (!compare_all).then_some(&touched);
            let messages = plan(self.compiler.desired(), mirror, scope);
            if messages.is_empty() {
                return Ok(SyncReport {
                    full: compare_all,
                    objects_written: 0,
                });
            }
            let genid = self.generation.expect("known once the mirror is");
            let mut batch = Batch::new().with_genid(genid);
            let written = messages.len();
            for m in messages {
                batch.push(m);
            }
            match self.kernel.commit(&batch) {
                Ok(generation) => {
                    mirror.copy(self.compiler.desired(), scope);
                    self.generation = Some(generation);
                    if repairing {
                        self.metrics.drift_repairs.inc();
                        info!(messages = written, "repaired table ip kube-proxy");
                    }
                    return Ok(SyncReport {
                        full: compare_all,
                        objects_written: written,
                    });
                }
                Err(NftError::GenerationChanged { committed_parts: 0 }) => {
                    debug!(
                        "the ruleset generation moved under the sync; reading back and retrying"
                    );
                    self.mirror = None;
                }
                Err(e) => {
                    warn!(error = %e, "nftables sync failed; the next sync reads the kernel back");
                    self.mirror = None;
                    return Err(SyncError::Nftables(e));
                }
            }
        }
        self.mirror = None;
        Err(SyncError::Nftables(NftError::GenerationChanged {
            committed_parts: 0,
        }))
    }
}
