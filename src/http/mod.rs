//! kube-proxy's HTTP endpoints: `/healthz` and `/livez` on the healthz bind address
//! (default 0.0.0.0:10256); `/metrics`, `/proxyMode` and a plain `/healthz` on the
//! metrics bind address (default 127.0.0.1:10249).
//!
//! Binding is separate from serving, so a caller (or a test on 127.0.0.1:0) learns the
//! bound address, and a bind failure is reported before anything runs.

mod routes;
#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::health::ProxyHealth;
use crate::metrics::Metrics;
pub use routes::{Body, Site, configz};

/// A client gets this long to send its request headers; the healthz port is open to the
/// node's network, so an idle connection must not hold a task forever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of the HTTP servers. Only binding fails; accept errors are logged and retried.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr} for the {server} server: {source}")]
    Bind {
        server: &'static str,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// A bound, not yet serving, HTTP server.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    site: Site,
}

impl Server {
    /// Binds `addr` for the given endpoints.
    pub async fn bind(addr: SocketAddr, site: Site) -> Result<Self, HttpError> {
        let server = match site {
            Site::Health { .. } => "healthz",
            Site::Metrics { .. } => "metrics",
            Site::ServiceHealth(_) => "health check",
        };
        let bind_err = |source| HttpError::Bind {
            server,
            addr,
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        tracing::info!(%local_addr, server, "serving HTTP");
        Ok(Self {
            listener,
            local_addr,
            site,
        })
    }

    /// The address actually bound (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until the future is dropped.
    pub async fn run(self) {
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // E.g. out of file descriptors: back off a little instead of spinning.
                    tracing::warn!(addr = %self.local_addr, error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let site = self.site.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let accept = req
                        .headers()
                        .get(hyper::header::ACCEPT)
                        .and_then(|v| v.to_str().ok());
                    let resp = site.respond(req.method(), req.uri().path(), accept);
                    async move { Ok::<_, std::convert::Infallible>(resp) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
            });
        }
    }
}

/// Binds `addr` and serves `/healthz` and `/livez` from `health` until dropped.
pub async fn serve_health(
    addr: SocketAddr,
    health: ProxyHealth,
    metrics: Metrics,
) -> Result<(), HttpError> {
    Server::bind(addr, Site::health(health, metrics))
        .await?
        .run()
        .await;
    Ok(())
}

/// A response's body as text, for tests of the handlers.
#[cfg(test)]
pub fn body_text(r: hyper::Response<Body>) -> String {
    use http_body_util::BodyExt;
    let bytes = futures::executor::block_on(r.into_body().collect())
        .unwrap()
        .to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}
