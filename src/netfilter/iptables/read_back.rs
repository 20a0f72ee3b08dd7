//! What the kernel holds of kproxy's rules, read back from `iptables-save` as it streams.
//!
//! At 10k services the saved text is ~70 MB in ~155k chains. Holding it, or a parsed copy,
//! doubled kproxy's memory on every full resync, so the read-back compares each chain with
//! the chain kproxy expects as the lines arrive, and copies only the chains that differ.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::plan::{ChainMap, JumpMap};
use super::ruleset::{Chain, Table};
use super::runner::{IptablesRunner, RunnerError};

/// The jump target of a rule in iptables-save form (`... -j TARGET ...`).
pub fn jump_target(rule: &str) -> Option<&str> {
    let rest = rule
        .strip_prefix("-j ")
        .or_else(|| rule.find(" -j ").map(|i| &rule[i + 4..]))?;
    rest.split_whitespace().next()
}

/// Reads back every chain `is_owned` says kproxy owns (each mode owns different chains),
/// and the built-in chains' rules that jump into them. A chain whose rules equal those of the same-named chain in `expected`
/// comes back as that very `Arc`: no copy is made, and the plan's address comparison finds
/// it. Only chains that differ from `expected`, or that it lacks, are copied.
pub fn read_kernel_against(
    runner: &mut (impl IptablesRunner + ?Sized),
    expected: &[Arc<Chain>],
    is_owned: &dyn Fn(Table, &str) -> bool,
) -> Result<(ChainMap, JumpMap), RunnerError> {
    // A set of `Arc`s (8 bytes a chain) rather than a map keyed by name: 155k entries at 10k.
    let expected: ChainMap = expected.iter().cloned().collect();
    let mut scan = Scan::new(&expected, is_owned);
    for table in Table::ALL {
        scan.start_table(table);
        runner.save_lines(table, &mut |line| scan.line(line))?;
        scan.finish_table();
    }
    Ok((scan.chains, scan.jumps))
}

/// Every chain `is_owned` says kproxy owns, and the jumps into them, as the kernel has them.
pub fn read_kernel_owned(
    runner: &mut (impl IptablesRunner + ?Sized),
    is_owned: &dyn Fn(Table, &str) -> bool,
) -> Result<(ChainMap, JumpMap), RunnerError> {
    read_kernel_against(runner, &[], is_owned)
}

/// The chain whose `-A` lines are being read.
enum Cursor<'a> {
    /// An owned chain that matched `chain`'s rules so far; `rest` are the rules still to come.
    Matching {
        chain: &'a Arc<Chain>,
        rest: Box<dyn Iterator<Item = &'a str> + 'a>,
        matched: usize,
    },
    /// An owned chain kept as the kernel has it.
    Copying { name: String, rules: Vec<String> },
    /// A built-in chain: its jumps into owned chains are kept.
    Builtin(String),
    /// Anyone else's chain.
    Other(String),
}

impl Cursor<'_> {
    fn name(&self) -> &str {
        match self {
            Cursor::Matching { chain, .. } => chain.name(),
            Cursor::Copying { name, .. } | Cursor::Builtin(name) | Cursor::Other(name) => name,
        }
    }
}

struct Scan<'a> {
    expected: &'a ChainMap,
    is_owned: &'a dyn Fn(Table, &str) -> bool,
    table: Table,
    /// This table's built-in chains (declared with a policy).
    builtin: Vec<String>,
    /// This table's owned chains, and whether any of their rules were read yet.
    declared: HashMap<Cow<'a, str>, bool>,
    cursor: Option<Cursor<'a>>,
    chains: ChainMap,
    jumps: JumpMap,
}

impl<'a> Scan<'a> {
    fn new(expected: &'a ChainMap, is_owned: &'a dyn Fn(Table, &str) -> bool) -> Self {
        Self {
            expected,
            is_owned,
            table: Table::Filter,
            builtin: Vec::new(),
            declared: HashMap::new(),
            cursor: None,
            chains: ChainMap::new(),
            jumps: JumpMap::new(),
        }
    }

