//! The only code that touches the kernel's iptables, in either mode: `iptables-restore`
//! and `iptables-save`, fed and read through pipes, never through a shell.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use thiserror::Error;

use super::ruleset::Table;

/// A failed `iptables-restore` or `iptables-save`. Retryable: the sync loop follows a
/// failure with a full sync.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RunnerError {
    #[error("could not run {program}: {reason}")]
    Spawn { program: String, reason: String },
    #[error("{program} failed{}: {stderr}", line.map(|l| format!(" at input line {l}")).unwrap_or_default())]
    Failed {
        program: String,
        /// 1-based line of the input the tool rejected, when it said which.
        line: Option<usize>,
        stderr: String,
    },
}

/// What kproxy needs from iptables (both modes; tests use a fake).
pub trait IptablesRunner: Send {
    /// Applies restore input without flushing anything it does not name (`--noflush`).
    fn restore(&mut self, input: &str) -> Result<(), RunnerError>;
    /// The `iptables-save` text of one table.
    fn save(&mut self, table: Table) -> Result<String, RunnerError>;
    /// Feeds one table's `iptables-save` output to `each`, line by line (without the
    /// newline), without holding the whole text.
    fn save_lines(&mut self, table: Table, each: &mut dyn FnMut(&str)) -> Result<(), RunnerError> {
        self.save(table)?.lines().for_each(each);
        Ok(())
    }
    /// Another runner on the same kernel that a thread can read with while this one keeps
    /// writing, so that a periodic resync's read-back does not hold up syncs; `None` makes
    /// the backend read on the sync path.
    fn reader(&self) -> Option<Box<dyn IptablesRunner>> {
        None
    }
    /// The most chains one restore should name, or `None` for no limit. iptables-nft slows
    /// down quadratically with it (see `plan/batches.rs`); iptables-legacy rewrites the
    /// whole table on every restore, so there one restore is best.
    fn max_chains_per_restore(&mut self) -> Option<usize> {
        None
    }
    /// Which iptables this runner drives, when it knows: how the backend notices other
    /// writers depends on it. `None` (test fakes) makes every periodic resync read back.
    fn flavour(&mut self) -> Option<Flavour> {
        None
    }
}

/// The two iptables implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// iptables-nft: the rules live in nf_tables.
    Nft,
    /// iptables-legacy: the rules live in the kernel's xtables blobs.
    Legacy,
}

/// The batch size for iptables-nft: tens of milliseconds per batch at 10k services, and
/// large enough that partial syncs almost always fit in one restore.
pub const NFT_MAX_CHAINS_PER_RESTORE: usize = 250;

/// Runs the `iptables-restore` / `iptables-save` found on `PATH` (or given explicitly, e.g.
/// `iptables-legacy-restore`).
#[derive(Clone, Debug)]
pub struct CommandRunner {
    restore_program: String,
    save_program: String,
    /// Seconds to wait for the xtables lock (`-w`).
    lock_wait_seconds: u32,
    /// Whether `restore_program` is iptables-legacy, once asked.
    legacy: Option<bool>,
}

impl Default for CommandRunner {
    fn default() -> Self {
        Self::new("iptables-restore", "iptables-save")
    }
}

impl CommandRunner {
    pub fn new(restore_program: &str, save_program: &str) -> Self {
        Self {
            restore_program: restore_program.to_string(),
            save_program: save_program.to_string(),
            lock_wait_seconds: 5,
            legacy: None,
        }
    }
}

impl CommandRunner {
    /// Asks the restore tool which backend it is (`iptables-restore v1.8.9 (legacy)`).
    fn is_legacy(&mut self) -> bool {
        let program = &self.restore_program;
        *self.legacy.get_or_insert_with(|| {
            Command::new(program)
                .arg("--version")
                .stdin(Stdio::null())
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("(legacy)"))
        })
    }
}

impl IptablesRunner for CommandRunner {
    fn max_chains_per_restore(&mut self) -> Option<usize> {
        (!self.is_legacy()).then_some(NFT_MAX_CHAINS_PER_RESTORE)
    }

