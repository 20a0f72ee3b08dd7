//! Realistic large clusters for benchmarks: Services with one to three ports, a share of
//! NodePorts and session affinity, endpoints spread over 100 nodes, and a share of services
//! whose endpoints are split over several EndpointSlices. Deterministic for a given spec.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;

use super::objects;
use crate::model::{Change, ProxyState};
use crate::source::convert;

pub const NAMESPACE: &str = "scale";
/// The node the benchmarked kproxy runs on; about 1 in 100 endpoints is local to it.
pub const NODE: &str = "node-0";
const NODES: usize = 100;
const NODE_PORT_FIRST: i32 = 30000;
const NODE_PORT_LAST: i32 = 32767;

#[derive(Clone, Copy, Debug)]
pub struct ScaleSpec {
    pub services: usize,
    pub endpoints_per_service: usize,
}

/// The objects of one generated cluster, in the form an API server would hold them.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub services: Vec<core::Service>,
    /// Slices by service index.
    pub slices: Vec<Vec<discovery::EndpointSlice>>,
    next_pod: u32,
}

fn cluster_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 1)) + i as u32)
}

fn pod_ip(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 128, 0, 0)) + n)
}

/// Ports of service `i`: most have one, some two, a few three (DNS-like, with UDP).
fn ports(i: usize) -> Vec<(&'static str, i32, &'static str)> {
    match i % 10 {
        0..=6 => vec![("http", 80, "TCP")],
        7 | 8 => vec![("http", 80, "TCP"), ("https", 443, "TCP")],
        _ => vec![
            ("dns", 53, "UDP"),
            ("dns-tcp", 53, "TCP"),
            ("metrics", 9153, "TCP"),
        ],
    }
}

impl Cluster {
    pub fn generate(spec: ScaleSpec) -> Self {
        let mut cluster = Cluster {
            services: Vec::with_capacity(spec.services),
            slices: Vec::with_capacity(spec.services),
            next_pod: 1,
        };
        for i in 0..spec.services {
            cluster.push_service(i, spec.endpoints_per_service);
        }
        cluster
    }

    fn push_service(&mut self, i: usize, endpoints: usize) {
        let name = format!("svc-{i}");
        let ports = ports(i);
        let mut svc = objects::service(NAMESPACE, &name, &cluster_ip(i).to_string(), &ports);
        let spec = svc.spec.as_mut().expect("spec");
        let node_port = NODE_PORT_FIRST + (i / 10) as i32;
        if i % 10 == 3 && node_port <= NODE_PORT_LAST {
            spec.type_ = Some("NodePort".into());
            if let Some(p) = spec.ports.as_mut().and_then(|p| p.first_mut()) {
                p.node_port = Some(node_port);
            }
            if i % 20 == 13 {
                spec.external_traffic_policy = Some("Local".into());
            }
        }
        if i % 20 == 5 {
            spec.session_affinity = Some("ClientIP".into());
        }
        self.services.push(svc);
        // One slice per port set; every tenth service has its endpoints split over 2 slices.
        let pods: Vec<(String, String)> = (0..endpoints)
            .map(|_| {
                let n = self.next_pod;
                self.next_pod += 1;
                (
                    pod_ip(n).to_string(),
                    format!("node-{}", n as usize % NODES),
                )
            })
            .collect();
        let parts = if i % 10 == 1 && endpoints > 1 { 2 } else { 1 };
        let chunk = endpoints.div_ceil(parts).max(1);
        let slices = pods
            .chunks(chunk)
            .enumerate()
            .map(|(k, chunk)| {
                let eps: Vec<(&str, Option<&str>)> = chunk
                    .iter()
                    .map(|(ip, node)| (ip.as_str(), Some(node.as_str())))
                    .collect();
                let mut slice =
                    objects::slice(NAMESPACE, &format!("{name}-{k}"), &name, ports[0], &eps);
                slice.ports = Some(
                    ports
                        .iter()
                        .map(|&(n, p, proto)| discovery::EndpointPort {
                            name: Some(n.to_string()),
                            port: Some(p + 8000),
                            protocol: Some(proto.to_string()),
                            ..Default::default()
                        })
                        .collect(),
                );
                slice
            })
            .collect();
        self.slices.push(slices);
    }

