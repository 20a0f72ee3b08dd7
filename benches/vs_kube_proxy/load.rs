//! The generated cluster (`kproxy::testing::scale`) in the real API server, grown size by
//! size: the first n services of a larger cluster are those of the smaller one, so each
//! size only adds services.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1 as core;
use kproxy::testing::controlplane::ControlPlane;
use kproxy::testing::scale::{Cluster, NAMESPACE, NODE};

/// Requests in flight while loading.
const CONCURRENCY: usize = 32;

pub struct Loaded {
    pub cluster: Cluster,
    /// Services stored so far (the first `stored` of `cluster`).
    pub stored: usize,
}

impl Loaded {
    /// The namespace and the node's Node object, and a cluster of `largest` services to
    /// store from.
    pub fn new(cp: &ControlPlane, largest: usize) -> Self {
        cp.create_namespace(NAMESPACE);
        let node = kproxy::testing::objects::node(
            NODE,
            Some("zone-a"),
            &[("InternalIP", "192.168.100.1")],
        );
        cp.admin().apply(&node);
        cp.admin().apply_status(&node);
        Self {
            cluster: Cluster::generate(crate::support::cluster::spec(largest)),
            stored: 0,
        }
    }

    /// Stores services (and their slices) until `size` are in the API server; returns how
    /// long that took.
    pub fn grow_to(&mut self, cp: &ControlPlane, size: usize) -> Duration {
        let started = Instant::now();
        let range = self.stored..size.min(self.cluster.services.len());
        let services: Vec<core::Service> = self.cluster.services[range.clone()]
            .iter()
            .enumerate()
            .map(|(k, svc)| with_cluster_ip(svc, range.start + k))
            .collect();
        let slices: Vec<_> = self.cluster.slices[range.clone()]
            .iter()
            .flatten()
            .cloned()
            .collect();
        cp.admin().apply_all(&services, CONCURRENCY);
        cp.admin().apply_all(&slices, CONCURRENCY);
        self.stored = range.end;
        started.elapsed()
    }
}

/// The generator numbers cluster IPs from 10.96.0.1, which the API server gives the
/// `kubernetes` Service: these start at 10.100.0.1 (same Service CIDR). Chain names do
/// not depend on the address.
fn with_cluster_ip(svc: &core::Service, i: usize) -> core::Service {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 100, 0, 1)) + i as u32).to_string();
    let mut svc = svc.clone();
    let spec = svc.spec.as_mut().expect("generated services have a spec");
    spec.cluster_ip = Some(ip.clone());
    spec.cluster_ips = Some(vec![ip]);
    svc
}
