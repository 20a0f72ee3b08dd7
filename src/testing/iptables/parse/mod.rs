//! A model of iptables tables parsed from `iptables-save` / `iptables-restore` text: tables →
//! chains → rules (matches + target). It applies restore input with iptables-restore's
//! semantics (`--noflush` or not) and prints itself back as iptables-save does, so tests can
//! use it as a stateful fake of the kernel, and the packet tracer runs over it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use thiserror::Error;

mod rule;

pub use rule::{is_standard_target, parse_rule};

/// Restore input iptables-restore would refuse, with the 1-based line it is on.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Every table, by name (`filter`, `nat`, …).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tables {
    pub tables: BTreeMap<String, ParsedTable>,
}

/// One table's chains, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedTable {
    pub chains: BTreeMap<String, ParsedChain>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedChain {
    pub name: String,
    /// The policy of a built-in chain (`ACCEPT`, `DROP`); `None` for a user chain.
    pub policy: Option<String>,
    pub rules: Vec<Rule>,
}

/// One rule, as `-A <chain> <text>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The rule text after `-A <chain> `, as given.
    pub text: String,
    /// Match modules in order; the first has `module == ""` and holds `-s`, `-d`, `-p`, …
    pub matches: Vec<Match>,
    /// `-j`/`-g` target; `None` for a rule that only counts.
    pub target: Option<Target>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    /// `-m <module>`; empty for the built-in options.
    pub module: String,
    pub options: Vec<Opt>,
}

/// One option: `[!] --name [values…]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opt {
    /// As written, with long built-in names shortened (`--source` → `-s`).
    pub name: String,
    pub negated: bool,
    pub values: Vec<String>,
}

impl Opt {
    /// The single value of the option, if it has exactly one.
    pub fn value(&self) -> Option<&str> {
        match self.values.as_slice() {
            [v] => Some(v),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    /// `-g` (goto) instead of `-j`.
    pub goto: bool,
    pub options: Vec<Opt>,
}

/// The built-in chains of each table, in the order iptables-save prints them.
pub fn builtin_chains(table: &str) -> Option<&'static [&'static str]> {
    Some(match table {
        "filter" => &["INPUT", "FORWARD", "OUTPUT"],
        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        "mangle" => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        "raw" => &["PREROUTING", "OUTPUT"],
        "security" => &["INPUT", "FORWARD", "OUTPUT"],
        _ => return None,
    })
}

impl ParsedTable {
    fn new(name: &str) -> Option<Self> {
        let chains = builtin_chains(name)?
            .iter()
            .map(|b| {
                let chain = ParsedChain {
                    name: b.to_string(),
                    policy: Some("ACCEPT".to_string()),
                    rules: Vec::new(),
                };
                (b.to_string(), chain)
            })
            .collect();
        Some(Self { chains })
    }
}

impl Tables {
    /// Parses iptables-save output or a full iptables-restore input.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut tables = Self::default();
        tables.restore(text, false)?;
        Ok(tables)
    }

    pub fn table(&self, name: &str) -> Option<&ParsedTable> {
        self.tables.get(name)
    }

    pub fn chain(&self, table: &str, chain: &str) -> Option<&ParsedChain> {
        self.tables.get(table)?.chains.get(chain)
    }

