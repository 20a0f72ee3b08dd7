//! The `process_*` metrics Go's client exposes for every Kubernetes component (from
//! /proc/self), and `kubernetes_build_info`; computed at each scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// What /proc says about this process; `None` where it cannot be read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub virtual_memory_bytes: Option<f64>,
    pub virtual_memory_max_bytes: Option<f64>,
    pub resident_memory_bytes: Option<f64>,
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Reads /proc/self (and /proc/stat for the boot time).
    pub fn read() -> Self {
        let tick = clock_ticks_per_second();
        let page = page_size();
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let fields = stat.as_deref().map(stat_fields).unwrap_or_default();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        let boot_time = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        // Field numbers of proc(5), counted from 1: utime 14, stime 15, starttime 22,
        // vsize 23, rss 24.
        Self {
            cpu_seconds: field(14).zip(field(15)).map(|(u, s)| (u + s) / tick),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as f64),
            max_fds: soft_limit(&limits, "Max open files"),
            virtual_memory_bytes: field(23),
            virtual_memory_max_bytes: soft_limit(&limits, "Max address space"),
            resident_memory_bytes: field(24).map(|pages| pages * page),
            start_time_seconds: field(22).zip(boot_time).map(|(t, boot)| boot + t / tick),
        }
    }
}

/// `/proc/self/stat` split into fields numbered from 1 (index 0 unused); the command name
/// in parentheses may hold spaces, so fields after it are counted from its `)`.
fn stat_fields(stat: &str) -> Vec<String> {
    let Some(close) = stat.rfind(')') else {
        return Vec::new();
    };
    let mut out = vec![String::new(), String::new(), String::new()];
    out.extend(stat[close + 1..].split_whitespace().map(String::from));
    out
}

/// A soft limit from /proc/self/limits; "unlimited" as the largest value, as Go reports.
fn soft_limit(limits: &str, name: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    let soft = line[name.len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        Some(u64::MAX as f64)
    } else {
        soft.parse().ok()
    }
}

fn clock_ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

fn page_size() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096.0, |p| p as f64)
}

#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = ProcessStats::read();
        if let Some(v) = s.cpu_seconds {
            let m = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(v).encode(m)?;
        }
        for (name, help, value) in [
            (
                "process_open_fds",
                "Number of open file descriptors.",
                s.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                s.max_fds,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                s.virtual_memory_bytes,
            ),
            (
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
                s.virtual_memory_max_bytes,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                s.resident_memory_bytes,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                s.start_time_seconds,
            ),
        ] {
            if let Some(v) = value {
                let m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                ConstGauge::new(v).encode(m)?;
            }
        }
        Ok(())
    }
}

/// `kubernetes_build_info`, with kube-proxy's label names; `major`/`minor` are those of
/// the kube-proxy release kproxy follows, `git_version` says it is kproxy.
#[derive(Debug)]
pub struct BuildInfo;

impl BuildInfo {
    pub fn labels() -> Vec<(&'static str, String)> {
        let (major, minor) = kube_proxy_major_minor();
        vec![
            ("build_date", String::new()),
            ("compiler", "rustc".into()),
            ("git_commit", String::new()),
            ("git_tree_state", String::new()),
            (
                "git_version",
                format!(
                    "{}-kproxy.{}",
                    crate::config::KUBE_PROXY_VERSION,
                    env!("CARGO_PKG_VERSION")
                ),
            ),
            ("go_version", String::new()),
            ("major", major),
            ("minor", minor),
            (
                "platform",
                format!("{}/{}", std::env::consts::OS, go_arch()),
            ),
        ]
    }
}

fn kube_proxy_major_minor() -> (String, String) {
    let v = crate::config::KUBE_PROXY_VERSION.trim_start_matches('v');
    let mut parts = v.split('.');
    (
        parts.next().unwrap_or("1").to_string(),
        parts.next().unwrap_or("0").to_string(),
    )
}

/// Go's name for the architecture, as in kube-proxy's `platform` label.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

impl Collector for BuildInfo {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let labels = Self::labels();
        let mut m = encoder.encode_descriptor(
            "kubernetes_build_info",
            "A metric with a constant '1' value labeled by major, minor, git version, git \
             commit, git tree state, build date, Go version, and compiler from which \
             Kubernetes was built, and platform on which it is running.",
            None,
            MetricType::Gauge,
        )?;
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        ConstGauge::new(1i64).encode(m.encode_family(&labels)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = ProcessStats::read();
        assert!(s.cpu_seconds.is_some_and(|c| c >= 0.0), "{s:?}");
        assert!(s.open_fds.is_some_and(|n| n >= 3.0), "{s:?}");
        assert!(s.resident_memory_bytes.is_some_and(|b| b > 1e5), "{s:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = s.start_time_seconds.expect("start time");
        assert!(
            started <= now + 1.0 && started > now - 86400.0 * 365.0,
            "{started}"
        );
    }

    #[test]
    fn stat_fields_survive_spaces_in_the_command() {
        let f = stat_fields("42 (a b) R 1 2 3");
        assert_eq!(f[3], "R");
        assert_eq!(f[4], "1");
    }
}
