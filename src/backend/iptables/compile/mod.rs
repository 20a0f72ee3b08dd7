//! The pure iptables compiler: [`ProxyState`] in, [`Ruleset`] out, in kube-proxy's layout
//! and in the exact text `iptables-save` prints, so the executor can compare the two.
//!
//! Incremental: each service compiles on its own, from the model's view of its ports
//! ([`crate::model::PortView`]: who gets which traffic is decided there), into its own
//! chains plus its lines in the shared dispatch chains (`KUBE-SERVICES`, `KUBE-NODEPORTS`,
//! …). The [`Compiler`] caches those per service in the model's [`ServiceCache`] with the
//! snapshot they came from (the service and its endpoints), recompiles a service only when
//! its snapshot differs, and keeps the same `Arc<Chain>` for every chain whose rules did
//! not change, so the executor can skip it by pointer.
//!
//! Cost at 10k services × 10 endpoints (release, this 2-core machine, load ≈ 1.5): a cold
//! full compile ≈ 90–105 ms (dropping its result ≈ 25–35 ms), a full compile of an
//! unchanged state ≈ 25–30 ms, one changed endpoint ≈ 3 ms. Rules are written straight into
//! one buffer per chain (no `String` per rule): 155k chains are ~310k allocations, and the
//! allocator is still about a third of a cold compile. Large inputs are split over the
//! cores with scoped threads.

mod chain_name;
mod dispatch;
mod fixed;
mod localhost;
mod numbers;
mod service;
mod text;

pub use self::text::push_quoted;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;

use self::fixed::StaticChains;
use self::service::{CompiledService, compile_service};
use super::names::{KUBE_EXTERNAL_SERVICES, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL, KUBE_SERVICES};
use super::ruleset::{Chain, ChainBuilder, Jump, RuleList, Ruleset, Table};
use crate::model::{LocalTraffic, ProxyState, Service, ServiceCache, ServiceName, ServiceSnapshot};
use crate::netfilter::iptables::chains::masquerade_mark;
use crate::netfilter::iptables::local_match::{LocalMatch, if_local, if_not_local};
use crate::netfilter::iptables::read_back::jump_target;

use self::text::probability;

/// What the flags say about the rules to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// `--masquerade-all`: SNAT all traffic to cluster IPs.
    pub masquerade_all: bool,
    /// `--iptables-masquerade-bit` (0–31, default 14): the fwmark bit that asks for SNAT.
    pub masquerade_bit: u8,
    /// `--detect-local-mode` and its setting: tells pod traffic from other traffic.
    pub local_traffic: LocalTraffic,
    /// `--nodeport-addresses`: the node addresses NodePorts answer on; empty for all.
    pub nodeport_addresses: Vec<Ipv4Net>,
    /// This node's primary IP (`--bind-address`), when known: a source range holding it
    /// lets the node reach its load-balancer IPs (kube-proxy's `allowFromNode`).
    pub node_ip: Option<Ipv4Addr>,
    /// `--iptables-localhost-nodeports`: NodePorts also answer on 127.0.0.1 when the
    /// node-port addresses include loopback (see [`serves_localhost_node_ports`]).
    pub localhost_node_ports: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            masquerade_all: false,
            masquerade_bit: 14,
            local_traffic: LocalTraffic::Unknown,
            nodeport_addresses: Vec::new(),
            node_ip: None,
            localhost_node_ports: false,
        }
    }
}

/// The options turned into the text pieces the rules use, computed once.
pub(crate) struct Ctx {
    masquerade_all: bool,
    /// Matches this node's pods' traffic, and everything else (`None`: nothing can).
    local_pods: Option<LocalMatch>,
    not_local: Option<LocalMatch>,
    node_ip: Option<Ipv4Addr>,
    /// `probabilities[n]` is the text for 1/n.
    probabilities: Vec<String>,
}

impl Ctx {
    fn new(opts: &CompileOptions) -> Self {
        Self {
            masquerade_all: opts.masquerade_all,
            local_pods: if_local(&opts.local_traffic),
            not_local: if_not_local(&opts.local_traffic),
            node_ip: opts.node_ip,
            probabilities: (0..=256).map(probability).collect(),
        }
    }

    fn probability(&self, n: usize) -> Cow<'_, str> {
        match self.probabilities.get(n) {
            Some(p) => Cow::Borrowed(p),
            None => Cow::Owned(probability(u32::try_from(n).unwrap_or(u32::MAX))),
        }
    }
}

