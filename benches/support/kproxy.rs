//! The real `kproxy` binary as a child process: started in a namespace, its syncs read from
//! its debug log, its peak memory read from /proc. Killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kproxy::testing::scale::NODE;

use super::cluster::CLUSTER_CIDR;
use super::env::Flavour;

/// The release binary `cargo bench` built next to the benches, or `$KPROXY_BIN`. (With a
/// target directory shared by several worktrees, `target/release/kproxy` is whichever was
/// built last: copy yours aside and point `KPROXY_BIN` at the copy.)
pub fn binary() -> String {
    std::env::var("KPROXY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kproxy").to_string())
}

/// The flags that make kproxy the generated cluster's node: all kernel work in the
/// namespace `netns`, the generator's node name and pod network.
pub fn node_args(netns: &str) -> Vec<String> {
    [
        "--netns",
        netns,
        "--hostname-override",
        NODE,
        "--cluster-cidr",
        CLUSTER_CIDR,
    ]
    .map(String::from)
    .into()
}

/// One `synced` debug line of kproxy's sync loop.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncLine {
    pub full: bool,
    pub dirty: usize,
    pub written: usize,
    pub elapsed: Duration,
}

pub struct Kproxy {
    child: Child,
    log: PathBuf,
    pub started: Instant,
    /// Keeps the PATH overlay (legacy flavour) alive while kproxy runs.
    _path_dir: Option<tempfile::TempDir>,
}

impl Kproxy {
    /// Starts `kproxy ARGS` with debug logging into `log`, using the iptables `flavour`.
    pub fn start(args: &[String], log: &Path, flavour: Flavour) -> Self {
        let file = std::fs::File::create(log).expect("creating the kproxy log");
        let binary = binary();
        eprintln!("  running {binary}");
        let mut cmd = Command::new(binary);
        cmd.args(args)
            .env("RUST_LOG", "kproxy=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("log file")))
            .stderr(Stdio::from(file));
        let path_dir = (flavour == Flavour::Legacy).then(|| {
            let dir = legacy_path_overlay();
            let path = std::env::var("PATH").unwrap_or_default();
            cmd.env("PATH", format!("{}:{path}", dir.path().display()));
            dir
        });
        let started = Instant::now();
        let child = cmd.spawn().expect("starting kproxy");
        Self {
            child,
            log: log.to_path_buf(),
            started,
            _path_dir: path_dir,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every sync kproxy has logged so far.
    pub fn syncs(&self) -> Vec<SyncLine> {
        parse_syncs(&self.log_text())
    }

    /// Waits until the drift check a periodic resync starts has read the kernel back;
    /// returns how long that took.
    pub fn wait_for_drift_check(&mut self, timeout: Duration) -> Duration {
        self.wait_for_log("its drift check to finish", timeout, parse_drift_check)
    }

    /// Waits until kproxy has logged `n` syncs; panics with its log if it exits or `timeout`
    /// passes first.
    pub fn wait_for_syncs(&mut self, n: usize, timeout: Duration) -> Vec<SyncLine> {
        self.wait_for_log(&format!("{n} syncs"), timeout, |log| {
            Some(parse_syncs(log)).filter(|syncs| syncs.len() >= n)
        })
    }

    /// Polls kproxy's log until `found` finds something in it; panics with the log if kproxy
    /// exits or `timeout` passes first.
    fn wait_for_log<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        found: impl Fn(&str) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = found(&self.log_text()) {
                return value;
            }
            if let Some(status) = self.child.try_wait().expect("polling kproxy") {
                panic!("kproxy exited with {status}:\n{}", tail(&self.log_text()));
            }
            assert!(
                Instant::now() < deadline,
                "kproxy: no {what} within {timeout:?}:\n{}",
                tail(&self.log_text())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        status_kib(self.child.id(), "VmHWM:").map(|k| k * 1024)
    }

    /// Current resident memory (`VmRSS`), in bytes.
    pub fn rss(&self) -> Option<u64> {
        status_kib(self.child.id(), "VmRSS:").map(|k| k * 1024)
    }
}

impl Drop for Kproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// A directory whose `iptables-restore` / `iptables-save` are the legacy tools, put first on
/// kproxy's PATH (xtables-legacy-multi picks the tool by the name it is called by).
fn legacy_path_overlay() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (name, target) in [
        ("iptables-restore", "iptables-legacy-restore"),
        ("iptables-save", "iptables-legacy-save"),
        ("iptables", "iptables-legacy"),
    ] {
        let target = which(target).unwrap_or_else(|| panic!("{target} is not installed"));
        std::os::unix::fs::symlink(target, dir.path().join(name)).expect("symlink");
    }
    dir
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}

/// The `synced` lines of a kproxy log (tracing's default format, without colours).
pub fn parse_syncs(log: &str) -> Vec<SyncLine> {
    log.lines()
        .filter(|l| l.contains(" synced "))
        .filter_map(|line| {
            let field = |key: &str| {
                let at = line.find(&format!(" {key}="))? + key.len() + 2;
                line[at..].split_whitespace().next()
            };
            Some(SyncLine {
                full: field("full")? == "true",
                dirty: field("dirty")?.parse().ok()?,
                written: field("written")?.parse().ok()?,
                elapsed: parse_debug_duration(field("elapsed")?)?,
            })
        })
        .collect()
}

/// The duration of the first finished drift check (`drift check read the kernel took=…`).
pub fn parse_drift_check(log: &str) -> Option<Duration> {
    let line = log
        .lines()
        .find(|l| l.contains("drift check read the kernel"))?;
    let at = line.find(" took=")? + " took=".len();
    parse_debug_duration(line[at..].split_whitespace().next()?)
}

/// Parses `Duration`'s `Debug` form: `1.5s`, `850.25ms`, `12µs`, `3ns`.
pub fn parse_debug_duration(text: &str) -> Option<Duration> {
    let (number, scale) = [("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0)]
        .iter()
        .find_map(|(unit, scale)| text.strip_suffix(unit).map(|n| (n, *scale)))?;
    let value: f64 = number.parse().ok()?;
    Some(Duration::from_secs_f64(value * scale))
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
