//! Large plans written as several restores.
//!
//! iptables-nft (1.8.9, and the code is unchanged since) slows down quadratically with the
//! number of chains one `--noflush` restore names: it keeps those names in a sorted linked
//! list walked with `strcmp` for every rule, and inserts each new chain into another sorted
//! list of its cache. One restore of 2,000 services (31k chains, 122k lines) takes about
//! 4 minutes, of 10,000 services hours; the same input in batches of 250 chains takes 4 s
//! and 43 s (docs/benchmarks.md). A batch names at most `max_chains` chains:
//!
//! 1. chains to write, leaves first (a chain comes after every chain it jumps to that is
//!    also being written), so no rule ever jumps to a chain that is missing or not yet
//!    rewritten; within a batch chains are declared in descending name order, which makes
//!    iptables-nft's sorted insert stop at the first element;
//! 2. the fixes of the built-in chains' jumps, with the last written batch of their table;
//! 3. chains to delete, referrers first (as [`Plan::new`] orders them), each batch flushing
//!    its chains before deleting them.
//!
//! Each batch is atomic; the whole plan is not, but every intermediate state is one that a
//! sequence of partial syncs could have produced.
//!
//! iptables-legacy has no such cost but rewrites the whole table on every restore, so with it
//! the backend writes one restore (`IptablesRunner::max_chains_per_restore`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::{Plan, TablePlan};
use crate::backend::iptables::ruleset::{Chain, Table};

impl Plan {
    /// The restore inputs that apply this plan in order, each naming at most `max_chains`
    /// chains (at least 1), rendered one at a time so that only one batch's text is in
    /// memory. A plan that fits is the single input [`Plan::render`] gives.
    pub fn render_batches(&self, max_chains: usize) -> impl Iterator<Item = String> + '_ {
        let max_chains = max_chains.max(1);
        let fits = self
            .tables
            .iter()
            .all(|t| t.write.len() + t.delete.len() <= max_chains);
        let batches = if fits {
            if self.is_empty() {
                Vec::new()
            } else {
                vec![Batch::Whole]
            }
        } else {
            Table::ALL
                .into_iter()
                .flat_map(|t| table_batches(t, &self.tables[t as usize], max_chains))
                .collect()
        };
        batches.into_iter().map(move |b| b.render(self))
    }
}

/// One restore of a batched plan.
enum Batch<'a> {
    /// The plan fits in one restore.
    Whole,
    /// Chains to write (declared, then their rules), with the table's jump fixes when last.
    Write {
        table: Table,
        chains: Vec<&'a Chain>,
        jump_fixes: bool,
    },
    /// The table's jump fixes, when no chain of the table is written.
    JumpFixes(Table),
    /// Chains to flush and delete.
    Delete { table: Table, names: &'a [String] },
}

impl Batch<'_> {
    fn render(&self, plan: &Plan) -> String {
        let (table, mut text) = match self {
            Batch::Whole => return plan.render(),
            Batch::Write { table, .. } | Batch::JumpFixes(table) | Batch::Delete { table, .. } => {
                (*table, format!("*{}\n", table.as_str()))
            }
        };
        let table_plan = &plan.tables[table as usize];
        match self {
            Batch::Whole => unreachable!("rendered above"),
            Batch::Write {
                chains, jump_fixes, ..
            } => {
                let mut declared: Vec<&str> = chains.iter().map(|c| c.name()).collect();
                declared.sort_unstable_by(|a, b| b.cmp(a));
                for name in declared {
                    let _ = writeln!(text, ":{name} - [0:0]");
                }
                for chain in chains {
                    chain.write_appends(&mut text);
                }
                if *jump_fixes {
                    push_jump_fixes(&mut text, table_plan);
                }
            }
            Batch::JumpFixes(_) => push_jump_fixes(&mut text, table_plan),
            Batch::Delete { names, .. } => {
                for name in *names {
                    let _ = writeln!(text, ":{name} - [0:0]");
                }
                for name in *names {
                    let _ = writeln!(text, "-X {name}");
                }
            }
        }
        text.push_str("COMMIT\n");
        text
    }
}

fn table_batches(table: Table, plan: &TablePlan, max_chains: usize) -> Vec<Batch<'_>> {
    let mut out = Vec::new();
    let mut writes: Vec<&Chain> = plan.write.iter().map(Arc::as_ref).collect();
    let depth = depths(writes.iter().copied());
    writes.sort_by_key(|c| depth[c.name()]);
    let groups = writes.len().div_ceil(max_chains);
    for (i, chains) in writes.chunks(max_chains).enumerate() {
        out.push(Batch::Write {
            table,
            chains: chains.to_vec(),
            jump_fixes: i + 1 == groups,
        });
    }
    let has_jump_fixes = !plan.delete_jumps.is_empty() || !plan.insert_jumps.is_empty();
    if groups == 0 && has_jump_fixes {
        out.push(Batch::JumpFixes(table));
    }
    for names in plan.delete.chunks(max_chains) {
        out.push(Batch::Delete { table, names });
    }
    out
}

fn push_jump_fixes(text: &mut String, plan: &TablePlan) {
    for (chain, rule) in &plan.delete_jumps {
        let _ = writeln!(text, "-D {chain} {rule}");
    }
    for (chain, rule) in &plan.insert_jumps {
        let _ = writeln!(text, "-I {chain} 1 {rule}");
    }
}

/// For each chain, the length of the longest path of jumps from it to a chain outside the
/// set (0 for a chain that jumps to none of the set). Jumping to a chain means depending on
/// it, so writing in increasing depth writes every chain after its targets. A cycle (which
/// iptables refuses anyway) is cut where it is found.
pub(super) fn depths<'a>(chains: impl Iterator<Item = &'a Chain>) -> HashMap<&'a str, usize> {
    let rules: HashMap<&str, &Chain> = chains.map(|c| (c.name(), c)).collect();
    let mut depth: HashMap<&str, usize> = HashMap::with_capacity(rules.len());
    for &start in rules.keys() {
        if depth.contains_key(start) {
            continue;
        }
        // Iterative depth-first walk: (chain, targets still to visit).
        let mut on_path: Vec<&str> = vec![start];
        let mut stack: Vec<(&str, Vec<&str>)> = vec![(start, targets(rules[start], &rules))];
        while let Some((name, pending)) = stack.last_mut() {
            let name = *name;
            if let Some(next) = pending.pop() {
                if !depth.contains_key(next) && !on_path.contains(&next) {
                    on_path.push(next);
                    stack.push((next, targets(rules[next], &rules)));
                }
                continue;
            }
            let own = targets(rules[name], &rules)
                .iter()
                .filter_map(|t| depth.get(t).map(|d| d + 1))
                .max()
                .unwrap_or(0);
            depth.insert(name, own);
            stack.pop();
            on_path.pop();
        }
    }
    depth
}

/// The chains of the set that `rules` jump or go to.
fn targets<'a>(chain: &'a Chain, set: &HashMap<&str, &'a Chain>) -> Vec<&'a str> {
    let mut out: Vec<&str> = chain
        .rules()
        .filter_map(jump_target)
        .filter(|t| set.contains_key(t))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The chain a rule jumps (`-j`) or goes (`-g`) to.
fn jump_target(rule: &str) -> Option<&str> {
    let mut words = rule.split_whitespace();
    while let Some(word) = words.next() {
        if word == "-j" || word == "-g" {
            return words.next();
        }
    }
    None
}

#[cfg(test)]
mod tests;
