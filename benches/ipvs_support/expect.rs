//! What a change must cost the kernel, computed two ways: from the generated objects
//! alone (a formula per kind of change), and as the exact difference between the desired
//! states before and after it. The bench asserts that kproxy's partial sync sends exactly
//! that many requests.

use std::collections::BTreeSet;
use std::sync::Arc;

use kproxy::backend::ipvs::compile::Desired;
use kproxy::model::Protocol;
use kproxy::testing::scale::Cluster;

/// The kernel writes a change needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needed {
    /// Virtual servers added, changed or deleted.
    pub virtual_servers: usize,
    /// IPVS operations: a service added (1) with its destinations (1 each), a service
    /// deleted (1, its destinations go with it), a destination added (1) or retired (1:
    /// deleted, or for TCP set to weight 0 to drain).
    pub ipvs: usize,
    /// TCP destinations retired: each drains, then costs one destinations dump and one
    /// delete at the drain check.
    pub draining: usize,
    /// TCP virtual servers with draining destinations (one dump each at the drain check).
    pub draining_vs: usize,
    /// Set members added or deleted.
    pub set_members: usize,
    /// kube-ipvs0 addresses bound or unbound.
    pub addresses: usize,
}

impl Needed {
    pub fn total(&self) -> usize {
        self.ipvs + self.set_members + self.addresses
    }
}

/// The exact difference between two desired states.
pub fn between(before: &Desired, after: &Desired) -> Needed {
    let mut needed = Needed::default();
    let keys: BTreeSet<_> = before
        .virtual_servers
        .keys()
        .chain(after.virtual_servers.keys())
        .collect();
    for key in keys {
        match (
            before.virtual_servers.get(key),
            after.virtual_servers.get(key),
        ) {
            (None, Some(new)) => {
                needed.virtual_servers += 1;
                needed.ipvs += 1 + new.dests.len();
            }
            (Some(_), None) => {
                needed.virtual_servers += 1;
                needed.ipvs += 1;
            }
            (Some(old), Some(new)) if !Arc::ptr_eq(old, new) && old != new => {
                needed.virtual_servers += 1;
                needed.ipvs += usize::from(old.service != new.service);
                needed.ipvs += new.dests.difference(&old.dests).count();
                let retired = old.dests.difference(&new.dests).count();
                needed.ipvs += retired;
                if key.protocol == Protocol::Tcp && retired > 0 {
                    needed.draining += retired;
                    needed.draining_vs += 1;
                }
            }
            _ => {}
        }
    }
    for (set, new) in &after.sets {
        let empty = BTreeSet::new();
        let old = before.sets.get(set).unwrap_or(&empty);
        needed.set_members += new.symmetric_difference(old).count();
    }
    needed.addresses = before
        .addresses
        .symmetric_difference(&after.addresses)
        .count();
    needed
}

/// One endpoint of generated service `i` replaced by a new pod, by construction: one
/// destination added and one retired — 2 IPVS operations — on every virtual server that
/// lists the pod: the cluster IP of each port (the pod serves them all), and for a
/// NodePort one per node address, unless `externalTrafficPolicy: Local` keeps only this
/// node's pods there (the replaced pods are never on this node).
pub fn endpoint_replaced(cluster: &Cluster, i: usize, node_addresses: usize) -> usize {
    let spec = cluster.services[i].spec.as_ref();
    let ports = spec
        .and_then(|s| s.ports.as_ref())
        .map_or(&[][..], Vec::as_slice);
    let local = spec.and_then(|s| s.external_traffic_policy.as_deref()) == Some("Local");
    let node_ports = ports.iter().filter(|p| p.node_port.is_some()).count();
    let node_port_vs = if local {
        0
    } else {
        node_ports * node_addresses
    };
    2 * (ports.len() + node_port_vs)
}
