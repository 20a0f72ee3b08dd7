//! Where one sync's time and kernel requests went, phase by phase: for the debug log, and
//! for the benchmarks (docs/benchmarks-ipvs.md), which compare each phase with the bare
//! tool that does the same work (`ipvsadm -R`, `ipset restore`, `ip -batch`).

use std::time::{Duration, Instant};

/// One phase of a sync: how long it took and how many kernel requests it made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Phase {
    pub time: Duration,
    /// Objects written (set members, addresses, chains, IPVS operations); for
    /// [`SyncBreakdown::ipvs_read`], the dump requests sent.
    pub ops: usize,
}

impl Phase {
    /// The phase that started at `started` and made `ops` requests.
    pub fn since(started: Instant, ops: usize) -> Self {
        Self {
            time: started.elapsed(),
            ops,
        }
    }
}

/// The phases of the last sync. Phases a sync skips stay zero (a partial sync neither
/// prepares, nor reads the kernel, nor touches iptables).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncBreakdown {
    /// Sysctls, the kube-ipvs0 lookup and this node's addresses; `ops` are writes.
    pub prepare: Phase,
    /// The pure compile: every service on a full sync, the dirty ones on a partial one
    /// (plus assembling the whole desired state from the cached plans).
    pub compile: Duration,
    /// ipset members added and deleted.
    pub sets: Phase,
    /// The constant iptables rules: read with iptables-save, written when they differ.
    pub iptables: Phase,
    /// kube-ipvs0 addresses bound and unbound.
    pub addresses: Phase,
    /// Dumping the kernel's virtual servers and their destinations.
    pub ipvs_read: Phase,
    /// Diffing virtual servers and sending the IPVS operations.
    pub ipvs_write: Phase,
    /// The whole sync.
    pub total: Duration,
}

impl SyncBreakdown {
    /// Time not in any phase (bookkeeping between them).
    pub fn other(&self) -> Duration {
        let phases = self.prepare.time
            + self.compile
            + self.sets.time
            + self.iptables.time
            + self.addresses.time
            + self.ipvs_read.time
            + self.ipvs_write.time;
        self.total.saturating_sub(phases)
    }
}
