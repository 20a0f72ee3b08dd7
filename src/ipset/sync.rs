//! Bringing one set to a desired list of entries: a pure diff, and the few kernel
//! operations that apply it.

use std::collections::BTreeSet;

use super::entry::Entry;
use super::error::{IpsetError, KernelError};
use super::handle::IpsetHandle;
use super::reply::SetListing;
use super::request::IfPresent;
use super::set_type::{CreateOptions, SetType};

/// The operations [`sync_set`] needs; [`IpsetHandle`] is the real one.
pub trait IpsetOps {
    /// The set's type and entries; `KernelError::NoSuchSet` when it does not exist.
    fn list(&mut self, name: &str) -> Result<SetListing, IpsetError>;
    /// Creates an empty set.
    fn create(&mut self, name: &str, set_type: &SetType) -> Result<(), IpsetError>;
    /// Destroys an unreferenced set.
    fn destroy(&mut self, name: &str) -> Result<(), IpsetError>;
    /// Removes every entry.
    fn flush(&mut self, name: &str) -> Result<(), IpsetError>;
    /// Adds entries, members already present being fine; returns the messages sent.
    fn add_all(&mut self, name: &str, entries: &[Entry]) -> Result<usize, IpsetError>;
    /// Deletes entries, members already gone being fine; returns the messages sent.
    fn del_all(&mut self, name: &str, entries: &[Entry]) -> Result<usize, IpsetError>;
}

impl IpsetOps for IpsetHandle {
    fn list(&mut self, name: &str) -> Result<SetListing, IpsetError> {
        IpsetHandle::list(self, name)
    }

    fn create(&mut self, name: &str, set_type: &SetType) -> Result<(), IpsetError> {
        self.create_with(name, set_type, &CreateOptions::default(), IfPresent::Fail)
    }

    fn destroy(&mut self, name: &str) -> Result<(), IpsetError> {
        IpsetHandle::destroy(self, name)
    }

    fn flush(&mut self, name: &str) -> Result<(), IpsetError> {
        IpsetHandle::flush(self, name)
    }

    fn add_all(&mut self, name: &str, entries: &[Entry]) -> Result<usize, IpsetError> {
        IpsetHandle::add_all(self, name, entries, IfPresent::Ignore)
    }

    fn del_all(&mut self, name: &str, entries: &[Entry]) -> Result<usize, IpsetError> {
        IpsetHandle::del_all(self, name, entries, IfPresent::Ignore)
    }
}

/// What [`sync_set`] did, for logs and the IPVS benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetChanges {
    /// The set did not exist and was created.
    pub created: bool,
    /// The set had another type, was unreferenced, and was destroyed and created again.
    pub recreated: bool,
    /// The set held members kproxy cannot read and was flushed.
    pub flushed: bool,
    pub added: usize,
    pub deleted: usize,
    /// Netlink requests sent, the list included.
    pub requests: usize,
}

impl SetChanges {
    /// Kernel-state changes: entries added and deleted plus create, destroy and flush.
    pub fn operations(&self) -> usize {
        self.added
            + self.deleted
            + usize::from(self.created)
            + 2 * usize::from(self.recreated)
            + usize::from(self.flushed)
    }

    /// Whether anything in the kernel changed.
    pub fn changed(&self) -> bool {
        self.operations() > 0
    }
}

/// The entries to delete and to add to turn `current` into `desired`, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryDiff {
    pub del: Vec<Entry>,
    pub add: Vec<Entry>,
}

pub fn diff(current: &BTreeSet<Entry>, desired: &BTreeSet<Entry>) -> EntryDiff {
    EntryDiff {
        del: current.difference(desired).copied().collect(),
        add: desired.difference(current).copied().collect(),
    }
}

/// Makes set `name` of type `set_type` hold exactly `desired`: creates it if missing,
/// replaces it if it has another type and nothing references it, then deletes extra
/// entries before adding missing ones (so a full set has room). Entries that do not
/// fit the type are refused before the kernel is touched.
pub fn sync_set<H: IpsetOps + ?Sized>(
    handle: &mut H,
    name: &str,
    set_type: &SetType,
    desired: &BTreeSet<Entry>,
) -> Result<SetChanges, IpsetError> {
    let desired: BTreeSet<Entry> = desired.iter().map(|e| e.normalized()).collect();
    if let Some(entry) = desired.iter().find(|e| !set_type.accepts(e)) {
        return Err(IpsetError::EntryMismatch {
            set: name.to_string(),
            entry: *entry,
            set_type: *set_type,
        });
    }
    let mut changes = SetChanges {
        requests: 1,
        ..SetChanges::default()
    };
    let current = match handle.list(name) {
        Ok(listing) if listing.set_type == Some(*set_type) => {
            if listing.undecodable.is_empty() {
                listing.entries
            } else {
                handle.flush(name)?;
                changes.flushed = true;
                changes.requests += 1;
                BTreeSet::new()
            }
        }
        Ok(listing) => {
            if listing.references().unwrap_or(0) > 0 {
                return Err(IpsetError::TypeMismatch {
                    set: name.to_string(),
                    found: describe(&listing),
                    wanted: *set_type,
                });
            }
            handle.destroy(name)?;
            handle.create(name, set_type)?;
            changes.recreated = true;
            changes.requests += 2;
            BTreeSet::new()
        }
        Err(e) if e.kernel_error() == Some(KernelError::NoSuchSet) => {
            handle.create(name, set_type)?;
            changes.created = true;
            changes.requests += 1;
            BTreeSet::new()
        }
        Err(e) => return Err(e),
    };
    let EntryDiff { del, add } = diff(&current, &desired);
    if !del.is_empty() {
        changes.requests += handle.del_all(name, &del)?;
        changes.deleted = del.len();
    }
    if !add.is_empty() {
        changes.requests += handle.add_all(name, &add)?;
        changes.added = add.len();
    }
    Ok(changes)
}

fn describe(listing: &SetListing) -> String {
    match &listing.set_type {
        Some(set_type) => set_type.to_string(),
        None => listing.type_name.clone(),
    }
}

#[cfg(test)]
mod tests;
