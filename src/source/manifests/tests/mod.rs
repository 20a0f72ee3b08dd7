//! Parsing and directory tests; `watching` covers [`run`](super::run).

mod hostile;
mod node;
mod watching;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use std::collections::BTreeSet;

use super::dir::{DirState, ObjectKey};
use super::documents::{parse_file, split_documents};
use super::*;
use crate::model::{Protocol, ServiceName, SliceName};

/// The node name the tests run as.
pub(super) const NODE: &str = "node-1";

pub(super) const WEB: &str = "\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  clusterIP: 10.96.0.80
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: demo
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
  - addresses: [10.244.1.2]
";

/// A Service document `demo/<name>` with one port.
pub(super) fn service_yaml(name: &str, ip: &str, port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: demo}}\n\
         spec:\n  clusterIP: {ip}\n  ports: [{{name: http, port: {port}}}]\n"
    )
}

pub(super) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn svc_name(name: &str) -> ServiceName {
    ServiceName::new("demo", name)
}

fn parse(name: &str, text: &str, metrics: &Metrics) -> documents::FileObjects {
    parse_file(Path::new(name), text.as_bytes(), metrics)
}

#[test]
fn examples_directory_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let metrics = Metrics::new();
    let snap = load_dir(&dir, NODE, &metrics).unwrap();
    let mut names: Vec<_> = snap.services.keys().map(|n| n.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["dns", "empty", "web"]);
    let web = &snap.services[&svc_name("web")];
    assert_eq!(web.cluster_ip, Ipv4Addr::new(10, 96, 0, 80));
    assert_eq!(
        (web.ports[0].port, web.ports[0].node_port),
        (80, Some(30080))
    );
    let dns = &snap.services[&svc_name("dns")];
    assert_eq!(
        (dns.ports[0].port, dns.ports[0].protocol),
        (53, Protocol::Udp)
    );
    let web_slice = &snap.slices[&SliceName::new("demo", "web-7x2kq")];
    let ips: Vec<_> = web_slice
        .endpoints
        .iter()
        .map(|e| e.ip.to_string())
        .collect();
    assert_eq!(ips, ["10.244.1.2", "10.244.1.3", "10.244.1.4"]);
    assert!(
        web_slice
            .endpoints
            .iter()
            .all(|e| e.node_name.as_deref() == Some("node-1"))
    );
    let dns_slice = &snap.slices[&SliceName::new("demo", "dns-p8w3z")];
    assert_eq!(dns_slice.ports[0].port, 5353);
    assert_eq!(dns_slice.endpoints.len(), 1);
    assert_eq!(snap.slices.len(), 2, "the empty service has no slice");
    assert!(
        !metrics.encode().contains("kproxy_rejected_objects_total{"),
        "{}",
        metrics.encode()
    );
}

#[test]
fn split_documents_at_marker_lines_only() {
    let text = "# header\n---\na: 1\n--- # second\nb: '---'\n----\nc: 3\n---\n\n---\n";
    let docs = split_documents(text);
    assert_eq!(
        docs,
        vec![(2, "\na: 1\n"), (4, " # second\nb: '---'\n----\nc: 3\n")],
    );
    assert_eq!(split_documents("a: 1"), vec![(1, "a: 1")]);
    assert!(split_documents("").is_empty());
}

#[test]
fn a_bad_document_never_hides_the_others() {
    let metrics = Metrics::new();
    let text = format!(
        "{}---\nthis: is: not: yaml\n---\n{}---\n- a list\n---\nmetadata: {{name: x}}\n---\nkind: Service\n---\n{}",
        service_yaml("bad-port", "10.96.0.1", 0),
        service_yaml("good", "10.96.0.2", 80),
        WEB,
    );
    let got = parse("mixed.yaml", &text, &metrics);
    let names: Vec<_> = got.services.iter().map(|s| s.name.name.as_str()).collect();
    assert_eq!(names, ["good", "web"]);
    assert_eq!(got.slices.len(), 1);
    assert_eq!(metrics.rejected("Service", "invalid_port"), 1);
    assert_eq!(metrics.rejected("File", "invalid_yaml"), 1);
    assert_eq!(metrics.rejected("File", "invalid_document"), 2);
    assert_eq!(metrics.rejected("Service", "unsupported_api_version"), 1);
}