    /// Applies iptables-restore input as `iptables-restore [--noflush]` would. On error,
    /// `self` is left unchanged, as iptables-restore's atomic commit leaves the kernel.
    pub fn restore(&mut self, text: &str, noflush: bool) -> Result<(), ParseError> {
        let mut next = self.clone();
        let mut current: Option<(String, ParsedTable)> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |message: String| ParseError { line, message };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if let Some(name) = trimmed.strip_prefix('*') {
                if current.is_some() {
                    return Err(err(format!("table {name} started before COMMIT")));
                }
                let fresh =
                    ParsedTable::new(name).ok_or_else(|| err(format!("unknown table {name}")))?;
                let table = match next.tables.get(name) {
                    Some(existing) if noflush => existing.clone(),
                    _ => fresh,
                };
                current = Some((name.to_string(), table));
                continue;
            }
            let Some((table_name, table)) = current.as_mut() else {
                return Err(err(format!("{trimmed:?} outside a table")));
            };
            if trimmed == "COMMIT" {
                let (name, table) = current.take().expect("checked above");
                next.tables.insert(name, table);
                continue;
            }
            if let Some(decl) = trimmed.strip_prefix(':') {
                let mut parts = decl.split_whitespace();
                let (Some(name), Some(policy)) = (parts.next(), parts.next()) else {
                    return Err(err(format!("bad chain line {trimmed:?}")));
                };
                declare_chain(table, table_name, name, policy).map_err(err)?;
                continue;
            }
            apply_command(table, trimmed).map_err(err)?;
        }
        if let Some((name, _)) = current {
            return Err(ParseError {
                line: text.lines().count(),
                message: format!("table {name} has no COMMIT"),
            });
        }
        *self = next;
        Ok(())
    }

    /// The tables as iptables-save prints them (without its `#` comment lines): built-in
    /// chains first, then user chains sorted by name, then each chain's rules.
    pub fn save(&self) -> String {
        let mut out = String::new();
        for (name, table) in &self.tables {
            let _ = writeln!(out, "*{name}");
            let builtins = builtin_chains(name).unwrap_or(&[]);
            let ordered: Vec<&ParsedChain> = builtins
                .iter()
                .filter_map(|b| table.chains.get(*b))
                .chain(table.chains.values().filter(|c| c.policy.is_none()))
                .collect();
            for chain in &ordered {
                let policy = chain.policy.as_deref().unwrap_or("-");
                let _ = writeln!(out, ":{} {policy} [0:0]", chain.name);
            }
            for chain in &ordered {
                for rule in &chain.rules {
                    let _ = writeln!(out, "-A {} {}", chain.name, rule.text);
                }
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

fn declare_chain(
    table: &mut ParsedTable,
    table_name: &str,
    name: &str,
    policy: &str,
) -> Result<(), String> {
    let builtin = builtin_chains(table_name).unwrap_or(&[]).contains(&name);
    match (builtin, policy) {
        (true, "-") => Err(format!("built-in chain {name} needs a policy")),
        (true, policy) => {
            let chain = table
                .chains
                .get_mut(name)
                .expect("built-in chains always exist");
            chain.policy = Some(policy.to_string());
            Ok(())
        }
        (false, "-") => {
            // Declaring a user chain creates it, or flushes it if it exists.
            table.chains.insert(
                name.to_string(),
                ParsedChain {
                    name: name.to_string(),
                    policy: None,
                    rules: Vec::new(),
                },
            );
            Ok(())
        }
        (false, policy) => Err(format!("user chain {name} cannot have policy {policy}")),
    }
}

/// Applies one `-A`/`-I`/`-D`/`-F`/`-N`/`-X` line.
fn apply_command(table: &mut ParsedTable, line: &str) -> Result<(), String> {
    let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim_start();
    let (chain_name, spec) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let spec = spec.trim();
    match cmd {
        "-A" | "--append" | "-I" | "--insert" | "-D" | "--delete" => {
            let (position, spec) = match cmd {
                "-I" | "--insert" => match spec.split_once(char::is_whitespace) {
                    Some((n, rest)) if n.parse::<usize>().is_ok() => {
                        (n.parse::<usize>().ok(), rest.trim())
                    }
                    _ => (Some(1), spec),
                },
                _ => (None, spec),
            };
            let rule = parse_rule(spec)?;
            if let Some(target) = &rule.target
                && !is_standard_target(&target.name)
                && !table.chains.contains_key(&target.name)
            {
                return Err(format!(
                    "jump to chain {:?}, which does not exist",
                    target.name
                ));
            }
            let chain = table
                .chains
                .get_mut(chain_name)
                .ok_or_else(|| format!("chain {chain_name:?} does not exist"))?;
            match cmd {
                "-A" | "--append" => chain.rules.push(rule),
                "-D" | "--delete" => {
                    let at = chain
                        .rules
                        .iter()
                        .position(|r| r.matches == rule.matches && r.target == rule.target)
                        .ok_or_else(|| format!("no such rule in {chain_name}: {spec}"))?;
                    chain.rules.remove(at);
                }
                _ => {
                    let at = position.unwrap_or(1);
                    if at == 0 || at > chain.rules.len() + 1 {
                        return Err(format!("index {at} out of range in {chain_name}"));
                    }
                    chain.rules.insert(at - 1, rule);
                }
            }
            Ok(())
        }
        "-F" | "--flush" => {
            if chain_name.is_empty() {
                table.chains.values_mut().for_each(|c| c.rules.clear());
            } else {
                table
                    .chains
                    .get_mut(chain_name)
                    .ok_or_else(|| format!("chain {chain_name:?} does not exist"))?
                    .rules
                    .clear();
            }
            Ok(())
        }
        "-N" | "--new-chain" => {
            if table.chains.contains_key(chain_name) {
                return Err(format!("chain {chain_name} already exists"));
            }
            declare_chain(table, "", chain_name, "-")
        }
        "-X" | "--delete-chain" => {
            let chain = table
                .chains
                .get(chain_name)
                .ok_or_else(|| format!("chain {chain_name:?} does not exist"))?;
            if chain.policy.is_some() {
                return Err(format!("cannot delete built-in chain {chain_name}"));
            }
            if !chain.rules.is_empty() {
                return Err(format!("chain {chain_name} is not empty"));
            }
            let referenced = table.chains.values().any(|c| {
                c.rules
                    .iter()
                    .any(|r| r.target.as_ref().is_some_and(|t| t.name == chain_name))
            });
            if referenced {
                return Err(format!("chain {chain_name} is still referenced"));
            }
            table.chains.remove(chain_name);
            Ok(())
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

#[cfg(test)]
mod tests;
