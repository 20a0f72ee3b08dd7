//! The source under test, its output channel, and polling helpers.

use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use kproxy::metrics::Metrics;
use kproxy::model::{Change, ServiceName};
use kproxy::source::kube::{client, run};
use kproxy::testing::objects::{service, slice};
use kproxy::testing::{RequestRecord, Resource, TestApiServer};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

pub const NODE: &str = "node-1";
/// Generous: kube-runtime's backoff after a refused watch grows 0.8 s, 1.6 s, 3.2 s…
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The source running against a test server, with its output channel.
pub struct Harness {
    pub server: TestApiServer,
    rx: mpsc::Receiver<Change>,
    pub metrics: Metrics,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Starts the source through a kubeconfig file, as `--kubeconfig` would.
    pub async fn start(server: TestApiServer) -> Self {
        // Shown only for failing tests; RUST_LOG overrides.
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("kproxy=debug"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = server.kubeconfig_file(dir.path()).unwrap();
        let client = client(Some(&kubeconfig), None).await.unwrap();
        let (tx, rx) = mpsc::channel(64);
        let metrics = Metrics::new();
        let m = metrics.clone();
        let task = tokio::spawn(async move {
            run(client, NODE.to_string(), tx, m).await.unwrap();
        });
        Self {
            server,
            rx,
            metrics,
            task,
            _dir: dir,
        }
    }

    pub async fn next(&mut self) -> Change {
        timeout(DEADLINE, self.rx.recv())
            .await
            .expect("no change before the deadline")
            .expect("source stopped")
    }

    /// The next Service or EndpointSlice change (Node changes skipped).
    pub async fn next_object(&mut self) -> Change {
        loop {
            match self.next().await {
                Change::NodeUpdated(_) => continue,
                c => return c,
            }
        }
    }

    /// Changes up to and including the first one matching `stop`.
    pub async fn until(&mut self, stop: impl Fn(&Change) -> bool) -> Vec<Change> {
        let mut seen = Vec::new();
        loop {
            let c = self.next().await;
            let done = stop(&c);
            seen.push(c);
            if done {
                return seen;
            }
        }
    }

    /// Whatever arrives within `window`: for asserting that something does NOT happen.
    pub async fn quiet(&mut self, window: Duration) -> Vec<Change> {
        let mut seen = Vec::new();
        let end = Instant::now() + window;
        while let Ok(Some(c)) = tokio::time::timeout_at(end, self.rx.recv()).await {
            seen.push(c);
        }
        seen
    }

    pub async fn initial_sync(&mut self) -> Vec<Change> {
        self.until(|c| *c == Change::InitialSyncDone).await
    }

    /// Polls the server until `cond` holds.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&TestApiServer) -> bool) {
        let end = Instant::now() + DEADLINE;
        while !cond(&self.server) {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn watching(&self, resource: Resource) {
        self.wait_for(&format!("an open {resource:?} watch"), |s| {
            s.open_watches(resource) == 1
        })
        .await;
    }

    pub fn requests_for(&self, resource: Resource) -> Vec<RequestRecord> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.resource() == Some(resource))
            .collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn svc_name(name: &str) -> ServiceName {
    ServiceName::new("ns", name)
}

pub fn is_update_of(c: &Change, name: &str) -> bool {
    matches!(c, Change::ServiceUpdated(s) if s.name == svc_name(name))
}

pub fn web(name: &str, ip: &str, port: i32) -> core::Service {
    service("ns", name, ip, &[("http", port, "TCP")])
}

pub fn web_slice(name: &str, svc: &str, ip: &str) -> discovery::EndpointSlice {
    slice("ns", name, svc, ("http", 8080, "TCP"), &[(ip, Some(NODE))])
}

/// Log lines written while the guard is held, on this thread (tokio tests run the source
/// on the test's own thread).
#[derive(Clone, Default)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("kproxy=debug")
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub fn count(&self, level: &str, text: &str) -> usize {
        let all = String::from_utf8_lossy(&self.0.lock().unwrap()).to_string();
        all.lines()
            .filter(|l| l.contains(level) && l.contains(text))
            .count()
    }
}
