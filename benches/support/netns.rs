//! Throwaway network namespaces for the kernel benches, deleted on drop (also on panic).
//! Nothing here ever programs the root namespace: kernel work happens on a thread that has
//! entered the namespace, or in a child process started there.

use std::fs::File;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Exits the bench with a message when it cannot make namespaces (not root, tools missing).
pub fn require_kernel(tools: &[&str]) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("this bench needs root, to create network namespaces");
        std::process::exit(2);
    }
    for tool in tools.iter().chain(&["ip"]) {
        let found = Command::new(tool).arg("--version").output().is_ok()
            || Command::new(tool).arg("-V").output().is_ok();
        if !found {
            eprintln!("this bench needs {tool} installed");
            std::process::exit(2);
        }
    }
}

pub struct Netns {
    pub name: String,
}

impl Netns {
    /// A new, empty namespace `kpb-<pid>-<n>-<role>` with loopback up.
    pub fn new(role: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        if n == 0 {
            remove_orphans();
        }
        let name = format!("kpb-{}-{n}-{role}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        run(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `f` on a new thread inside this namespace (child processes it starts are in the
    /// namespace too) and returns its result.
    pub fn run_in<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let file = File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
                    setns(&file, CloneFlags::CLONE_NEWNET)
                        .unwrap_or_else(|e| panic!("entering {path}: {e}"));
                    f()
                })
                .join()
                .expect("bench thread in the namespace panicked")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Deletes the namespaces of earlier bench runs that were killed before their guards ran
/// (`kpb-<pid>-…` whose process is gone). Only this bench's own prefix is touched.
fn remove_orphans() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("kpb-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("removing the namespace {name} of an earlier, killed bench run");
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
}

/// Runs a command in the current namespace, panicking with its output when it fails.
pub fn run(cmd: &[&str]) -> String {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (at most `limit`) until the machine is mostly idle over a 500 ms window, so a
/// measurement does not start while the kernel still tears down the last namespace's rules.
/// Returns the busy share of the last window (0–1), for the report.
pub fn wait_for_quiet(limit: Duration) -> f64 {
    let deadline = Instant::now() + limit;
    loop {
        let busy = busy_share(Duration::from_millis(500));
        if busy < 0.25 || Instant::now() >= deadline {
            return busy;
        }
    }
}

/// The share of CPU time spent busy, over all cores, during `window`.
pub fn busy_share(window: Duration) -> f64 {
    let a = cpu_times();
    std::thread::sleep(window);
    let b = cpu_times();
    let total = (b.0 - a.0) as f64;
    if total <= 0.0 {
        return 0.0;
    }
    1.0 - (b.1 - a.1) as f64 / total
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
