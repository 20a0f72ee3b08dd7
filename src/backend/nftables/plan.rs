//! The pure diff: the messages that turn what the kernel holds ([`Mirror`]) into what is
//! desired ([`Desired`]), over everything or only what a change touched. Nothing is
//! flushed wholesale: unchanged chains and elements are not sent, so a restart against
//! a kernel that already holds the desired state writes nothing and affinity state
//! survives.
//!
//! Order inside the batch, so every reference is valid when the kernel checks it:
//! table, new sets, new chains; element deletions; flushes of rewritten and removed
//! chains; set deletions (and re-creations of sets whose definition drifted); re-created
//! base chains; rules; element additions; chain deletions last.

use std::collections::BTreeSet;

use super::lower::{self, FAMILY};
use super::names::TABLE;
use super::state::{Desired, Mirror, Touched, element_digest};
use crate::nftables::expr::Expr;
use crate::nftables::{Chain, ElemList, Element, NftMessage, Rule, Set};

/// The messages of one sync; empty when the kernel already holds the desired state.
pub fn plan(desired: &Desired, kernel: &Mirror, scope: Option<&Touched>) -> Vec<NftMessage> {
    let all_chains;
    let all_sets;
    let (chain_names, set_names): (&BTreeSet<String>, &BTreeSet<String>) = match scope {
        Some(t) => (&t.chains, &t.sets),
        None => {
            all_chains = desired
                .chains
                .keys()
                .chain(kernel.chains.keys())
                .cloned()
                .collect();
            all_sets = desired
                .sets
                .keys()
                .chain(kernel.sets.keys())
                .cloned()
                .collect();
            (&all_chains, &all_sets)
        }
    };

    let mut out = Vec::new();
    if !kernel.table {
        out.push(NftMessage::NewTable(lower::table()));
    }

    // Sets.
    let (mut new_sets, mut removed_sets, mut recreated_sets) = (vec![], vec![], vec![]);
    for name in set_names {
        match (desired.sets.get(name), kernel.sets.get(name)) {
            (Some(s), None) => new_sets.push(s),
            (None, Some(_)) => removed_sets.push(name.as_str()),
            (Some(s), Some(k)) if s.normalized() != *k => recreated_sets.push(s),
            _ => {}
        }
    }

    // Chains.
    let (mut new_chains, mut rewritten, mut removed, mut recreated) =
        (vec![], vec![], vec![], vec![]);
    for name in chain_names {
        match (desired.chains.get(name), kernel.chains.get(name)) {
            (Some(d), None) => new_chains.push(d),
            (None, Some(_)) => removed.push(name.as_str()),
            (Some(d), Some((k, _))) if d.chain.normalized() != *k => recreated.push(d),
            (Some(d), Some((_, digest))) if d.digest != *digest => rewritten.push(d),
            _ => {}
        }
    }
    // Rules that use a re-created set must go while it is deleted.
    if !recreated_sets.is_empty() {
        let names: BTreeSet<&str> = recreated_sets.iter().map(|s| s.name.as_str()).collect();
        let listed: BTreeSet<&str> = new_chains
            .iter()
            .chain(&rewritten)
            .chain(&recreated)
            .map(|c| c.chain.name.as_str())
            .collect();
        for c in desired.chains.values() {
            if !listed.contains(c.chain.name.as_str())
                && kernel.chains.contains_key(&c.chain.name)
                && c.rules.iter().any(|r| uses_set(r, &names))
            {
                rewritten.push(c);
            }
        }
    }

    for s in &new_sets {
        out.push(NftMessage::NewSet((*s).clone()));
    }
    for c in &new_chains {
        out.push(NftMessage::NewChain(c.chain.clone()));
    }

    // Elements, per set, skipping sets that go away or start empty.
    let gone: BTreeSet<&str> = removed_sets
        .iter()
        .copied()
        .chain(recreated_sets.iter().map(|s| s.name.as_str()))
        .collect();
    let (adds, dels) = element_changes(desired, kernel, scope, &gone);
    for (set, keys) in dels {
        let elements = keys.into_iter().map(Element::new).collect();
        out.push(NftMessage::DelSetElems(ElemList {
            elements,
            ..ElemList::new(FAMILY, TABLE, set)
        }));
    }

    for name in rewritten
        .iter()
        .chain(&recreated)
        .map(|c| c.chain.name.as_str())
        .chain(removed.iter().copied())
    {
        out.push(NftMessage::DelRule(Rule::new(FAMILY, TABLE, name)));
    }
    for name in removed_sets
        .iter()
        .copied()
        .chain(recreated_sets.iter().map(|s| s.name.as_str()))
    {
        out.push(NftMessage::DelSet(Set::new(FAMILY, TABLE, name)));
    }
    for c in &recreated {
        out.push(NftMessage::DelChain(Chain::new(
            FAMILY,
            TABLE,
            c.chain.name.as_str(),
        )));
        out.push(NftMessage::NewChain(c.chain.clone()));
    }
    for s in &recreated_sets {
        out.push(NftMessage::NewSet((*s).clone()));
    }
    for c in new_chains.iter().chain(&rewritten).chain(&recreated) {
        out.extend(c.rules.iter().cloned().map(NftMessage::NewRule));
    }
    for (set, elements) in adds {
        out.push(NftMessage::NewSetElems(ElemList {
            elements,
            ..ElemList::new(FAMILY, TABLE, set)
        }));
    }
    for name in removed {
        out.push(NftMessage::DelChain(Chain::new(FAMILY, TABLE, name)));
    }
    out
}

