//! IPVS mode's [`Backend`]: compile, compare with the kernel, write only the differences —
//! ipset members, the constant iptables rules, kube-ipvs0 addresses and IPVS virtual and
//! real servers — and drain removed destinations before deleting them.
//!
//! A full sync (and the first) reads everything back from the kernel; a partial sync
//! compiles the dirty services only and diffs their virtual servers against what the last
//! sync left (remembered), so a one-endpoint change sends exactly the operations it needs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use tracing::{debug, info, warn};

use super::apply::{Draining, apply_ops};
use super::breakdown::{Phase, SyncBreakdown};
use super::compile::{CompileOptions, Compiled, Compiler, Desired};
use super::diff::{ActualVs, Counts, Known, diff_vs};
use super::kernel::{Handles, IpvsKernel};
use super::link::DUMMY_DEVICE;
use super::netlink::{ServiceKey, Timeouts};
use super::rules::{RuleOptions, is_owned, ruleset};
use super::sets::IpvsSet;
use crate::backend::{Backend, SyncError, SyncReport};
use crate::ipset::{Entry, sync_set};
use crate::metrics::Metrics;
use crate::model::{PendingChanges, ProxyState};
use crate::netfilter::iptables::plan::Plan;
use crate::netfilter::iptables::read_back::read_kernel_owned;
use crate::netfilter::iptables::ruleset::Ruleset;
use crate::netfilter::iptables::runner::IptablesRunner;
use crate::netfilter::iptables::write::write_plan;

/// Everything the flags say about IPVS mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpvsOptions {
    pub compile: CompileOptions,
    pub rules: RuleOptions,
    /// `--ipvs-exclude-cidrs`: virtual servers there are never deleted.
    pub exclude_cidrs: Vec<Ipv4Net>,
    pub strict_arp: bool,
    /// `--ipvs-tcp-timeout` and friends in seconds; 0 leaves the kernel's value.
    pub timeouts: Timeouts,
    /// How often draining destinations are checked between syncs.
    pub drain_check: Duration,
    /// How long a destination may drain before it is deleted with connections left
    /// (kube-proxy's graceful termination period).
    pub drain_timeout: Duration,
}

