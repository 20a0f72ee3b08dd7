//! Throwaway network namespaces, removed when dropped (also when a test fails).

use std::fs::File;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sched::{CloneFlags, setns};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Whether this process may create namespaces and program rules (root, with `ip` and
/// `iptables-restore` installed). Tests that need a kernel skip, loudly, when it may not.
pub fn kernel_tests_possible() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let tools = ["ip", "iptables-restore", "iptables-save"].iter().all(|t| {
        Command::new(t).arg("-V").output().is_ok() || Command::new(t).arg("-h").output().is_ok()
    });
    if !(root && tools) {
        eprintln!(
            "SKIPPED: needs root with iproute2 and iptables installed (run the README's test command)"
        );
    }
    root && tools
}

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &[&str]) -> Output {
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

pub struct Netns {
    pub name: String,
}

impl Netns {
    /// A new namespace named `kpt-<pid>-<n>-<role>`, with loopback up.
    pub fn new(role: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("kpt-{}-{n}-{role}", std::process::id());
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

    /// Moves the calling thread into this namespace. Only for threads the test owns.
    pub fn enter_current_thread(&self) {
        let f = File::open(format!("/run/netns/{}", self.name)).expect("namespace file");
        setns(&f, CloneFlags::CLONE_NEWNET).expect("setns");
    }

    /// Runs `f` on a new thread inside this namespace and returns its result.
    pub fn run_in<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let name = self.name.clone();
        std::thread::spawn(move || {
            Netns { name: name.clone() }.enter_current_thread_no_drop();
            f()
        })
        .join()
        .expect("thread in namespace panicked")
    }

    fn enter_current_thread_no_drop(self) {
        self.enter_current_thread();
        std::mem::forget(self);
    }

    /// `iptables-save` of this namespace.
    pub fn iptables_save(&self, extra: &[&str]) -> String {
        let mut args = vec!["iptables-save"];
        args.extend_from_slice(extra);
        self.exec_stdout(&args)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
