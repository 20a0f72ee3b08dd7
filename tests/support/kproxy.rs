//! The real `kproxy` binary, run as a child process; killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_kproxy")
}

/// Runs `kproxy ARGS` to completion; panics with its stderr when it fails.
pub fn run_once(args: &[&str]) -> Output {
    let out = Command::new(binary())
        .args(args)
        .output()
        .expect("run kproxy");
    assert!(
        out.status.success(),
        "kproxy {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts kproxy for a test node: Services and EndpointSlices from `dir`, all kernel work
/// in `node`, the topology's node name and pod CIDR, HTTP servers on free loopback ports;
/// `extra` adds the proxy mode and its flags.
pub fn start_on_node(node: &super::netns::Netns, dir: &Path, extra: &[&str]) -> Kproxy {
    let mut args = vec![
        "--manifests",
        dir.to_str().expect("UTF-8 path"),
        "--netns",
        &node.name,
        "--hostname-override",
        super::topology::NODE_NAME,
        "--cluster-cidr",
        "10.244.0.0/16",
        "--healthz-bind-address",
        "127.0.0.1:0",
        "--metrics-bind-address",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let log = dir.join(format!(
        "../kproxy-{}-{}.log",
        node.name,
        std::process::id()
    ));
    Kproxy::start(&args, &log)
}

pub struct Kproxy {
    child: Child,
    pub log: PathBuf,
}

impl Kproxy {
    /// Starts `kproxy ARGS`, logging to `log`.
    pub fn start(args: &[&str], log: &Path) -> Self {
        let file = std::fs::File::create(log).expect("log file");
        let child = Command::new(binary())
            .args(args)
            .env("RUST_LOG", "kproxy=debug")
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("start kproxy");
        Self {
            child,
            log: log.to_path_buf(),
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the log) if kproxy has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("kproxy exited with {status}:\n{}", self.log_text());
        }
    }

    /// Stops kproxy with SIGTERM and waits for it.
    pub fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

impl Drop for Kproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout` with `what`.
pub fn eventually<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
