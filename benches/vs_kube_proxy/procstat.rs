//! What a running proxy costs, from /proc: peak resident memory and CPU time, its own and
//! that of the children it waited for (iptables-restore, iptables-save).

use std::time::Duration;

/// CPU time so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cpu {
    /// utime + stime.
    pub own: Duration,
    /// cutime + cstime: exited children it waited for.
    pub children: Duration,
}

impl Cpu {
    pub fn total(&self) -> Duration {
        self.own + self.children
    }

    pub fn since(&self, earlier: &Cpu) -> Cpu {
        Cpu {
            own: self.own.saturating_sub(earlier.own),
            children: self.children.saturating_sub(earlier.children),
        }
    }
}

/// The CPU time of process `pid` (`/proc/<pid>/stat`, fields 14–17 in clock ticks).
pub fn cpu(pid: u32) -> Option<Cpu> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it do not.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let secs = |t: u64| Duration::from_secs_f64(t as f64 / ticks);
    Some(Cpu {
        own: secs(fields[0] + fields[1]),
        children: secs(fields[2] + fields[3]),
    })
}

/// Peak resident memory (`VmHWM`), in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line["VmHWM:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
