//! nftables mode (`--proxy-mode=nftables`): kube-proxy's table `ip kube-proxy`, written
//! over nf_tables netlink (no `nft` binary), one atomic batch per sync. IPv4 only for now;
//! the `ip6` table comes with dual-stack (issue #13).
//!
//! * [`layout`]: the compiler's output, in nft's terms; [`fixed`] and [`service`] compile
//!   it (pure, from the model's [`crate::model::PortView`] only); [`text`] prints it as
//!   `nft -f` input (`--dry-run`, golden tests); [`lower`] turns it into netlink objects.
//! * [`state`] and [`plan`]: what is desired, what the kernel holds, and the pure diff
//!   between them as one batch of messages.
//! * [`backend`]: the executor, the only part that talks to the kernel.

pub mod backend;
pub mod fixed;
pub mod layout;
pub mod lower;
pub mod names;
pub mod plan;
pub mod service;
pub mod state;
pub mod text;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use ipnet::Ipv4Net;

pub use backend::NftablesBackend;
use layout::Layout;
use state::{Desired, Touched};

use crate::model::{ProxyState, ServiceCache, ServiceName, ServiceSnapshot};

/// What the flags say about the rules to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `--masquerade-all`: SNAT all traffic to cluster IPs.
    pub masquerade_all: bool,
    /// `--nftables-masquerade-bit` / `--iptables-masquerade-bit` (default 14).
    pub masquerade_bit: u8,
    /// `--cluster-cidr`: tells pod traffic from other traffic.
    pub cluster_cidr: Option<Ipv4Net>,
    /// `--nodeport-addresses`: empty for every local address.
    pub nodeport_addresses: Vec<Ipv4Net>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            masquerade_all: false,
            masquerade_bit: 14,
            cluster_cidr: None,
            nodeport_addresses: Vec::new(),
        }
    }
}

impl Options {
    pub fn masquerade_mark(&self) -> u32 {
        1u32 << self.masquerade_bit.min(31)
    }
}

/// The whole table for `state`: the fixed part, then each service in name order.
pub fn compile(state: &ProxyState, options: &Options) -> Layout {
    let mut layout = fixed::fixed_layout(options);
    for s in state.shared_services() {
        let snapshot = ServiceSnapshot::read(state, s);
        layout.extend(service::compile_service(&snapshot, options));
    }
    layout
}

/// The incremental compiler: each service's layout cached with the snapshot it came from,
/// and the desired table kept up to date from them.
pub struct Compiler {
    options: Options,
    fixed: Layout,
    cache: ServiceCache<Layout, ()>,
    desired: Desired,
}

impl Compiler {
    pub fn new(options: Options) -> Self {
        let fixed = fixed::fixed_layout(&options);
        let desired = Desired::from_layout(&fixed);
        Self {
            options,
            fixed,
            cache: ServiceCache::default(),
            desired,
        }
    }

    pub fn desired(&self) -> &Desired {
        &self.desired
    }

    /// Recompiles the services in `changed` (all of them when `None`) whose snapshot
    /// differs from the cached one, and returns what their change touched.
    pub fn update(
        &mut self,
        state: &ProxyState,
        changed: Option<&BTreeSet<ServiceName>>,
    ) -> Touched {
        let (snapshots, removed): (Vec<ServiceSnapshot>, Vec<ServiceName>) = match changed {
            None => (
                state
                    .shared_services()
                    .map(|s| ServiceSnapshot::read(state, s))
                    .collect(),
                self.cache.missing_from(state),
            ),
            Some(names) => (
                names.iter().filter_map(|n| state.snapshot(n)).collect(),
                names
                    .iter()
                    .filter(|n| state.service(n).is_none())
                    .cloned()
                    .collect(),
            ),
        };
        let removed: Vec<&ServiceName> = removed.iter().collect();
        let mut touched = Touched::default();
        let options = &self.options;
        let desired = &mut self.desired;
        self.cache.update(
            snapshots,
            &removed,
            &(),
            |stale| {
                stale
                    .iter()
                    .map(|s| service::compile_service(s, options))
                    .collect()
            },
            |_, old, new| {
                if let Some(old) = old {
                    desired.remove(old, &mut touched);
                }
                if let Some(new) = new {
                    desired.add(new, &mut touched);
                }
            },
        );
        touched
    }

    /// The whole table as the cache holds it (for `--dry-run` and tests).
    pub fn layout(&self) -> Layout {
        let mut layout = self.fixed.clone();
        for l in self.cache.outputs() {
            layout.extend(l.clone());
        }
        layout
    }
}
