//! Throwaway network namespaces for the kernel tests and benches, deleted when dropped (also
//! when the test or bench panics). Nothing here programs the namespace the caller runs in:
//! commands go through `ip -n` / `ip netns exec`, and code runs on a thread that entered the
//! namespace ([`Netns::run_in`], [`Netns::within`]).
//!
//! Failures panic with the command's output: a run whose setup failed should stop there.

use std::fs::File;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sched::{CloneFlags, setns};

use crate::sys::netns::path;

/// Prefix of the integration tests' namespaces: `kpt-<pid>-<n>-<role>`.
pub const TEST_PREFIX: &str = "kpt";
/// Prefix of the benches' namespaces: `kpb-<pid>-<n>-<role>`.
pub const BENCH_PREFIX: &str = "kpb";

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct Netns {
    pub name: String,
}

impl Netns {
    /// A new test namespace `kpt-<pid>-<n>-<role>` with loopback up.
    pub fn new(role: &str) -> Self {
        Self::with_prefix(TEST_PREFIX, role)
    }

    /// A new bench namespace `kpb-<pid>-<n>-<role>` with loopback up. The first one of the
    /// process also deletes the namespaces that killed bench runs left behind
    /// ([`remove_orphans`]).
    pub fn for_bench(role: &str) -> Self {
        static ORPHANS_REMOVED: Once = Once::new();
        ORPHANS_REMOVED.call_once(|| remove_orphans(BENCH_PREFIX));
        Self::with_prefix(BENCH_PREFIX, role)
    }

    /// A new namespace `<prefix>-<pid>-<n>-<role>` with loopback up (IPVS, for one, refuses
    /// destinations while `lo` is down). The pid tells a killed run's leftovers apart.
    pub fn with_prefix(prefix: &str, role: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}-{role}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n <ns> ARGS`.
    pub fn ip(&self, args: &[&str]) -> Output {
        let mut cmd = vec!["ip", "-n", &self.name];
        cmd.extend_from_slice(args);
        run(&cmd)
    }

    /// Runs a program inside the namespace (`ip netns exec`).
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut cmd = vec!["ip", "netns", "exec", &self.name];
        cmd.extend_from_slice(args);
        run(&cmd)
    }

    /// Like [`exec`](Self::exec), returning stdout as text.
    pub fn exec_stdout(&self, args: &[&str]) -> String {
        String::from_utf8(self.exec(args).stdout).expect("UTF-8 output")
    }

    pub fn sysctl(&self, key: &str, value: &str) {
        self.exec(&["sysctl", "-qw", &format!("{key}={value}")]);
    }

    /// `iptables-save` of this namespace.
    pub fn iptables_save(&self, extra: &[&str]) -> String {
        let mut args = vec!["iptables-save"];
        args.extend_from_slice(extra);
        self.exec_stdout(&args)
    }

    /// `iptables-restore ARGS` of `input` in this namespace; the error is its stderr (a
    /// refused input is what some tests look for, so it does not panic).
    pub fn iptables_restore(&self, args: &[&str], input: &str) -> Result<(), String> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "iptables-restore"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting iptables-restore: {e}"));
        // A restore that fails early closes its stdin; its exit status tells why.
        let _ = child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(input.as_bytes());
        let out = child
            .wait_with_output()
            .expect("waiting for iptables-restore");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Moves the calling thread into this namespace for good. Only for threads the caller
    /// owns and ends.
    pub fn enter_current_thread(&self) {
        let path = path(&self.name);
        let file = File::open(&path).unwrap_or_else(|e| panic!("opening {path:?}: {e}"));
        setns(&file, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("entering {path:?}: {e}"));
    }

    /// Runs `f` on a new thread inside this namespace and returns its result. Sockets it
    /// opens stay in the namespace after the thread ends; processes it starts run there.
    pub fn run_in<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    self.enter_current_thread();
                    f()
                })
                .join()
                .expect("thread in the namespace panicked")
        })
    }

    /// Runs `f` with the calling thread inside this namespace, and moves it back out
    /// afterwards.
    pub fn within<R>(&self, f: impl FnOnce() -> R) -> R {
        let home = File::open("/proc/thread-self/ns/net").expect("this thread's namespace");
        self.enter_current_thread();
        let result = f();
        setns(&home, CloneFlags::CLONE_NEWNET).expect("leaving the namespace");
        result
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Deletes the namespaces `<prefix>-<pid>-…` whose process is gone: those of earlier runs
/// killed before their guards ran. Live runs' namespaces and other prefixes are left alone.
pub fn remove_orphans(prefix: &str) {
    // `path("")` is the directory `ip netns` keeps its names in.
    let Ok(entries) = std::fs::read_dir(path("")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner_pid(&name, prefix) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("removing the namespace {name} of an earlier, killed run");
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
}

/// The pid in a namespace name `<prefix>-<pid>-…`.
fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?
        .strip_prefix('-')?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// Runs a command in the caller's namespace, panicking with its output when it fails.
fn run(cmd: &[&str]) -> Output {
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_reads_only_names_with_the_prefix() {
        for (name, prefix, want) in [
            ("kpb-123-0-node", "kpb", Some(123)),
            ("kpb-123-fresh", "kpb", Some(123)),
            ("kpt-123-0-node", "kpb", None),
            ("kpbx-123-0-node", "kpb", None),
            ("kpb-node", "kpb", None),
            ("kpb", "kpb", None),
        ] {
            assert_eq!(owner_pid(name, prefix), want, "{name} with {prefix}");
        }
    }
}
