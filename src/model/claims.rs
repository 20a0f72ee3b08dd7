//! Who keeps an address two services claim. The API server never lets two services share a
//! cluster IP or a node port; a manifest, or an API server restored from an old backup, can.
//! Both would otherwise program rules for the same destination and one would take the other's
//! traffic. So, decided once for every backend: the service that was there first (earlier
//! `creationTimestamp`, then namespace/name; one without a timestamp, as in most manifests,
//! comes after every one with) keeps each address, and a service is admitted only when it
//! holds every address it claims and its cluster IP is not one of the node's own addresses.
//! A refused service waits here, and is admitted as soon as what blocked it goes away.
//!
//! A refused service still counts as a holder of its other claims: whether a service is
//! admitted never depends on another refused one, so one change settles in one step.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::SystemTime;

use super::{Protocol, Service, ServiceName};

/// An address a service's rules would take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Claim {
    ClusterPort(Ipv4Addr, u16, Protocol),
    /// Node ports are allocated across protocols: one service's, whatever the protocol.
    NodePort(u16),
}

/// Earlier sorts first: who was there first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    undated: bool,
    created: Option<SystemTime>,
    name: ServiceName,
}

impl Rank {
    fn of(svc: &Service) -> Self {
        Self {
            undated: svc.created.is_none(),
            created: svc.created,
            name: svc.name.clone(),
        }
    }
}

/// Why a service was refused; its `Display` is the log line's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The cluster IP is one of this node's addresses: its rules would take the node's traffic.
    ClusterIpIsNodeAddress(Ipv4Addr),
    ClusterPortTaken {
        ip: Ipv4Addr,
        port: u16,
        protocol: Protocol,
        holder: ServiceName,
    },
    NodePortTaken {
        port: u16,
        holder: ServiceName,
    },
}

impl Refusal {
    /// The `kproxy_rejected_objects_total{reason}` label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ClusterIpIsNodeAddress(_) => "cluster_ip_is_node_address",
            Self::ClusterPortTaken { .. } => "cluster_ip_conflict",
            Self::NodePortTaken { .. } => "node_port_conflict",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClusterIpIsNodeAddress(ip) => {
                write!(f, "spec.clusterIP {ip} is one of this node's addresses")
            }
            Self::ClusterPortTaken {
                ip,
                port,
                protocol,
                holder,
            } => write!(f, "{ip}:{port}/{protocol} is already {holder}'s"),
            Self::NodePortTaken { port, holder } => {
                write!(f, "nodePort {port} is already {holder}'s")
            }
        }
    }
}

/// A service newly refused, or refused for a new reason: one log line and one count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub service: ServiceName,
    pub refusal: Refusal,
}

/// What the services map must do after a claims change.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Admit(Arc<Service>),
    Withdraw(ServiceName),
}

#[derive(Debug)]
struct Entry {
    service: Arc<Service>,
    rank: Rank,
    claims: Vec<Claim>,
    refused: Option<Refusal>,
}

/// Every service the sources reported, admitted or not, and who holds each claim.
#[derive(Debug, Default)]
pub struct Claims {
    entries: HashMap<ServiceName, Entry>,
    /// Per claim, its claimants in rank order; the first holds it.
    holders: HashMap<Claim, BTreeSet<Rank>>,
    node_addresses: Vec<Ipv4Addr>,
    rejections: Vec<Rejection>,
}

impl Claims {
    /// A service was reported (new or changed).
    pub fn update(&mut self, svc: Arc<Service>) -> Vec<Verdict> {
        let mut affected = self.unlink(&svc.name);
        let rank = Rank::of(&svc);
        let claims = claims_of(&svc);
        for claim in &claims {
            let holders = self.holders.entry(*claim).or_default();
            affected.extend(holders.iter().map(|r| r.name.clone()));
            holders.insert(rank.clone());
        }
        let was_refused = self.entries.get(&svc.name).map(|e| e.refused.clone());
        let name = svc.name.clone();
        self.entries.insert(
            name.clone(),
            Entry {
                service: svc,
                rank,
                claims,
                // Not admitted before: `settle` reports it either way.
                refused: was_refused.flatten(),
            },
        );
        let mut verdicts = self.settle(&name, true);
        affected.remove(&name);
        for other in affected {
            verdicts.extend(self.settle(&other, false));
        }
        verdicts
    }

