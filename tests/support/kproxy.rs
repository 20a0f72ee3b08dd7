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
        "kproxy {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts kproxy for a test node: Services and EndpointSlices from `dir`, all kernel work
/// in `node`, the topology's node name and pod CIDR, HTTP servers on kube-proxy's ports in
/// the node namespace (`/metrics` is what tests wait on: [`super::metrics`]); `extra` adds
/// the proxy mode and its flags.
pub fn start_on_node(node: &super::netns::Netns, dir: &Path, extra: &[&str]) -> Kproxy {
    start_on_node_with_env(node, dir, extra, &[])
}

/// [`start_on_node`] with more environment variables (`PATH`, say).
pub fn start_on_node_with_env(
    node: &super::netns::Netns,
    dir: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Kproxy {
    let mut args = vec!["--manifests".to_string(), path(dir)];
    args.extend(node_args(node));
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = dir.join(format!(
        "../kproxy-{}-{}.log",
        node.name,
        std::process::id()
    ));
    Kproxy::start_with_env(&args, &log, env)
}

/// Starts kproxy for a test node reading an API server through `kubeconfig` (iptables
/// mode, the topology's node name and pod CIDR, 100 ms between syncs, HTTP servers as in
/// [`start_on_node`]), logging to `log`; `extra` adds flags.
pub fn start_with_kubeconfig(
    node: &super::netns::Netns,
    kubeconfig: &Path,
    log: &Path,
    extra: &[&str],
) -> Kproxy {
    let mut args = vec![
        "--proxy-mode=iptables".to_string(),
        "--kubeconfig".to_string(),
        path(kubeconfig),
        "--min-sync-period".to_string(),
        "100ms".to_string(),
    ];
    args.extend(node_args(node));
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Kproxy::start(&args, log)
}

/// The flags every test node's kproxy gets, whatever its source: all kernel work in
/// `node`, the topology's node name and pod CIDR, HTTP servers on kube-proxy's ports in the
/// node namespace.
fn node_args(node: &super::netns::Netns) -> Vec<String> {
    [
        "--netns",
        &node.name,
        "--hostname-override",
        super::topology::NODE_NAME,
        "--cluster-cidr",
        "10.244.0.0/16",
        "--healthz-bind-address",
        &super::metrics::HEALTHZ.to_string(),
        "--metrics-bind-address",
        &super::metrics::METRICS.to_string(),
    ]
    .map(String::from)
    .into()
}

fn path(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").to_string()
}

pub struct Kproxy {
    child: Child,
    pub log: PathBuf,
}

impl Kproxy {
    /// Starts `kproxy ARGS`, logging to `log`.
    pub fn start(args: &[&str], log: &Path) -> Self {
        Self::start_with_env(args, log, &[])
    }

    /// [`Kproxy::start`] with more environment variables (`PATH`, say).
    pub fn start_with_env(args: &[&str], log: &Path, env: &[(&str, &str)]) -> Self {
        let file = std::fs::File::create(log).expect("log file");
        let child = Command::new(binary())
            .args(args)
            .envs(env.iter().copied())
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

    /// Sends SIGTERM, as the kubelet does to stop a pod.
    pub fn terminate(&self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("sending SIGTERM to kproxy");
    }

    /// How kproxy exited, once it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("polling kproxy")
    }

    /// Stops kproxy with SIGTERM and waits for it.
    pub fn stop(mut self) {
        self.terminate();
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
    let timeout = super::metrics::scaled(timeout);
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
