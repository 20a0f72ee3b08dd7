//! An in-process Kubernetes API server for tests and benchmarks: just enough of the real
//! protocol (list, `?watch=true` streams with resourceVersions, bookmarks, 410 Gone,
//! label and field selectors) for the real kube client and kube-runtime's watcher, plus
//! knobs to misbehave on demand (compaction, dropped connections, refused watches, held
//! lists) and a log of every request.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = kproxy::testing::TestApiServer::start().await?;
//! let client = server.client(); // or `--kubeconfig` with server.kubeconfig_file(dir)?
//! # Ok(()) }
//! ```

mod http;
mod netns;
mod selector;
mod store;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub use netns::NetnsApiServer;
pub use store::Resource;

use store::Store;

/// What open watches and held lists wait on.
#[derive(Clone, Debug, Default)]
struct Signals {
    /// Bumped on every change to the store.
    rv: u64,
    /// Bumped by [`TestApiServer::bookmark`].
    bookmarks: u64,
    /// Bumped by [`TestApiServer::drop_watches`].
    drops: u64,
    /// Bumped by [`TestApiServer::close_watches`].
    closes: u64,
    paused_lists: BTreeSet<Resource>,
    shutdown: bool,
}

/// One request the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// Decoded query parameters.
    pub params: BTreeMap<String, String>,
    /// The response status; `None` while the response is still being prepared (a held list).
    pub status: Option<u16>,
}

impl RequestRecord {
    /// The collection the request was for, whether cluster-wide or namespaced.
    pub fn resource(&self) -> Option<Resource> {
        Resource::ALL
            .into_iter()
            .find(|r| self.path.trim_end_matches('/').ends_with(r.plural()))
    }

    pub fn is_watch(&self) -> bool {
        matches!(self.param("watch"), Some("true" | "1"))
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    pub fn resource_version(&self) -> Option<&str> {
        self.param("resourceVersion")
    }
}

struct Shared {
    store: Mutex<Store>,
    signals: watch::Sender<Signals>,
    /// Status code new watch requests get instead of a stream; 0 for none.
    failing_watches: AtomicU16,
    /// Status code every list and watch request gets (the server "down"); 0 for none.
    failing_requests: AtomicU16,
    requests: Mutex<Vec<RequestRecord>>,
    open_watches: Mutex<HashMap<Resource, usize>>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    fn open_watches(&self) -> MutexGuard<'_, HashMap<Resource, usize>> {
        lock(&self.open_watches)
    }

    fn record(&self, method: &str, path: &str, params: &BTreeMap<String, String>) -> usize {
        let mut requests = lock(&self.requests);
        requests.push(RequestRecord {
            method: method.to_string(),
            path: path.to_string(),
            params: params.clone(),
            status: None,
        });
        requests.len() - 1
    }

    fn set_status(&self, index: usize, status: u16) {
        if let Some(r) = lock(&self.requests).get_mut(index) {
            r.status = Some(status);
        }
    }

    fn changed(&self, rv: u64) {
        self.signals.send_modify(|s| s.rv = rv);
    }
}

