//! The server's objects and its event log, with one resourceVersion counter shared by
//! every kind (as etcd's revision is). Pure data: no I/O, no async.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::selector::Selector;

/// The collections the test server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Services,
    EndpointSlices,
    Nodes,
}

impl Resource {
    pub const ALL: [Self; 3] = [Self::Services, Self::EndpointSlices, Self::Nodes];

    pub fn kind(self) -> &'static str {
        match self {
            Self::Services => "Service",
            Self::EndpointSlices => "EndpointSlice",
            Self::Nodes => "Node",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Self::Services | Self::Nodes => "v1",
            Self::EndpointSlices => "discovery.k8s.io/v1",
        }
    }

    /// The collection's name in URL paths.
    pub fn plural(self) -> &'static str {
        match self {
            Self::Services => "services",
            Self::EndpointSlices => "endpointslices",
            Self::Nodes => "nodes",
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(self, Self::Nodes)
    }

    /// `(namespace, name)` of an object of this resource; Nodes have no namespace.
    pub fn key(self, obj: &Value) -> Option<(String, String)> {
        let meta = &obj["metadata"];
        let name = meta["name"].as_str().filter(|n| !n.is_empty())?;
        let ns = if self.namespaced() {
            meta["namespace"].as_str().unwrap_or("default")
        } else {
            ""
        };
        Some((ns.to_string(), name.to_string()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change, as stored in the log. A watch with a selector turns it into ADDED,
/// MODIFIED or DELETED depending on whether `old` and `new` match, as the API server does.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub rv: u64,
    pub resource: Resource,
    pub kind: EventType,
    pub old: Option<Value>,
    pub new: Value,
}

impl LogEntry {
    /// The watch event this entry is for a watcher with `selector`, if any.
    pub fn event_for(&self, selector: &Selector) -> Option<Value> {
        let new_matches = selector.matches(&self.new);
        let old_matches = self.old.as_ref().is_some_and(|o| selector.matches(o));
        let kind = match self.kind {
            EventType::Deleted if old_matches || new_matches => "DELETED",
            EventType::Deleted => return None,
            _ => match (old_matches, new_matches) {
                (false, true) => "ADDED",
                (true, true) => "MODIFIED",
                (true, false) => "DELETED",
                (false, false) => return None,
            },
        };
        Some(json!({"type": kind, "object": self.new}))
    }
}

/// Objects by resource and key, plus every change since the server started.
#[derive(Debug, Default)]
pub struct Store {
    rv: u64,
    objects: HashMap<Resource, BTreeMap<(String, String), Value>>,
    log: Vec<LogEntry>,
    /// Watches asking for a resourceVersion below this get 410 Gone.
    compacted: u64,
}

impl Store {
    /// The latest resourceVersion.
    pub fn current(&self) -> u64 {
        self.rv
    }

    /// Creates or replaces an object; returns its new resourceVersion, or `None` if it has no name.
    pub fn put(&mut self, resource: Resource, mut obj: Value) -> Option<u64> {
        let key = resource.key(&obj)?;
        self.rv += 1;
        let meta = obj
            .as_object_mut()?
            .entry("metadata")
            .or_insert_with(|| json!({}));
        meta["resourceVersion"] = json!(self.rv.to_string());
        if resource.namespaced() {
            meta["namespace"] = json!(key.0);
        }
        obj["kind"] = json!(resource.kind());
        obj["apiVersion"] = json!(resource.api_version());
        let old = self
            .objects
            .entry(resource)
            .or_default()
            .insert(key, obj.clone());
        let kind = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.log.push(LogEntry {
            rv: self.rv,
            resource,
            kind,
            old,
            new: obj,
        });
        Some(self.rv)
    }

    /// Deletes an object; returns the deletion's resourceVersion, or `None` if it did not exist.
    pub fn delete(&mut self, resource: Resource, namespace: &str, name: &str) -> Option<u64> {
        let ns = if resource.namespaced() { namespace } else { "" };
        let key = (ns.to_string(), name.to_string());
        let old = self.objects.get_mut(&resource)?.remove(&key)?;
        self.rv += 1;
        // The API server sends the last state, stamped with the deletion's resourceVersion.
        let mut new = old.clone();
        new["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.log.push(LogEntry {
            rv: self.rv,
            resource,
            kind: EventType::Deleted,
            old: Some(old),
            new,
        });
        Some(self.rv)
    }

    /// The objects matching `selector`, sorted by key, and the resourceVersion of the list.
    pub fn list(&self, resource: Resource, selector: &Selector) -> (u64, Vec<Value>) {
        let items = self
            .objects
            .get(&resource)
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|o| selector.matches(o))
            .cloned()
            .collect();
        (self.rv, items)
    }

    /// Whether a watch may start at `rv` (false: 410 Gone).
    pub fn can_watch_from(&self, rv: u64) -> bool {
        rv >= self.compacted
    }

    /// Log entries of `resource` after `rv`, oldest first.
    pub fn entries_after(&self, resource: Resource, rv: u64) -> impl Iterator<Item = &LogEntry> {
        let start = self.log.partition_point(|e| e.rv <= rv);
        self.log[start..]
            .iter()
            .filter(move |e| e.resource == resource)
    }

    /// Forgets history up to now: a watch resuming from any older resourceVersion gets
    /// 410 Gone. Open watches keep streaming.
    pub fn compact(&mut self) {
        self.compacted = self.rv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, labels: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn resource_versions_increase_across_kinds_and_deletes_are_logged() {
        let mut s = Store::default();
        assert_eq!(s.put(Resource::Services, svc("a", json!({}))), Some(1));
        assert_eq!(
            s.put(Resource::Nodes, json!({"metadata": {"name": "n"}})),
            Some(2)
        );
        assert_eq!(
            s.put(Resource::Services, svc("a", json!({"x": "1"}))),
            Some(3)
        );
        assert_eq!(s.delete(Resource::Services, "ns", "a"), Some(4));
        assert_eq!(s.delete(Resource::Services, "ns", "a"), None);
        let all = Selector::default();
        let events: Vec<_> = s
            .entries_after(Resource::Services, 1)
            .filter_map(|e| e.event_for(&all))
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["type"], "MODIFIED");
        assert_eq!(events[1]["type"], "DELETED");
        assert_eq!(events[1]["object"]["metadata"]["resourceVersion"], "4");
        assert_eq!(s.list(Resource::Services, &all).1.len(), 0);
        assert_eq!(
            s.list(Resource::Nodes, &all),
            (4, vec![s.list(Resource::Nodes, &all).1[0].clone()])
        );
    }

    #[test]
    fn leaving_a_selector_is_a_delete_for_that_watcher() {
        let mut s = Store::default();
        let sel = Selector::parse("!skip", "").unwrap();
        s.put(Resource::Services, svc("a", json!({})));
        s.put(Resource::Services, svc("a", json!({"skip": "y"})));
        s.put(Resource::Services, svc("a", json!({})));
        let types: Vec<_> = s
            .entries_after(Resource::Services, 0)
            .filter_map(|e| e.event_for(&sel))
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(types, ["ADDED", "DELETED", "ADDED"]);
    }

    #[test]
    fn compaction_refuses_older_resource_versions() {
        let mut s = Store::default();
        s.put(Resource::Services, svc("a", json!({})));
        s.put(Resource::Services, svc("b", json!({})));
        assert!(s.can_watch_from(0));
        s.compact();
        assert!(!s.can_watch_from(1));
        assert!(s.can_watch_from(2));
    }
}
