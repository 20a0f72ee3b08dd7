//! Per-service reuse of compiled output, written once for every backend: a service is
//! compiled again only when its [`ServiceSnapshot`] (or the compiler's own `key`, such as
//! iptables' large-cluster mode) differs from what its cached output was compiled from.

use std::collections::BTreeMap;

use super::{ProxyState, ServiceName, ServiceSnapshot};

/// Each service's compiled output `T`, with the snapshot and key it was compiled from.
#[derive(Debug)]
pub struct ServiceCache<T, K> {
    entries: BTreeMap<ServiceName, Entry<T, K>>,
}

#[derive(Debug)]
struct Entry<T, K> {
    snapshot: ServiceSnapshot,
    key: K,
    output: T,
}

impl<T, K> Default for ServiceCache<T, K> {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }
}

impl<T, K: Clone + PartialEq> ServiceCache<T, K> {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, name: &ServiceName) -> Option<&T> {
        self.entries.get(name).map(|e| &e.output)
    }

    /// What `name`'s cached output was compiled from.
    pub fn snapshot(&self, name: &ServiceName) -> Option<&ServiceSnapshot> {
        self.entries.get(name).map(|e| &e.snapshot)
    }

    /// The cached outputs, by service name.
    pub fn outputs(&self) -> impl Iterator<Item = &T> {
        self.entries.values().map(|e| &e.output)
    }

    /// Cached services the state no longer has.
    pub fn missing_from(&self, state: &ProxyState) -> Vec<ServiceName> {
        self.entries
            .keys()
            .filter(|name| state.service(name).is_none())
            .cloned()
            .collect()
    }

    /// Brings the cache up to date: forgets `removed`, and compiles those of `snapshots`
    /// whose snapshot or key differ from their cached output's (`compile` gets them all at
    /// once, so that it may spread them over threads, and returns their outputs in order).
    /// `note` sees each change before it is stored: the service, its old output and its
    /// new one (`None` when removed), which it may still adjust.
    pub fn update(
        &mut self,
        snapshots: Vec<ServiceSnapshot>,
        removed: &[&ServiceName],
        key: &K,
        compile: impl FnOnce(&[ServiceSnapshot]) -> Vec<T>,
        mut note: impl FnMut(&ServiceName, Option<&T>, Option<&mut T>),
    ) {
        for name in removed {
            if let Some(old) = self.entries.remove(*name) {
                note(name, Some(&old.output), None);
            }
        }
        let stale: Vec<ServiceSnapshot> = snapshots
            .into_iter()
            .filter(|s| {
                !self
                    .entries
                    .get(s.name())
                    .is_some_and(|e| e.key == *key && e.snapshot == *s)
            })
            .collect();
        let outputs = compile(&stale);
        assert_eq!(outputs.len(), stale.len(), "one output per snapshot");
        let compiled = stale.into_iter().zip(outputs);
        if self.entries.is_empty() {
            // Built in one go from sorted names, the tree's nodes come out full (inserted
            // one by one in order they stay about half empty: 2.5 MB more at 10k services).
            self.entries = compiled
                .map(|(snapshot, mut output)| {
                    note(snapshot.name(), None, Some(&mut output));
                    (snapshot.name().clone(), entry(snapshot, key, output))
                })
                .collect();
            return;
        }
        for (snapshot, mut output) in compiled {
            let old = self.entries.remove(snapshot.name());
            note(
                snapshot.name(),
                old.as_ref().map(|e| &e.output),
                Some(&mut output),
            );
            self.entries
                .insert(snapshot.name().clone(), entry(snapshot, key, output));
        }
    }
}

fn entry<T, K: Clone>(snapshot: ServiceSnapshot, key: &K, output: T) -> Entry<T, K> {
    Entry {
        snapshot,
        key: key.clone(),
        output,
    }
}
