//! Generated clusters (kproxy::testing::scale) turned into model state and IPVS compiler
//! input, as both IPVS benches use them.

#![allow(dead_code)] // each bench uses its own subset

use std::net::Ipv4Addr;

use kproxy::backend::ipvs::compile::{CompileOptions, Compiler};
use kproxy::model::ProxyState;
use kproxy::testing::scale::{self, Cluster, ScaleSpec};

pub use kproxy::testing::scale::{remove_last_service, replace_endpoint};

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
    let (cluster, state, _) = scale::cluster_and_state(ScaleSpec {
        services,
        endpoints_per_service: ENDPOINTS_PER_SERVICE,
    });
    (cluster, state)
}

/// Adds one service like the others to `cluster` and `state`; returns its index.
pub fn add_service(cluster: &mut Cluster, state: &mut ProxyState) -> usize {
    scale::add_service(cluster, state, ENDPOINTS_PER_SERVICE)
}
