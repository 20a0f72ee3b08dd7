//! Conntrack settings at start, as kube-proxy applies them (`pkg/proxy/conntrack/
//! sysctls.go`): `nf_conntrack_max` from `--conntrack-max-per-core` × CPUs (at least
//! `--conntrack-min`, at most 1Mi) with the hash table grown to a quarter of it, and the
//! TCP and UDP timeouts. A value already right is not written.
//!
//! `/proc/sys/net/netfilter` shows the network namespace of the thread that opens it, so
//! after `--netns` the timeouts land in that namespace. `nf_conntrack_max` and the hash
//! size are global: kernel 6.18 shows `nf_conntrack_max` read-only (0444) in any other
//! namespace, and refuses a hash size from one (`EOPNOTSUPP`). Every failure, a read-only
//! `/proc` or `/sys` included, is a warning, never a reason not to start.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::config::v1alpha1::{Conntrack, GoDuration};

/// kube-proxy's cap on the scaled limit, against excessive memory on many-core machines.
const MAX_LIMIT: u64 = 1 << 20;
const HASHSIZE: &str = "module/nf_conntrack/parameters/hashsize";

/// One `net/netfilter` sysctl and the value wanted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    pub value: u64,
}

/// What applying one setting did.
#[derive(Debug)]
pub enum Outcome {
    Unchanged,
    Written,
    /// Logged as a warning.
    Failed(io::Error),
}

/// `nf_conntrack_max` as kube-proxy computes it; `None` (an unset or non-positive
/// `maxPerCore`) leaves the limit alone.
pub fn conntrack_max(config: &Conntrack, cpus: u64) -> Option<u64> {
    let per_core = u64::try_from(config.max_per_core?)
        .ok()
        .filter(|n| *n > 0)?;
    let floor = config.min.and_then(|m| u64::try_from(m).ok()).unwrap_or(0);
    let scaled = per_core * cpus;
    Some(if scaled > MAX_LIMIT {
        MAX_LIMIT
    } else {
        scaled.max(floor)
    })
}

/// The per-namespace sysctls to set, in kube-proxy's order; zero durations and a false
/// `tcp_be_liberal` are left alone.
pub fn timeouts(config: &Conntrack) -> Vec<Setting> {
    let secs = |d: Option<GoDuration>| d.map_or(0, |d| d.0.as_secs());
    let mut out = Vec::new();
    let mut push = |name, value: u64| {
        if value > 0 {
            out.push(Setting { name, value });
        }
    };
    push(
        "nf_conntrack_tcp_timeout_established",
        secs(config.tcp_established_timeout),
    );
    push(
        "nf_conntrack_tcp_timeout_close_wait",
        secs(config.tcp_close_wait_timeout),
    );
    push(
        "nf_conntrack_tcp_be_liberal",
        u64::from(config.tcp_be_liberal),
    );
    push("nf_conntrack_udp_timeout", secs(Some(config.udp_timeout)));
    push(
        "nf_conntrack_udp_timeout_stream",
        secs(Some(config.udp_stream_timeout)),
    );
    out
}

/// Applies `config` in the calling thread's network namespace, logging each write and
/// each failure; returns what happened to each setting, by file.
pub fn apply(config: &Conntrack) -> Vec<(PathBuf, Outcome)> {
    apply_under(Path::new("/proc/sys"), Path::new("/sys"), config, cpus())
}

/// [`apply`] with the roots of `/proc/sys` and `/sys` given, for tests.
pub fn apply_under(
    proc_sys: &Path,
    sys: &Path,
    config: &Conntrack,
    cpus: u64,
) -> Vec<(PathBuf, Outcome)> {
    let netfilter = proc_sys.join("net/netfilter");
    let mut done = Vec::new();
    if let Some(max) = conntrack_max(config, cpus) {
        let path = netfilter.join("nf_conntrack_max");
        let outcome = ensure(&path, max);
        let max_ok = !matches!(outcome, Outcome::Failed(_));
        done.push((path, outcome));
        // As kube-proxy: the hash table only grows, to a quarter of the limit.
        if max_ok {
            let path = sys.join(HASHSIZE);
            let outcome = match read_number(&path) {
                Ok(size) if size >= max / 4 => Outcome::Unchanged,
                Ok(_) => write(&path, max / 4),
                Err(e) => Outcome::Failed(e),
            };
            done.push((path, outcome));
        }
    }
    for setting in timeouts(config) {
        let path = netfilter.join(setting.name);
        let outcome = ensure(&path, setting.value);
        done.push((path, outcome));
    }
    for (path, outcome) in &done {
        match outcome {
            Outcome::Unchanged => {}
            Outcome::Written => info!(path = %path.display(), "set conntrack setting"),
            Outcome::Failed(e) => warn!(
                path = %path.display(),
                error = %e,
                "cannot apply conntrack setting (read-only /proc or /sys, or not the host's network namespace); problems may arise later"
            ),
        }
    }
    done
}

/// Writes `value` unless the file already holds it.
fn ensure(path: &Path, value: u64) -> Outcome {
    match read_number(path) {
        Ok(current) if current == value => Outcome::Unchanged,
        Ok(_) => write(path, value),
        Err(e) => Outcome::Failed(e),
    }
}

fn write(path: &Path, value: u64) -> Outcome {
    match fs::write(path, value.to_string()) {
        Ok(()) => Outcome::Written,
        Err(e) => Outcome::Failed(e),
    }
}

fn read_number(path: &Path) -> io::Result<u64> {
    let text = fs::read_to_string(path)?;
    text.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{text:?}: {e}")))
}

/// The machine's CPUs, as kube-proxy counts them: from sysfs (not the process's affinity,
/// which a container's cpuset narrows), else what the process may use.
fn cpus() -> u64 {
    fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| count_cpus(&s))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64))
}

/// Counts a CPU list such as `0-3,6,8-9`.
fn count_cpus(list: &str) -> Option<u64> {
    let mut n = 0;
    for part in list.trim().split(',') {
        n += match part.split_once('-') {
            Some((a, b)) => b.parse::<u64>().ok()?.checked_sub(a.parse().ok()?)? + 1,
            None => {
                part.parse::<u64>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

#[cfg(test)]
mod tests;