/// The dispatch chains of the last ruleset, reused while no service's lines change.
struct Dispatch {
    filter_services: Arc<Chain>,
    filter_external: Arc<Chain>,
    filter_nodeports: Arc<Chain>,
    filter_firewall: Arc<Chain>,
    nat_services: Arc<Chain>,
    nat_nodeports: Arc<Chain>,
}

/// Which dispatch chains need rebuilding.
#[derive(Clone, Copy, Default)]
struct Changed {
    filter_services: bool,
    filter_external: bool,
    filter_nodeports: bool,
    filter_firewall: bool,
    nat_services: bool,
    nat_nodeports: bool,
}

impl Changed {
    const ALL: Self = Self {
        filter_services: true,
        filter_external: true,
        filter_nodeports: true,
        filter_firewall: true,
        nat_services: true,
        nat_nodeports: true,
    };

    fn note(&mut self, old: Option<&CompiledService>, new: Option<&CompiledService>) {
        let empty = CompiledService::default();
        let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
        let (old, new) = (&old.lines, &new.lines);
        self.filter_services |= old.filter_services != new.filter_services;
        self.filter_external |= old.filter_external != new.filter_external;
        self.filter_nodeports |= old.filter_nodeports != new.filter_nodeports;
        self.filter_firewall |= old.filter_firewall != new.filter_firewall;
        self.nat_services |= old.nat_services != new.nat_services;
        self.nat_nodeports |= old.nat_nodeports != new.nat_nodeports;
    }
}

/// Incremental compiler: caches each service's compiled chains (as `Arc<Chain>`) and
/// recompiles only dirty ones. Its options are fixed: new flags need a new `Compiler`.
/// Large compiles briefly use scoped threads; call it from a blocking context.
pub struct Compiler {
    ctx: Ctx,
    statics: StaticChains,
    nodeport_tail: RuleList,
    jumps: Vec<Jump>,
    /// `KUBE-FIREWALL`, when NodePorts answer on 127.0.0.1.
    localhost_firewall: Option<Arc<Chain>>,
    /// Each service's output, reused while its snapshot and the large-cluster mode (the
    /// key) stay the same.
    services: ServiceCache<CompiledService, bool>,
    /// Sum of the cached services' endpoints, and whether that is a large cluster.
    total_endpoints: usize,
    large: bool,
    dispatch: Option<Dispatch>,
    /// Whether `services` holds every service of the state (after a first full compile).
    complete: bool,
}

impl Compiler {
    pub fn new(opts: CompileOptions) -> Self {
        let mark = masquerade_mark(opts.masquerade_bit);
        let match_all = opts.nodeport_addresses.is_empty()
            || opts.nodeport_addresses.iter().any(|n| n.prefix_len() == 0);
        let mut cidrs: Vec<String> = if match_all {
            Vec::new()
        } else {
            opts.nodeport_addresses
                .iter()
                .map(|n| n.trunc().to_string())
                .collect()
        };
        cidrs.dedup();
        let localhost = serves_localhost_node_ports(&opts);
        let mut jumps = fixed::jumps();
        if localhost {
            jumps.extend(localhost::firewall_jumps());
        }
        // kube-proxy inserts each jump of its list first in its chain, so a built-in chain
        // holds them last-first; the desired rules are in the kernel's order.
        jumps.reverse();
        Self {
            ctx: Ctx::new(&opts),
            statics: fixed::static_chains(&mark),
            nodeport_tail: fixed::nodeport_tail(&cidrs, localhost),
            jumps,
            localhost_firewall: localhost.then(localhost::firewall_chain),
            services: ServiceCache::default(),
            total_endpoints: 0,
            large: false,
            dispatch: None,
            complete: false,
        }
    }

    /// Recompiles the services in `dirty` (and forgets deleted ones), reuses the cached
    /// chains of the others (same `Arc`), and assembles the complete ruleset. The first
    /// call compiles everything, whatever `dirty` says, and so does a call that moves the
    /// cluster across the large-cluster threshold (every endpoint rule changes form).
    pub fn compile(&mut self, state: &ProxyState, dirty: &BTreeSet<ServiceName>) -> Ruleset {
        if !self.complete {
            return self.compile_all(state);
        }
        let present: Vec<&ServiceName> = dirty
            .iter()
            .filter(|n| state.service(n).is_some())
            .collect();
        let snapshots: Vec<ServiceSnapshot> = par_map(&present, |name| state.snapshot(name))
            .into_iter()
            .flatten()
            .collect();
        let before: usize = dirty
            .iter()
            .filter_map(|name| self.services.snapshot(name))
            .map(ServiceSnapshot::endpoint_count)
            .sum();
        let after: usize = snapshots.iter().map(ServiceSnapshot::endpoint_count).sum();
        let total = self.total_endpoints - before + after;
        if is_large(total) != self.large {
            return self.compile_all(state);
        }
        self.total_endpoints = total;
        let removed: Vec<&ServiceName> = dirty
            .iter()
            .filter(|n| state.service(n).is_none())
            .collect();
        let changed = self.update(snapshots, &removed);
        self.assemble(changed)
    }