    /// Replaces the first endpoint of service `i` with a new pod, as a rollout does, and
    /// returns the changed slice.
    pub fn replace_endpoint(&mut self, i: usize) -> discovery::EndpointSlice {
        let n = self.next_pod;
        self.next_pod += 1;
        let slice = &mut self.slices[i][0];
        slice.endpoints[0].addresses = vec![pod_ip(n).to_string()];
        slice.clone()
    }

    /// Adds one more service like the others; returns its index.
    pub fn add_service(&mut self, endpoints: usize) -> usize {
        let i = self.services.len();
        self.push_service(i, endpoints);
        i
    }

    /// The model changes that add service `i`: its Service and its slices.
    pub fn service_changes(&self, i: usize) -> Vec<Change> {
        let mut out = Vec::new();
        if let Ok(Some(svc)) = convert::service(&self.services[i], &mut Vec::new()) {
            out.push(Change::service(svc));
        }
        out.extend(self.slices[i].iter().map(slice_change));
        out
    }

    /// The model changes a source would send for the whole cluster.
    pub fn changes(&self) -> Vec<Change> {
        let mut out = Vec::with_capacity(self.services.len() * 2);
        for svc in &self.services {
            if let Ok(Some(s)) = convert::service(svc, &mut Vec::new()) {
                out.push(Change::service(s));
            }
        }
        for slice in self.slices.iter().flatten() {
            out.push(slice_change(slice));
        }
        out
    }

    /// Writes the cluster as manifests, 100 services (with their slices) per file, so that
    /// a change rewrites one small file. Returns the file of each service.
    pub fn write_manifests(&self, dir: &Path) -> std::io::Result<BTreeMap<usize, String>> {
        let mut files = BTreeMap::new();
        for start in (0..self.services.len()).step_by(100) {
            let file = format!("services-{:05}.yaml", start / 100);
            self.write_file(dir, &file, start)?;
            for i in start..(start + 100).min(self.services.len()) {
                files.insert(i, file.clone());
            }
        }
        Ok(files)
    }

    /// Rewrites the manifest file holding service `i` (atomically: temp file + rename).
    pub fn rewrite_manifest_of(&self, dir: &Path, i: usize) -> std::io::Result<()> {
        let start = i / 100 * 100;
        self.write_file(dir, &format!("services-{:05}.yaml", start / 100), start)
    }

    fn write_file(&self, dir: &Path, file: &str, start: usize) -> std::io::Result<()> {
        let end = (start + 100).min(self.services.len());
        let mut text = String::new();
        for i in start..end {
            push_doc(&mut text, &self.services[i]);
            for slice in &self.slices[i] {
                push_doc(&mut text, slice);
            }
        }
        let tmp = dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, dir.join(file))
    }
}

/// A generated cluster and the state after applying all of it, with the pending changes
/// already taken (as after a first sync). Also returns how long applying took.
pub fn cluster_and_state(spec: ScaleSpec) -> (Cluster, ProxyState, Duration) {
    let cluster = Cluster::generate(spec);
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

/// Replaces the first endpoint of service `i` (a pod rolled) in `cluster` and in `state`.
pub fn replace_endpoint(cluster: &mut Cluster, state: &mut ProxyState, i: usize) {
    let slice = cluster.replace_endpoint(i);
    state.apply(slice_change(&slice));
}

/// Adds one service like the others, with `endpoints` endpoints, to `cluster` and `state`;
/// returns its index.
pub fn add_service(cluster: &mut Cluster, state: &mut ProxyState, endpoints: usize) -> usize {
    let i = cluster.add_service(endpoints);
    for change in cluster.service_changes(i) {
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
            state.apply(Change::SliceDeleted(s.name.clone()));
        }
    }
    if let Ok(Some(s)) = convert::service(&svc, &mut Vec::new()) {
        state.apply(Change::ServiceDeleted(s.name));
    }
}

