//! The IPVS benches' namespaces: `kproxy::testing::netns` namespaces (`kpb-<pid>-<n>-<role>`)
//! that are emptied of IPVS state before they are deleted. Nothing is ever programmed in
//! the namespace the bench starts in: [`Netns::within`] moves the calling thread in and
//! back out.

use std::io::Write as _;
use std::ops::Deref;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::quiet::wait_for_busy_below;
use crate::scale::NODE_IP;

pub struct Netns(kproxy::testing::netns::Netns);

impl Deref for Netns {
    type Target = kproxy::testing::netns::Netns;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Netns {
    /// A new namespace `kpb-<pid>-<n>-<role>` with loopback up.
    pub fn new(role: &str) -> Self {
        Self(kproxy::testing::netns::Netns::for_bench(role))
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
    /// in a kernel worker, which would steal CPU from the next measurement); the inner
    /// guard then deletes the namespace.
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
    }
}

/// Waits until the CPU has been at least 90% idle over 200 ms (a namespace's teardown in
/// a kernel worker finished, say), for at most `limit`.
pub fn wait_for_quiet(limit: Duration) {
    wait_for_busy_below(limit, Duration::from_millis(200), 0.1);
}
