//! Generated clusters turned into model state, as the benches use them.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use kproxy::backend::iptables::compile::CompileOptions;
use kproxy::backend::iptables::names::{self, ChainKind};
use kproxy::model::{Change, ProxyState};
use kproxy::source::convert;
use kproxy::testing::scale::{Cluster, NODE, ScaleSpec, slice_change};

pub const ENDPOINTS_PER_SERVICE: usize = 10;

/// The pod network the generator uses (10.128.0.0 upwards), as `--cluster-cidr`.
pub const CLUSTER_CIDR: &str = "10.128.0.0/9";

/// The compile options every bench uses: kube-proxy's defaults plus a cluster CIDR, as
/// most clusters run it (it adds the `! -s CIDR -j KUBE-MARK-MASQ` rule per service port).
pub fn compile_options() -> CompileOptions {
    CompileOptions {
        cluster_cidr: Some(CLUSTER_CIDR.parse().expect("valid CIDR")),
        ..CompileOptions::default()
    }
}

pub fn spec(services: usize) -> ScaleSpec {
    ScaleSpec {
        services,
        endpoints_per_service: ENDPOINTS_PER_SERVICE,
    }
}

/// A cluster of `services` services and the state after applying all of it, with the
/// pending changes already taken (as after a first sync). Also returns how long building
/// the state took.
pub fn cluster_and_state(services: usize) -> (Cluster, ProxyState, Duration) {
    let cluster = Cluster::generate(spec(services));
    let changes = cluster.changes();
    let started = Instant::now();
    let mut state = ProxyState::new(NODE);
    for change in changes {
        state.apply(change);
    }
    let took = started.elapsed();
    state.take_pending();
    (cluster, state, took)
}

/// The changes that add service `i` of `cluster` (its Service and its slices).
pub fn service_changes(cluster: &Cluster, i: usize) -> Vec<Change> {
    let mut out = Vec::new();
    if let Ok(Some(svc)) = convert::service(&cluster.services[i]) {
        out.push(Change::ServiceUpdated(svc));
    }
    out.extend(cluster.slices[i].iter().map(slice_change));
    out
}

/// Replaces the first endpoint of service `i` in `cluster` and in `state`.
pub fn replace_endpoint(cluster: &mut Cluster, state: &mut ProxyState, i: usize) {
    let slice = cluster.replace_endpoint(i);
    state.apply(slice_change(&slice));
}

/// Removes the last service of `cluster` (added by [`add_service`]) from both, so that a
/// bench that adds a service per iteration keeps the cluster's size.
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

/// Adds one service to `cluster` and `state`; returns its index.
pub fn add_service(cluster: &mut Cluster, state: &mut ProxyState) -> usize {
    let i = cluster.add_service(ENDPOINTS_PER_SERVICE);
    for change in service_changes(cluster, i) {
        state.apply(change);
    }
    i
}

/// The `KUBE-SEP-` chain of the first endpoint of service `i`'s first port: the chain that
/// appears in the kernel once a [`Cluster::replace_endpoint`] of `i` is programmed.
pub fn first_endpoint_chain(cluster: &Cluster, i: usize) -> String {
    let svc = convert::service(&cluster.services[i])
        .ok()
        .flatten()
        .expect("generated services convert");
    let port = &svc.ports[0];
    let Change::SliceUpdated(slice) = slice_change(&cluster.slices[i][0]) else {
        unreachable!("slice_change returns SliceUpdated");
    };
    let target = slice
        .ports
        .iter()
        .find(|p| p.name == port.name && p.protocol == port.protocol)
        .expect("the slice serves the first port");
    let ip = slice.endpoints[0].ip;
    names::service_chain(
        ChainKind::Sep(SocketAddrV4::new(ip, target.port)),
        &svc.port_name(port),
    )
}
