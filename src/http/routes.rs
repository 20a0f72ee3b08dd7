//! What each endpoint answers: pure functions from a request's method and path to a
//! response, so they are tested without sockets.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::config::Config;
use crate::health::{HealthReport, ProxyHealth};
use crate::health_check::ServiceHealthSite;
use crate::metrics::{Format, Metrics};

/// The endpoints one server answers.
#[derive(Clone)]
pub enum Site {
    /// `/healthz` and `/livez` (the healthz bind address), counted in
    /// `kubeproxy_proxy_healthz_total` / `_livez_total` by status code.
    Health {
        health: ProxyHealth,
        metrics: Metrics,
    },
    /// `/metrics`, `/configz`, `/proxyMode` and a plain `/healthz` (the metrics bind
    /// address), as kube-proxy.
    Metrics {
        metrics: Metrics,
        mode: &'static str,
        /// `/configz`'s body, made once: the configuration does not change while running.
        configz: String,
    },
    /// A service's health-check node port: any method, any path (as kube-proxy).
    ServiceHealth(ServiceHealthSite),
}

pub type Body = Full<Bytes>;

impl Site {
    pub fn health(health: ProxyHealth, metrics: Metrics) -> Self {
        Self::Health { health, metrics }
    }

    /// The metrics server's endpoints for this configuration.
    pub fn metrics(config: &Config, metrics: &Metrics) -> Self {
        Self::Metrics {
            metrics: metrics.clone(),
            mode: config.mode.as_str(),
            configz: configz(config),
        }
    }

    /// Answers one request; `accept` is its `Accept` header, which picks the metrics format.
    pub fn respond(&self, method: &Method, path: &str, accept: Option<&str>) -> Response<Body> {
        if let Site::ServiceHealth(site) = self {
            return site.respond();
        }
        if method != Method::GET && method != Method::HEAD {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        match (self, path) {
            (Site::Health { health: h, metrics }, "/healthz") => {
                let r = health(h.healthz());
                metrics.count_healthz(r.status().as_u16());
                r
            }
            (Site::Health { health: h, metrics }, "/livez") => {
                let r = health(h.livez());
                metrics.count_livez(r.status().as_u16());
                r
            }
            (Site::Metrics { metrics, .. }, "/metrics") => {
                let format = Format::negotiate(accept);
                with_type(
                    StatusCode::OK,
                    format.content_type(),
                    metrics.encode_as(format),
                )
            }
            (Site::Metrics { configz, .. }, "/configz") => {
                with_type(StatusCode::OK, "application/json", configz.clone())
            }
            (Site::Metrics { mode, .. }, "/proxyMode") => text(StatusCode::OK, mode),
            (Site::Metrics { .. }, "/healthz") => text(StatusCode::OK, "ok"),
            _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
        }
    }
}

/// `/configz` as component-base serves it: every registered configuration under its name
/// (kube-proxy registers the v1alpha1 object, with apiVersion and kind, as
/// `kubeproxy.config.k8s.io`).
pub fn configz(config: &Config) -> String {
    let body = serde_json::json!({ "kubeproxy.config.k8s.io": &*config.effective });
    serde_json::to_string(&body).expect("a configuration always serializes")
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

    use super::*;
    use crate::health::ManualClock;
    use crate::http::body_text as body;

    fn metrics_site() -> Site {
        let config = crate::config::load(["kproxy", "--proxy-mode=ipvs"]).unwrap();
        Site::metrics(&config, &Metrics::new())
    }

    fn health_site(h: ProxyHealth) -> Site {
        Site::health(h, Metrics::new())
    }

    #[test]
    fn proxy_mode_is_plain_text() {
        let r = metrics_site().respond(&Method::GET, "/proxyMode", None);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body(r), "ipvs");
    }

    #[test]
    fn unknown_paths_and_sites_are_404() {
        let health = health_site(ProxyHealth::new(Duration::from_secs(60)));
        assert_eq!(health.respond(&Method::GET, "/metrics", None).status(), 404);
        assert_eq!(
            health.respond(&Method::GET, "/healthz/x", None).status(),
            404
        );
        assert_eq!(
            metrics_site()
                .respond(&Method::GET, "/livez", None)
                .status(),
            404
        );
    }

    #[test]
    fn only_get_and_head() {
        let r = metrics_site().respond(&Method::POST, "/metrics", None);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[ALLOW], "GET, HEAD");
        assert_eq!(
            metrics_site()
                .respond(&Method::HEAD, "/metrics", None)
                .status(),
            200
        );
    }

    #[test]
    fn stale_health_is_503_json() {
        let clock = Arc::new(ManualClock::default());
        let h = ProxyHealth::with_clock(Duration::from_secs(60), clock.clone());
        let site = health_site(h.clone());
        h.updated();
        assert_eq!(site.respond(&Method::GET, "/livez", None).status(), 200);
        h.queued_update();
        clock.advance(Duration::from_secs(60));
        let r = site.respond(&Method::GET, "/livez", None);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        let json: serde_json::Value = serde_json::from_str(&body(r)).unwrap();
        assert!(json["currentTime"].is_string());
    }
}
