//! The HTTP side of the test API server: routing, list responses and watch streams of
//! newline-delimited JSON events, as the real API server sends them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::Shared;
use super::selector::Selector;
use super::store::Resource;

pub(super) type Body = BoxBody<Bytes, io::Error>;

/// Serves one request and records it in the request log.
pub(super) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let params: BTreeMap<String, String> = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let index = shared.record(req.method().as_str(), &path, &params);
    let response = if req.method() == Method::POST && is_events_path(&path) {
        create_event(req).await
    } else {
        route(&shared, req.method(), &path, &params).await
    };
    shared.set_status(index, response.status().as_u16());
    Ok(response)
}

/// `/apis/events.k8s.io/v1/namespaces/{ns}/events`, where kproxy records its events.
fn is_events_path(path: &str) -> bool {
    path.strip_prefix("/apis/events.k8s.io/v1/namespaces/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, tail)| tail == "events")
}

/// Accepts an event as created, echoing it back like the API server (the request log shows it).
async fn create_event(req: Request<Incoming>) -> Response<Body> {
    match req.into_body().collect().await {
        Ok(body) => match serde_json::from_slice::<Value>(&body.to_bytes()) {
            Ok(event) => json_response(StatusCode::CREATED, &event),
            Err(e) => status(StatusCode::BAD_REQUEST, "BadRequest", &e.to_string()),
        },
        Err(e) => status(StatusCode::BAD_REQUEST, "BadRequest", &e.to_string()),
    }
}

async fn route(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    params: &BTreeMap<String, String>,
) -> Response<Body> {
    let Some((resource, namespace)) = parse_path(path) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("no route {path}"),
        );
    };
    if method != Method::GET {
        return status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the test server only serves GET",
        );
    }
    if let Some(failed) = failure(&shared.failing_requests, "requests") {
        return failed;
    }
    let param = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let selector = match Selector::parse(param("labelSelector"), param("fieldSelector")) {
        Ok(s) => match namespace {
            Some(ns) => s.in_namespace(ns),
            None => s,
        },
        Err(e) => return status(StatusCode::BAD_REQUEST, "BadRequest", &e),
    };
    if matches!(param("watch"), "true" | "1") {
        watch(shared, resource, selector, params)
    } else {
        list(shared, resource, &selector).await
    }
}

/// `/api/v1/{services,nodes}`, `/apis/discovery.k8s.io/v1/endpointslices`, and the
/// namespaced forms `…/namespaces/NS/{services,endpointslices}`.
fn parse_path(path: &str) -> Option<(Resource, Option<&str>)> {
    let rest = path
        .strip_prefix("/api/v1/")
        .map(|r| (r, "v1"))
        .or_else(|| {
            path.strip_prefix("/apis/discovery.k8s.io/v1/")
                .map(|r| (r, "discovery.k8s.io/v1"))
        })?;
    let (rest, group) = rest;
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let (plural, namespace) = match segments.as_slice() {
        [plural] => (*plural, None),
        ["namespaces", ns, plural] => (*plural, Some(*ns)),
        _ => return None,
    };
    let resource = Resource::ALL
        .into_iter()
        .find(|r| r.plural() == plural && r.api_version() == group)?;
    if namespace.is_some() && !resource.namespaced() {
        return None;
    }
    Some((resource, namespace))
}

async fn list(shared: &Arc<Shared>, resource: Resource, selector: &Selector) -> Response<Body> {
    let mut signals = shared.signals.subscribe();
    loop {
        let s = signals.borrow_and_update().clone();
        if s.shutdown || !s.paused_lists.contains(&resource) {
            break;
        }
        if signals.changed().await.is_err() {
            break;
        }
    }
    let (rv, items) = shared.store().list(resource, selector);
    let body = json!({
        "kind": format!("{}List", resource.kind()),
        "apiVersion": resource.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    });
    json_response(StatusCode::OK, &body)
}

fn watch(
    shared: &Arc<Shared>,
    resource: Resource,
    selector: Selector,
    params: &BTreeMap<String, String>,
) -> Response<Body> {
    if let Some(failed) = failure(&shared.failing_watches, "watches") {
        return failed;
    }
    let from = match params.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(v) => match v.parse::<u64>() {
            Ok(rv) => Some(rv),
            Err(_) => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &format!("invalid resourceVersion {v}"),
                );
            }
        },
    };
    let deadline = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(|t| Instant::now() + std::time::Duration::from_secs(t));
    let signals = shared.signals.subscribe();
    let sig = signals.borrow().clone();
    let (pos, first) = {
        let store = shared.store();
        match from {
            Some(rv) if !store.can_watch_from(rv) => {
                let gone = json!({"type": "ERROR", "object": status_json(
                    410, "Expired",
                    &format!("too old resource version: {rv} ({})", store.current()))});
                return json_lines(StatusCode::OK, &[gone]);
            }
            Some(rv) => (rv, String::new()),
            // No resourceVersion: the current state as ADDED events, then changes.
            None => {
                let (rv, items) = store.list(resource, &selector);
                let lines = items
                    .into_iter()
                    .map(|o| json!({"type": "ADDED", "object": o}))
                    .map(|e| line(&e))
                    .collect();
                (rv, lines)
            }
        }
    };
    let stream = WatchStream {
        open: OpenWatch::new(shared.clone(), resource),
        selector,
        pos,
        pending: first,
        bookmarks: params
            .get("allowWatchBookmarks")
            .is_some_and(|b| b == "true"),
        bookmarks_seen: sig.bookmarks,
        drops_at_start: sig.drops,
        closes_at_start: sig.closes,
        signals,
        deadline,
        done: false,
    };
    let body = StreamBody::new(futures::stream::unfold(stream, WatchStream::step));
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(BodyExt::boxed(body))
        .expect("static response parts are valid")
}

