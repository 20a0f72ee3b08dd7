//! A stateful stand-in for the kernel's ipsets, behind [`IpsetOps`]: it keeps each set's
//! type and members, records every call, and refuses what the kernel refuses (a missing
//! set, a name taken, a referenced set destroyed, a member of the wrong type).

use std::collections::{BTreeMap, BTreeSet};

use crate::ipset::data::DataAttr;
use crate::ipset::{
    Entry, EntryError, IpsetError, IpsetOps, KernelError, Operation, SetListing, SetType,
};

/// One set.
#[derive(Clone, Debug)]
pub struct FakeSet {
    pub set_type: SetType,
    pub entries: BTreeSet<Entry>,
    /// iptables rules using the set: the kernel refuses to destroy it while any do.
    pub references: u32,
    /// Members of a kind kproxy cannot read (another protocol, say), listed as undecodable.
    pub foreign_entries: usize,
}

#[derive(Clone, Debug, Default)]
pub struct FakeIpset {
    pub sets: BTreeMap<String, FakeSet>,
    /// Every call, `list NAME`, `create NAME TYPE`, `add NAME COUNT`, …, in order.
    pub calls: Vec<String>,
}

fn refused(op: Operation, name: &str, kind: KernelError) -> IpsetError {
    IpsetError::Kernel {
        op,
        set: name.to_string(),
        entry: None,
        kind,
    }
}

impl FakeIpset {
    /// This fake with set `name` holding `entries`.
    pub fn with(mut self, name: &str, set_type: SetType, entries: &[Entry]) -> Self {
        self.sets.insert(
            name.to_string(),
            FakeSet {
                set_type,
                entries: entries.iter().copied().collect(),
                references: 0,
                foreign_entries: 0,
            },
        );
        self
    }

    fn set(&mut self, op: Operation, name: &str) -> Result<&mut FakeSet, IpsetError> {
        self.sets
            .get_mut(name)
            .ok_or_else(|| refused(op, name, KernelError::NoSuchSet))
    }

    /// The members of `name` (empty when there is no such set).
    pub fn members(&self, name: &str) -> BTreeSet<Entry> {
        self.sets
            .get(name)
            .map(|s| s.entries.clone())
            .unwrap_or_default()
    }
}

impl IpsetOps for FakeIpset {
    fn list(&mut self, name: &str) -> Result<SetListing, IpsetError> {
        self.calls.push(format!("list {name}"));
        let set = self.set(Operation::List, name)?;
        Ok(SetListing {
            name: name.to_string(),
            type_name: set.set_type.type_name().to_string(),
            set_type: Some(set.set_type),
            revision: 0,
            family: set.set_type.family(),
            header: vec![DataAttr::References(set.references)],
            entries: set.entries.clone(),
            undecodable: vec![EntryError::Protocol(1); set.foreign_entries],
        })
    }

    fn create(&mut self, name: &str, set_type: &SetType) -> Result<(), IpsetError> {
        self.calls.push(format!("create {name} {set_type}"));
        if self.sets.contains_key(name) {
            return Err(refused(Operation::Create, name, KernelError::SetExists));
        }
        *self = std::mem::take(self).with(name, *set_type, &[]);
        Ok(())
    }

    fn destroy(&mut self, name: &str) -> Result<(), IpsetError> {
        self.calls.push(format!("destroy {name}"));
        if self.set(Operation::Destroy, name)?.references > 0 {
            return Err(refused(Operation::Destroy, name, KernelError::SetInUse));
        }
        self.sets.remove(name);
        Ok(())
    }

    fn flush(&mut self, name: &str) -> Result<(), IpsetError> {
        self.calls.push(format!("flush {name}"));
        let set = self.set(Operation::Flush, name)?;
        set.entries.clear();
        set.foreign_entries = 0;
        Ok(())
    }

    fn add_all(&mut self, name: &str, entries: &[Entry]) -> Result<usize, IpsetError> {
        self.calls.push(format!("add {name} {}", entries.len()));
        let set = self.set(Operation::Add, name)?;
        if entries.iter().any(|e| !set.set_type.accepts(e)) {
            return Err(refused(Operation::Add, name, KernelError::Protocol));
        }
        set.entries.extend(entries.iter().map(|e| e.normalized()));
        Ok(1)
    }

    fn del_all(&mut self, name: &str, entries: &[Entry]) -> Result<usize, IpsetError> {
        self.calls.push(format!("del {name} {}", entries.len()));
        let set = self.set(Operation::Del, name)?;
        for entry in entries {
            set.entries.remove(&entry.normalized());
        }
        Ok(1)
    }
}
