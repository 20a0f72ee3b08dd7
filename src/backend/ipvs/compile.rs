//! The pure IPVS compiler: [`ProxyState`] plus this node's addresses in, the desired IPVS
//! state out — virtual servers with their real servers, the addresses to bind on
//! kube-ipvs0, and the ipset members the constant iptables rules match.
//!
//! Incremental like the iptables compiler: each service compiles on its own into a
//! [`ServicePlan`]; the [`Compiler`] caches plans (in the model's [`ServiceCache`]) and
//! recompiles a service only when its snapshot changed. The aggregate [`Desired`] is
//! assembled from the cached plans on every call (cheap: it moves `Arc`s), and
//! [`Compiled::touched`] names the virtual servers a partial sync must diff.

mod service;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use ipnet::Ipv4Net;
use tracing::warn;

use super::netlink::{ServiceKey, VirtualService};
use super::sets::IpvsSet;
use crate::ipset::Entry;
use crate::model::{ProxyState, ServiceCache, ServiceName, ServicePortName, ServiceSnapshot};

pub use service::compile_service;

/// Annotation choosing the IPVS scheduler of one service, overriding `--ipvs-scheduler`.
pub const SCHEDULER_ANNOTATION: &str = "ipvs.kproxy.dev/scheduler";

/// The kernel's IPVS schedulers (net/netfilter/ipvs/ip_vs_*.c).
pub const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// What the flags say about the virtual servers to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// `--ipvs-scheduler`, already validated.
    pub scheduler: String,
    /// `--nodeport-addresses`: the node addresses NodePorts answer on; empty for all.
    pub nodeport_addresses: Vec<Ipv4Net>,
    /// This node's primary IP (`--bind-address`), when known: a source range holding it
    /// lets the node reach its load-balancer IPs (kube-proxy's `allowFromNode`).
    pub node_ip: Option<Ipv4Addr>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            scheduler: "rr".to_string(),
            nodeport_addresses: Vec::new(),
            node_ip: None,
        }
    }
}

/// One virtual server kproxy wants, with its real servers (masqueraded, weight 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredVs {
    pub service: VirtualService,
    pub dests: BTreeSet<SocketAddrV4>,
    /// The service port it serves, for logs and listings.
    pub port_name: ServicePortName,
}

/// One service's share of the desired state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServicePlan {
    /// Shared with every [`Desired`] assembled from this plan.
    pub virtual_servers: Vec<Arc<DesiredVs>>,
    /// Service addresses to bind on kube-ipvs0 (cluster, external and load-balancer IPs).
    pub addresses: BTreeSet<Ipv4Addr>,
    pub entries: BTreeSet<(IpvsSet, Entry)>,
    /// The `ipvs.kproxy.dev/scheduler` annotation when it names no IPVS scheduler.
    pub invalid_scheduler: Option<String>,
}

/// The whole desired state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    pub virtual_servers: BTreeMap<ServiceKey, Arc<DesiredVs>>,
    pub addresses: BTreeSet<Ipv4Addr>,
    /// Members of every set (a set with no members is present and empty).
    pub sets: BTreeMap<IpvsSet, BTreeSet<Entry>>,
}

/// A compile's result.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub desired: Desired,
    /// The virtual servers that may differ from the last compile's: `None` for all of them
    /// (a full compile), else those of the recompiled services, before and after.
    pub touched: Option<BTreeSet<ServiceKey>>,
}

/// Incremental compiler: caches each service's plan and recompiles only dirty ones.
pub struct Compiler {
    opts: CompileOptions,
    /// Node addresses NodePorts answer on, sorted.
    node_addresses: Vec<Ipv4Addr>,
    /// Counts changes of `node_addresses`: the key of the cached plans, which depend on them.
    node_epoch: u64,
    plans: ServiceCache<ServicePlan, u64>,
    /// Whether `plans` covers every service of the state.
    complete: bool,
    /// Virtual servers claimed twice, with the losing claim, as last logged.
    conflicts: BTreeSet<(ServiceKey, ServicePortName)>,
}

impl Compiler {
    pub fn new(opts: CompileOptions) -> Self {
        Self {
            opts,
            node_addresses: Vec::new(),
            node_epoch: 0,
            plans: ServiceCache::default(),
            complete: false,
            conflicts: BTreeSet::new(),
        }
    }

    /// Sets this node's local addresses (those not on kube-ipvs0); NodePorts answer on the
    /// non-loopback ones within `--nodeport-addresses`. A change makes the next compile full.
    pub fn set_local_addresses(&mut self, local: &[Ipv4Addr]) {
        let addrs = node_port_addresses(local, &self.opts.nodeport_addresses);
        if addrs != self.node_addresses {
            self.node_addresses = addrs;
            self.node_epoch += 1;
            self.complete = false;
        }
    }

    pub fn node_addresses(&self) -> &[Ipv4Addr] {
        &self.node_addresses
    }