type ElementChanges<'a> = (Vec<(&'a str, Vec<Element>)>, Vec<(&'a str, Vec<Vec<u8>>)>);

/// Elements to add (new or changed) and keys to delete (gone or changed), per set.
fn element_changes<'a>(
    desired: &'a Desired,
    kernel: &'a Mirror,
    scope: Option<&'a Touched>,
    gone: &BTreeSet<&str>,
) -> ElementChanges<'a> {
    let mut adds: Vec<(&str, Vec<Element>)> = Vec::new();
    let mut dels: Vec<(&str, Vec<Vec<u8>>)> = Vec::new();
    let mut push_add = |set: &'a str, e: &Element| match adds.last_mut() {
        Some((s, v)) if *s == set => v.push(e.clone()),
        _ => adds.push((set, vec![e.clone()])),
    };
    let mut push_del = |set: &'a str, k: &[u8]| match dels.last_mut() {
        Some((s, v)) if *s == set => v.push(k.to_vec()),
        _ => dels.push((set, vec![k.to_vec()])),
    };
    let mut one = |set: &'a str, key: &[u8], recreated: bool| {
        let want = desired.elements.get(set).and_then(|es| es.get(key));
        let have = if recreated {
            None
        } else {
            kernel.elements.get(set).and_then(|es| es.get(key))
        };
        match (want, have) {
            (Some(w), Some(h)) if element_digest(w) == *h => {}
            (Some(w), Some(_)) => {
                push_del(set, key);
                push_add(set, w);
            }
            (Some(w), None) => push_add(set, w),
            (None, Some(_)) => push_del(set, key),
            (None, None) => {}
        }
    };
    let recreated = |set: &str| gone.contains(set) && desired.sets.contains_key(set);
    let removed = |set: &str| gone.contains(set) && !desired.sets.contains_key(set);
    match scope {
        Some(t) => {
            for (set, key) in &t.elements {
                if !removed(set) {
                    one(set, key, recreated(set));
                }
            }
        }
        None => {
            let sets: BTreeSet<&String> = desired
                .elements
                .keys()
                .chain(kernel.elements.keys())
                .collect();
            for set in sets {
                if removed(set) {
                    continue;
                }
                let keys: BTreeSet<&Vec<u8>> = desired
                    .elements
                    .get(set)
                    .into_iter()
                    .flat_map(|es| es.keys())
                    .chain(
                        kernel
                            .elements
                            .get(set)
                            .into_iter()
                            .flat_map(|es| es.keys()),
                    )
                    .collect();
                for key in keys {
                    one(set, key, recreated(set));
                }
            }
        }
    }
    (adds, dels)
}

fn uses_set(rule: &Rule, names: &BTreeSet<&str>) -> bool {
    rule.exprs.iter().any(|e| match e {
        Expr::Lookup(l) => names.contains(l.set.as_str()),
        Expr::Dynset(d) => names.contains(d.set.as_str()),
        _ => false,
    })
}