    /// Compiles the whole state: every service's endpoints are read afresh, and a service
    /// is compiled again unless exactly the same inputs produced its cached chains (then
    /// those are kept: equal inputs give equal rules).
    pub fn compile_all(&mut self, state: &ProxyState) -> Ruleset {
        let services: Vec<&Arc<Service>> = state.shared_services().collect();
        let snapshots = par_map(&services, |svc| ServiceSnapshot::read(state, svc));
        self.total_endpoints = snapshots.iter().map(ServiceSnapshot::endpoint_count).sum();
        self.large = is_large(self.total_endpoints);
        let removed = self.services.missing_from(state);
        let cold = self.services.is_empty() || self.dispatch.is_none();
        let mut changed = self.update(snapshots, &removed.iter().collect::<Vec<_>>());
        if cold {
            changed = Changed::ALL;
        }
        self.complete = true;
        self.assemble(changed)
    }

    /// Compiles the `snapshots` whose inputs changed (in parallel), keeps the others,
    /// forgets `removed`, and says which dispatch chains changed.
    fn update(&mut self, snapshots: Vec<ServiceSnapshot>, removed: &[&ServiceName]) -> Changed {
        let mut changed = Changed::default();
        let (ctx, large) = (&self.ctx, self.large);
        self.services.update(
            snapshots,
            removed,
            &large,
            |stale| par_map(stale, |s| compile_service(s, ctx, large)),
            |_, old, mut new| {
                if let (Some(old), Some(new)) = (old, new.as_deref_mut()) {
                    reuse_unchanged_chains(old, new);
                }
                changed.note(old, new.as_deref());
            },
        );
        changed
    }

    fn assemble(&mut self, changed: Changed) -> Ruleset {
        let services = &self.services;
        let empty = RuleList::new();
        let concat =
            |table: Table, name: &str, pick: fn(&CompiledService) -> &RuleList, tail: &RuleList| {
                let bytes = services
                    .outputs()
                    .map(|s| pick(s).text_len())
                    .sum::<usize>()
                    + tail.text_len();
                let mut chain = ChainBuilder::with_capacity(table, name, bytes);
                if table == Table::Nat {
                    for rule in
                        by_jump_target_descending(services.outputs().flat_map(|s| pick(s).iter()))
                    {
                        chain.push_rule(rule);
                    }
                } else {
                    for s in services.outputs() {
                        chain.push_rules(pick(s));
                    }
                }
                chain.push_rules(tail);
                Arc::new(chain.build())
            };
        // A dispatch chain is rebuilt only when one of its services' lines changed.
        let rebuild = |old: Option<&Arc<Chain>>,
                       dirty: bool,
                       table: Table,
                       name: &str,
                       pick: fn(&CompiledService) -> &RuleList,
                       tail: &RuleList| match old {
            Some(chain) if !dirty => Arc::clone(chain),
            _ => concat(table, name, pick, tail),
        };
        let prev = self.dispatch.as_ref();
        let dispatch = Dispatch {
            filter_services: rebuild(
                prev.map(|d| &d.filter_services),
                changed.filter_services,
                Table::Filter,
                KUBE_SERVICES,
                |s| &s.lines.filter_services,
                &empty,
            ),
            filter_external: rebuild(
                prev.map(|d| &d.filter_external),
                changed.filter_external,
                Table::Filter,
                KUBE_EXTERNAL_SERVICES,
                |s| &s.lines.filter_external,
                &empty,
            ),
            filter_nodeports: rebuild(
                prev.map(|d| &d.filter_nodeports),
                changed.filter_nodeports,
                Table::Filter,
                KUBE_NODEPORTS,
                |s| &s.lines.filter_nodeports,
                &empty,
            ),
            filter_firewall: rebuild(
                prev.map(|d| &d.filter_firewall),
                changed.filter_firewall,
                Table::Filter,
                KUBE_PROXY_FIREWALL,
                |s| &s.lines.filter_firewall,
                &empty,
            ),
            nat_services: rebuild(
                prev.map(|d| &d.nat_services),
                changed.nat_services,
                Table::Nat,
                KUBE_SERVICES,
                |s| &s.lines.nat_services,
                &self.nodeport_tail,
            ),
            nat_nodeports: rebuild(
                prev.map(|d| &d.nat_nodeports),
                changed.nat_nodeports,
                Table::Nat,
                KUBE_NODEPORTS,
                |s| &s.lines.nat_nodeports,
                &empty,
            ),
        };

        let own = services.outputs().map(|s| s.chains.len()).sum::<usize>();
        let mut chains = Vec::with_capacity(9 + own);
        // The order of names::FIXED_CHAINS.
        chains.push(Arc::clone(&dispatch.filter_services));
        chains.push(Arc::clone(&dispatch.filter_external));
        chains.push(Arc::clone(&self.statics.forward));
        chains.push(Arc::clone(&dispatch.filter_nodeports));
        chains.push(Arc::clone(&dispatch.filter_firewall));
        chains.push(Arc::clone(&dispatch.nat_services));
        chains.push(Arc::clone(&dispatch.nat_nodeports));
        chains.push(Arc::clone(&self.statics.postrouting));
        chains.push(Arc::clone(&self.statics.mark_masq));
        chains.extend(self.localhost_firewall.iter().cloned());
        for s in services.outputs() {
            chains.extend(s.chains.iter().cloned());
        }
        self.dispatch = Some(dispatch);
        Ruleset {
            chains,
            jumps: self.jumps.clone(),
        }
    }
}

