//! The real `kproxy` binary as a child process: started in a namespace, its syncs read from
//! its `/metrics` (the counters tests read too: `tests/support/metrics.rs`), its peak
//! memory read from /proc. Killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kproxy::testing::netns::Netns;
use kproxy::testing::scale::{Cluster, NODE};

use super::metrics::Syncs;

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

/// Starts kproxy as the node of a new namespace (`role`) on `cluster`'s objects, written
/// as manifests into a new directory (which also holds kproxy's log), with `extra` flags.
pub fn start_on_cluster(
    cluster: &Cluster,
    role: &str,
    flavour: Flavour,
    extra: &[&str],
) -> (tempfile::TempDir, Netns, Kproxy) {
    let dir = tempfile::tempdir().expect("manifest directory");
    cluster
        .write_manifests(dir.path())
        .expect("writing manifests");
    let ns = Netns::for_bench(role);
    let mut args = vec!["--manifests".to_string(), dir.path().display().to_string()];
    args.extend(node_args(&ns.name));
    args.extend(extra.iter().map(|a| a.to_string()));
    let kproxy = Kproxy::start(&args, &dir.path().join("kproxy.log"), flavour);
    (dir, ns, kproxy)
}

/// Another writer, as far as kproxy can tell (an idle resync reads nothing back): deletes
/// the canary chain from mangle, so that the next resync reads the kernel back and repairs.
pub fn delete_canary(ns: &Netns, flavour: Flavour) {
    ns.exec(&[
        flavour.iptables_program(),
        "-t",
        "mangle",
        "-X",
        "KUBE-PROXY-CANARY",
    ]);
}

/// One sync, as kproxy's counters showed it. When one poll finds several new syncs of a
/// kind (closer together than the poll interval), each gets their average.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncLine {
    pub full: bool,
    /// Service and EndpointSlice changes it programmed.
    pub changes: u64,
    /// Kernel objects (chains) it wrote.
    pub written: u64,
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
    /// Starts `kproxy ARGS` logging into `log`, using the iptables `flavour`.
    pub fn start(args: &[String], log: &Path, flavour: Flavour) -> Self {
        let file = std::fs::File::create(log).expect("creating the kproxy log");
        let binary = binary();
        eprintln!("  running {binary}");
        let mut cmd = Command::new(binary);
        cmd.args(args)
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

    /// Polls kproxy's counters in `ns` until `done` holds; panics with its log if kproxy
    /// exits or `timeout` passes first.
    pub fn wait_for(
        &mut self,
        ns: &Netns,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Syncs) -> bool,
    ) -> Syncs {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(syncs) = Syncs::read(ns).filter(|s| done(s)) {
                return syncs;
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

    /// CPU time kproxy and its finished children (iptables-save, -restore) used so far:
    /// `utime + stime + cutime + cstime` of /proc/PID/stat.
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
        // utime is field 14 of the whole line: index 11 after pid, comm (and state at 0).
        let ticks: u64 = fields[11..15]
            .iter()
            .map(|f| f.parse::<u64>().ok())
            .sum::<Option<u64>>()?;
        // /proc counts in USER_HZ, 100 on every architecture Linux runs kube nodes on.
        Some(Duration::from_millis(ticks * 10))
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

/// Runs `during` while a thread in `ns` polls kproxy's counters every 20 ms; returns its
/// result and each sync kproxy finished meanwhile.
pub fn watch_syncs<R>(ns: &Netns, during: impl FnOnce() -> R) -> (R, Vec<SyncLine>) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            ns.run_in(|| {
                let mut lines = Vec::new();
                let mut last = Syncs::read_here().expect("kproxy's /metrics answers");
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                    if let Some(now) = Syncs::read_here() {
                        lines.extend(new_syncs(&last, &now));
                        last = now;
                    }
                }
                lines.extend(
                    Syncs::read_here()
                        .map(|now| new_syncs(&last, &now))
                        .unwrap_or_default(),
                );
                lines
            })
        });
        let result = during();
        stop.store(true, Ordering::Relaxed);
        (result, watcher.join().expect("the sync watcher"))
    })
}

/// The syncs between two reads of the counters, full ones first.
fn new_syncs(before: &Syncs, after: &Syncs) -> Vec<SyncLine> {
    let kinds = [
        (
            true,
            after.full - before.full,
            after.full_seconds - before.full_seconds,
            after.full_written - before.full_written,
        ),
        (
            false,
            after.partial - before.partial,
            after.partial_seconds - before.partial_seconds,
            after.partial_written - before.partial_written,
        ),
    ];
    let syncs = after.total() - before.total();
    let changes = after.changes - before.changes;
    let mut lines = Vec::new();
    for (full, n, seconds, written) in kinds {
        for _ in 0..n {
            lines.push(SyncLine {
                full,
                changes: changes / syncs,
                written: written / n,
                elapsed: Duration::from_secs_f64(seconds / n as f64),
            });
        }
    }
    lines
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
