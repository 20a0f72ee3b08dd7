//! Timing helpers: an [`IptablesRunner`] that times the tools it runs, and percentiles.

use std::time::{Duration, Instant};

use kproxy::netfilter::iptables::ruleset::Table;
use kproxy::netfilter::iptables::runner::{CommandRunner, IptablesRunner, RunnerError};

/// Wraps the real runner and records how long each tool call took, so a sync's time splits
/// into kproxy's own work and the time inside iptables-restore / iptables-save.
pub struct TimedRunner {
    inner: CommandRunner,
    pub restore: Duration,
    pub save: Duration,
    pub restore_bytes: usize,
    pub restores: usize,
}

impl TimedRunner {
    pub fn new(inner: CommandRunner) -> Self {
        Self {
            inner,
            restore: Duration::ZERO,
            save: Duration::ZERO,
            restore_bytes: 0,
            restores: 0,
        }
    }

    /// Clears the counters; call before each timed sync.
    pub fn reset(&mut self) {
        self.restore = Duration::ZERO;
        self.save = Duration::ZERO;
        self.restore_bytes = 0;
        self.restores = 0;
    }
}

impl IptablesRunner for TimedRunner {
    fn restore(&mut self, input: &str) -> Result<(), RunnerError> {
        let started = Instant::now();
        let result = self.inner.restore(input);
        self.restore += started.elapsed();
        self.restore_bytes += input.len();
        self.restores += 1;
        result
    }

    fn max_chains_per_restore(&mut self) -> Option<usize> {
        self.inner.max_chains_per_restore()
    }

    fn save(&mut self, table: Table) -> Result<String, RunnerError> {
        let started = Instant::now();
        let result = self.inner.save(table);
        self.save += started.elapsed();
        result
    }
}

/// The `p`-th percentile (0–100) of `values`, nearest-rank; `None` when empty.
pub fn percentile(values: &[Duration], p: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub fn median(values: &[Duration]) -> Duration {
    percentile(values, 50.0).unwrap_or_default()
}

/// Seconds with three decimals, or milliseconds below one second.
pub fn fmt(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}