/// The model change for one slice (as the sources convert it).
pub fn slice_change(slice: &discovery::EndpointSlice) -> Change {
    let mut dropped = Vec::new();
    match convert::endpoint_slice(slice, &mut dropped) {
        Ok(Some(s)) if dropped.is_empty() => Change::slice(s),
        other => panic!("generated slice does not convert: {other:?}"),
    }
}

/// Appends one object as a JSON document of a YAML stream (JSON is valid YAML and much
/// faster to write and read at this size).
fn push_doc<T: serde::Serialize + kube::Resource<DynamicType = ()>>(out: &mut String, obj: &T) {
    let mut value = serde_json::to_value(obj).expect("serializable");
    value["apiVersion"] = T::api_version(&()).into();
    value["kind"] = T::kind(&()).into();
    out.push_str("---\n");
    out.push_str(&serde_json::to_string(&value).expect("serializable"));
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_clusters_convert_and_have_the_requested_size() {
        let cluster = Cluster::generate(ScaleSpec {
            services: 200,
            endpoints_per_service: 10,
        });
        let mut state = ProxyState::new(NODE);
        for change in cluster.changes() {
            assert!(state.apply(change));
        }
        assert_eq!(state.service_count(), 200);
        let svc = state.services().next().unwrap();
        assert_eq!(state.endpoints(&svc.name, &svc.ports[0]).len(), 10);
        let node_ports = state
            .services()
            .filter(|s| s.ports[0].node_port.is_some())
            .count();
        assert_eq!(node_ports, 20);
        assert!(cluster.slices.iter().any(|s| s.len() == 2));
    }

    #[test]
    fn manifests_round_trip_through_the_manifest_reader() {
        let cluster = Cluster::generate(ScaleSpec {
            services: 150,
            endpoints_per_service: 3,
        });
        let dir = tempfile::tempdir().unwrap();
        let files = cluster.write_manifests(dir.path()).unwrap();
        assert_eq!(
            files
                .values()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            2
        );
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for doc in text.split("---\n").filter(|d| !d.trim().is_empty()) {
                let v: serde_yaml::Value = serde_yaml::from_str(doc).unwrap();
                assert!(v["kind"] == "Service" || v["kind"] == "EndpointSlice");
            }
        }
    }

    #[test]
    fn state_helpers_keep_the_cluster_and_the_state_in_step() {
        let spec = ScaleSpec {
            services: 20,
            endpoints_per_service: 3,
        };
        let (mut cluster, mut state, _) = cluster_and_state(spec);
        assert_eq!(state.service_count(), 20);
        assert!(!state.has_pending());

        let svc = state.services().next().unwrap().clone();
        let i: usize = svc.name.name.strip_prefix("svc-").unwrap().parse().unwrap();
        let ips = |state: &ProxyState| -> Vec<Ipv4Addr> {
            let mut ips: Vec<_> = state
                .endpoints(&svc.name, &svc.ports[0])
                .iter()
                .map(|e| e.ip)
                .collect();
            ips.sort();
            ips
        };
        let before = ips(&state);
        replace_endpoint(&mut cluster, &mut state, i);
        let after = ips(&state);
        assert_eq!(after.len(), 3);
        assert_eq!(after.iter().filter(|ip| !before.contains(ip)).count(), 1);
        assert!(state.take_pending().dirty.contains(&svc.name));

        let added = add_service(&mut cluster, &mut state, 3);
        assert_eq!(added, 20);
        assert_eq!(state.service_count(), 21);
        assert_eq!(
            cluster.service_changes(added).len(),
            1 + cluster.slices[added].len()
        );
        remove_last_service(&mut cluster, &mut state);
        assert_eq!(state.service_count(), 20);
        assert_eq!(cluster.services.len(), 20);
    }
}
