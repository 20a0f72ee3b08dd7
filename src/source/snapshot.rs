//! The last state a source reported, so a fresh complete view (a rescan of the manifest
//! directory, a relist after 410 Gone) turns into the updates and deletes that lead to it.

use std::collections::HashMap;
use std::hash::Hash;

/// Objects of one kind as last reported downstream, by name.
#[derive(Debug)]
pub struct Reported<K, V> {
    items: HashMap<K, V>,
}

impl<K, V> Default for Reported<K, V> {
    fn default() -> Self {
        Self {
            items: HashMap::new(),
        }
    }
}

/// What to send downstream to move from the reported view to a new one.
#[derive(Debug, PartialEq, Eq)]
pub struct Delta<K, V> {
    /// New or changed objects.
    pub updated: Vec<V>,
    /// Names of objects that are gone.
    pub deleted: Vec<K>,
}

impl<K: Eq + Hash + Clone + Ord, V: PartialEq + Clone> Reported<K, V> {
    /// Records one object; returns whether it is new or changed.
    pub fn upsert(&mut self, key: K, value: V) -> bool {
        if self.items.get(&key) == Some(&value) {
            return false;
        }
        self.items.insert(key, value);
        true
    }

    /// Forgets one object; returns whether it was known.
    pub fn remove(&mut self, key: &K) -> bool {
        self.items.remove(key).is_some()
    }

    /// Replaces the whole view; returns the changes, deletions sorted by name.
    pub fn replace_all(&mut self, fresh: HashMap<K, V>) -> Delta<K, V> {
        let mut deleted: Vec<K> = self
            .items
            .keys()
            .filter(|k| !fresh.contains_key(*k))
            .cloned()
            .collect();
        deleted.sort();
        let updated = fresh
            .iter()
            .filter(|(k, v)| self.items.get(*k) != Some(*v))
            .map(|(_, v)| v.clone())
            .collect();
        self.items = fresh;
        Delta { updated, deleted }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_all_reports_changes_and_deletions_only() {
        let mut r = Reported::default();
        r.upsert("a", 1);
        r.upsert("b", 2);
        let delta = r.replace_all(HashMap::from([("b", 2), ("c", 3)]));
        assert_eq!(
            delta,
            Delta {
                updated: vec![3],
                deleted: vec!["a"]
            }
        );
        assert!(!r.upsert("c", 3));
        assert!(r.upsert("c", 4));
        assert!(r.remove(&"c") && !r.remove(&"c"));
    }
}
