//! Real HTTP over loopback TCP: a hand-written HTTP/1.1 client, so what is checked is
//! what goes over the wire.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::*;
use crate::health::ManualClock;
use crate::metrics::Format;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    request_with(addr, method, path, "").await
}

/// `headers` are extra header lines, each ending in `\r\n`.
async fn request_with(addr: SocketAddr, method: &str, path: &str, headers: &str) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("server answered within 10s")
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .expect("a complete HTTP response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

async fn start(site: Site) -> (SocketAddr, JoinHandle<()>) {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), site)
        .await
        .unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    (addr, tokio::spawn(server.run()))
}

#[tokio::test]
async fn healthz_and_livez_follow_the_health_state() {
    let clock = Arc::new(ManualClock::default());
    let health = ProxyHealth::with_clock(Duration::from_secs(60), clock.clone());
    let metrics = Metrics::new();
    let (addr, task) = start(Site::health(health.clone(), metrics.clone())).await;

    health.updated();
    for path in ["/healthz", "/livez"] {
        let r = request(addr, "GET", path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(json["lastUpdated"], json["currentTime"], "{path}");
    }
    let healthz: serde_json::Value =
        serde_json::from_str(&request(addr, "GET", "/healthz").await.body).unwrap();
    assert_eq!(healthz["nodeEligible"], true);
    assert_eq!(healthz["healthy"], true);
    assert_eq!(healthz["status"]["IPv4"]["healthy"], true);

    // A change queued and not synced for the whole timeout: both go 503.
    health.queued_update();
    clock.advance(Duration::from_secs(60));
    for path in ["/healthz", "/livez"] {
        assert_eq!(request(addr, "GET", path).await.status, 503, "{path}");
    }
    health.updated();
    assert_eq!(request(addr, "GET", "/livez").await.status, 200);

    // A draining node fails /healthz only.
    health.set_node_eligible(false);
    assert_eq!(request(addr, "GET", "/healthz").await.status, 503);
    assert_eq!(request(addr, "GET", "/livez").await.status, 200);

    assert_eq!(request(addr, "GET", "/metrics").await.status, 404);

    // Every probe is counted by its status, as kube-proxy does.
    let scraped = metrics.encode_as(Format::Prometheus);
    for line in [
        "kubeproxy_proxy_healthz_total{code=\"200\"} 2",
        "kubeproxy_proxy_healthz_total{code=\"503\"} 2",
        "kubeproxy_proxy_livez_total{code=\"200\"} 3",
        "kubeproxy_proxy_livez_total{code=\"503\"} 1",
    ] {
        assert!(scraped.contains(line), "missing {line} in\n{scraped}");
    }
    task.abort();
}

#[tokio::test]
async fn metrics_and_proxy_mode() {
    let metrics = Metrics::new();
    metrics.observe_sync(Duration::from_millis(3), true);
    metrics.service_changes.inc();
    let config = crate::config::load(["kproxy"]).unwrap();
    let (addr, task) = start(Site::metrics(&config, &metrics)).await;

    let r = request(addr, "GET", "/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(!r.body.contains("# EOF"), "{}", r.body);
    assert!(
        r.body
            .contains("# TYPE kubeproxy_sync_proxy_rules_service_changes_total counter"),
        "{}",
        r.body
    );
    let om = request_with(
        addr,
        "GET",
        "/metrics",
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n",
    )
    .await;
    assert_eq!(
        om.header("content-type"),
        Some(Format::OpenMetrics.content_type())
    );
    assert!(om.body.ends_with("# EOF\n"), "{}", om.body);
    for name in [
        "kubeproxy_sync_proxy_rules_duration_seconds_bucket",
        "kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"} 1",
        "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
        "kubeproxy_network_programming_duration_seconds",
        "kubeproxy_sync_proxy_rules_service_changes_total 1",
    ] {
        assert!(r.body.contains(name), "missing {name} in\n{}", r.body);
    }

    // Served live, not a snapshot taken at start-up.
    metrics.service_changes.inc();
    let r = request(addr, "GET", "/metrics").await;
    assert!(
        r.body
            .contains("kubeproxy_sync_proxy_rules_service_changes_total 2")
    );

    let r = request(addr, "GET", "/proxyMode").await;
    assert_eq!((r.status, r.body.as_str()), (200, "iptables"));
    let r = request(addr, "HEAD", "/proxyMode").await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(request(addr, "GET", "/healthz").await.body, "ok");
    assert_eq!(request(addr, "DELETE", "/metrics").await.status, 405);

    // /configz: the effective configuration under kube-proxy's configz name.
    let r = request(addr, "GET", "/configz").await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let c = &json["kubeproxy.config.k8s.io"];
    assert_eq!(c["kind"], "KubeProxyConfiguration");
    assert_eq!(c["apiVersion"], "kubeproxy.config.k8s.io/v1alpha1");
    assert_eq!(c["iptables"]["syncPeriod"], "30s");
    assert_eq!(c["metricsBindAddress"], "127.0.0.1:10249");
    assert_eq!(c["oomScoreAdj"], -999);
    task.abort();
}

#[tokio::test]
async fn bind_failure_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let health = ProxyHealth::new(Duration::from_secs(60));
    let err = serve_health(addr, health, Metrics::new())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&addr.to_string()), "{msg}");
    assert!(msg.contains("healthz"), "{msg}");
}

