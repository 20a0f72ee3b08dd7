//! A throwaway network namespace for tests that need a real kernel, deleted on drop (also
//! when the test fails). Whether the machine can make one is `testing::kernel`'s call.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::testing::kernel;

pub struct Netns {
    name: String,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Netns {
    /// A fresh namespace, or `None` (after saying why) when this machine cannot provide one
    /// and the run does not require it ([`kernel::available`]).
    pub fn create() -> Option<Self> {
        if !kernel::netns_available(&[]) {
            return None;
        }
        let name = format!(
            "kp-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let status = Command::new("ip").args(["netns", "add", &name]).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "`ip netns add {name}` failed"
        );
        Some(Self { name })
    }

    /// Runs `cmd args…` inside the namespace with `stdin`.
    pub fn run(&self, cmd: &str, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, cmd])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ip netns exec");
        // A tool that fails early closes its stdin; its exit status tells why.
        let _ = child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(stdin.as_bytes());
        child.wait_with_output().expect("wait for ip netns exec")
    }

    /// `iptables-restore [args]` of `input`; the error carries its stderr.
    pub fn restore(&self, args: &[&str], input: &str) -> Result<(), String> {
        let out = self.run("iptables-restore", args, input);
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    pub fn save(&self) -> String {
        let out = self.run("iptables-save", &[], "");
        assert!(
            out.status.success(),
            "iptables-save failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("iptables-save prints UTF-8")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