/// A poisoned lock only means another test thread panicked; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running test API server on 127.0.0.1; stops when dropped.
pub struct TestApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl TestApiServer {
    /// Binds 127.0.0.1 on a free port and starts serving (in the current tokio runtime).
    pub async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            signals: watch::Sender::new(Signals::default()),
            failing_watches: AtomicU16::new(0),
            failing_requests: AtomicU16::new(0),
            requests: Mutex::new(Vec::new()),
            open_watches: Mutex::new(HashMap::new()),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Self {
            shared,
            addr,
            accept,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client configuration pointing at this server (plain HTTP, no credentials).
    pub fn config(&self) -> kube::Config {
        kube::Config::new(self.url().parse().expect("a socket address is a valid URI"))
    }

    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config()).expect("a plain-HTTP client needs no TLS setup")
    }

    /// Writes `dir/kubeconfig` pointing at this server, for `--kubeconfig`; returns its path.
    pub fn kubeconfig_file(&self, dir: &Path) -> io::Result<PathBuf> {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: test\n  cluster:\n    server: {}\n\
             users:\n- name: test\n  user: {{}}\n\
             contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n\
             current-context: test\n",
            self.url()
        );
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// Creates or replaces an object given as JSON; returns its resourceVersion.
    ///
    /// # Panics
    /// If the object has no `metadata.name` (a mistake in the test).
    pub fn put(&self, resource: Resource, obj: Value) -> u64 {
        let rv =
            self.shared.store().put(resource, obj).unwrap_or_else(|| {
                panic!("test API server: {resource:?} object has no metadata.name")
            });
        self.shared.changed(rv);
        rv
    }

    /// Deletes an object; returns the deletion's resourceVersion, `None` if there was none.
    pub fn delete(&self, resource: Resource, namespace: &str, name: &str) -> Option<u64> {
        let rv = self.shared.store().delete(resource, namespace, name)?;
        self.shared.changed(rv);
        Some(rv)
    }

    pub fn put_service(&self, svc: &core::Service) -> u64 {
        self.put(Resource::Services, to_json(svc))
    }

    pub fn delete_service(&self, namespace: &str, name: &str) -> Option<u64> {
        self.delete(Resource::Services, namespace, name)
    }

    pub fn put_slice(&self, slice: &discovery::EndpointSlice) -> u64 {
        self.put(Resource::EndpointSlices, to_json(slice))
    }

    pub fn delete_slice(&self, namespace: &str, name: &str) -> Option<u64> {
        self.delete(Resource::EndpointSlices, namespace, name)
    }

    pub fn put_node(&self, node: &core::Node) -> u64 {
        self.put(Resource::Nodes, to_json(node))
    }

    pub fn delete_node(&self, name: &str) -> Option<u64> {
        self.delete(Resource::Nodes, "", name)
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store().current()
    }

    /// Forgets history: the next watch resuming from an older resourceVersion gets an
    /// ERROR event with 410 Gone, which makes a client relist. Open watches go on.
    pub fn compact(&self) {
        self.shared.store().compact();
    }

    /// Ends every open watch cleanly, as the server does when `timeoutSeconds` expires,
    /// after the events and bookmarks already due.
    pub fn close_watches(&self) {
        self.shared.signals.send_modify(|s| s.closes += 1);
    }

    /// Cuts every open watch connection mid-stream (no terminal chunk). Data already
    /// handed to the connection may or may not reach the client, as with a real cut.
    pub fn drop_watches(&self) {
        self.shared.signals.send_modify(|s| s.drops += 1);
    }

    /// Sends a BOOKMARK at the latest resourceVersion on every open watch that allows them.
    pub fn bookmark(&self) {
        self.shared.signals.send_modify(|s| s.bookmarks += 1);
    }

    /// While on, new watch requests get 503 Service Unavailable. Open watches go on.
    /// Note that kube's client retries 503 itself (up to 15 times, from 5 ms) before the
    /// watcher sees an error; see [`fail_watches`](Self::fail_watches) for errors it does not retry.
    pub fn refuse_watches(&self, refuse: bool) {
        self.fail_watches(refuse.then_some(503));
    }

    /// While `Some(code)`, new watch requests get that HTTP status with a Status body.
    /// Open watches go on.
    pub fn fail_watches(&self, status: Option<u16>) {
        let code = status.unwrap_or(0);
        self.shared.failing_watches.store(code, Ordering::SeqCst);
    }

    /// While `Some(code)`, every list and watch request gets that HTTP status with a Status
    /// body, as from an API server that is up but failing. Open watches go on (pair it with
    /// [`drop_watches`](Self::drop_watches) for an outage).
    pub fn fail_requests(&self, status: Option<u16>) {
        let code = status.unwrap_or(0);
        self.shared.failing_requests.store(code, Ordering::SeqCst);
    }

    /// Holds list responses for `resource` until [`resume_lists`](Self::resume_lists);
    /// the request is logged (with `status: None`) as soon as it arrives.
    pub fn pause_lists(&self, resource: Resource) {
        self.shared.signals.send_modify(|s| {
            s.paused_lists.insert(resource);
        });
    }

    pub fn resume_lists(&self, resource: Resource) {
        self.shared.signals.send_modify(|s| {
            s.paused_lists.remove(&resource);
        });
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.requests).clone()
    }

    /// Requests for one kind of object, oldest first.
    pub fn requests_for(&self, resource: Resource) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(|r| r.resource() == Some(resource))
            .collect()
    }

    /// List (not watch) requests for one kind of object.
    pub fn lists_of(&self, resource: Resource) -> usize {
        self.requests_for(resource)
            .iter()
            .filter(|r| !r.is_watch())
            .count()
    }

    /// Watches of `resource` currently streaming.
    pub fn open_watches(&self, resource: Resource) -> usize {
        self.shared
            .open_watches()
            .get(&resource)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        self.shared.signals.send_modify(|s| s.shutdown = true);
        // Dropping the accept task drops its JoinSet, which aborts every connection.
        self.accept.abort();
    }
}

fn to_json<T: Serialize>(obj: &T) -> Value {
    serde_json::to_value(obj).expect("k8s-openapi objects always serialize")
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!("test API server: accept failed: {e}");
                continue;
            }
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| http::handle(shared.clone(), req));
            // Errors here are clients going away or watches dropped on purpose.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
}