#[tokio::test]
async fn serve_functions_answer_on_their_address() {
    // Find a free port, release it, and have serve_metrics bind it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = crate::config::load(["kproxy", "--proxy-mode=ipvs"]).unwrap();
    let site = Site::metrics(&config, &Metrics::new());
    let task = tokio::spawn(async move {
        Server::bind(addr, site).await.unwrap().run().await;
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} never listened"
        );
        assert!(!task.is_finished(), "the metrics server returned early");
        tokio::task::yield_now().await;
    }
    assert_eq!(request(addr, "GET", "/proxyMode").await.body, "ipvs");
    task.abort();
}

/// Every kubeproxy_* metric of kube-proxy's list (tests/data/upstream/kube-proxy-metrics.tsv)
/// that kube-proxy serves in iptables or ipvs mode is served, with its type and labels.
#[tokio::test]
async fn metrics_match_kube_proxys_list() {
    let metrics = Metrics::new();
    metrics.observe_sync(Duration::from_millis(3), false);
    metrics.count_healthz(200);
    metrics.count_livez(200);
    metrics.set_iptables_rules("nat", 10, 2);
    metrics.set_no_local_endpoints(1, 0);
    metrics.queued_now();
    metrics.network_programming_duration.observe(0.5);
    metrics.conntrack_reconcile_duration.observe(0.01);
    let config = crate::config::load(["kproxy", "--proxy-mode=iptables"]).unwrap();
    let (addr, task) = start(Site::metrics(&config, &metrics)).await;
    let body = request(addr, "GET", "/metrics").await.body;
    task.abort();

    let list = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/upstream/kube-proxy-metrics.tsv"),
    )
    .unwrap();
    let mut checked = 0;
    for row in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let cols: Vec<&str> = row.split('\t').collect();
        let (name, kind, labels, modes) = (cols[0], cols[1], cols[2], cols[3]);
        if !(modes == "all" || modes.contains("iptables") || modes.contains("ipvs")) {
            continue;
        }
        assert!(
            body.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} ({kind}) missing in\n{body}"
        );
        let want: Vec<&str> = if labels == "-" {
            vec![]
        } else {
            labels.split(',').collect()
        };
        let sample_prefix = if kind == "histogram" {
            format!("{name}_count")
        } else {
            name.to_string()
        };
        let samples: Vec<&str> = body
            .lines()
            .filter(|l| {
                l.starts_with(&format!("{sample_prefix}{{"))
                    || l.starts_with(&format!("{sample_prefix} "))
            })
            .collect();
        assert!(!samples.is_empty(), "{name}: no sample in\n{body}");
        for sample in samples {
            let mut got: Vec<&str> = match sample.split_once('{') {
                Some((_, rest)) => rest
                    .split_once('}')
                    .unwrap()
                    .0
                    .split(',')
                    .map(|kv| kv.split_once('=').unwrap().0)
                    .collect(),
                None => vec![],
            };
            got.sort();
            let mut want = want.clone();
            want.sort();
            assert_eq!(got, want, "{name}: labels of {sample}");
            if got.contains(&"ip_family") {
                assert!(sample.contains("ip_family=\"IPv4\""), "{sample}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 19, "rows checked");
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
        "process_max_fds",
        "process_virtual_memory_bytes",
        "kubernetes_build_info{",
    ] {
        assert!(body.contains(name), "{name} missing");
    }
}
