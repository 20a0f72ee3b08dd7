//! Waiting for a quiet machine before a measurement, so that it does not start while the
//! kernel still tears down the last namespace's rules (in a kernel worker).

use std::time::{Duration, Instant};

/// Waits (at most `limit`) until the machine is mostly idle (under 25% busy) over a 500 ms
/// window. Returns the busy share of the last window (0–1), for the report.
pub fn wait_for_quiet(limit: Duration) -> f64 {
    wait_for_busy_below(limit, Duration::from_millis(500), 0.25)
}

/// Measures the busy share over successive `window`s until one is below `max_busy` or
/// `limit` has passed. Returns the last share.
pub fn wait_for_busy_below(limit: Duration, window: Duration, max_busy: f64) -> f64 {
    let deadline = Instant::now() + limit;
    loop {
        let busy = busy_share(window);
        if busy < max_busy || Instant::now() >= deadline {
            return busy;
        }
    }
}

/// The share of CPU time spent busy, over all cores, during `window`.
pub fn busy_share(window: Duration) -> f64 {
    let a = cpu_times();
    std::thread::sleep(window);
    let b = cpu_times();
    let total = b.0.saturating_sub(a.0) as f64;
    if total <= 0.0 {
        return 0.0;
    }
    1.0 - b.1.saturating_sub(a.1) as f64 / total
}

/// (total, idle + iowait) jiffies from /proc/stat.
fn cpu_times() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total, idle)
}
