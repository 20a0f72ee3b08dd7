//! What a health-check node port answers, as kube-proxy's `hcHandler` does: any method,
//! any path; 200 when this node has a ready endpoint of the service and the proxy is
//! healthy, else 503; a JSON body naming the service, with tab indentation and no final
//! newline (kube-proxy's dedented template, byte for byte).

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::sync::watch;

use super::decide::{Check, Checks};
use crate::health::ProxyHealth;
use crate::http::Body;

/// The answer for `check` while the proxy's own health is `proxy_healthy`.
pub fn answer(check: &Check, proxy_healthy: bool) -> Response<Body> {
    let status = if check.local_endpoints != 0 && proxy_healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = format!(
        "{{\n\t\"service\": {{\n\t\t\"namespace\": {},\n\t\t\"name\": {}\n\t}},\n\t\"localEndpoints\": {},\n\t\"serviceProxyHealthy\": {}\n}}",
        json_string(&check.service.namespace),
        json_string(&check.service.name),
        check.local_endpoints,
        proxy_healthy,
    );
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let headers = r.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "x-load-balancing-endpoint-weight",
        HeaderValue::from(check.local_endpoints),
    );
    r
}

/// Go's `%q` of a name: names are DNS labels (checked by the source), for which a JSON
/// string is the same text.
fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

/// The endpoint one health-check port serves: reads the current decision on every request,
/// so a changed endpoint count needs no new listener.
#[derive(Clone)]
pub struct ServiceHealthSite {
    pub port: u16,
    pub checks: watch::Receiver<Arc<Checks>>,
    pub health: ProxyHealth,
}

impl ServiceHealthSite {
    pub fn respond(&self) -> Response<Body> {
        let check = self.checks.borrow().get(&self.port).cloned();
        match check {
            Some(check) => answer(&check, self.health.is_healthy()),
            // The port is being closed (its service went away between accept and now).
            None => {
                let mut r = Response::new(Full::new(Bytes::from_static(b"")));
                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                r
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::body_text as body;
    use crate::model::ServiceName;

    fn check(n: usize) -> Check {
        Check {
            service: ServiceName::new("kube-system", "ingress"),
            local_endpoints: n,
        }
    }

    #[test]
    fn ready_local_endpoints_and_a_healthy_proxy_answer_200() {
        let r = answer(&check(2), true);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(r.headers()["x-load-balancing-endpoint-weight"], "2");
        // kube-proxy's template after dedent and trimming, tabs and all.
        assert_eq!(
            body(r),
            "{\n\t\"service\": {\n\t\t\"namespace\": \"kube-system\",\n\t\t\"name\": \"ingress\"\n\t},\n\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}"
        );
    }

    #[test]
    fn no_local_endpoint_or_an_unhealthy_proxy_answers_503() {
        let r = answer(&check(0), true);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["x-load-balancing-endpoint-weight"], "0");
        let r = answer(&check(3), false);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let json: serde_json::Value = serde_json::from_str(&body(r)).unwrap();
        assert_eq!(json["localEndpoints"], 3);
        assert_eq!(json["serviceProxyHealthy"], false);
        assert_eq!(json["service"]["name"], "ingress");
    }

    #[test]
    fn the_site_follows_the_latest_decision() {
        let (tx, rx) = watch::channel(Arc::new(Checks::from([(32000, check(0))])));
        let health = ProxyHealth::new(std::time::Duration::from_secs(60));
        let site = ServiceHealthSite {
            port: 32000,
            checks: rx,
            health,
        };
        assert_eq!(site.respond().status(), StatusCode::SERVICE_UNAVAILABLE);
        tx.send_replace(Arc::new(Checks::from([(32000, check(1))])));
        assert_eq!(site.respond().status(), StatusCode::OK);
        tx.send_replace(Arc::new(Checks::new()));
        assert_eq!(site.respond().status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
