//! An `iptables-restore` stand-in, put first on kproxy's `PATH`: a shell script that may
//! hang a write (recording its pid) and otherwise runs the real tool. The hanging process
//! is killed on drop.

use std::path::PathBuf;

pub struct FakeRestore {
    dir: tempfile::TempDir,
}

impl FakeRestore {
    /// The script runs `body` (shell; `$DIR` is the fake's directory, `$REAL` the real
    /// tool) and then the real tool. A body that hangs should run `hang`, which records the
    /// pid [`FakeRestore::hanging`] reports.
    pub fn new(body: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let real = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join("iptables-restore"))
            .find(|p| p.exists())
            .expect("iptables-restore on PATH");
        let script = format!(
            "#!/bin/sh\nDIR={dir}\nREAL={real}\n\
             hang() {{ echo $$ > $DIR/pid.tmp && mv $DIR/pid.tmp $DIR/pid; exec sleep 300; }}\n\
             {body}\nexec $REAL \"$@\"\n",
            dir = dir.path().display(),
            real = real.display()
        );
        let path = dir.path().join("iptables-restore");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        Self { dir }
    }

    /// `PATH` with this fake first.
    pub fn path(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap()
        )
    }

    /// The hanging restore's pid, once kproxy has started one.
    pub fn hanging(&self) -> Option<i32> {
        std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.path().join("pid")
    }
}

impl Drop for FakeRestore {
    fn drop(&mut self) {
        if let Some(pid) = self.hanging() {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}
