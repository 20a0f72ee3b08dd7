//! The compiler's output: chains as iptables-restore lines, in the form `iptables-save`
//! prints them, so that what was written can be compared with what the kernel holds.

use std::fmt::Write as _;
use std::sync::Arc;

/// The two tables kproxy programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Filter,
    Nat,
}

impl Table {
    pub const ALL: [Table; 2] = [Table::Filter, Table::Nat];

    pub fn as_str(self) -> &'static str {
        match self {
            Table::Filter => "filter",
            Table::Nat => "nat",
        }
    }
}

/// One user-defined chain kproxy owns, with its rules in order. Each rule is the text after
/// `-A <chain> ` in iptables-save output.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Chain {
    pub table: Table,
    pub name: String,
    pub rules: Vec<String>,
}

impl Chain {
    pub fn new<S: Into<String>>(
        table: Table,
        name: impl Into<String>,
        rules: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            table,
            name: name.into(),
            rules: rules.into_iter().map(Into::into).collect(),
        }
    }

    /// The rules in order, each the text after `-A <chain> `.
    pub fn rules(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        self.rules.iter().map(String::as_str)
    }
}

/// A rule kproxy needs in a built-in chain (`PREROUTING`, `INPUT`, …) to enter its own chains.
/// Built-in chains are shared with others, so these rules are checked and inserted one by
/// one instead of the chain being rewritten.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Jump {
    pub table: Table,
    pub chain: &'static str,
    /// Rule text after `-A <chain> `, in iptables-save form.
    pub rule: String,
}

/// The whole desired state of kproxy's iptables rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Every chain kproxy owns, each once. `Arc` lets an incremental compile share the chains
    /// of unchanged services with the previous ruleset, so comparing them is cheap.
    pub chains: Vec<Arc<Chain>>,
    pub jumps: Vec<Jump>,
}

impl Ruleset {
    pub fn chain(&self, table: Table, name: &str) -> Option<&Chain> {
        self.chains
            .iter()
            .map(Arc::as_ref)
            .find(|c| c.table == table && c.name == name)
    }

    /// The iptables-restore input that writes every chain (and inserts the jumps, for a
    /// kernel that has none): what `--dry-run` prints and what the bare-restore benchmark applies.
    pub fn to_restore_input(&self) -> String {
        let mut out = String::new();
        for table in Table::ALL {
            let chains: Vec<&Chain> = self
                .chains
                .iter()
                .map(Arc::as_ref)
                .filter(|c| c.table == table)
                .collect();
            let jumps: Vec<&Jump> = self.jumps.iter().filter(|j| j.table == table).collect();
            if chains.is_empty() && jumps.is_empty() {
                continue;
            }
            let _ = writeln!(out, "*{}", table.as_str());
            write_chains(&mut out, &chains);
            for jump in jumps {
                let _ = writeln!(out, "-A {} {}", jump.chain, jump.rule);
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

/// Writes chain declarations (which flush the chains in `--noflush` mode), then their rules.
pub fn write_chains(out: &mut String, chains: &[&Chain]) {
    for chain in chains {
        let _ = writeln!(out, ":{} - [0:0]", chain.name);
    }
    for chain in chains {
        for rule in &chain.rules {
            let _ = writeln!(out, "-A {} {}", chain.name, rule);
        }
    }
}
