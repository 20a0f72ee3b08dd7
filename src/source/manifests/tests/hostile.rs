//! Hostile names in manifest files: each object is rejected with exactly one log line that
//! names it, and counted; the good objects beside them are kept.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::super::documents::parse_file;
use crate::metrics::Metrics;

/// Log output of the code run by [`logged`].
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with warnings (and worse) logged as kproxy logs them; returns its result and the
/// lines logged.
fn logged<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    (result, text.lines().map(String::from).collect())
}

fn service(namespace: &str, name: &str, port_name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec: {{clusterIP: 10.96.0.9, ports: [{{name: {port_name}, port: 80}}]}}\n"
    )
}

fn slice(name: &str, service: &str) -> String {
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {{name: {name}, namespace: demo, labels: {{kubernetes.io/service-name: {service}}}}}\n\
         addressType: IPv4\nports: [{{name: http, port: 8080}}]\nendpoints: [{{addresses: [10.244.1.2]}}]\n"
    )
}

/// YAML double-quoted scalars, so that the escapes (`\n`, `\0`, `\t`) become the characters.
const HOSTILE_NAMES: [&str; 9] = [
    r#""web\nCOMMIT""#,
    r#""we\"b""#,
    r#""it's""#,
    r#""nul\0""#,
    r#""tab\tbed""#,
    r#""wéb""#,
    r#""Web""#,
    r#""has space""#,
    r#""a.b""#,
];

#[test]
fn hostile_names_are_rejected_with_one_line_each() {
    let long = "x".repeat(300);
    let mut docs = vec![service("demo", "good", "http"), slice("good-1", "good")];
    let mut expected = Vec::new();
    for name in HOSTILE_NAMES.iter().copied().chain([long.as_str()]) {
        docs.push(service("demo", name, "http"));
        expected.push(("Service", "invalid_name"));
    }
    for namespace in [r#""a/b""#, r#""a:b""#, r#""ns\nx""#, r#""""#] {
        docs.push(service(namespace, "web", "http"));
        // An empty namespace means `default`, as the API server defaults it.
        let reason = if namespace == r#""""# {
            "ok"
        } else {
            "invalid_namespace"
        };
        if reason != "ok" {
            expected.push(("Service", reason));
        }
    }
    for port_name in [r#""HTTP""#, r#""h\nx""#, r#""a_b""#, &"p".repeat(64)] {
        docs.push(service("demo", "ports", port_name));
        expected.push(("Service", "invalid_port_name"));
    }
    for name in [r#""s/1""#, r#""s\r1""#, &"s".repeat(254)] {
        docs.push(slice(name, "good"));
        expected.push(("EndpointSlice", "invalid_name"));
    }
    for label in [r#""web\nCOMMIT""#, r#""a b""#, &"l".repeat(64)] {
        docs.push(slice("labelled", label));
        expected.push(("EndpointSlice", "invalid_service_name"));
    }
    let text = docs.join("---\n");
    let metrics = Metrics::new();
    let (got, lines) = logged(|| parse_file(Path::new("hostile.yaml"), text.as_bytes(), &metrics));

    let names: Vec<String> = got.services.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["demo/good", "default/web"]);
    let slices: Vec<String> = got.slices.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(slices, ["demo/good-1"]);

    assert_eq!(
        lines.len(),
        expected.len(),
        "one line per object:\n{lines:#?}"
    );
    for line in &lines {
        assert!(line.contains("skipping manifest hostile.yaml:"), "{line}");
        assert!(!line.contains(['\0', '\t', '\r']), "{line:?}");
    }
    assert!(
        lines[0].contains(r"Service demo/web\nCOMMIT: metadata.name"),
        "{}",
        lines[0]
    );
    let mut counts = std::collections::BTreeMap::new();
    for (kind, reason) in &expected {
        *counts.entry((*kind, *reason)).or_insert(0u64) += 1;
    }
    for ((kind, reason), n) in counts {
        assert_eq!(metrics.rejected(kind, reason), n, "{kind} {reason}");
    }
}

#[test]
fn refused_addresses_reject_the_service_or_leave_out_the_endpoint() {
    let services = [
        "apiVersion: v1\nkind: Service\nmetadata: {name: lo, namespace: demo}\n\
         spec: {clusterIP: 127.0.0.1, ports: [{port: 80}]}\n",
        "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: demo}\n\
         spec: {clusterIP: 10.96.0.3, externalIPs: [224.0.0.1], ports: [{port: 80}]}\n",
    ];
    let slice = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {name: good-1, namespace: demo, labels: {kubernetes.io/service-name: good}}\n\
         addressType: IPv4\nports: [{name: http, port: 8080}]\n\
         endpoints: [{addresses: [10.244.1.2]}, {addresses: [0.0.0.0]}, {addresses: [10.244.1.3]}]\n";
    let mut docs = vec![service("demo", "good", "http"), slice.to_string()];
    docs.extend(services.map(String::from));
    let text = docs.join("---\n");
    let metrics = Metrics::new();
    let (got, lines) = logged(|| parse_file(Path::new("addr.yaml"), text.as_bytes(), &metrics));

    let names: Vec<String> = got.services.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["demo/good"]);
    let ips: Vec<String> = got.slices[0]
        .endpoints
        .iter()
        .map(|e| e.ip.to_string())
        .collect();
    assert_eq!(ips, ["10.244.1.2", "10.244.1.3"]);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[0].contains(
            "EndpointSlice demo/good-1: left out endpoints[1]: 0.0.0.0 is the unspecified address"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("Service demo/lo: spec.clusterIP: 127.0.0.1 is a loopback address"),
        "{}",
        lines[1]
    );
    assert_eq!(metrics.rejected("EndpointSlice", "invalid_address"), 1);
    assert_eq!(metrics.rejected("Service", "invalid_cluster_ip"), 1);
    assert_eq!(metrics.rejected("Service", "invalid_external_ip"), 1);
}

#[test]
fn a_byte_order_mark_is_skipped_as_kubectl_skips_it() {
    for path in ["bom.yaml", "bom.json"] {
        let body = if path.ends_with("json") {
            r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "demo"},
                "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 80}]}}"#
                .to_string()
        } else {
            service("demo", "web", "http")
        };
        let bytes = [b"\xEF\xBB\xBF".as_slice(), body.as_bytes()].concat();
        let metrics = Metrics::new();
        let (got, lines) = logged(|| parse_file(Path::new(path), &bytes, &metrics));
        assert_eq!(lines, Vec::<String>::new(), "{path}");
        assert_eq!(got.services.len(), 1, "{path}");
    }
}

#[test]
fn a_document_nested_too_deep_is_refused_unparsed_and_the_others_kept() {
    let deep = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {}1{}\n",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let text = [
        service("demo", "good", "http"),
        deep,
        service("demo", "other", "http"),
    ]
    .join("---\n");
    let metrics = Metrics::new();
    let started = std::time::Instant::now();
    let (got, lines) = logged(|| parse_file(Path::new("deep.yaml"), text.as_bytes(), &metrics));
    let names: Vec<String> = got.services.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["demo/good", "demo/other"]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("deep.yaml:5: not parsed: the document nests deeper than 64 levels"),
        "{}",
        lines[0]
    );
    assert_eq!(metrics.rejected("File", "document_too_deep"), 1);
    // Refused in one pass, not after a parse: well under the seconds a parse took.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