/// Counts an open watch for [`TestApiServer::open_watches`](super::TestApiServer::open_watches).
struct OpenWatch {
    shared: Arc<Shared>,
    resource: Resource,
}

impl OpenWatch {
    fn new(shared: Arc<Shared>, resource: Resource) -> Self {
        *shared.open_watches().entry(resource).or_default() += 1;
        Self { shared, resource }
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        if let Some(n) = self.shared.open_watches().get_mut(&self.resource) {
            *n = n.saturating_sub(1);
        }
    }
}

/// One open watch: where it is in the log and what the test asked of it.
struct WatchStream {
    open: OpenWatch,
    selector: Selector,
    /// Everything up to this resourceVersion has been sent.
    pos: u64,
    /// Lines to send before looking at the log.
    pending: String,
    bookmarks: bool,
    bookmarks_seen: u64,
    drops_at_start: u64,
    closes_at_start: u64,
    signals: watch::Receiver<super::Signals>,
    deadline: Option<Instant>,
    done: bool,
}

type Chunk = Result<Frame<Bytes>, io::Error>;

impl WatchStream {
    /// Next chunk of the body: pending events, else log entries, else a bookmark, else the
    /// end the test asked for, else wait.
    /// An error ends the connection without a terminal chunk, as a dropped connection does.
    async fn step(mut self) -> Option<(Chunk, Self)> {
        if self.done {
            return None;
        }
        loop {
            if !self.pending.is_empty() {
                let data = std::mem::take(&mut self.pending);
                return Some((Ok(Frame::data(data.into())), self));
            }
            let sig = self.signals.borrow_and_update().clone();
            if sig.shutdown {
                return None;
            }
            {
                let store = self.open.shared.store();
                let resource = self.open.resource;
                for entry in store.entries_after(resource, self.pos) {
                    if let Some(event) = entry.event_for(&self.selector) {
                        self.pending.push_str(&line(&event));
                    }
                }
                self.pos = store.current();
            }
            if !self.pending.is_empty() {
                continue;
            }
            if sig.bookmarks != self.bookmarks_seen {
                self.bookmarks_seen = sig.bookmarks;
                if self.bookmarks {
                    let r = self.open.resource;
                    self.pending = line(&json!({"type": "BOOKMARK", "object": {
                        "kind": r.kind(), "apiVersion": r.api_version(),
                        "metadata": {"resourceVersion": self.pos.to_string()}}}));
                    continue;
                }
            }
            if sig.drops != self.drops_at_start {
                self.done = true;
                let err = io::Error::new(io::ErrorKind::ConnectionAborted, "dropped by the test");
                return Some((Err(err), self));
            }
            if sig.closes != self.closes_at_start {
                return None;
            }
            let deadline = self.deadline;
            let timed_out = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = self.signals.changed() => if changed.is_err() { return None },
                () = timed_out => return None,
            }
        }
    }
}

fn line(event: &Value) -> String {
    let mut s = event.to_string();
    s.push('\n');
    s
}

/// The Status response a fault switch (`code`, 0 for off) asks for, if it is on.
fn failure(code: &AtomicU16, what: &str) -> Option<Response<Body>> {
    // 0 is no status code, so it is "off".
    let code = StatusCode::from_u16(code.load(Ordering::SeqCst)).ok()?;
    let reason = code
        .canonical_reason()
        .unwrap_or("Failure")
        .replace(' ', "");
    Some(status(
        code,
        &reason,
        &format!("{what} refused by the test"),
    ))
}

fn status_json(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    json_response(code, &status_json(code.as_u16(), reason, message))
}

fn json_response(code: StatusCode, body: &Value) -> Response<Body> {
    bytes_response(code, Bytes::from(body.to_string()))
}

fn json_lines(code: StatusCode, events: &[Value]) -> Response<Body> {
    let text: String = events.iter().map(line).collect();
    bytes_response(code, Bytes::from(text))
}

fn bytes_response(code: StatusCode, bytes: Bytes) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(bytes).map_err(|never| match never {}).boxed())
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_resources() {
        assert_eq!(
            parse_path("/api/v1/services"),
            Some((Resource::Services, None))
        );
        assert_eq!(
            parse_path("/api/v1/namespaces/ns/services"),
            Some((Resource::Services, Some("ns")))
        );
        assert_eq!(
            parse_path("/apis/discovery.k8s.io/v1/endpointslices"),
            Some((Resource::EndpointSlices, None))
        );
        assert_eq!(parse_path("/api/v1/nodes"), Some((Resource::Nodes, None)));
        assert_eq!(parse_path("/api/v1/endpointslices"), None);
        assert_eq!(parse_path("/api/v1/namespaces/ns/nodes"), None);
        assert_eq!(parse_path("/api/v1/pods"), None);
    }
}
