//! Generated clusters turned into model state, as the benches use them.

use std::net::SocketAddrV4;
use std::time::Duration;

use kproxy::backend::iptables::compile::CompileOptions;
use kproxy::backend::iptables::names::{self, ChainKind};
use kproxy::model::{Change, ProxyState};
use kproxy::source::convert;
use kproxy::testing::scale::{self, Cluster, ScaleSpec, slice_change};

#[allow(unused_imports)] // each bench uses its own subset
pub use kproxy::testing::scale::{remove_last_service, replace_endpoint};

pub const ENDPOINTS_PER_SERVICE: usize = 10;

/// The pod network the generator uses (10.128.0.0 upwards), as `--cluster-cidr`.
pub const CLUSTER_CIDR: &str = "10.128.0.0/9";

/// The compile options every bench uses: kube-proxy's defaults plus a cluster CIDR, as
/// most clusters run it (it adds the `! -s CIDR -j KUBE-MARK-MASQ` rule per service port).
pub fn compile_options() -> CompileOptions {
    CompileOptions {
        local_traffic: kproxy::model::LocalTraffic::from_cidr(Some(
            CLUSTER_CIDR.parse().expect("valid CIDR"),
        )),
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
    scale::cluster_and_state(spec(services))
}

/// Adds one service to `cluster` and `state`; returns its index.
pub fn add_service(cluster: &mut Cluster, state: &mut ProxyState) -> usize {
    scale::add_service(cluster, state, ENDPOINTS_PER_SERVICE)
}

/// The `KUBE-SEP-` chain of the first endpoint of service `i`'s first port: the chain that
/// appears in the kernel once a [`Cluster::replace_endpoint`] of `i` is programmed.
pub fn first_endpoint_chain(cluster: &Cluster, i: usize) -> String {
    let svc = convert::service(&cluster.services[i], &mut Vec::new())
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