    fn start_table(&mut self, table: Table) {
        self.table = table;
        self.builtin.clear();
        self.declared.clear();
        self.cursor = None;
    }

    fn line(&mut self, line: &str) {
        if let Some(decl) = line.strip_prefix(':') {
            self.declare(decl);
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let (chain, rule) = rest.split_once(' ').unwrap_or((rest, ""));
            if self.cursor.as_ref().map(Cursor::name) != Some(chain) {
                self.finish_cursor();
                self.cursor = Some(self.open(chain));
            }
            self.rule(rule);
        }
    }

    fn declare(&mut self, decl: &str) {
        let mut words = decl.split_whitespace();
        let name = words.next().unwrap_or_default();
        // Built-in chains have a policy (`:INPUT ACCEPT [0:0]`), user chains `-`.
        if words.next().is_some_and(|policy| policy != "-") {
            self.builtin.push(name.to_string());
        } else if (self.is_owned)(self.table, name) {
            let key = match self.expected.get(self.table, name) {
                Some(chain) => Cow::Borrowed(chain.name()),
                None => Cow::Owned(name.to_string()),
            };
            self.declared.insert(key, false);
        }
    }

    fn open(&mut self, name: &str) -> Cursor<'a> {
        match self.declared.get_mut(name) {
            Some(seen) => {
                *seen = true;
                match self.expected.get(self.table, name) {
                    Some(chain) => Cursor::Matching {
                        chain,
                        rest: Box::new(chain.rules()),
                        matched: 0,
                    },
                    None => Cursor::Copying {
                        name: name.to_string(),
                        rules: Vec::new(),
                    },
                }
            }
            None if self.builtin.iter().any(|b| b == name) => Cursor::Builtin(name.to_string()),
            None => Cursor::Other(name.to_string()),
        }
    }

    fn rule(&mut self, rule: &str) {
        let table = self.table;
        match self.cursor.as_mut() {
            Some(Cursor::Matching {
                chain,
                rest,
                matched,
            }) => {
                if rest.next() == Some(rule) {
                    *matched += 1;
                } else {
                    let mut rules: Vec<String> =
                        chain.rules().take(*matched).map(String::from).collect();
                    rules.push(rule.to_string());
                    let name = chain.name().to_string();
                    self.cursor = Some(Cursor::Copying { name, rules });
                }
            }
            Some(Cursor::Copying { rules, .. }) => rules.push(rule.to_string()),
            Some(Cursor::Builtin(name)) => {
                if jump_target(rule).is_some_and(|t| (self.is_owned)(table, t)) {
                    self.jumps
                        .entry((table, name.clone()))
                        .or_default()
                        .push(rule.to_string());
                }
            }
            Some(Cursor::Other(_)) | None => {}
        }
    }

    fn finish_cursor(&mut self) {
        let table = self.table;
        match self.cursor.take() {
            Some(Cursor::Matching {
                chain,
                mut rest,
                matched,
            }) => {
                let found = if rest.next().is_none() {
                    Arc::clone(chain)
                } else {
                    // The kernel has only a prefix of the expected rules.
                    Arc::new(Chain::new(table, chain.name(), chain.rules().take(matched)))
                };
                self.chains.insert(found);
            }
            Some(Cursor::Copying { name, rules }) => {
                self.chains.insert(Arc::new(Chain::new(table, name, rules)));
            }
            Some(Cursor::Builtin(_) | Cursor::Other(_)) | None => {}
        }
    }

    fn finish_table(&mut self) {
        self.finish_cursor();
        let table = self.table;
        // Declared chains without a single rule.
        for (name, _) in self.declared.drain().filter(|(_, seen)| !seen) {
            let empty = match self.expected.get(table, name.as_ref()) {
                Some(chain) if chain.rules().len() == 0 => Arc::clone(chain),
                _ => Arc::new(Chain::new(table, name.as_ref(), Vec::<String>::new())),
            };
            self.chains.insert(empty);
        }
    }
}

#[cfg(test)]
mod tests;
