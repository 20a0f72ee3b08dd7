//! The binary at the edges of its process: closed output pipes, an empty `RUST_LOG`, and a
//! `--once` whose sync fails. Each runs the real binary as a subprocess.

mod support;

use std::process::{Command, Stdio};

use support::fake_restore::FakeRestore;
use support::kproxy::binary;
use support::netns::{Netns, netns_available};

/// Runs kproxy with stdout or stderr a pipe whose reader is already gone.
fn with_closed(args: &[&str], close_stdout: bool) -> std::process::ExitStatus {
    let mut cmd = Command::new(binary());
    cmd.args(args).stdin(Stdio::null());
    if close_stdout {
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("run kproxy");
    drop(child.stdout.take());
    drop(child.stderr.take());
    child.wait().expect("wait for kproxy")
}

#[test]
fn a_closed_stdout_or_stderr_does_not_panic() {
    // A panic exits with 101.
    assert_eq!(with_closed(&["--version"], true).code(), Some(0));
    assert_eq!(
        with_closed(&["--config", "/nonexistent/kproxy.yaml"], false).code(),
        Some(2)
    );
    assert_eq!(
        with_closed(&["--dry-run", "--manifests", "/nonexistent"], false).code(),
        Some(1)
    );
}

#[test]
fn once_exits_non_zero_with_the_reason_on_stderr_even_with_an_empty_rust_log() {
    if !netns_available(&[]) {
        return;
    }
    let ns = Netns::new("once-fails");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\n\
         spec: {clusterIP: 10.96.0.9, ports: [{port: 80}]}\n",
    )
    .unwrap();
    let fail = FakeRestore::new("echo 'iptables-restore: refused by the test' >&2; exit 1");
    let out = Command::new(binary())
        .args(["--once", "--manifests", dir.path().to_str().unwrap()])
        .args(["--netns", &ns.name, "--hostname-override", "node-a"])
        .args([
            "--healthz-bind-address",
            "127.0.0.1:0",
            "--metrics-bind-address",
            "127.0.0.1:0",
        ])
        .env("PATH", fail.path())
        .env("RUST_LOG", "")
        .output()
        .expect("run kproxy");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "--once succeeded: {stderr}");
    assert!(
        stderr.contains("ERROR"),
        "no error line on stderr: {stderr}"
    );
    assert!(
        stderr.contains("refused by the test"),
        "the reason is missing: {stderr}"
    );
}
