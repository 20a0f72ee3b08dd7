//! Bench settings from the environment, so that a quick run needs no code change.

use std::time::Duration;

/// `KPROXY_BENCH_SIZES=1000,5k,10k`: the service counts to run, or `default`.
pub fn sizes(default: &[usize]) -> Vec<usize> {
    match std::env::var("KPROXY_BENCH_SIZES") {
        Ok(text) if !text.trim().is_empty() => text
            .split(',')
            .map(|s| {
                parse_count(s).unwrap_or_else(|| {
                    panic!("KPROXY_BENCH_SIZES: {s:?} is not a count (e.g. 1000 or 10k)")
                })
            })
            .collect(),
        _ => default.to_vec(),
    }
}

/// `10000`, `10k` or `1m`.
pub fn parse_count(text: &str) -> Option<usize> {
    let text = text.trim().to_ascii_lowercase();
    let (digits, factor) = match text.strip_suffix('k') {
        Some(d) => (d, 1_000),
        None => match text.strip_suffix('m') {
            Some(d) => (d, 1_000_000),
            None => (text.as_str(), 1),
        },
    };
    digits.parse::<usize>().ok().map(|n| n * factor)
}

/// A count from `var`, or `default`.
pub fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .map(|v| parse_count(&v).unwrap_or_else(|| panic!("{var}: {v:?} is not a count")))
        .unwrap_or(default)
}

/// A duration from `var` (`10s`, `500ms`, `2m`), or `default`.
pub fn duration(var: &str, default: Duration) -> Duration {
    std::env::var(var)
        .ok()
        .map(|v| {
            humantime::parse_duration(v.trim())
                .unwrap_or_else(|e| panic!("{var}: {v:?} is not a duration: {e}"))
        })
        .unwrap_or(default)
}

/// A float from `var`, or `default`.
pub fn float(var: &str, default: f64) -> f64 {
    std::env::var(var)
        .ok()
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|e| panic!("{var}: {v:?} is not a number: {e}"))
        })
        .unwrap_or(default)
}

/// Which iptables flavour the kernel benches use: `KPROXY_BENCH_IPTABLES=nft|legacy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// Whatever `iptables-restore` on `PATH` is (the nf_tables backend on Debian 12).
    Default,
    Legacy,
}

impl Flavour {
    pub fn from_env() -> Self {
        match std::env::var("KPROXY_BENCH_IPTABLES").as_deref() {
            Ok("legacy") => Flavour::Legacy,
            Ok("nft") | Ok("") | Err(_) => Flavour::Default,
            Ok(other) => panic!("KPROXY_BENCH_IPTABLES: {other:?} is not nft or legacy"),
        }
    }

    pub fn restore_program(self) -> &'static str {
        match self {
            Flavour::Default => "iptables-restore",
            Flavour::Legacy => "iptables-legacy-restore",
        }
    }

    pub fn save_program(self) -> &'static str {
        match self {
            Flavour::Default => "iptables-save",
            Flavour::Legacy => "iptables-legacy-save",
        }
    }

    pub fn iptables_program(self) -> &'static str {
        match self {
            Flavour::Default => "iptables",
            Flavour::Legacy => "iptables-legacy",
        }
    }

    /// `iptables v1.8.9 (nf_tables)`, as the tool says.
    pub fn version(self) -> String {
        std::process::Command::new(self.iptables_program())
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|e| format!("unknown ({e})"))
    }

    pub fn label(self) -> &'static str {
        match self {
            Flavour::Default => "nft",
            Flavour::Legacy => "legacy",
        }
    }
}

/// The proxy mode a kernel bench runs: `KPROXY_BENCH_MODE=iptables` (IPVS comes later).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Iptables,
}

impl Mode {
    pub fn from_env() -> Self {
        match std::env::var("KPROXY_BENCH_MODE").as_deref() {
            Ok("iptables") | Ok("") | Err(_) => Mode::Iptables,
            Ok(other) => panic!("KPROXY_BENCH_MODE: {other:?} is not supported yet (iptables)"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Iptables => "iptables",
        }
    }
}

/// Whether `var` is set to something other than `0`, or `default` when unset.
pub fn flag(var: &str, default: bool) -> bool {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v.trim() != "0",
        _ => default,
    }
}
