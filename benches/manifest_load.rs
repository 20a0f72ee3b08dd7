//! Loading one large manifest file: N Services and their EndpointSlices (10 endpoints each)
//! in a single file, the way `kubectl get services,endpointslices -A -o yaml` writes them
//! (one `kind: List`, block YAML), and the same objects as a multi-document stream
//! (`---` between documents). Times `manifests::load_dir` (read, parse, validate,
//! convert), best of three, at 1k, 5k and 10k services.
//!
//! `cargo bench --bench manifest_load`. Settings: `KPROXY_MANIFEST_SERVICES` (comma-separated
//! sizes, default `1000,5000,10000`). Results in docs/benchmarks.md.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::Resource;
use kproxy::metrics::Metrics;
use kproxy::source::manifests;
use kproxy::testing::scale::{Cluster, ScaleSpec};
use serde_json::{Value, json};

const ENDPOINTS: usize = 10;
const RUNS: usize = 3;

/// An object as `kubectl get -o yaml` lists it: with its apiVersion and kind.
fn typed_value<T: serde::Serialize + Resource>(obj: &T) -> Value {
    let mut v = serde_json::to_value(obj).expect("serializable");
    v["apiVersion"] = T::API_VERSION.into();
    v["kind"] = T::KIND.into();
    v
}

fn objects(cluster: &Cluster) -> Vec<Value> {
    let services = cluster.services.iter().map(typed_value);
    let slices = cluster.slices.iter().flatten().map(typed_value);
    services.chain(slices).collect()
}

fn write_list(path: &Path, objects: Vec<Value>) {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects,
                      "metadata": {"resourceVersion": ""}});
    std::fs::write(path, serde_yaml::to_string(&list).expect("yaml")).expect("writing");
}

fn write_stream(path: &Path, objects: &[Value]) {
    let mut text = String::new();
    for obj in objects {
        text.push_str("---\n");
        text.push_str(&serde_yaml::to_string(obj).expect("yaml"));
    }
    std::fs::write(path, text).expect("writing");
}

/// Best of [`RUNS`] loads of `dir`, checking every object arrived.
fn time_load(dir: &Path, services: usize) -> Duration {
    (0..RUNS)
        .map(|_| {
            let metrics = Metrics::new();
            let started = Instant::now();
            let snapshot = manifests::load_dir(dir, "node-1", &metrics).expect("loading");
            let elapsed = started.elapsed();
            assert_eq!(snapshot.services.len(), services, "{}", dir.display());
            elapsed
        })
        .min()
        .expect("at least one run")
}

fn main() {
    let sizes: Vec<usize> = std::env::var("KPROXY_MANIFEST_SERVICES")
        .unwrap_or_else(|_| "1000,5000,10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("a number of services"))
        .collect();
    println!("| services | file | size | load (best of {RUNS}) |");
    println!("|---:|---|---:|---:|");
    for services in sizes {
        let cluster = Cluster::generate(ScaleSpec {
            services,
            endpoints_per_service: ENDPOINTS,
        });
        let objects = objects(&cluster);
        for (name, write) in [
            ("List (kubectl get -o yaml)", true),
            ("multi-document stream", false),
        ] {
            let dir = tempfile::tempdir().expect("temporary directory");
            let file = dir.path().join("cluster.yaml");
            if write {
                write_list(&file, objects.clone());
            } else {
                write_stream(&file, &objects);
            }
            let size = std::fs::metadata(&file).expect("written").len();
            let elapsed = time_load(dir.path(), services);
            println!(
                "| {services} | {name} | {:.1} MB | {:.0} ms |",
                size as f64 / 1e6,
                elapsed.as_secs_f64() * 1e3
            );
        }
    }
}
