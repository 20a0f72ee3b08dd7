//! The periodic resync's read-back, on a thread of its own.
//!
//! Reading 155k chains back with `iptables-save` takes 10 s and more at 10k services. Done on
//! the sync path, it held up every change that arrived meanwhile (p99 event-to-kernel 14.7 s
//! with a 30 s sync period). Instead the resync starts this check and returns; partial syncs
//! go on, and the chains they touch are remembered, because the read-back may have seen them
//! before or after the write. When the check is done, the kernel's view is the read-back with
//! the touched chains as last written, and a backend wakeup repairs what differs.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::netfilter::iptables::plan::{ChainMap, JumpMap};
use crate::netfilter::iptables::read_back::read_kernel_against;
use crate::netfilter::iptables::ruleset::{Chain, Table};
use crate::netfilter::iptables::runner::{IptablesRunner, RunnerError};

/// How often the sync loop asks whether a check is done.
pub const POLL: Duration = Duration::from_millis(100);

pub struct DriftCheck {
    thread: JoinHandle<Result<(ChainMap, JumpMap), RunnerError>>,
    /// Chains written or deleted since the check started.
    touched: HashSet<(Table, String)>,
    started: Instant,
}

impl DriftCheck {
    /// Starts reading the kernel with `reader`, comparing with `expected` (what kproxy last
    /// wrote) on the chains `owns` names, or returns `None` when no thread could be started.
    pub fn start(
        mut reader: Box<dyn IptablesRunner>,
        expected: Vec<Arc<Chain>>,
        owns: fn(Table, &str) -> bool,
    ) -> Option<Self> {
        let thread = std::thread::Builder::new()
            .name("drift-check".into())
            .spawn(move || read_kernel_against(&mut *reader, &expected, &owns))
            .ok()?;
        Some(Self {
            thread,
            touched: HashSet::new(),
            started: Instant::now(),
        })
    }

    /// Records chains a sync wrote or deleted while the check ran.
    pub fn touch<'a>(&mut self, chains: impl IntoIterator<Item = (Table, &'a str)>) {
        self.touched
            .extend(chains.into_iter().map(|(t, n)| (t, n.to_string())));
    }

    pub fn is_done(&self) -> bool {
        self.thread.is_finished()
    }

    /// The kernel as it is now, given `written` (kproxy's chains as last written): the
    /// read-back, with every chain touched since the check started taken from `written`.
    pub fn finish(self, written: &ChainMap) -> Result<(ChainMap, JumpMap, Duration), RunnerError> {
        let (mut chains, jumps) = self.thread.join().unwrap_or_else(|_| {
            Err(RunnerError::Spawn {
                program: "iptables-save".into(),
                reason: "the drift check's thread panicked".into(),
            })
        })?;
        for (table, name) in self.touched {
            match written.get(table, &name) {
                Some(chain) => chains.insert(Arc::clone(chain)),
                None => chains.remove(table, &name),
            };
        }
        Ok((chains, jumps, self.started.elapsed()))
    }
}
