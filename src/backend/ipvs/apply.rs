//! Sends IPVS operations and keeps the executor's memory of the kernel in step: what it
//! holds of kproxy's virtual servers, and which destinations are draining.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use tracing::{debug, error, info};

use super::compile::Desired;
use super::diff::{Known, Op, drains, record};
use super::handle::{IpvsError, IpvsHandle};
use super::netlink::{RealServer, ServiceKey};

/// The IPVS requests applying and draining need; [`IpvsHandle`] is the real one.
pub trait IpvsOps {
    /// The destinations of a virtual server, with their connection counters.
    fn destinations(&mut self, svc: &ServiceKey) -> Result<Vec<RealServer>, IpvsError>;
    /// Sends one write.
    fn send(&mut self, op: &Op) -> Result<(), IpvsError>;
}

impl IpvsOps for IpvsHandle {
    fn destinations(&mut self, svc: &ServiceKey) -> Result<Vec<RealServer>, IpvsError> {
        IpvsHandle::destinations(self, svc)
    }

    fn send(&mut self, op: &Op) -> Result<(), IpvsError> {
        match op {
            Op::AddService(s) => self.add_service(s),
            Op::UpdateService(s) => self.update_service(s),
            Op::DeleteService(k) => self.delete_service(k),
            Op::AddDest(k, d) => self.add_destination(k, d),
            Op::UpdateDest(k, d) => self.update_destination(k, d),
            Op::DeleteDest(k, d) => self.delete_destination(k, d),
        }
    }
}

/// What applying a batch of operations did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Operations the kernel accepted.
    pub written: usize,
    /// Operations the kernel refused, each logged with its object.
    pub failed: Vec<(Op, IpvsError)>,
}

/// Sends `ops` in order and records each accepted one in `known`. A refused operation does
/// not stop the others, except the destinations of a service that could not be added.
pub fn apply_ops(handle: &mut impl IpvsOps, known: &mut Known, ops: Vec<Op>) -> Applied {
    let mut applied = Applied::default();
    let mut missing: BTreeSet<ServiceKey> = BTreeSet::new();
    for op in ops {
        if missing.contains(&op.key()) {
            continue;
        }
        match handle.send(&op) {
            Ok(()) => {
                debug!(op = %op, "ipvs");
                record(known, &op);
                applied.written += 1;
            }
            Err(e) => {
                error!(op = %op, error = %e, "IPVS refused an operation");
                if matches!(op, Op::AddService(_)) {
                    missing.insert(op.key());
                }
                applied.failed.push((op, e));
            }
        }
    }
    applied
}

/// Destinations kept at weight 0 until their connections end, by virtual server.
#[derive(Debug, Default)]
pub struct Draining {
    since: BTreeMap<ServiceKey, BTreeMap<SocketAddrV4, Instant>>,
}

impl Draining {
    pub fn is_empty(&self) -> bool {
        self.since.is_empty()
    }

    pub fn len(&self) -> usize {
        self.since.values().map(BTreeMap::len).sum()
    }

    pub fn forget_all(&mut self) {
        self.since.clear();
    }

    /// Re-derives the draining destinations of `keys` from what the kernel holds and what is
    /// desired: those held but not desired. Known ones keep their start time.
    pub fn refresh(
        &mut self,
        keys: impl IntoIterator<Item = ServiceKey>,
        known: &Known,
        desired: &Desired,
        now: Instant,
    ) {
        for key in keys {
            let extra: Vec<SocketAddrV4> =
                match (known.get(&key), desired.virtual_servers.get(&key)) {
                    (Some(have), want) if drains(key.protocol) => have
                        .dests
                        .keys()
                        .filter(|a| !want.is_some_and(|w| w.dests.contains(a)))
                        .copied()
                        .collect(),
                    _ => Vec::new(),
                };
            if extra.is_empty() {
                self.since.remove(&key);
                continue;
            }
            let old = self.since.remove(&key).unwrap_or_default();
            let fresh = extra
                .into_iter()
                .map(|a| (a, old.get(&a).copied().unwrap_or(now)))
                .collect();
            self.since.insert(key, fresh);
        }
    }

    /// Checks every draining destination against the kernel: deletes those without
    /// connections, and those draining longer than `timeout`. Returns the operations sent.
    pub fn check(
        &mut self,
        handle: &mut impl IpvsOps,
        known: &mut Known,
        timeout: Duration,
        now: Instant,
    ) -> Result<usize, IpvsError> {
        let mut written = 0;
        let keys: Vec<ServiceKey> = self.since.keys().copied().collect();
        for key in keys {
            let dests = handle.destinations(&key)?;
            let draining = self.since.remove(&key).unwrap_or_default();
            let mut still = BTreeMap::new();
            for (&addr, &since) in &draining {
                let Some(rs) = dests
                    .iter()
                    .find(|d| SocketAddrV4::new(d.addr, d.port) == addr)
                else {
                    // Deleted by someone else: nothing left to do.
                    record(known, &Op::DeleteDest(key, super::diff::wanted_dest(addr)));
                    continue;
                };
                if rs.weight != 0 {
                    // Given weight by hand; the next full sync decides.
                    continue;
                }
                let idle = rs.active_conns + rs.inactive_conns == 0;
                let expired = now.saturating_duration_since(since) >= timeout;
                if !idle && !expired {
                    if let Some(vs) = known.get_mut(&key) {
                        vs.dests.insert(addr, rs.clone());
                    }
                    still.insert(addr, since);
                    continue;
                }
                let op = Op::DeleteDest(key, rs.clone());
                match handle.send(&op) {
                    Ok(()) => {
                        info!(op = %op, idle, "drained destination deleted");
                        record(known, &op);
                        written += 1;
                    }
                    Err(e) if e.is_not_found() => record(known, &op),
                    Err(e) => {
                        self.since.insert(key, draining);
                        return Err(e);
                    }
                }
            }
            if !still.is_empty() {
                self.since.insert(key, still);
            }
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests;
