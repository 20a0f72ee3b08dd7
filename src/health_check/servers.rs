//! The listeners: one HTTP server per health-check port and bind address, opened and closed
//! to follow the decision published after each sync (kube-proxy's `SyncServices`). A port
//! that cannot be bound (another process holds it) is logged once and retried every
//! [`RETRY`] and after every sync; it is never fatal.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv4Net;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::decide::Checks;
use super::response::ServiceHealthSite;
use crate::health::ProxyHealth;
use crate::http::{Server, Site};
use crate::model::ServiceName;

/// Told once per failure streak of a port: the service, the port and the error (kproxy
/// records it as upstream's `FailedToStartServiceHealthcheck` Event on the Service).
pub type FailureReporter = Box<dyn Fn(&ServiceName, u16, &str) + Send + Sync>;

/// How often a port that could not be bound is tried again.
pub const RETRY: Duration = Duration::from_secs(5);

/// Where health-check ports listen, as kube-proxy's service health server decides: on
/// every address (0.0.0.0) when `--nodeport-addresses` matches all, else on each of the
/// node's `local` addresses inside those CIDRs.
pub fn bind_addresses(nodeport_addresses: &[Ipv4Net], local: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    if nodeport_addresses.is_empty() || nodeport_addresses.iter().any(|n| n.prefix_len() == 0) {
        return vec![Ipv4Addr::UNSPECIFIED];
    }
    let mut out: Vec<Ipv4Addr> = local
        .iter()
        .copied()
        .filter(|ip| nodeport_addresses.iter().any(|n| n.contains(ip)))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The open and failing ports; dropping it closes every listener.
pub struct Servers {
    addresses: Vec<Ipv4Addr>,
    health: ProxyHealth,
    open: BTreeMap<u16, Vec<JoinHandle<()>>>,
    /// Ports that could not be bound, with the error last logged.
    failing: BTreeMap<u16, String>,
    report_failure: Option<FailureReporter>,
}

impl Servers {
    /// Listeners on `addresses` (see [`bind_addresses`]), answering with `health` as the
    /// proxy's own health. Starts nothing until [`Servers::run`].
    pub fn new(addresses: Vec<Ipv4Addr>, health: ProxyHealth) -> Self {
        Self {
            addresses,
            health,
            open: BTreeMap::new(),
            failing: BTreeMap::new(),
            report_failure: None,
        }
    }

    /// Tells `report` about each port that starts failing to bind.
    pub fn reporting_failures_to(mut self, report: FailureReporter) -> Self {
        self.report_failure = Some(report);
        self
    }

    /// Follows `checks` until its sender is dropped, then closes every listener.
    pub async fn run(mut self, mut checks: watch::Receiver<Arc<Checks>>) {
        if self.addresses.is_empty() {
            warn!(
                "no node address is inside --nodeport-addresses: health-check node ports are not served"
            );
            return;
        }
        loop {
            let wanted = Arc::clone(&checks.borrow_and_update());
            self.reconcile(&wanted, &checks).await;
            let retry = !self.failing.is_empty();
            tokio::select! {
                changed = checks.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(RETRY), if retry => {}
            }
        }
    }

    /// The ports listening now.
    pub fn open_ports(&self) -> BTreeSet<u16> {
        self.open.keys().copied().collect()
    }

    async fn reconcile(&mut self, wanted: &Checks, checks: &watch::Receiver<Arc<Checks>>) {
        let gone: Vec<u16> = self
            .open
            .keys()
            .filter(|p| !wanted.contains_key(p))
            .copied()
            .collect();
        for port in gone {
            debug!(port, "closing health-check node port");
            close(self.open.remove(&port).unwrap_or_default());
        }
        self.failing.retain(|p, _| wanted.contains_key(p));
        for (&port, check) in wanted {
            if self.open.contains_key(&port) {
                continue;
            }
            match self.listen(port, checks).await {
                Ok(servers) => {
                    if self.failing.remove(&port).is_some() {
                        info!(service = %check.service, port, "health-check node port bound at last");
                    } else {
                        debug!(service = %check.service, port, "opened health-check node port");
                    }
                    self.open.insert(port, servers);
                }
                Err(e) => {
                    let error = e.to_string();
                    let new_streak = !self.failing.contains_key(&port);
                    if new_streak && let Some(report) = &self.report_failure {
                        report(&check.service, port, &error);
                    }
                    if self.failing.get(&port) != Some(&error) {
                        warn!(
                            service = %check.service, port, error = %error,
                            "cannot open the health-check node port; retrying every {}s",
                            RETRY.as_secs()
                        );
                    }
                    self.failing.insert(port, error);
                }
            }
        }
    }

    /// Binds `port` on every address, or on none: a partial set is closed again.
    async fn listen(
        &self,
        port: u16,
        checks: &watch::Receiver<Arc<Checks>>,
    ) -> Result<Vec<JoinHandle<()>>, crate::http::HttpError> {
        let mut bound = Vec::with_capacity(self.addresses.len());
        for &ip in &self.addresses {
            let site = Site::ServiceHealth(ServiceHealthSite {
                port,
                checks: checks.clone(),
                health: self.health.clone(),
            });
            match Server::bind(SocketAddr::new(ip.into(), port), site).await {
                Ok(server) => bound.push(server),
                Err(e) => return Err(e),
            }
        }
        Ok(bound.into_iter().map(|s| tokio::spawn(s.run())).collect())
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for (_, servers) in std::mem::take(&mut self.open) {
            close(servers);
        }
    }
}

fn close(servers: Vec<JoinHandle<()>>) {
    for s in servers {
        s.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_addresses_unless_the_cidrs_narrow_them() {
        let local: Vec<Ipv4Addr> = ["127.0.0.1", "192.168.1.10", "10.0.0.5"]
            .map(|s| s.parse().unwrap())
            .to_vec();
        let nets =
            |list: &[&str]| -> Vec<Ipv4Net> { list.iter().map(|s| s.parse().unwrap()).collect() };
        assert_eq!(bind_addresses(&[], &local), [Ipv4Addr::UNSPECIFIED]);
        assert_eq!(
            bind_addresses(&nets(&["0.0.0.0/0", "10.0.0.0/8"]), &local),
            [Ipv4Addr::UNSPECIFIED]
        );
        assert_eq!(
            bind_addresses(&nets(&["192.168.0.0/16", "127.0.0.0/8"]), &local),
            [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(192, 168, 1, 10)]
        );
        assert!(bind_addresses(&nets(&["172.16.0.0/12"]), &local).is_empty());
    }
}
