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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::model::{Change, Conditions, EndpointSlice, Protocol, Service};

    fn state(endpoint: u8) -> ProxyState {
        let mut state = ProxyState::new("node-a");
        for (name, last) in [("a", 1), ("b", 2)] {
            let svc = Service::new("ns", name, Ipv4Addr::new(10, 96, 0, last)).with_port(
                "",
                80,
                Protocol::Tcp,
                None,
            );
            let slice = EndpointSlice::new(&svc.name, name)
                .with_port("", 8080, Protocol::Tcp)
                .with_endpoint(
                    Ipv4Addr::new(10, 244, last, endpoint),
                    None,
                    Conditions::READY,
                );
            state.apply(Change::service(svc));
            state.apply(Change::slice(slice));
        }
        state
    }

    fn snapshots(state: &ProxyState) -> Vec<ServiceSnapshot> {
        state
            .shared_services()
            .map(|s| ServiceSnapshot::read(state, s))
            .collect()
    }

    /// What `note` saw: the service, its old output and its new one.
    type Noted = (String, Option<String>, Option<String>);

    /// Updates `cache` with every service of `state`, "compiling" a service into its name
    /// and endpoint count; returns what was compiled and what `note` saw.
    fn update(
        cache: &mut ServiceCache<String, u8>,
        state: &ProxyState,
        removed: &[&ServiceName],
        key: u8,
    ) -> (Vec<String>, Vec<Noted>) {
        let mut compiled = Vec::new();
        let mut noted = Vec::new();
        cache.update(
            snapshots(state),
            removed,
            &key,
            |stale| {
                let out: Vec<String> = stale
                    .iter()
                    .map(|s| format!("{}:{}", s.name(), s.endpoint_count()))
                    .collect();
                compiled.clone_from(&out);
                out
            },
            |name, old, new| {
                noted.push((name.to_string(), old.cloned(), new.map(|n| n.clone())));
            },
        );
        (compiled, noted)
    }

    #[test]
    fn equal_snapshots_and_key_reuse_the_output() {
        let st = state(1);
        let mut cache = ServiceCache::default();
        let (compiled, noted) = update(&mut cache, &st, &[], 0);
        assert_eq!(compiled, ["ns/a:1", "ns/b:1"]);
        assert_eq!(noted[0], ("ns/a".into(), None, Some("ns/a:1".into())));

        let (compiled, noted) = update(&mut cache, &st, &[], 0);
        assert!(compiled.is_empty() && noted.is_empty());

        // A fresh read of an unchanged state is equal too.
        let again = state(1);
        assert!(update(&mut cache, &again, &[], 0).0.is_empty());
    }

    #[test]
    fn a_changed_snapshot_or_key_compiles_again() {
        let mut cache = ServiceCache::default();
        update(&mut cache, &state(1), &[], 0);
        let (compiled, noted) = update(&mut cache, &state(2), &[], 0);
        assert_eq!(compiled.len(), 2, "other endpoints");
        assert_eq!(
            noted[1],
            ("ns/b".into(), Some("ns/b:1".into()), Some("ns/b:1".into()))
        );
        let (compiled, _) = update(&mut cache, &state(2), &[], 1);
        assert_eq!(compiled.len(), 2, "another key");
    }

    #[test]
    fn removed_services_are_forgotten_and_noted() {
        let mut st = state(1);
        let mut cache = ServiceCache::default();
        update(&mut cache, &st, &[], 0);
        let a = ServiceName::new("ns", "a");
        st.apply(Change::ServiceDeleted(a.clone()));
        let missing = cache.missing_from(&st);
        assert_eq!(missing, std::slice::from_ref(&a));
        let (compiled, noted) = update(&mut cache, &st, &[&a], 0);
        assert!(compiled.is_empty());
        assert_eq!(noted, [("ns/a".into(), Some("ns/a:1".into()), None)]);
        assert!(cache.get(&a).is_none() && cache.snapshot(&a).is_none());
        assert_eq!(cache.outputs().collect::<Vec<_>>(), ["ns/b:1"]);
    }

    #[test]
    fn note_may_adjust_what_is_stored() {
        let mut cache: ServiceCache<String, ()> = ServiceCache::default();
        let st = state(1);
        cache.update(
            snapshots(&st),
            &[],
            &(),
            |stale| vec![String::new(); stale.len()],
            |name, _, new| {
                if let Some(new) = new {
                    *new = format!("adjusted {name}");
                }
            },
        );
        assert_eq!(
            cache.get(&ServiceName::new("ns", "a")).map(String::as_str),
            Some("adjusted ns/a")
        );
    }
}
