//! Generated clusters (kproxy::testing::scale) turned into model state and IPVS compiler
//! input, as both IPVS benches use them.

#![allow(dead_code)] // each bench uses its own subset

use std::net::Ipv4Addr;

use kproxy::backend::ipvs::compile::{CompileOptions, Compiler};
use kproxy::model::{Change, ProxyState};
use kproxy::source::convert;
use kproxy::testing::scale::{Cluster, NODE, ScaleSpec, slice_change};

pub const ENDPOINTS_PER_SERVICE: usize = 10;

/// The node's one address outside kube-ipvs0: NodePort virtual servers listen on it (one
/// in ten generated services is a NodePort).
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 10);

/// kube-proxy's IPVS defaults: `rr`, NodePorts on every node address.
pub fn compile_options() -> CompileOptions {
    CompileOptions::default()
}

/// A compiler that knows this node's address, as the backend's does after its first look
/// at the node's interfaces.
pub fn compiler() -> Compiler {
    let mut compiler = Compiler::new(compile_options());
    compiler.set_local_addresses(&[NODE_IP]);
    compiler
}

/// A cluster of `services` services × 10 endpoints and the state after applying all of
/// it, with the pending changes already taken (as after a first sync).
pub fn cluster_and_state(services: usize) -> (Cluster, ProxyState) {
    let cluster = Cluster::generate(ScaleSpec {
        services,
        endpoints_per_service: ENDPOINTS_PER_SERVICE,
    });
    let mut state = ProxyState::new(NODE);
    for change in cluster.changes() {
        state.apply(change);
    }
    state.take_pending();
    (cluster, state)
}

/// The changes that add service `i` of `cluster` (its Service and its slices).
fn service_changes(cluster: &Cluster, i: usize) -> Vec<Change> {
    let mut out = Vec::new();
    if let Ok(Some(svc)) = convert::service(&cluster.services[i]) {
        out.push(Change::ServiceUpdated(svc));
    }
    out.extend(cluster.slices[i].iter().map(slice_change));
    out
}

/// Replaces the first endpoint of service `i` (a pod rolled) in `cluster` and `state`.
pub fn replace_endpoint(cluster: &mut Cluster, state: &mut ProxyState, i: usize) {
    let slice = cluster.replace_endpoint(i);
    state.apply(slice_change(&slice));
}

/// Adds one service like the others to `cluster` and `state`; returns its index.
pub fn add_service(cluster: &mut Cluster, state: &mut ProxyState) -> usize {
    let i = cluster.add_service(ENDPOINTS_PER_SERVICE);
    for change in service_changes(cluster, i) {
        state.apply(change);
    }
    i
}

/// Removes the last service of `cluster` (added by [`add_service`]) from both, so that a
/// bench adding a service per iteration keeps the cluster's size.
pub fn remove_last_service(cluster: &mut Cluster, state: &mut ProxyState) {
    let svc = cluster.services.pop().expect("a service to remove");
    for slice in cluster.slices.pop().unwrap_or_default() {
        if let Change::SliceUpdated(s) = slice_change(&slice) {
            state.apply(Change::SliceDeleted(s.name));
        }
    }
    if let Ok(Some(s)) = convert::service(&svc) {
        state.apply(Change::ServiceDeleted(s.name));
    }
}