    /// A service was deleted.
    pub fn delete(&mut self, name: &ServiceName) -> Vec<Verdict> {
        let affected = self.unlink(name);
        let Some(entry) = self.entries.remove(name) else {
            return Vec::new();
        };
        let mut verdicts = Vec::new();
        if entry.refused.is_none() {
            verdicts.push(Verdict::Withdraw(name.clone()));
        }
        for other in affected {
            verdicts.extend(self.settle(&other, false));
        }
        verdicts
    }

    /// The node's own addresses changed.
    pub fn set_node_addresses(&mut self, addresses: &[Ipv4Addr]) -> Vec<Verdict> {
        if self.node_addresses == addresses {
            return Vec::new();
        }
        let touched: Vec<ServiceName> = self
            .entries
            .values()
            .filter(|e| {
                let ip = e.service.cluster_ip;
                self.node_addresses.contains(&ip) || addresses.contains(&ip)
            })
            .map(|e| e.service.name.clone())
            .collect();
        self.node_addresses = addresses.to_vec();
        touched
            .iter()
            .flat_map(|name| self.settle(name, false))
            .collect()
    }

    /// The services refused since the last call (each once per reason).
    pub fn take_rejections(&mut self) -> Vec<Rejection> {
        std::mem::take(&mut self.rejections)
    }

    /// Removes `name`'s claims; returns the other claimants of them.
    fn unlink(&mut self, name: &ServiceName) -> BTreeSet<ServiceName> {
        let mut affected = BTreeSet::new();
        let Some(entry) = self.entries.get(name) else {
            return affected;
        };
        for claim in &entry.claims {
            if let Some(holders) = self.holders.get_mut(claim) {
                holders.remove(&entry.rank);
                affected.extend(holders.iter().map(|r| r.name.clone()));
                if holders.is_empty() {
                    self.holders.remove(claim);
                }
            }
        }
        affected
    }

    /// Decides `name` again; `changed` when its object was just reported.
    fn settle(&mut self, name: &ServiceName, changed: bool) -> Vec<Verdict> {
        let Some(entry) = self.entries.get(name) else {
            return Vec::new();
        };
        let refusal = self.refusal_of(entry);
        let entry = self.entries.get_mut(name).expect("looked up above");
        let was = std::mem::replace(&mut entry.refused, refusal.clone());
        match refusal {
            None if changed || was.is_some() => vec![Verdict::Admit(Arc::clone(&entry.service))],
            None => Vec::new(),
            Some(refusal) => {
                if was.as_ref() != Some(&refusal) {
                    self.rejections.push(Rejection {
                        service: name.clone(),
                        refusal,
                    });
                }
                // A service refused before is not in the services map; withdrawing it again
                // is a no-op there.
                if was.is_none() {
                    vec![Verdict::Withdraw(name.clone())]
                } else {
                    Vec::new()
                }
            }
        }
    }

    fn refusal_of(&self, entry: &Entry) -> Option<Refusal> {
        let svc = &entry.service;
        if self.node_addresses.contains(&svc.cluster_ip) {
            return Some(Refusal::ClusterIpIsNodeAddress(svc.cluster_ip));
        }
        entry.claims.iter().find_map(|claim| {
            let first = self.holders.get(claim)?.first()?;
            (first.name != svc.name).then(|| match *claim {
                Claim::ClusterPort(ip, port, protocol) => Refusal::ClusterPortTaken {
                    ip,
                    port,
                    protocol,
                    holder: first.name.clone(),
                },
                Claim::NodePort(port) => Refusal::NodePortTaken {
                    port,
                    holder: first.name.clone(),
                },
            })
        })
    }
}

/// The addresses `svc`'s rules would take, each once.
fn claims_of(svc: &Service) -> Vec<Claim> {
    let mut claims: Vec<Claim> = svc
        .ports
        .iter()
        .flat_map(|p| {
            let cluster = Claim::ClusterPort(svc.cluster_ip, p.port, p.protocol);
            std::iter::once(cluster).chain(p.node_port().map(Claim::NodePort))
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    claims.retain(|c| seen.insert(*c));
    claims
}

#[cfg(test)]
mod tests;
