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

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::{Plan, TablePlan};
use crate::netfilter::iptables::ruleset::{Chain, RuleIter, Table};

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
    let writes: Vec<&Chain> = plan.write.iter().map(Arc::as_ref).collect();
    let writes = by_depth(&writes, false);
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

/// `chains` in increasing [`depths`] (decreasing if `reverse`), ties in their order.
pub(super) fn by_depth<'a>(chains: &[&'a Chain], reverse: bool) -> Vec<&'a Chain> {
    let depth = depths(chains);
    let mut order: Vec<(u32, &Chain)> = depth.into_iter().zip(chains.iter().copied()).collect();
    if reverse {
        order.sort_by_key(|(d, _)| std::cmp::Reverse(*d));
    } else {
        order.sort_by_key(|(d, _)| *d);
    }
    order.into_iter().map(|(_, c)| c).collect()
}

/// For each chain, the length of the longest path of jumps from it to a chain outside the
/// set (0 for a chain that jumps to none of the set), in the order of `chains`. Jumping to a
/// chain means depending on it, so writing in increasing depth writes every chain after its
/// targets. A cycle (which iptables refuses anyway) is cut where it is found.
///
/// A cold sync at 10k services sorts 155k chains: the walk keeps one index entry (16 bytes)
/// and one depth per chain, and reads each chain's jump targets straight from its rules.
pub(super) fn depths(chains: &[&Chain]) -> Vec<u32> {
    const UNSEEN: u32 = u32::MAX;
    const ON_PATH: u32 = u32::MAX - 1;
    let index: HashSet<Node> = chains
        .iter()
        .enumerate()
        .map(|(index, &chain)| Node { chain, index })
        .collect();
    let in_set = |rule: &str| -> Option<usize> {
        let target = jump_target(rule)?;
        index.get(target).map(|n| n.index)
    };
    let mut depth = vec![UNSEEN; chains.len()];
    // Iterative depth-first walk: (chain, its rules not yet looked at, its depth so far).
    let mut stack: Vec<(usize, RuleIter, u32)> = Vec::new();
    for start in 0..chains.len() {
        if depth[start] != UNSEEN {
            continue;
        }
        depth[start] = ON_PATH;
        stack.push((start, chains[start].rules(), 0));
        while let Some((node, rules, own)) = stack.last_mut() {
            if let Some(rule) = rules.next() {
                let Some(next) = in_set(rule) else { continue };
                match depth[next] {
                    ON_PATH => {}
                    UNSEEN => {
                        depth[next] = ON_PATH;
                        stack.push((next, chains[next].rules(), 0));
                    }
                    d => *own = (*own).max(d + 1),
                }
                continue;
            }
            let (node, own) = (*node, *own);
            depth[node] = own;
            stack.pop();
            if let Some((_, _, parent)) = stack.last_mut() {
                *parent = (*parent).max(own + 1);
            }
        }
    }
    depth
}

/// A chain found by its name, and where it is in the list.
struct Node<'a> {
    chain: &'a Chain,
    index: usize,
}

impl Borrow<str> for Node<'_> {
    fn borrow(&self) -> &str {
        self.chain.name()
    }
}

impl Hash for Node<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, for lookups by name.
        self.chain.name().hash(state);
    }
}

impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.chain.name() == other.chain.name()
    }
}

impl Eq for Node<'_> {}

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
