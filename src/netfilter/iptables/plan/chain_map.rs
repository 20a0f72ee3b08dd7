//! kproxy's chains as the kernel holds them, found by table and name.
//!
//! A set of the chains themselves rather than a map from `(Table, String)`: the name is
//! already in the chain, and at 10k services a copied key cost 16 MB of the first sync's
//! peak (155k names plus 40-byte entries), this set 2.4 MB.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::netfilter::iptables::ruleset::{Chain, Table};

/// Chains by `(table, name)`, each name once per table.
#[derive(Clone, Debug, Default)]
pub struct ChainMap {
    chains: HashSet<ByName>,
}

impl ChainMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Self {
            chains: HashSet::with_capacity(n),
        }
    }

    pub fn get(&self, table: Table, name: &str) -> Option<&Arc<Chain>> {
        self.chains
            .get(&(table, name) as &dyn ChainKey)
            .map(|c| &c.0)
    }

    pub fn contains(&self, table: Table, name: &str) -> bool {
        self.get(table, name).is_some()
    }

    /// Adds `chain`, replacing the chain of the same table and name; returns that one.
    pub fn insert(&mut self, chain: Arc<Chain>) -> Option<Arc<Chain>> {
        self.chains.replace(ByName(chain)).map(|c| c.0)
    }

    pub fn remove(&mut self, table: Table, name: &str) -> Option<Arc<Chain>> {
        self.chains
            .take(&(table, name) as &dyn ChainKey)
            .map(|c| c.0)
    }

    pub fn len(&self) -> usize {
        self.chains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }

    /// Every chain, in no particular order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Arc<Chain>> + '_ {
        self.chains.iter().map(|c| &c.0)
    }
}

impl FromIterator<Arc<Chain>> for ChainMap {
    fn from_iter<I: IntoIterator<Item = Arc<Chain>>>(iter: I) -> Self {
        Self {
            chains: iter.into_iter().map(ByName).collect(),
        }
    }
}

impl Extend<Arc<Chain>> for ChainMap {
    fn extend<I: IntoIterator<Item = Arc<Chain>>>(&mut self, iter: I) {
        for chain in iter {
            self.insert(chain);
        }
    }
}

/// A chain hashed and compared by its table and name only.
#[derive(Clone, Debug)]
struct ByName(Arc<Chain>);

/// What the set is keyed by, so it can be searched with a borrowed `(Table, &str)`.
trait ChainKey {
    fn key(&self) -> (Table, &str);
}

impl ChainKey for ByName {
    fn key(&self) -> (Table, &str) {
        (self.0.table(), self.0.name())
    }
}

impl ChainKey for (Table, &str) {
    fn key(&self) -> (Table, &str) {
        (self.0, self.1)
    }
}

impl<'a> Borrow<dyn ChainKey + 'a> for ByName {
    fn borrow(&self) -> &(dyn ChainKey + 'a) {
        self
    }
}

impl Hash for dyn ChainKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialEq for dyn ChainKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for dyn ChainKey + '_ {}

impl Hash for ByName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly as `dyn ChainKey` does.
        self.key().hash(state);
    }
}

impl PartialEq for ByName {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for ByName {}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(table: Table, name: &str, rules: &[&str]) -> Arc<Chain> {
        Arc::new(Chain::new(table, name, rules.iter().copied()))
    }

    #[test]
    fn finds_chains_by_table_and_name() {
        let mut map: ChainMap = [
            chain(Table::Nat, "KUBE-SERVICES", &["-j A"]),
            chain(Table::Filter, "KUBE-SERVICES", &["-j B"]),
        ]
        .into_iter()
        .collect();
        assert_eq!(map.len(), 2);
        let nat = map.get(Table::Nat, "KUBE-SERVICES").unwrap();
        assert_eq!(nat.rules().collect::<Vec<_>>(), ["-j A"]);
        assert!(map.get(Table::Nat, "KUBE-NODEPORTS").is_none());

        // Same table and name: replaced, whatever the rules.
        let newer = chain(Table::Nat, "KUBE-SERVICES", &["-j C"]);
        let old = map.insert(Arc::clone(&newer)).unwrap();
        assert_eq!(old.rules().collect::<Vec<_>>(), ["-j A"]);
        assert!(Arc::ptr_eq(
            map.get(Table::Nat, "KUBE-SERVICES").unwrap(),
            &newer
        ));
        assert_eq!(map.len(), 2);

        assert!(map.remove(Table::Filter, "KUBE-SERVICES").is_some());
        assert!(map.remove(Table::Filter, "KUBE-SERVICES").is_none());
        assert!(!map.contains(Table::Filter, "KUBE-SERVICES"));
        assert_eq!(map.iter().count(), 1);
    }
}