    fn flavour(&mut self) -> Option<Flavour> {
        Some(if self.is_legacy() {
            Flavour::Legacy
        } else {
            Flavour::Nft
        })
    }

    fn restore(&mut self, input: &str) -> Result<(), RunnerError> {
        let program = &self.restore_program;
        let spawn_error = |e: std::io::Error| RunnerError::Spawn {
            program: program.clone(),
            reason: e.to_string(),
        };
        let mut child = Command::new(program)
            .args(["--noflush", "-w", &self.lock_wait_seconds.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        let write_result = child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(input.as_bytes());
        let output = child.wait_with_output().map_err(spawn_error)?;
        if output.status.success() {
            // A write error without a failed exit means the tool stopped reading early.
            return write_result.map_err(spawn_error);
        }
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        Err(RunnerError::Failed {
            program: program.clone(),
            line: failing_line(&stderr),
            stderr,
        })
    }

    fn reader(&self) -> Option<Box<dyn IptablesRunner>> {
        Some(Box::new(self.clone()))
    }

    fn save_lines(&mut self, table: Table, each: &mut dyn FnMut(&str)) -> Result<(), RunnerError> {
        let program = &self.save_program;
        let io_error = |e: std::io::Error| RunnerError::Spawn {
            program: program.clone(),
            reason: e.to_string(),
        };
        let mut child = Command::new(program)
            .args(["-t", table.as_str()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_error)?;
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        let read = loop {
            line.clear();
            match stdout.read_line(&mut line) {
                Ok(0) => break Ok(()),
                Ok(_) => each(line.trim_end_matches('\n')),
                Err(e) => break Err(e),
            }
        };
        drop(stdout);
        let output = child.wait_with_output().map_err(io_error)?;
        if !output.status.success() {
            return Err(RunnerError::Failed {
                program: program.clone(),
                line: None,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        read.map_err(io_error)
    }

    fn save(&mut self, table: Table) -> Result<String, RunnerError> {
        let program = &self.save_program;
        let output = Command::new(program)
            .args(["-t", table.as_str()])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| RunnerError::Spawn {
                program: program.clone(),
                reason: e.to_string(),
            })?;
        if !output.status.success() {
            return Err(RunnerError::Failed {
                program: program.clone(),
                line: None,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        String::from_utf8(output.stdout).map_err(|e| RunnerError::Failed {
            program: program.clone(),
            line: None,
            stderr: format!("output is not UTF-8: {e}"),
        })
    }
}

/// Finds the input line number in iptables-restore's complaint. The legacy tool says
/// `line 12 failed`, the nft one `Error occurred at line: 12`.
pub fn failing_line(stderr: &str) -> Option<usize> {
    let after = stderr
        .find("line: ")
        .map(|i| &stderr[i + 6..])
        .or_else(|| stderr.find("line ").map(|i| &stderr[i + 5..]))?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_for_iptables_nft_and_one_restore_for_legacy() {
        use crate::testing::kernel::{Need, available};
        let tools = ["iptables-legacy-restore", "iptables-nft-restore"].map(Need::Tool);
        if !available(&tools) {
            return;
        }
        let mut legacy = CommandRunner::new("iptables-legacy-restore", "iptables-legacy-save");
        assert_eq!(legacy.max_chains_per_restore(), None);
        let mut nft = CommandRunner::new("iptables-nft-restore", "iptables-nft-save");
        assert_eq!(
            nft.max_chains_per_restore(),
            Some(NFT_MAX_CHAINS_PER_RESTORE)
        );
    }

    #[test]
    fn finds_the_failing_line_in_both_backends_messages() {
        assert_eq!(failing_line("iptables-restore: line 7 failed"), Some(7));
        assert_eq!(
            failing_line(
                "iptables-restore v1.8.9 (nf_tables): unknown option \"--bogus\"\nError occurred at line: 12\nTry `iptables-restore -h' or 'iptables-restore --help' for more information."
            ),
            Some(12)
        );
        assert_eq!(failing_line("something else"), None);
    }
}