/// Whether NodePorts answer on 127.0.0.1, as kube-proxy decides it: asked for, and the
/// node-port addresses (all of them when none are given) include an IPv4 loopback address.
pub fn serves_localhost_node_ports(opts: &CompileOptions) -> bool {
    opts.localhost_node_ports && localhost::includes_loopback(&opts.nodeport_addresses)
}

/// kube-proxy's `largeClusterEndpointsThreshold`: above this many endpoints, the rules of
/// the per-endpoint chains carry no comments (kube-proxy measured up to 40% less text for
/// iptables-restore to parse).
pub const LARGE_CLUSTER_ENDPOINTS: usize = 1000;

fn is_large(total_endpoints: usize) -> bool {
    total_endpoints > LARGE_CLUSTER_ENDPOINTS
}

/// Below this many services, threads cost more than they save.
const PARALLEL_FROM: usize = 512;

fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// `items.iter().map(f)`, spread over the available cores for large inputs: services
/// compile independently, and a full compile at 10k services is the one place where the
/// compiler's time is felt.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = worker_threads();
    if threads < 2 || items.len() < PARALLEL_FROM {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("compiling a service does not panic"))
            .collect()
    })
}

/// Keeps the old `Arc` for every chain of `new` whose rules equal the old chain's.
fn reuse_unchanged_chains(old: &CompiledService, new: &mut CompiledService) {
    let by_name: HashMap<&str, &Arc<Chain>> = old.chains.iter().map(|c| (c.name(), c)).collect();
    for chain in &mut new.chains {
        if let Some(prev) = by_name.get(chain.name())
            && prev.as_ref() == chain.as_ref()
        {
            *chain = Arc::clone(prev);
        }
    }
}

/// One-shot compile: `Compiler::new(opts.clone()).compile_all(state)`.
/// The nat dispatch rules (`KUBE-SERVICES`, `KUBE-NODEPORTS`) in descending order of the
/// chain each jumps to. Their matches are disjoint (address, protocol, port), so the order
/// changes nothing for packets (kube-proxy's own is its map order). It matters to
/// iptables-nft, which looks each jump target up in a sorted list walked from the head:
/// rewriting `KUBE-SERVICES` at 10k services took 2.6–2.9 s in that order, 1.2 s in this one.
fn by_jump_target_descending<'a>(rules: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut rules: Vec<(Option<&str>, &str)> = rules.map(|r| (jump_target(r), r)).collect();
    rules.sort_by(|a, b| b.0.cmp(&a.0));
    rules.into_iter().map(|(_, r)| r).collect()
}

pub fn compile(state: &ProxyState, opts: &CompileOptions) -> Ruleset {
    Compiler::new(opts.clone()).compile_all(state)
}
