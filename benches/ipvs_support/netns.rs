//! Throwaway network namespaces for the kernel benches, emptied and deleted when dropped
//! (also when the bench panics). Nothing is ever programmed in the namespace the bench
//! starts in: [`Netns::within`] moves the calling thread in and back out.

use std::fs::File;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

use crate::scale::NODE_IP;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

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
    /// A new namespace `kpb-<pid>-<n>-<role>` with loopback up.
    pub fn new(role: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("kpb-{}-{n}-{role}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// A namespace shaped like a node: loopback, and `eth0` (a dummy device) with
    /// [`NODE_IP`], the address NodePort virtual servers listen on.
    pub fn node(role: &str) -> Self {
        let ns = Self::new(role);
        ns.ip(&["link", "add", "eth0", "type", "dummy"]);
        ns.ip(&["addr", "add", &format!("{NODE_IP}/24"), "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
        ns
    }

    /// `ip -n <ns> ARGS`.
    pub fn ip(&self, args: &[&str]) -> Output {
        let mut cmd = vec!["ip", "-n", &self.name];
        cmd.extend_from_slice(args);
        run(&cmd)
    }

    /// Runs `f` with the calling thread inside this namespace: sockets opened and
    /// processes started by `f` belong to it. The thread comes back out afterwards.
    pub fn within<R>(&self, f: impl FnOnce() -> R) -> R {
        let home = File::open("/proc/thread-self/ns/net").expect("this thread's namespace");
        let ns = File::open(format!("/run/netns/{}", self.name)).expect("namespace file");
        setns(&ns, CloneFlags::CLONE_NEWNET).expect("entering the namespace");
        let result = f();
        setns(&home, CloneFlags::CLONE_NEWNET).expect("leaving the namespace");
        result
    }

    /// Runs `program ARGS` inside the namespace with `input` on its stdin; returns how
    /// long it ran (start to exit). Panics with its output when it fails.
    pub fn timed_stdin(&self, program: &str, args: &[&str], input: &[u8]) -> Duration {
        self.within(|| {
            let started = Instant::now();
            let mut child = Command::new(program)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {program}: {e}"));
            let mut stdin = child.stdin.take().expect("piped stdin");
            stdin
                .write_all(input)
                .unwrap_or_else(|e| panic!("feeding {program}: {e}"));
            drop(stdin);
            let out = child.wait_with_output().expect("waiting for the child");
            let took = started.elapsed();
            assert!(
                out.status.success(),
                "{program} {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            took
        })
    }
}

impl Drop for Netns {
    /// Empties IPVS first (synchronously: deleting a namespace frees its virtual servers
    /// in a kernel worker, which would steal CPU from the next measurement), then deletes
    /// the namespace.
    fn drop(&mut self) {
        let exec = |args: &[&str]| {
            let _ = Command::new("ip")
                .args(["netns", "exec", &self.name])
                .args(args)
                .output();
        };
        exec(&["ipvsadm", "-C"]);
        exec(&["ip", "link", "del", "kube-ipvs0"]);
        exec(&["ipset", "destroy"]);
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Waits until the CPU has been at least 90% idle over 200 ms (a namespace's teardown in
/// a kernel worker finished, say), for at most `limit`. Returns how long it waited.
pub fn wait_for_quiet(limit: Duration) -> Duration {
    let started = Instant::now();
    let sample = || -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
        Some((idle, fields.iter().sum()))
    };
    while started.elapsed() < limit {
        let Some((idle0, total0)) = sample() else {
            break;
        };
        std::thread::sleep(Duration::from_millis(200));
        let Some((idle1, total1)) = sample() else {
            break;
        };
        let total = total1.saturating_sub(total0).max(1);
        if idle1.saturating_sub(idle0) * 10 >= total * 9 {
            break;
        }
    }
    started.elapsed()
}
