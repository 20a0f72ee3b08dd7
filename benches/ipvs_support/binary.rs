//! The real `kproxy` binary on a generated cluster: `--proxy-mode=ipvs --manifests DIR
//! --once` in a fresh node namespace, under GNU time for its peak resident memory.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kproxy::testing::scale::{Cluster, NODE};

use crate::netns::Netns;

const TIME: &str = "/usr/bin/time";

/// The release binary `cargo bench` built next to the benches, or `$KPROXY_BIN` (with a
/// target directory shared by several worktrees, `target/release/kproxy` is whichever was
/// built last; scripts/bench-ipvs.sh copies its own aside and sets `KPROXY_BIN`).
fn kproxy_binary() -> String {
    std::env::var("KPROXY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kproxy").to_string())
}

/// What one `--once` run cost.
#[derive(Clone, Debug)]
pub struct BinaryRun {
    /// Peak resident set (`ru_maxrss` of the process, as GNU time's `%M` reports it).
    pub peak_rss_kib: u64,
    /// Start to exit: reading the manifests, the first (full) sync, exiting.
    pub wall: Duration,
    /// The sync loop's own duration of that sync, from the report `--once` prints.
    pub sync: Option<Duration>,
}

/// Runs the binary once on `cluster`; `Err` says why it could not be measured.
pub fn run_once(cluster: &Cluster) -> Result<BinaryRun, String> {
    if !Path::new(TIME).exists() {
        return Err(format!("{TIME} (GNU time) is not installed"));
    }
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let manifests = dir.path().join("manifests");
    std::fs::create_dir(&manifests).map_err(|e| format!("manifest directory: {e}"))?;
    cluster
        .write_manifests(&manifests)
        .map_err(|e| format!("writing manifests: {e}"))?;
    let ns = Netns::node("rss");
    let time_file = dir.path().join("time.txt");
    let log = dir.path().join("kproxy.log");
    let started = Instant::now();
    let out = Command::new(TIME)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&time_file)
        .arg(kproxy_binary())
        .args(["--proxy-mode=ipvs", "--once", "--manifests"])
        .arg(&manifests)
        .args(["--netns", &ns.name, "--hostname-override", NODE])
        .args(["--healthz-bind-address", "127.0.0.1:0"])
        .args(["--metrics-bind-address", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .stderr(std::fs::File::create(&log).map_err(|e| format!("log file: {e}"))?)
        .output()
        .map_err(|e| format!("starting kproxy: {e}"))?;
    let wall = started.elapsed();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    if !out.status.success() {
        let tail: Vec<&str> = log_text.lines().rev().take(20).collect();
        return Err(format!(
            "kproxy exited with {}:\n{}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    let time_text = std::fs::read_to_string(&time_file).unwrap_or_default();
    let peak_rss_kib = time_text
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("no peak RSS in GNU time's output {time_text:?}"))?;
    Ok(BinaryRun {
        peak_rss_kib,
        wall,
        sync: once_sync_seconds(&String::from_utf8_lossy(&out.stdout)),
    })
}

/// `sync_seconds` of the JSON line `kproxy --once` prints (`kproxy::app::once_report`).
fn once_sync_seconds(stdout: &str) -> Option<Duration> {
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last()?).ok()?;
    report["sync_seconds"].as_f64().map(Duration::from_secs_f64)
}
