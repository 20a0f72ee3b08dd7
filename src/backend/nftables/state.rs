//! The table as netlink objects, on both sides of a sync: [`Desired`] (what the compiler
//! wants, full objects) and [`Mirror`] (what the kernel holds as far as kproxy knows:
//! normalized definitions and a digest of each chain's rules and each element, so that
//! remembering the kernel costs a few words per object rather than a copy of the rules).

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

use super::layout::Layout;
use super::lower;
use crate::nftables::{Chain, Element, Rule, Set};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredChain {
    pub chain: Chain,
    pub rules: Vec<Rule>,
    pub digest: u64,
}

/// What the table should hold.
#[derive(Clone, Debug, Default)]
pub struct Desired {
    pub chains: BTreeMap<String, DesiredChain>,
    pub sets: BTreeMap<String, Set>,
    /// Elements of the static sets and maps, by set and key (dynamic sets' elements are
    /// the kernel's own).
    pub elements: BTreeMap<String, BTreeMap<Vec<u8>, Element>>,
}

/// What one change touches, so a partial sync compares only that.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    pub chains: BTreeSet<String>,
    pub sets: BTreeSet<String>,
    pub elements: BTreeSet<(String, Vec<u8>)>,
}

impl Touched {
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty() && self.sets.is_empty() && self.elements.is_empty()
    }
}

impl Desired {
    pub fn from_layout(layout: &Layout) -> Self {
        let mut d = Desired::default();
        d.add(layout, &mut Touched::default());
        d
    }

    /// Adds a layout's objects. An element whose key another service already put in a
    /// map stays as that service wrote it (two services claiming one address and port).
    pub fn add(&mut self, layout: &Layout, touched: &mut Touched) {
        for s in &layout.sets {
            touched.sets.insert(s.name.clone());
            self.sets.insert(s.name.clone(), lower::set(s));
        }
        for c in &layout.chains {
            touched.chains.insert(c.name.clone());
            let rules: Vec<Rule> = c.rules.iter().map(|r| lower::rule(&c.name, r)).collect();
            let digest = rules_digest(&rules);
            let chain = DesiredChain {
                chain: lower::chain(c),
                rules,
                digest,
            };
            self.chains.insert(c.name.clone(), chain);
        }
        for e in &layout.elements {
            let el = lower::element(e);
            let key = el.key.clone().unwrap_or_default();
            touched.elements.insert((e.set.to_string(), key.clone()));
            self.elements
                .entry(e.set.to_string())
                .or_default()
                .entry(key)
                .or_insert(el);
        }
    }

    /// Removes what `layout` added (an element only if it is still the one it added).
    pub fn remove(&mut self, layout: &Layout, touched: &mut Touched) {
        for s in &layout.sets {
            touched.sets.insert(s.name.clone());
            self.sets.remove(&s.name);
        }
        for c in &layout.chains {
            touched.chains.insert(c.name.clone());
            self.chains.remove(&c.name);
        }
        for e in &layout.elements {
            let el = lower::element(e);
            let key = el.key.clone().unwrap_or_default();
            touched.elements.insert((e.set.to_string(), key.clone()));
            if let Some(map) = self.elements.get_mut(e.set) {
                if map.get(&key) == Some(&el) {
                    map.remove(&key);
                }
                if map.is_empty() {
                    self.elements.remove(e.set);
                }
            }
        }
    }
}

/// What the kernel holds, as far as kproxy knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mirror {
    pub table: bool,
    /// Normalized chain definitions with the digest of their rules.
    pub chains: BTreeMap<String, (Chain, u64)>,
    pub sets: BTreeMap<String, Set>,
    pub elements: BTreeMap<String, BTreeMap<Vec<u8>, u64>>,
}

impl Mirror {
    /// The mirror of a kernel that holds exactly `desired`.
    pub fn of(desired: &Desired) -> Self {
        let mut m = Mirror {
            table: true,
            ..Mirror::default()
        };
        m.copy(desired, None);
        m
    }

    /// Makes the mirror equal to `desired` over `scope` (everything when `None`): after
    /// a committed batch, the kernel holds what the batch was computed to write.
    pub fn copy(&mut self, desired: &Desired, scope: Option<&Touched>) {
        self.table = true;
        match scope {
            None => {
                self.chains = desired
                    .chains
                    .iter()
                    .map(|(n, c)| (n.clone(), (c.chain.normalized(), c.digest)))
                    .collect();
                self.sets = desired
                    .sets
                    .iter()
                    .map(|(n, s)| (n.clone(), s.normalized()))
                    .collect();
                self.elements = desired
                    .elements
                    .iter()
                    .map(|(n, es)| {
                        let es = es.iter().map(|(k, e)| (k.clone(), element_digest(e)));
                        (n.clone(), es.collect())
                    })
                    .collect();
            }
            Some(t) => {
                for name in &t.chains {
                    match desired.chains.get(name) {
                        Some(c) => {
                            self.chains
                                .insert(name.clone(), (c.chain.normalized(), c.digest));
                        }
                        None => {
                            self.chains.remove(name);
                        }
                    }
                }
                for name in &t.sets {
                    match desired.sets.get(name) {
                        Some(s) => {
                            self.sets.insert(name.clone(), s.normalized());
                        }
                        None => {
                            self.sets.remove(name);
                            self.elements.remove(name);
                        }
                    }
                }
                for (set, key) in &t.elements {
                    let want = desired.elements.get(set).and_then(|es| es.get(key));
                    match want {
                        Some(e) => {
                            self.elements
                                .entry(set.clone())
                                .or_default()
                                .insert(key.clone(), element_digest(e));
                        }
                        None => {
                            if let Some(es) = self.elements.get_mut(set) {
                                es.remove(key);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A digest of a chain's rules as the kernel would report them.
pub fn rules_digest(rules: &[Rule]) -> u64 {
    let mut h = DefaultHasher::new();
    rules.len().hash(&mut h);
    for r in rules {
        let r = r.normalized();
        r.exprs.hash(&mut h);
        r.userdata.hash(&mut h);
    }
    h.finish()
}

pub fn element_digest(e: &Element) -> u64 {
    let mut h = DefaultHasher::new();
    e.normalized().hash(&mut h);
    h.finish()
}