    /// Compiles every service whose snapshot changed (reusing the others' plans) and
    /// forgets deleted ones.
    pub fn compile_all(&mut self, state: &ProxyState) -> Compiled {
        let snapshots = state
            .shared_services()
            .map(|svc| ServiceSnapshot::read(state, svc))
            .collect();
        let removed = self.plans.missing_from(state);
        self.update(snapshots, &removed.iter().collect::<Vec<_>>(), None);
        self.complete = true;
        Compiled {
            desired: self.assemble(),
            touched: None,
        }
    }

    /// Recompiles the services in `dirty` whose snapshot changed (forgetting deleted ones)
    /// and reuses the others' plans. The first call, and the first after the node
    /// addresses changed, is full.
    pub fn compile(&mut self, state: &ProxyState, dirty: &BTreeSet<ServiceName>) -> Compiled {
        if !self.complete {
            return self.compile_all(state);
        }
        let snapshots = dirty
            .iter()
            .filter_map(|name| state.snapshot(name))
            .collect();
        let removed: Vec<&ServiceName> = dirty
            .iter()
            .filter(|name| state.service(name).is_none())
            .collect();
        let mut touched = BTreeSet::new();
        self.update(snapshots, &removed, Some(&mut touched));
        Compiled {
            desired: self.assemble(),
            touched: Some(touched),
        }
    }

    /// Brings the cached plans up to date, adding the virtual servers of every plan
    /// replaced or removed, before and after, to `touched`.
    fn update(
        &mut self,
        snapshots: Vec<ServiceSnapshot>,
        removed: &[&ServiceName],
        mut touched: Option<&mut BTreeSet<ServiceKey>>,
    ) {
        let (scheduler, node_addresses) = (&self.opts.scheduler, &self.node_addresses);
        let node_ip = self.opts.node_ip;
        self.plans.update(
            snapshots,
            removed,
            &self.node_epoch,
            |stale| {
                stale
                    .iter()
                    .map(|s| compile_service(s, scheduler, node_addresses, node_ip))
                    .collect()
            },
            |name, old, new| {
                let new = new.map(|n| &*n);
                if let Some(touched) = touched.as_deref_mut() {
                    let plans = old.into_iter().chain(new);
                    touched.extend(
                        plans.flat_map(|p| p.virtual_servers.iter().map(|v| v.service.key())),
                    );
                }
                if let Some(new) = new {
                    report_scheduler(name, old, new);
                }
            },
        );
    }

    /// Merges the plans. Two services claiming the same virtual server (an external IP equal
    /// to another service's cluster IP, say) cannot both have it: the first by name wins,
    /// and the conflict is logged when it appears.
    fn assemble(&mut self) -> Desired {
        let mut conflicts = BTreeSet::new();
        let mut desired = Desired {
            sets: IpvsSet::ALL
                .into_iter()
                .map(|s| (s, BTreeSet::new()))
                .collect(),
            ..Desired::default()
        };
        for plan in self.plans.outputs() {
            for vs in &plan.virtual_servers {
                let key = vs.service.key();
                if let Some(first) = desired.virtual_servers.get(&key) {
                    let conflict = (key, vs.port_name.clone());
                    if !self.conflicts.contains(&conflict) {
                        warn!(
                            virtual_server = %key,
                            kept = %first.port_name,
                            ignored = %vs.port_name,
                            "two services claim the same IPVS virtual server"
                        );
                    }
                    conflicts.insert(conflict);
                    continue;
                }
                desired.virtual_servers.insert(key, Arc::clone(vs));
            }
            desired.addresses.extend(plan.addresses.iter().copied());
            for (set, entry) in &plan.entries {
                desired.sets.entry(*set).or_default().insert(*entry);
            }
        }
        let ipvs_ips = desired.addresses.iter().map(|a| Entry::Ip(*a)).collect();
        desired.sets.insert(IpvsSet::IpvsIps, ipvs_ips);
        self.conflicts = conflicts;
        desired
    }
}

/// Logs an invalid scheduler annotation once, when it first appears or changes.
fn report_scheduler(name: &ServiceName, old: Option<&ServicePlan>, new: &ServicePlan) {
    let Some(bad) = &new.invalid_scheduler else {
        return;
    };
    if old.and_then(|o| o.invalid_scheduler.as_ref()) != Some(bad) {
        warn!(
            service = %name,
            scheduler = %bad,
            valid = %SCHEDULERS.join(", "),
            "annotation ipvs.kproxy.dev/scheduler names no IPVS scheduler; using the default"
        );
    }
}

/// The addresses NodePorts answer on: local, not loopback, within `filter` when given.
pub fn node_port_addresses(local: &[Ipv4Addr], filter: &[Ipv4Net]) -> Vec<Ipv4Addr> {
    let mut addrs: Vec<Ipv4Addr> = local
        .iter()
        .copied()
        .filter(|a| !a.is_loopback() && !a.is_unspecified())
        .filter(|a| filter.is_empty() || filter.iter().any(|n| n.contains(a)))
        .collect();
    addrs.sort_unstable();
    addrs.dedup();
    addrs
}
