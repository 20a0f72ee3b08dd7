//! The operations that turn one virtual server as the kernel holds it into the desired one.
//! Pure: the executor decides what "the kernel holds" means (dumped on a full sync,
//! remembered from the last sync otherwise) and sends the operations.
//!
//! Never delete-and-re-add: an unchanged virtual server is left alone (its connections and
//! counters survive), a changed one is updated in place. A destination that is no longer
//! wanted drains: TCP destinations get weight 0 (no new connections, established ones keep
//! working) and are deleted once the kernel counts no connection on them; UDP and SCTP
//! destinations, whose "connections" are only conntrack-like entries, are deleted at once.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddrV4;

use super::compile::DesiredVs;
use super::netlink::{RealServer, ServiceKey, VirtualService};
use crate::model::Protocol;

/// A virtual server as the kernel holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActualVs {
    pub service: VirtualService,
    pub dests: BTreeMap<SocketAddrV4, RealServer>,
}

impl ActualVs {
    pub fn new(service: VirtualService, dests: impl IntoIterator<Item = RealServer>) -> Self {
        Self {
            service,
            dests: dests
                .into_iter()
                .map(|d| (SocketAddrV4::new(d.addr, d.port), d))
                .collect(),
        }
    }
}

/// What the kernel holds of virtual servers, by key.
pub type Known = HashMap<ServiceKey, ActualVs>;

/// One IPVS write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    AddService(VirtualService),
    UpdateService(VirtualService),
    DeleteService(ServiceKey),
    AddDest(ServiceKey, RealServer),
    UpdateDest(ServiceKey, RealServer),
    DeleteDest(ServiceKey, RealServer),
}

impl Op {
    pub fn key(&self) -> ServiceKey {
        match self {
            Op::AddService(s) | Op::UpdateService(s) => s.key(),
            Op::DeleteService(k)
            | Op::AddDest(k, _)
            | Op::UpdateDest(k, _)
            | Op::DeleteDest(k, _) => *k,
        }
    }
}

impl fmt::Display for Op {
    /// ipvsadm's spelling, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddService(s) => write!(f, "-A {} -s {}", s.key(), s.scheduler),
            Op::UpdateService(s) => write!(f, "-E {} -s {}", s.key(), s.scheduler),
            Op::DeleteService(k) => write!(f, "-D {k}"),
            Op::AddDest(k, d) => write!(f, "-a {k} -r {d} -w {}", d.weight),
            Op::UpdateDest(k, d) => write!(f, "-e {k} -r {d} -w {}", d.weight),
            Op::DeleteDest(k, d) => write!(f, "-d {k} -r {d}"),
        }
    }
}

/// Whether the connection counters of the actual state are fresh from the kernel. Remembered
/// counters are stale, so a draining destination is then left for the drain check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counts {
    Fresh,
    Stale,
}

/// The real server kproxy writes for an endpoint.
pub fn wanted_dest(addr: SocketAddrV4) -> RealServer {
    RealServer::new(*addr.ip(), addr.port(), 1)
}

/// Whether the kernel's service has the desired scheduler, persistence and flags.
fn same_service(desired: &VirtualService, actual: &VirtualService) -> bool {
    desired.scheduler == actual.scheduler
        && desired.persistent_timeout == actual.persistent_timeout
        && desired.flags == actual.flags
        && desired.netmask == actual.netmask
}

fn same_dest(desired: &RealServer, actual: &RealServer) -> bool {
    desired.weight == actual.weight
        && desired.fwd_method == actual.fwd_method
        && desired.upper_threshold == actual.upper_threshold
        && desired.lower_threshold == actual.lower_threshold
}

/// Whether a removed destination of this protocol drains before deletion. UDP and SCTP do
/// not: with `expire_nodest_conn` their entries go with the destination.
pub fn drains(protocol: Protocol) -> bool {
    protocol == Protocol::Tcp
}

/// Appends the operations that turn `actual` into `desired` for one key.
pub fn diff_vs(
    desired: Option<&DesiredVs>,
    actual: Option<&ActualVs>,
    counts: Counts,
    ops: &mut Vec<Op>,
) {
    match (desired, actual) {
        (None, None) => {}
        (None, Some(actual)) => ops.push(Op::DeleteService(actual.service.key())),
        (Some(desired), None) => {
            let key = desired.service.key();
            ops.push(Op::AddService(desired.service.clone()));
            ops.extend(
                desired
                    .dests
                    .iter()
                    .map(|d| Op::AddDest(key, wanted_dest(*d))),
            );
        }
        (Some(desired), Some(actual)) => {
            let key = desired.service.key();
            if !same_service(&desired.service, &actual.service) {
                ops.push(Op::UpdateService(desired.service.clone()));
            }
            for addr in &desired.dests {
                let want = wanted_dest(*addr);
                match actual.dests.get(addr) {
                    None => ops.push(Op::AddDest(key, want)),
                    Some(have) if !same_dest(&want, have) => ops.push(Op::UpdateDest(key, want)),
                    Some(_) => {}
                }
            }
            for (addr, have) in &actual.dests {
                if desired.dests.contains(addr) {
                    continue;
                }
                if let Some(op) = retire(key, have, counts) {
                    ops.push(op);
                }
            }
        }
    }
}

/// What to do with a destination that is no longer wanted: delete it when it carries no
/// connection (or cannot drain), else set its weight to 0 and let it drain.
pub fn retire(key: ServiceKey, have: &RealServer, counts: Counts) -> Option<Op> {
    let idle = counts == Counts::Fresh && have.active_conns + have.inactive_conns == 0;
    if !drains(key.protocol) || idle {
        return Some(Op::DeleteDest(key, have.clone()));
    }
    if have.weight != 0 {
        let mut quiesced = have.clone();
        quiesced.weight = 0;
        return Some(Op::UpdateDest(key, quiesced));
    }
    None
}

/// Records a successful operation in `known`.
pub fn record(known: &mut Known, op: &Op) {
    match op {
        Op::AddService(s) | Op::UpdateService(s) => {
            let entry = known.entry(s.key()).or_insert_with(|| ActualVs {
                service: s.clone(),
                dests: BTreeMap::new(),
            });
            entry.service = s.clone();
        }
        Op::DeleteService(k) => {
            known.remove(k);
        }
        Op::AddDest(k, d) | Op::UpdateDest(k, d) => {
            if let Some(vs) = known.get_mut(k) {
                let addr = SocketAddrV4::new(d.addr, d.port);
                let entry = vs.dests.entry(addr).or_insert_with(|| d.clone());
                entry.weight = d.weight;
                entry.fwd_method = d.fwd_method;
                entry.upper_threshold = d.upper_threshold;
                entry.lower_threshold = d.lower_threshold;
            }
        }
        Op::DeleteDest(k, d) => {
            if let Some(vs) = known.get_mut(k) {
                vs.dests.remove(&SocketAddrV4::new(d.addr, d.port));
            }
        }
    }
}

#[cfg(test)]
mod tests;