#[test]
fn typed_parse_errors_and_wrong_versions_are_rejected() {
    let metrics = Metrics::new();
    let text = format!(
        "{}---\napiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {{name: old}}\n\
         ---\napiVersion: v1\nkind: Service\nmetadata: {{name: typo}}\nspec: {{ports: [{{port: eighty}}]}}\n\
         ---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: ignored}}\n",
        service_yaml("ok", "10.96.0.2", 80)
    );
    let got = parse("x.yaml", &text, &metrics);
    assert_eq!(got.services.len(), 1);
    assert_eq!(
        metrics.rejected("EndpointSlice", "unsupported_api_version"),
        1
    );
    assert_eq!(metrics.rejected("Service", "invalid_object"), 1);
}

#[test]
fn lists_are_expanded() {
    let metrics = Metrics::new();
    let text = format!(
        "apiVersion: v1\nkind: List\nitems:\n{}",
        indent_items(&[
            &service_yaml("a", "10.96.0.1", 80),
            &service_yaml("b", "10.96.0.2", 0)
        ])
    );
    let got = parse("list.yaml", &text, &metrics);
    assert_eq!(got.services.len(), 1);
    assert_eq!(got.services[0].name, svc_name("a"));
    assert_eq!(metrics.rejected("Service", "invalid_port"), 1);

    // API list responses leave the items' apiVersion and kind out.
    let text = "apiVersion: v1\nkind: ServiceList\nitems:\n\
                - metadata: {name: c, namespace: demo}\n  spec: {clusterIP: 10.96.0.3, ports: [{port: 80}]}\n";
    let got = parse("svclist.yaml", text, &metrics);
    assert_eq!(got.services[0].name, svc_name("c"));
}

fn indent_items(docs: &[&str]) -> String {
    docs.iter()
        .map(|d| {
            let mut lines = d.lines();
            let first = format!("- {}\n", lines.next().unwrap());
            first + &lines.map(|l| format!("  {l}\n")).collect::<String>()
        })
        .collect()
}

#[test]
fn json_files_hold_one_object_or_list() {
    let metrics = Metrics::new();
    let text = r#"{"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "j"},
                   "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 443, "protocol": "TCP"}]}}"#;
    let got = parse("svc.json", text, &metrics);
    assert_eq!(got.services[0].name, ServiceName::new("default", "j"));
    assert_eq!(got.services[0].ports[0].port, 443);
    let got = parse("bad.json", "{\"apiVersion\": ", &metrics);
    assert!(got.services.is_empty() && got.slices.is_empty());
    assert_eq!(metrics.rejected("File", "invalid_json"), 1);
}

#[test]
fn only_manifest_files_are_read() {
    for (name, wanted) in [
        ("web.yaml", true),
        ("web.yml", true),
        ("web.json", true),
        (".web.yaml", false),
        (".web.yaml.swp", false),
        ("web.yaml~", false),
        ("#web.yaml#", false),
        ("web.yaml.tmp", false),
        ("README.md", false),
        ("yaml", false),
    ] {
        assert_eq!(is_manifest_name(name), wanted, "{name}");
    }
}

#[test]
fn the_last_file_wins_a_duplicate() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a.yaml", &service_yaml("dup", "10.96.0.1", 80));
    write(tmp.path(), "b.yaml", &service_yaml("dup", "10.96.0.2", 80));
    write(tmp.path(), "notes.txt", "not a manifest");
    std::fs::create_dir(tmp.path().join("sub.yaml")).unwrap();
    let snap = load_dir(tmp.path(), NODE, &Metrics::new()).unwrap();
    assert_eq!(snap.services.len(), 1);
    assert_eq!(
        snap.services[&svc_name("dup")].cluster_ip,
        Ipv4Addr::new(10, 96, 0, 2)
    );
}

