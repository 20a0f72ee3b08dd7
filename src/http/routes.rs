//! What each endpoint answers: pure functions from a request's method and path to a
//! response, so they are tested without sockets.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::health::{HealthReport, ProxyHealth};
use crate::metrics::Metrics;

/// prometheus-client writes OpenMetrics text; Prometheus asks for it and accepts it.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The endpoints one server answers.
#[derive(Clone)]
pub enum Site {
    /// `/healthz` and `/livez` (the healthz bind address).
    Health(ProxyHealth),
    /// `/metrics`, `/proxyMode` and a plain `/healthz` (the metrics bind address), as kube-proxy.
    Metrics {
        metrics: Metrics,
        mode: &'static str,
    },
}

pub type Body = Full<Bytes>;

impl Site {
    pub fn respond(&self, method: &Method, path: &str) -> Response<Body> {
        if method != Method::GET && method != Method::HEAD {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        match (self, path) {
            (Site::Health(h), "/healthz") => health(h.healthz()),
            (Site::Health(h), "/livez") => health(h.livez()),
            (Site::Metrics { metrics, .. }, "/metrics") => {
                with_type(StatusCode::OK, METRICS_CONTENT_TYPE, metrics.encode())
            }
            (Site::Metrics { mode, .. }, "/proxyMode") => text(StatusCode::OK, mode),
            (Site::Metrics { .. }, "/healthz") => text(StatusCode::OK, "ok"),
            _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
        }
    }
}

fn health(report: HealthReport) -> Response<Body> {
    let status = if report.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut r = with_type(status, "application/json", report.to_json());
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    with_type(status, "text/plain; charset=utf-8", body.to_owned())
}

fn with_type(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use http_body_util::BodyExt;

    use super::*;
    use crate::health::ManualClock;

    fn body(r: Response<Body>) -> String {
        let bytes = futures::executor::block_on(r.into_body().collect())
            .unwrap()
            .to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn metrics_site() -> Site {
        Site::Metrics {
            metrics: Metrics::new(),
            mode: "ipvs",
        }
    }

    #[test]
    fn proxy_mode_is_plain_text() {
        let r = metrics_site().respond(&Method::GET, "/proxyMode");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body(r), "ipvs");
    }

    #[test]
    fn unknown_paths_and_sites_are_404() {
        let health = Site::Health(ProxyHealth::new(Duration::from_secs(60)));
        assert_eq!(health.respond(&Method::GET, "/metrics").status(), 404);
        assert_eq!(health.respond(&Method::GET, "/healthz/x").status(), 404);
        assert_eq!(metrics_site().respond(&Method::GET, "/livez").status(), 404);
    }

    #[test]
    fn only_get_and_head() {
        let r = metrics_site().respond(&Method::POST, "/metrics");
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[ALLOW], "GET, HEAD");
        assert_eq!(
            metrics_site().respond(&Method::HEAD, "/metrics").status(),
            200
        );
    }

    #[test]
    fn stale_health_is_503_json() {
        let clock = Arc::new(ManualClock::default());
        let h = ProxyHealth::with_clock(Duration::from_secs(60), clock.clone());
        let site = Site::Health(h.clone());
        h.updated();
        assert_eq!(site.respond(&Method::GET, "/livez").status(), 200);
        h.queued_update();
        clock.advance(Duration::from_secs(60));
        let r = site.respond(&Method::GET, "/livez");
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        let json: serde_json::Value = serde_json::from_str(&body(r)).unwrap();
        assert!(json["currentTime"].is_string());
    }
}
