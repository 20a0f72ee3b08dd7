//! An upstream program (etcd, kube-apiserver, …) run inside a network namespace, killed
//! when dropped.
//!
//! `ip netns exec NS setpriv --pdeathsig KILL -- PROGRAM …` execs in place, so the child's
//! pid is the program's own, and the kernel kills the program when the thread that started
//! it ends, even when the test process is killed and no `Drop` runs. That thread must
//! therefore live as long as the program (start programs from the test's own thread, not
//! from a short-lived helper thread).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub struct Process {
    name: String,
    child: Mutex<Child>,
    log: PathBuf,
}

impl Process {
    /// Starts `program ARGS` inside the namespace `netns`, stdout and stderr appended to
    /// `log` (kept over restarts, so one file tells a component's whole story).
    pub fn start(netns: &str, program: &Path, args: &[String], log: &Path) -> Self {
        Self::start_with_env(netns, program, args, log, &[])
    }

    /// [`start`](Self::start) with `env` added to the program's environment.
    pub fn start_with_env(
        netns: &str,
        program: &Path,
        args: &[String],
        log: &Path,
        env: &[(&str, &str)],
    ) -> Self {
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()));
        let err = out.try_clone().expect("log file handle");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                netns,
                "setpriv",
                "--pdeathsig",
                "KILL",
                "--",
            ])
            .arg(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        Self {
            name,
            child: Mutex::new(child),
            log: log.to_path_buf(),
        }
    }

    /// Panics, with the end of its log, if the program has exited.
    pub fn assert_running(&self) {
        if let Ok(Some(status)) = self.lock().try_wait() {
            panic!(
                "{} exited with {status}; the end of its log:\n{}",
                self.name,
                self.log_tail(40)
            );
        }
    }

    /// The last `lines` lines of the program's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The program's process id (`ip netns exec` and `setpriv` exec in place).
    pub fn pid(&self) -> u32 {
        self.lock().id()
    }

    /// Whether the program is still running.
    pub fn is_running(&self) -> bool {
        matches!(self.lock().try_wait(), Ok(None))
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Stops the program with `signal` and waits for it to exit.
    pub fn stop(mut self, signal: Signal) {
        self.signal_and_wait(signal);
    }

    fn signal_and_wait(&mut self, signal: Signal) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Ok(None) = child.try_wait() {
            let _ = kill(Pid::from_raw(child.id() as i32), signal);
        }
        let _ = child.wait();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.signal_and_wait(Signal::SIGKILL);
    }
}