#[test]
fn unreadable_directory_is_an_error() {
    let err = load_dir(
        Path::new("/nonexistent/kproxy-manifests"),
        NODE,
        &Metrics::new(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/kproxy-manifests"),
        "{err}"
    );
}

#[test]
fn rescan_rereads_only_changed_files() {
    let tmp = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    write(tmp.path(), "bad.yaml", &service_yaml("bad", "10.96.0.1", 0));
    let good = write(
        tmp.path(),
        "good.yaml",
        &service_yaml("good", "10.96.0.2", 80),
    );
    let mut state = DirState::new(tmp.path().to_path_buf(), NODE);
    let good_key = BTreeSet::from([ObjectKey::Service(svc_name("good"))]);
    assert_eq!(state.rescan(&metrics).unwrap(), good_key);
    assert_eq!(metrics.rejected("Service", "invalid_port"), 1);
    // Nothing changed: no re-parse (the bad file would be counted again), nothing affected.
    assert!(state.rescan(&metrics).unwrap().is_empty());
    assert!(state.rescan(&metrics).unwrap().is_empty());
    assert_eq!(metrics.rejected("Service", "invalid_port"), 1);

    // Same size, written at once: the mtime may not move, the content check still sees it.
    std::fs::write(&good, service_yaml("good", "10.96.0.2", 81)).unwrap();
    assert_eq!(state.rescan(&metrics).unwrap(), good_key);
    assert_eq!(state.service(&svc_name("good")).unwrap().ports[0].port, 81);
    assert_eq!(metrics.rejected("Service", "invalid_port"), 1);

    // Only the named files are looked at.
    std::fs::write(&good, service_yaml("good", "10.96.0.2", 82)).unwrap();
    let elsewhere = [
        tmp.path().join("bad.yaml"),
        tmp.path().join(".good.yaml.swp"),
    ];
    assert!(state.rescan_paths(elsewhere, &metrics).is_empty());
    assert_eq!(state.rescan_paths([good.clone()], &metrics), good_key);
    assert_eq!(state.service(&svc_name("good")).unwrap().ports[0].port, 82);

    std::fs::remove_file(&good).unwrap();
    assert_eq!(state.rescan_paths([good], &metrics), good_key);
    assert!(state.service(&svc_name("good")).is_none());
    assert!(state.snapshot().services.is_empty());
}

#[test]
fn a_duplicate_falls_back_to_the_other_file() {
    let tmp = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    write(tmp.path(), "a.yaml", &service_yaml("dup", "10.96.0.1", 80));
    let b = write(tmp.path(), "b.yaml", &service_yaml("dup", "10.96.0.2", 80));
    let mut state = DirState::new(tmp.path().to_path_buf(), NODE);
    state.rescan(&metrics).unwrap();
    assert_eq!(
        state.service(&svc_name("dup")).unwrap().cluster_ip,
        Ipv4Addr::new(10, 96, 0, 2)
    );
    std::fs::remove_file(&b).unwrap();
    state.rescan(&metrics).unwrap();
    assert_eq!(
        state.service(&svc_name("dup")).unwrap().cluster_ip,
        Ipv4Addr::new(10, 96, 0, 1)
    );
}

/// Scale check, run by hand: `cargo test --release --lib manifests_at_scale -- --ignored --nocapture`.
#[test]
#[ignore = "timing, run by hand"]
fn manifests_at_scale() {
    use std::time::Instant;
    let tmp = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    for i in 0..10_000u32 {
        let name = format!("svc-{i:05}");
        let ip = format!("10.96.{}.{}", i / 250, i % 250 + 1);
        let slice = WEB.split("---").nth(1).unwrap().replace("web", &name);
        write(
            tmp.path(),
            &format!("{name}.yaml"),
            &format!("{}---{slice}", service_yaml(&name, &ip, 80)),
        );
    }
    let mut state = DirState::new(tmp.path().to_path_buf(), NODE);
    let t = Instant::now();
    state.rescan(&metrics).unwrap();
    let snap = state.snapshot();
    println!(
        "initial load of 10k files: {:?} ({} services)",
        t.elapsed(),
        snap.services.len()
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let t = Instant::now();
    assert!(state.rescan(&metrics).unwrap().is_empty());
    println!("full rescan, nothing changed: {:?}", t.elapsed());
    let edited = write(
        tmp.path(),
        "svc-00042.yaml",
        &service_yaml("svc-00042", "10.96.0.43", 81),
    );
    let t = Instant::now();
    assert_eq!(state.rescan_paths([edited], &metrics).len(), 2);
    println!("rescan of one edited file: {:?}", t.elapsed());
    let t = Instant::now();
    assert_eq!(state.snapshot().services.len(), 10_000);
    println!("full snapshot: {:?}", t.elapsed());
}

#[test]
fn the_last_of_several_owners_wins_whatever_the_order_they_appear_in() {
    let tmp = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    let ip = |state: &DirState| state.service(&svc_name("dup")).unwrap().cluster_ip;
    write(tmp.path(), "b.yaml", &service_yaml("dup", "10.96.0.2", 80));
    let c = write(tmp.path(), "c.yaml", &service_yaml("dup", "10.96.0.3", 80));
    let mut state = DirState::new(tmp.path().to_path_buf(), NODE);
    state.rescan(&metrics).unwrap();
    assert_eq!(ip(&state), Ipv4Addr::new(10, 96, 0, 3));
    // A file sorting first, then one sorting in between, do not take over.
    let a = write(tmp.path(), "a.yaml", &service_yaml("dup", "10.96.0.1", 80));
    state.rescan_paths([a.clone()], &metrics);
    let bb = write(tmp.path(), "bb.yaml", &service_yaml("dup", "10.96.0.4", 80));
    state.rescan_paths([bb.clone()], &metrics);
    assert_eq!(ip(&state), Ipv4Addr::new(10, 96, 0, 3));
    std::fs::remove_file(&c).unwrap();
    state.rescan_paths([c], &metrics);
    assert_eq!(ip(&state), Ipv4Addr::new(10, 96, 0, 4));
    std::fs::remove_file(&bb).unwrap();
    std::fs::remove_file(tmp.path().join("b.yaml")).unwrap();
    state.rescan(&metrics).unwrap();
    assert_eq!(ip(&state), Ipv4Addr::new(10, 96, 0, 1));
    std::fs::remove_file(&a).unwrap();
    state.rescan(&metrics).unwrap();
    assert!(state.service(&svc_name("dup")).is_none());
}

#[test]
fn a_snapshot_shares_the_cached_objects() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "web.yaml", WEB);
    let mut state = DirState::new(tmp.path().to_path_buf(), NODE);
    state.rescan(&Metrics::new()).unwrap();
    let snap = state.snapshot();
    let web = svc_name("web");
    assert!(std::sync::Arc::ptr_eq(
        &snap.services[&web],
        state.service(&web).unwrap()
    ));
    let slice = SliceName::new("demo", "web-1");
    assert!(std::sync::Arc::ptr_eq(
        &snap.slices[&slice],
        state.slice(&slice).unwrap()
    ));
}

#[test]
fn a_symlink_loop_is_logged_once_not_on_every_rescan() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(dir.path().join("b.yaml"), dir.path().join("a.yaml")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("a.yaml"), dir.path().join("b.yaml")).unwrap();
    let metrics = Metrics::new();
    let mut state = DirState::new(dir.path().to_path_buf(), NODE);
    for _ in 0..3 {
        state.rescan(&metrics).unwrap();
    }
    // Two names, each counted when it first failed.
    assert_eq!(metrics.rejected("File", "unreadable"), 2);
    // Broken up (b.yaml now dangles: not a manifest) and made again: both names fail anew.
    std::fs::remove_file(dir.path().join("a.yaml")).unwrap();
    state.rescan(&metrics).unwrap();
    std::os::unix::fs::symlink(dir.path().join("b.yaml"), dir.path().join("a.yaml")).unwrap();
    state.rescan(&metrics).unwrap();
    assert_eq!(metrics.rejected("File", "unreadable"), 4);
}
