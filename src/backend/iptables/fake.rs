//! A stateful stand-in for `iptables-restore --noflush` and `iptables-save`, for tests that
//! need no root: it applies restore input to an in-memory filter and nat table with the
//! semantics the executor relies on, and prints them back in save form.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::restore::{IptablesRunner, RunnerError};
use super::ruleset::Table;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct FakeChain {
    /// `Some(policy)` for a built-in chain.
    policy: Option<String>,
    rules: Vec<String>,
}

type FakeTable = BTreeMap<String, FakeChain>;

#[derive(Clone, Debug)]
pub struct FakeRunner {
    tables: BTreeMap<Table, FakeTable>,
    /// Every restore input applied or attempted, in order.
    pub restores: Vec<String>,
    /// Makes the next restore fail (before changing anything).
    pub fail_next_restore: bool,
}

impl Default for FakeRunner {
    fn default() -> Self {
        let builtin = |names: &[&str]| -> FakeTable {
            names
                .iter()
                .map(|n| {
                    let chain = FakeChain {
                        policy: Some("ACCEPT".into()),
                        rules: Vec::new(),
                    };
                    (n.to_string(), chain)
                })
                .collect()
        };
        Self {
            tables: BTreeMap::from([
                (Table::Filter, builtin(&["INPUT", "FORWARD", "OUTPUT"])),
                (
                    Table::Nat,
                    builtin(&["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]),
                ),
            ]),
            restores: Vec::new(),
            fail_next_restore: false,
        }
    }
}

fn failed(line: usize, why: impl Into<String>) -> RunnerError {
    RunnerError::Failed {
        program: "fake-iptables-restore".into(),
        line: Some(line),
        stderr: why.into(),
    }
}

fn table_named(name: &str) -> Option<Table> {
    Table::ALL.into_iter().find(|t| t.as_str() == name)
}

impl FakeRunner {
    /// Rules of one chain, for assertions and for simulating hand edits.
    pub fn chain_mut(&mut self, table: Table, chain: &str) -> Option<&mut Vec<String>> {
        self.tables
            .get_mut(&table)?
            .get_mut(chain)
            .map(|c| &mut c.rules)
    }

    pub fn chain_names(&self, table: Table) -> Vec<String> {
        self.tables[&table].keys().cloned().collect()
    }

    fn apply_line(table: &mut FakeTable, line: &str) -> Result<(), String> {
        if let Some(decl) = line.strip_prefix(':') {
            let name = decl
                .split_whitespace()
                .next()
                .ok_or("empty chain declaration")?;
            let chain = table.entry(name.to_string()).or_default();
            if chain.policy.is_none() {
                chain.rules.clear();
            }
            return Ok(());
        }
        let (op, rest) = line.split_once(' ').ok_or("no operand")?;
        let (chain_name, rule) = rest.split_once(' ').unwrap_or((rest, ""));
        match op {
            "-X" => {
                let referenced = table
                    .values()
                    .flat_map(|c| &c.rules)
                    .any(|r| super::kernel::jump_target(r) == Some(chain_name));
                match table.get(chain_name) {
                    None => Err(format!("no chain {chain_name}")),
                    Some(c) if c.policy.is_some() => Err("cannot delete a built-in chain".into()),
                    Some(c) if !c.rules.is_empty() => {
                        Err(format!("chain {chain_name} is not empty"))
                    }
                    Some(_) if referenced => Err(format!("chain {chain_name} is referenced")),
                    Some(_) => {
                        table.remove(chain_name);
                        Ok(())
                    }
                }
            }
            "-A" | "-I" | "-D" => {
                if let Some(target) = super::kernel::jump_target(rule)
                    && target.starts_with("KUBE-")
                    && !table.contains_key(target)
                {
                    return Err(format!("jump to undefined chain {target}"));
                }
                let chain = table
                    .get_mut(chain_name)
                    .ok_or(format!("no chain {chain_name}"))?;
                match op {
                    "-A" => chain.rules.push(rule.to_string()),
                    "-I" => {
                        let (pos, rule) = match rule.split_once(' ') {
                            Some((n, r)) if n.parse::<usize>().is_ok() => {
                                (n.parse::<usize>().unwrap_or(1), r)
                            }
                            _ => (1, rule),
                        };
                        let at = pos.saturating_sub(1).min(chain.rules.len());
                        chain.rules.insert(at, rule.to_string());
                    }
                    _ => {
                        let i = chain
                            .rules
                            .iter()
                            .position(|r| r == rule)
                            .ok_or("no such rule to delete")?;
                        chain.rules.remove(i);
                    }
                }
                Ok(())
            }
            _ => Err(format!("unsupported operation {op}")),
        }
    }
}

impl IptablesRunner for FakeRunner {
    fn restore(&mut self, input: &str) -> Result<(), RunnerError> {
        self.restores.push(input.to_string());
        if std::mem::take(&mut self.fail_next_restore) {
            return Err(failed(1, "injected failure"));
        }
        // Each table commits on its own, like the real tool.
        let mut working: Option<(Table, FakeTable)> = None;
        for (i, line) in input.lines().enumerate() {
            let n = i + 1;
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('*') {
                let table = table_named(name).ok_or_else(|| failed(n, "unknown table"))?;
                working = Some((table, self.tables[&table].clone()));
            } else if line == "COMMIT" {
                let (table, content) = working
                    .take()
                    .ok_or_else(|| failed(n, "COMMIT outside a table"))?;
                self.tables.insert(table, content);
            } else {
                let (_, content) = working
                    .as_mut()
                    .ok_or_else(|| failed(n, "rule outside a table"))?;
                Self::apply_line(content, line).map_err(|why| failed(n, why))?;
            }
        }
        match working {
            Some(_) => Err(failed(input.lines().count(), "missing COMMIT")),
            None => Ok(()),
        }
    }

    fn save(&mut self, table: Table) -> Result<String, RunnerError> {
        let mut out = format!("*{}\n", table.as_str());
        let chains = &self.tables[&table];
        for (name, chain) in chains {
            let _ = writeln!(
                out,
                ":{name} {} [0:0]",
                chain.policy.as_deref().unwrap_or("-")
            );
        }
        for (name, chain) in chains {
            for rule in &chain.rules {
                let _ = writeln!(out, "-A {name} {rule}");
            }
        }
        out.push_str("COMMIT\n");
        Ok(out)
    }
}
