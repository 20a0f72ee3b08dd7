//! The difference between the desired ruleset and what the kernel holds, as one
//! iptables-restore input. Pure: the backend decides what "the kernel holds" means (read
//! back with iptables-save on a full sync, remembered from the last write otherwise).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use super::ruleset::{Chain, Ruleset, Table, write_chains};

pub use self::chain_map::ChainMap;

/// The built-in chains' rules that jump into kproxy's chains, by table and built-in chain.
pub type JumpMap = HashMap<(Table, String), Vec<String>>;

#[derive(Debug, Default, PartialEq, Eq)]
struct TablePlan {
    write: Vec<Arc<Chain>>,
    delete: Vec<String>,
    delete_jumps: Vec<(String, String)>,
    insert_jumps: Vec<(String, String)>,
}

/// What one sync writes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    tables: [TablePlan; Table::ALL.len()],
}

impl Plan {
    /// Compares `desired` with `kernel`. Chains whose rules are the same are left alone (their
    /// counters survive); changed and missing chains are rewritten; kproxy's chains the ruleset
    /// no longer has are deleted. With `kernel_jumps`, the built-in chains' jumps are made to
    /// be exactly the desired ones (missing ones inserted first in the chain, like kube-proxy;
    /// strays deleted).
    pub fn new(desired: &Ruleset, kernel: &ChainMap, kernel_jumps: Option<&JumpMap>) -> Self {
        let mut plan = Plan::default();
        // After a partial compile nearly every desired chain is the very `Arc` the map holds:
        // compare addresses first, and names (a string hash and compare per chain) only for
        // the rest. At 10k services this is most of a partial sync's own time.
        let kernel_arcs: HashSet<*const Chain> = kernel.iter().map(Arc::as_ptr).collect();
        // The kernel's chains that a desired chain is, or is named like; the others are
        // stale. (Both sets stay empty in a cold sync, where the kernel holds nothing.)
        let mut wanted: HashSet<*const Chain> = HashSet::with_capacity(kernel.len());
        for chain in &desired.chains {
            if kernel_arcs.contains(&Arc::as_ptr(chain)) {
                wanted.insert(Arc::as_ptr(chain));
                continue;
            }
            let same = match kernel.get(chain.table(), chain.name()) {
                Some(k) => {
                    wanted.insert(Arc::as_ptr(k));
                    k.same_rules(chain)
                }
                None => false,
            };
            if !same {
                plan.table_mut(chain.table()).write.push(Arc::clone(chain));
            }
        }
        let mut stale: Vec<&Chain> = if wanted.len() < kernel.len() {
            kernel
                .iter()
                .filter(|c| !wanted.contains(&Arc::as_ptr(c)))
                .map(Arc::as_ref)
                .collect()
        } else {
            Vec::new()
        };
        stale.sort_by(|a, b| (a.table(), a.name()).cmp(&(b.table(), b.name())));
        for table in Table::ALL {
            // Referrers first, so that batched deletes never delete a chain still jumped to.
            let chains: Vec<&Chain> = stale
                .iter()
                .copied()
                .filter(|c| c.table() == table)
                .collect();
            let chains = batches::by_depth(&chains, true);
            plan.table_mut(table).delete = chains.iter().map(|c| c.name().to_string()).collect();
        }
        if let Some(jumps) = kernel_jumps {
            plan.add_jump_fixes(desired, jumps);
        }
        plan
    }

    fn add_jump_fixes(&mut self, desired: &Ruleset, kernel: &JumpMap) {
        for ((table, chain), rules) in kernel {
            for rule in rules {
                let wanted = desired
                    .jumps
                    .iter()
                    .any(|j| j.table == *table && j.chain == chain && &j.rule == rule);
                if !wanted {
                    self.table_mut(*table)
                        .delete_jumps
                        .push((chain.clone(), rule.clone()));
                }
            }
        }
        // Inserted in reverse so that, each going first, they end up in the desired order.
        for jump in desired.jumps.iter().rev() {
            let present = kernel
                .get(&(jump.table, jump.chain.to_string()))
                .is_some_and(|rules| rules.contains(&jump.rule));
            if !present {
                self.table_mut(jump.table)
                    .insert_jumps
                    .push((jump.chain.to_string(), jump.rule.clone()));
            }
        }
    }

    fn table_mut(&mut self, table: Table) -> &mut TablePlan {
        &mut self.tables[table as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|t| *t == TablePlan::default())
    }

    /// Chains written plus chains deleted plus jumps fixed.
    pub fn size(&self) -> usize {
        self.tables
            .iter()
            .map(|t| t.write.len() + t.delete.len() + t.delete_jumps.len() + t.insert_jumps.len())
            .sum()
    }

    pub fn written(&self) -> impl Iterator<Item = &Arc<Chain>> {
        self.tables.iter().flat_map(|t| t.write.iter())
    }

    pub fn deleted(&self) -> impl Iterator<Item = (Table, &str)> {
        Table::ALL.into_iter().flat_map(move |table| {
            self.tables[table as usize]
                .delete
                .iter()
                .map(move |n| (table, n.as_str()))
        })
    }

    /// The iptables-restore input (for `--noflush`). Declaring a chain flushes it, so chains
    /// to delete are declared too; jumps are removed before the chains they point to.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for table in Table::ALL {
            let plan = &self.tables[table as usize];
            if *plan == TablePlan::default() {
                continue;
            }
            let _ = writeln!(out, "*{}", table.as_str());
            let written: Vec<&Chain> = plan.write.iter().map(Arc::as_ref).collect();
            for name in &plan.delete {
                let _ = writeln!(out, ":{name} - [0:0]");
            }
            write_chains(&mut out, &written);
            for (chain, rule) in &plan.delete_jumps {
                let _ = writeln!(out, "-D {chain} {rule}");
            }
            for (chain, rule) in &plan.insert_jumps {
                let _ = writeln!(out, "-I {chain} 1 {rule}");
            }
            for name in &plan.delete {
                let _ = writeln!(out, "-X {name}");
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

mod batches;
mod chain_map;

#[cfg(test)]
mod tests;
