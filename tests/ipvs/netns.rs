//! A throwaway network namespace (IPVS state is per namespace), deleted on drop even when
//! the test fails, and a way to open an IPVS handle inside it without moving the test
//! thread: a helper thread enters the namespace, opens the socket, and exits; the socket
//! stays bound to the namespace it was created in.

use std::fs::File;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use kproxy::backend::ipvs::handle::IpvsHandle;
use nix::sched::{CloneFlags, setns};

pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `kproxy-ipvs-PID-N` with `lo` up. IPVS refuses destinations while `lo` is
    /// down: without a local routing table every address type lookup fails (`EINVAL`).
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "kproxy-ipvs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        run(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace and panics when it fails.
    pub fn exec(&self, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend(args);
        run(&full);
    }

    /// Runs `f` on a helper thread inside the namespace. Sockets it opens stay in the
    /// namespace after the thread ends.
    pub fn run_in<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = File::open(&path).expect("open netns");
            setns(ns, CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("netns thread")
    }

    /// An IPVS handle whose socket lives in this namespace.
    pub fn handle(&self) -> IpvsHandle {
        self.run_in(|| IpvsHandle::new().expect("IPVS handle in the namespace"))
    }

    /// Starts a command inside the namespace; it is killed when the guard drops.
    pub fn spawn(&self, args: &[&str]) -> ChildGuard {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .spawn()
            .expect("spawn in netns");
        ChildGuard(child)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A background process, killed (and reaped) on drop.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
