//! A stateful stand-in for `iptables-restore --noflush` and `iptables-save`, for tests that
//! need no root: restore input is applied to the parsed model of [`super::parse`], with
//! iptables-restore's semantics, and printed back in save form.

use std::sync::{Arc, Mutex};

use super::parse::Tables;
use crate::netfilter::iptables::ruleset::Table;
use crate::netfilter::iptables::runner::{IptablesRunner, RunnerError};

#[derive(Clone, Debug)]
pub struct FakeRunner {
    /// What "the kernel" holds.
    pub kernel: Tables,
    /// Every restore input applied or attempted, in order.
    pub restores: Vec<String>,
    /// Makes the next restore fail (before changing anything).
    pub fail_next_restore: bool,
    /// Held by a test to keep every `iptables-save` (of this runner and its readers) waiting.
    pub save_gate: Arc<Mutex<()>>,
}

impl Default for FakeRunner {
    fn default() -> Self {
        Self {
            kernel: Tables::parse("*filter\nCOMMIT\n*nat\nCOMMIT\n").expect("empty tables parse"),
            restores: Vec::new(),
            fail_next_restore: false,
            save_gate: Arc::default(),
        }
    }
}

impl FakeRunner {
    /// Empties one chain, as someone running `iptables -F` by hand would.
    pub fn flush(&mut self, table: Table, chain: &str) {
        if let Some(c) = self
            .kernel
            .tables
            .get_mut(table.as_str())
            .and_then(|t| t.chains.get_mut(chain))
        {
            c.rules.clear();
        }
    }

    pub fn chain_names(&self, table: Table) -> Vec<String> {
        self.kernel
            .table(table.as_str())
            .map(|t| t.chains.keys().cloned().collect())
            .unwrap_or_default()
    }
}

impl IptablesRunner for FakeRunner {
    fn restore(&mut self, input: &str) -> Result<(), RunnerError> {
        self.restores.push(input.to_string());
        let fail = |line, stderr| RunnerError::Failed {
            program: "fake-iptables-restore".into(),
            line: Some(line),
            stderr,
        };
        if std::mem::take(&mut self.fail_next_restore) {
            return Err(fail(1, "injected failure".into()));
        }
        self.kernel
            .restore(input, true)
            .map_err(|e| fail(e.line, e.message))
    }

    /// A snapshot of the fake kernel as it is now: what a reader started now would see.
    fn reader(&self) -> Option<Box<dyn IptablesRunner>> {
        Some(Box::new(self.clone()))
    }

    fn save(&mut self, table: Table) -> Result<String, RunnerError> {
        let _open = self.save_gate.lock().unwrap_or_else(|e| e.into_inner());
        let one = Tables {
            tables: self
                .kernel
                .tables
                .iter()
                .filter(|(name, _)| name.as_str() == table.as_str())
                .map(|(n, t)| (n.clone(), t.clone()))
                .collect(),
        };
        Ok(one.save())
    }
}