impl Default for IpvsOptions {
    fn default() -> Self {
        Self {
            compile: CompileOptions::default(),
            rules: RuleOptions {
                masquerade_all: false,
                masquerade_bit: 14,
                local_traffic: crate::model::LocalTraffic::Unknown,
            },
            exclude_cidrs: Vec::new(),
            strict_arp: false,
            timeouts: Timeouts::default(),
            drain_check: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// What the last sync left in the kernel.
struct KnownState {
    vs: Known,
    /// Addresses bound to kube-ipvs0.
    addresses: BTreeSet<Ipv4Addr>,
    sets: BTreeMap<IpvsSet, BTreeSet<Entry>>,
    dummy_index: u32,
}

/// IPVS mode's executor over a kernel `K` ([`Handles`], or a fake in tests) and an
/// iptables runner `R`.
pub struct IpvsBackend<R, K = Handles> {
    options: IpvsOptions,
    compiler: Compiler,
    rules: Ruleset,
    kernel: K,
    iptables: R,
    /// `None` when unknown (at start-up, after a failure): the next sync is full.
    known: Option<KnownState>,
    draining: Draining,
    /// Whether the one-time settings (IPVS timeouts) were written.
    initialized: bool,
    metrics: Metrics,
    /// Where the last sync's time went.
    breakdown: SyncBreakdown,
}

impl<R: IptablesRunner, K: IpvsKernel> IpvsBackend<R, K> {
    /// A backend on an already opened kernel. Touches nothing until the first sync.
    pub fn new(options: IpvsOptions, kernel: K, iptables: R, metrics: Metrics) -> Self {
        Self {
            compiler: Compiler::new(options.compile.clone()),
            rules: ruleset(&options.rules),
            options,
            kernel,
            iptables,
            known: None,
            draining: Draining::default(),
            initialized: false,
            metrics,
            breakdown: SyncBreakdown::default(),
        }
    }

    /// Where the last sync's time and kernel requests went, phase by phase.
    pub fn last_breakdown(&self) -> &SyncBreakdown {
        &self.breakdown
    }

    /// IPVS netlink requests sent so far (writes and dumps), from the handle's counter.
    pub fn ipvs_operations(&self) -> u64 {
        self.kernel.ipvs_requests()
    }

    /// The kernel the backend talks to.
    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    pub fn kernel_mut(&mut self) -> &mut K {
        &mut self.kernel
    }

    pub fn iptables_mut(&mut self) -> &mut R {
        &mut self.iptables
    }

    /// How many destinations are draining now.
    pub fn draining(&self) -> usize {
        self.draining.len()
    }

    /// Settings, kube-ipvs0 and this node's addresses; returns (kube-ipvs0 index, addresses
    /// bound to it, writes).
    fn prepare(&mut self) -> Result<(u32, BTreeSet<Ipv4Addr>, usize), SyncError> {
        let mut written = self
            .kernel
            .ensure_sysctls(self.options.strict_arp)
            .map_err(SyncError::Sysctl)?;
        if !self.initialized {
            let t = self.options.timeouts;
            if t.tcp != 0 || t.tcp_fin != 0 || t.udp != 0 {
                self.kernel.set_timeouts(&t).map_err(SyncError::Ipvs)?;
                written += 1;
            }
            self.initialized = true;
        }
        let link = &mut self.kernel;
        let (index, created) = link.ensure_dummy(DUMMY_DEVICE).map_err(SyncError::Link)?;
        if created {
            info!(
                device = DUMMY_DEVICE,
                "created the dummy interface for service addresses"
            );
            written += 1;
        }
        let mut bound = BTreeSet::new();
        let mut local = Vec::new();
        for a in link.addresses().map_err(SyncError::Link)? {
            if a.index == index {
                bound.insert(a.addr);
            } else {
                local.push(a.addr);
            }
        }
        self.compiler.set_local_addresses(&local);
        Ok((index, bound, written))
    }

    fn full_sync(&mut self, state: &ProxyState) -> Result<SyncReport, SyncError> {
        self.known = None;
        let started = Instant::now();
        let (dummy_index, bound, mut written) = self.prepare()?;
        self.breakdown.prepare = Phase::since(started, written);
        let started = Instant::now();
        let Compiled { desired, .. } = self.compiler.compile_all(state);
        self.breakdown.compile = started.elapsed();

        // Sets before the rules that match them.
        let started = Instant::now();
        let mut set_ops = 0;
        for (set, entries) in &desired.sets {
            let changes = sync_set(&mut self.kernel, set.name(), &set.set_type(), entries)
                .map_err(|source| SyncError::Ipset {
                    set: set.name(),
                    source,
                })?;
            set_ops += changes.operations();
        }
        self.breakdown.sets = Phase::since(started, set_ops);
        let started = Instant::now();
        let chains = self.sync_iptables()?;
        self.breakdown.iptables = Phase::since(started, chains);
        written += set_ops + chains;

        let mut known = KnownState {
            vs: Known::new(),
            addresses: bound,
            sets: desired.sets.clone(),
            dummy_index,
        };
        let started = Instant::now();
        let bound = self.bind(&mut known, &desired)?;
        self.breakdown.addresses = Phase::since(started, bound);
        written += bound;

        let started = Instant::now();
        let exclude = &self.options.exclude_cidrs;
        let ipvs = &mut self.kernel;
        let dumps = ipvs.ipvs_requests();
        let mut keys: BTreeSet<ServiceKey> = desired.virtual_servers.keys().copied().collect();
        for svc in ipvs.services().map_err(SyncError::Ipvs)? {
            let key = svc.key();
            if !desired.virtual_servers.contains_key(&key)
                && exclude.iter().any(|n| n.contains(&key.addr))
            {
                continue;
            }
            let dests = ipvs.destinations(&key).map_err(SyncError::Ipvs)?;
            known.vs.insert(key, ActualVs::new(svc, dests));
            keys.insert(key);
        }
        let dumps = usize::try_from(ipvs.ipvs_requests() - dumps).unwrap_or(usize::MAX);
        self.breakdown.ipvs_read = Phase::since(started, dumps);
        let started = Instant::now();
        let mut ops = Vec::new();
        for key in &keys {
            diff_vs(
                desired.virtual_servers.get(key).map(AsRef::as_ref),
                known.vs.get(key),
                Counts::Fresh,
                &mut ops,
            );
        }
        let applied = apply_ops(ipvs, &mut known.vs, ops);
        written += applied.written;
        if !applied.failed.is_empty() {
            // Retried at the next full sync; a bad object must not make every sync fail.
            warn!(
                failed = applied.failed.len(),
                "IPVS refused some operations; they are retried at the next full sync"
            );
        }
        self.draining.forget_all();
        self.draining
            .refresh(keys, &known.vs, &desired, Instant::now());
        self.breakdown.ipvs_write = Phase::since(started, applied.written);
        self.finish(known, &desired, written, true)
    }

    fn partial_sync(
        &mut self,
        state: &ProxyState,
        changes: &PendingChanges,
        mut known: KnownState,
    ) -> Result<SyncReport, SyncError> {
        let started = Instant::now();
        let Compiled { desired, touched } = self.compiler.compile(state, &changes.dirty);
        self.breakdown.compile = started.elapsed();
        let keys: BTreeSet<ServiceKey> = match touched {
            Some(keys) => keys,
            // The compiler fell back to a full compile (node addresses changed).
            None => desired
                .virtual_servers
                .keys()
                .chain(known.vs.keys())
                .copied()
                .collect(),
        };
        let started = Instant::now();
        let set_ops = self.update_sets(&mut known, &desired)?;
        self.breakdown.sets = Phase::since(started, set_ops);
        let started = Instant::now();
        let bound = self.bind(&mut known, &desired)?;
        self.breakdown.addresses = Phase::since(started, bound);
        let mut written = set_ops + bound;
        let started = Instant::now();
        let mut ops = Vec::new();
        for key in &keys {
            diff_vs(
                desired.virtual_servers.get(key).map(AsRef::as_ref),
                known.vs.get(key),
                Counts::Stale,
                &mut ops,
            );
        }
        let mut applied = apply_ops(&mut self.kernel, &mut known.vs, ops);
        written += applied.written;
        if !applied.failed.is_empty() {
            // The kernel differs from what kproxy remembers: the retry is a full sync.
            let refused = applied.failed.len();
            let (op, source) = applied.failed.swap_remove(0);
            return Err(SyncError::IpvsRefused {
                op: op.to_string(),
                refused,
                source,
            });
        }
        self.draining
            .refresh(keys, &known.vs, &desired, Instant::now());
        self.breakdown.ipvs_write = Phase::since(started, applied.written);
        self.finish(known, &desired, written, false)
    }

    /// The last step of every sync: unbind addresses no service uses any more (after the
    /// virtual servers on them are gone), and remember what the kernel now holds.
    fn finish(
        &mut self,
        mut known: KnownState,
        desired: &Desired,
        written: usize,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        let started = Instant::now();
        let unbound = self.unbind(&mut known, desired)?;
        self.breakdown.addresses.time += started.elapsed();
        self.breakdown.addresses.ops += unbound;
        self.known = Some(known);
        Ok(SyncReport {
            full,
            objects_written: written + unbound,
        })
    }

    /// Writes the iptables chains that differ from the kernel's; returns how many.
    fn sync_iptables(&mut self) -> Result<usize, SyncError> {
        let (chains, jumps) =
            read_kernel_owned(&mut self.iptables, &is_owned).map_err(SyncError::Read)?;
        let plan = Plan::new(&self.rules, &chains, Some(&jumps));
        write_plan(&mut self.iptables, &plan, &[&self.metrics.restore_failures])
            .map_err(SyncError::Restore)
    }

    /// Brings the sets from what the last sync wrote to `desired`, member by member.
    fn update_sets(
        &mut self,
        known: &mut KnownState,
        desired: &Desired,
    ) -> Result<usize, SyncError> {
        let mut written = 0;
        for (set, want) in &desired.sets {
            let have = known.sets.entry(*set).or_default();
            let del: Vec<Entry> = have.difference(want).copied().collect();
            let add: Vec<Entry> = want.difference(have).copied().collect();
            let ipset = &mut self.kernel;
            let fail = |source| SyncError::Ipset {
                set: set.name(),
                source,
            };
            if !del.is_empty() {
                ipset.del_all(set.name(), &del).map_err(fail)?;
            }
            if !add.is_empty() {
                ipset.add_all(set.name(), &add).map_err(fail)?;
            }
            written += del.len() + add.len();
            *have = want.clone();
        }
        Ok(written)
    }

    /// Binds the desired service addresses missing on kube-ipvs0.
    fn bind(&mut self, known: &mut KnownState, desired: &Desired) -> Result<usize, SyncError> {
        let mut written = 0;
        for addr in desired.addresses.difference(&known.addresses.clone()) {
            self.kernel
                .add_address(known.dummy_index, *addr)
                .map_err(SyncError::Link)?;
            known.addresses.insert(*addr);
            written += 1;
        }
        Ok(written)
    }

    /// Unbinds addresses no service has any more (after their virtual servers are gone),
    /// except those in `--ipvs-exclude-cidrs`, which belong to someone else.
    fn unbind(&mut self, known: &mut KnownState, desired: &Desired) -> Result<usize, SyncError> {
        let exclude = &self.options.exclude_cidrs;
        let stale: Vec<Ipv4Addr> = known
            .addresses
            .difference(&desired.addresses)
            .filter(|a| !exclude.iter().any(|n| n.contains(*a)))
            .copied()
            .collect();
        for addr in &stale {
            self.kernel
                .del_address(known.dummy_index, *addr)
                .map_err(SyncError::Link)?;
            known.addresses.remove(addr);
        }
        Ok(stale.len())
    }
}

impl<R: IptablesRunner, K: IpvsKernel> Backend for IpvsBackend<R, K> {
    fn sync(
        &mut self,
        state: &ProxyState,
        changes: &PendingChanges,
        full: bool,
    ) -> Result<SyncReport, SyncError> {
        let started = Instant::now();
        self.breakdown = SyncBreakdown::default();
        let result = match self.known.take() {
            Some(known) if !full => self.partial_sync(state, changes, known),
            _ => self.full_sync(state),
        };
        self.breakdown.total = started.elapsed();
        if result.is_err() {
            self.known = None;
        }
        if let Ok(report) = &result {
            let b = &self.breakdown;
            debug!(
                full = report.full,
                written = report.objects_written,
                draining = self.draining.len(),
                compile = ?b.compile,
                sets = ?b.sets.time,
                iptables = ?b.iptables.time,
                addresses = ?b.addresses.time,
                ipvs_read = ?b.ipvs_read.time,
                ipvs_write = ?b.ipvs_write.time,
                "ipvs sync"
            );
        }
        result
    }

    fn next_wakeup(&self) -> Option<Duration> {
        (!self.draining.is_empty()).then_some(self.options.drain_check)
    }

    /// Deletes the draining destinations whose connections have ended.
    fn wakeup(&mut self) -> Result<SyncReport, SyncError> {
        let Some(known) = self.known.as_mut() else {
            return Ok(SyncReport::default());
        };
        let checked = self.draining.check(
            &mut self.kernel,
            &mut known.vs,
            self.options.drain_timeout,
            Instant::now(),
        );
        match checked {
            Ok(written) => Ok(SyncReport {
                full: false,
                objects_written: written,
            }),
            Err(e) => {
                self.known = None;
                Err(SyncError::Ipvs(e))
            }
        }
    }
}

#[cfg(test)]
mod tests;
