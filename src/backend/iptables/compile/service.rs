//! One service's share of the ruleset: its lines in the shared dispatch chains and its own
//! nat chains (`KUBE-EXT-`, `KUBE-SVC-`, `KUBE-SVL-`, `KUBE-SEP-`), in kube-proxy's layout.
//!
//! Hot path of a full compile (10⁵ endpoints): rules are written with `push_str` straight
//! into their chain's one buffer, and each endpoint is named (hashed) once, inline.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::sync::Arc;

use super::Ctx;
use super::chain_name::ChainName;
use super::dispatch::{dest_rule_from, write_dispatch, write_health_check};
use super::numbers::{AddrText, push_ip, push_u32};
use super::text::{CommentName, Out};
use crate::backend::iptables::names::{KUBE_MARK_MASQ, hash16};
use crate::backend::iptables::ruleset::{Chain, ChainBuilder, RuleList, Table};
use crate::model::{PortView, ServiceEndpoint, ServiceSnapshot};
use crate::netfilter::iptables::local_match::LocalMatch;

/// A service compiled on its own; the compiler concatenates the dispatch lines of all
/// services into the shared chains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompiledService {
    /// Its lines in the shared chains.
    pub lines: DispatchLines,
    /// The service's own nat chains.
    pub chains: Vec<Arc<Chain>>,
}

/// A service's lines in the shared dispatch chains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DispatchLines {
    /// Rules for nat `KUBE-SERVICES` (cluster, external and load-balancer IPs).
    pub nat_services: RuleList,
    /// Rules for nat `KUBE-NODEPORTS`.
    pub nat_nodeports: RuleList,
    /// Rules for filter `KUBE-SERVICES` (cluster IPs without endpoints).
    pub filter_services: RuleList,
    /// Rules for filter `KUBE-EXTERNAL-SERVICES` (external destinations without endpoints).
    pub filter_external: RuleList,
    /// Rules for filter `KUBE-NODEPORTS` (health-check node ports let in).
    pub filter_nodeports: RuleList,
    /// Rules for filter `KUBE-PROXY-FIREWALL` (load-balancer IPs with source ranges).
    pub filter_firewall: RuleList,
}

impl DispatchLines {
    fn clear(&mut self) {
        self.nat_services.clear();
        self.nat_nodeports.clear();
        self.filter_services.clear();
        self.filter_external.clear();
        self.filter_nodeports.clear();
        self.filter_firewall.clear();
    }

    fn capacity(&self) -> usize {
        self.nat_services.capacity()
            + self.nat_nodeports.capacity()
            + self.filter_services.capacity()
            + self.filter_external.capacity()
            + self.filter_nodeports.capacity()
            + self.filter_firewall.capacity()
    }
}

/// Buffers a service is written into before its rules are copied out at their exact size:
/// a full compile writes ~10⁵ chains, and growing (then shrinking) a buffer for each would
/// cost more allocator time than the writing itself.
struct Scratch {
    chain: ChainBuilder,
    lines: DispatchLines,
}

impl Scratch {
    /// Larger buffers (a service with thousands of endpoints) are not kept.
    const KEEP: usize = 64 * 1024;

    fn new() -> Self {
        Self {
            chain: ChainBuilder::with_capacity(Table::Nat, "", 4096),
            lines: DispatchLines::default(),
        }
    }
}

thread_local! {
    /// One [`Scratch`] per compiling thread.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

/// One service port's view with the names iptables gives it. Who gets which traffic is
/// the view's ([`PortView`]); this only adds chain names and comment text.
pub struct PortPlan<'a> {
    pub view: &'a PortView<'a>,
    /// `ns/name:port` (or `ns/name`), escaped once for the comments.
    pub comment: CommentName<'a>,
    /// Large-cluster mode: per-endpoint rules carry no comment.
    pub large: bool,
    pub proto: &'static str,
    /// Chain names; empty when the chain is not created (and then never referenced).
    pub svc_chain: ChainName,
    pub svl_chain: ChainName,
    pub ext_chain: ChainName,
    /// `KUBE-FW-`: the load-balancer IPs' source-range filter.
    pub fw_chain: ChainName,
}

impl PortPlan<'_> {
    /// Where cluster-IP traffic goes.
    pub fn internal_chain(&self) -> &str {
        if self.view.internal_policy_local {
            self.svl_chain.as_str()
        } else {
            self.svc_chain.as_str()
        }
    }

    /// Where load-balancer traffic goes: through the source-range filter when there is one.
    pub fn load_balancer_chain(&self) -> &str {
        if self.fw_chain.is_empty() {
            self.ext_chain.as_str()
        } else {
            self.fw_chain.as_str()
        }
    }

    /// Where external traffic goes after the `KUBE-EXT-` special cases.
    fn external_policy_chain(&self) -> &str {
        if self.view.external_policy_local {
            self.svl_chain.as_str()
        } else {
            self.svc_chain.as_str()
        }
    }

    /// Cluster-IP traffic has somewhere to go (not so for ITP Local without local endpoints).
    pub fn has_internal(&self) -> bool {
        !self.view.internal_endpoints().is_empty()
    }

    /// External traffic from outside has somewhere to go.
    pub fn has_external(&self) -> bool {
        !self.view.external_endpoints().is_empty()
    }
}

/// A usable endpoint and its chain, named once.
struct Ep {
    ip: Ipv4Addr,
    port: u16,
    addr: AddrText,
    chain: ChainName,
}

/// Compiles a service's ports. `large` is kube-proxy's large-cluster mode: no comments in
/// the per-endpoint rules, which makes the ruleset much smaller to write and to restore.
pub fn compile_service(snapshot: &ServiceSnapshot, ctx: &Ctx, large: bool) -> CompiledService {
    let svc = snapshot.service();
    let mut out = CompiledService::default();
    SCRATCH.with_borrow_mut(|scratch| {
        let mut name = String::with_capacity(96);
        for view in snapshot.ports() {
            name.clear();
            name.push_str(&svc.name.namespace);
            name.push('/');
            name.push_str(&svc.name.name);
            if !view.port.name.is_empty() {
                name.push(':');
                name.push_str(&view.port.name);
            }
            compile_port(&view, &name, ctx, large, scratch, &mut out.chains);
        }
        out.lines = scratch.lines.clone();
        scratch.lines.clear();
        if scratch.chain.capacity() + scratch.lines.capacity() > Scratch::KEEP {
            *scratch = Scratch::new();
        }
    });
    out
}

/// Writes the port's dispatch lines into `scratch` and pushes its own chains to `chains`.
/// `name` is the port's `ns/name:port`.
fn compile_port(
    view: &PortView,
    name: &str,
    ctx: &Ctx,
    large: bool,
    scratch: &mut Scratch,
    chains: &mut Vec<Arc<Chain>>,
) {
    let proto = view.protocol.as_str();
    let cluster_eps = view.cluster_endpoints();
    let local_eps = view.local_endpoints();
    let hash = hash16(&[name.as_bytes(), proto.as_bytes()]);
    let named = |prefix: &str, used: bool| {
        if used {
            ChainName::new(prefix, &hash)
        } else {
            ChainName::NONE
        }
    };
    let plan = PortPlan {
        view,
        comment: CommentName::new(name),
        large,
        proto,
        svc_chain: named("KUBE-SVC-", !cluster_eps.is_empty()),
        svl_chain: named("KUBE-SVL-", !local_eps.is_empty()),
        ext_chain: named("KUBE-EXT-", view.routes_external_traffic()),
        fw_chain: named("KUBE-FW-", view.filters_load_balancer_sources()),
    };
    write_dispatch(&plan, &mut scratch.lines);
    write_health_check(&plan, &mut scratch.lines);
    if !view.has_endpoints() {
        return;
    }

    // The endpoints either policy uses, each named once, sorted by (ip, port).
    let eps: Vec<Ep> = view
        .reachable_endpoints()
        .iter()
        .map(|e| {
            let addr = AddrText::new(e.ip, e.port);
            Ep {
                ip: e.ip,
                port: e.port,
                addr,
                chain: ChainName::hashed(
                    "KUBE-SEP-",
                    &[name.as_bytes(), proto.as_bytes(), addr.as_bytes()],
                ),
            }
        })
        .collect();
    let lookup = |list: &[ServiceEndpoint]| -> Vec<&Ep> {
        list.iter()
            .filter_map(|e| {
                let i = eps
                    .binary_search_by_key(&(e.ip, e.port), |x| (x.ip, x.port))
                    .ok()?;
                Some(&eps[i])
            })
            .collect()
    };

    let builder = &mut scratch.chain;
    chains.reserve(eps.len() + 3);
    if !plan.ext_chain.is_empty() {
        builder.start(Table::Nat, plan.ext_chain.as_str());
        ext_rules(&plan, ctx, builder);
        chains.push(Arc::new(builder.to_chain()));
    }
    if !plan.fw_chain.is_empty() {
        builder.start(Table::Nat, plan.fw_chain.as_str());
        fw_rules(&plan, ctx, builder);
        chains.push(Arc::new(builder.to_chain()));
    }
    for (chain, list) in [(&plan.svc_chain, cluster_eps), (&plan.svl_chain, local_eps)] {
        if list.is_empty() {
            continue;
        }
        builder.start(Table::Nat, chain.as_str());
        if chain.as_str() == plan.internal_chain() && plan.has_internal() {
            cluster_ip_masquerade(&plan, ctx, builder);
        }
        policy_rules(&plan, ctx, &lookup(list), builder);
        chains.push(Arc::new(builder.to_chain()));
    }
    // ` -m comment --comment "ns/name:port"`, the same in every endpoint chain.
    let sep_comment = if large {
        String::new()
    } else {
        let mut comment = String::with_capacity(24 + name.len());
        plan.comment.push(&mut comment, "", "");
        format!(" {comment}")
    };
    for ep in &eps {
        builder.start(Table::Nat, ep.chain.as_str());
        endpoint_rules(&plan, &sep_comment, ep, builder);
        chains.push(Arc::new(builder.to_chain()));
    }
}

/// `KUBE-EXT-`: entry for external destinations.
fn ext_rules(plan: &PortPlan, ctx: &Ctx, out: &mut ChainBuilder) {
    let mut rule = |before: &str, prefix: &str, after: &str, target: &str| {
        let mut r = out.rule();
        r.push_str(before);
        plan.comment.push(&mut r, prefix, " external destinations");
        r.push_str(after);
        r.push_str(" -j ");
        r.push_str(target);
    };
    let svc_chain = plan.svc_chain.as_str();
    if !plan.view.external_policy_local {
        // Cluster policy may send the packet to another node: masquerade.
        rule("", "masquerade traffic for ", "", KUBE_MARK_MASQ);
    } else {
        // Pods reach external IPs as if through the outside: no policy, no masquerade.
        if let Some(pods) = &ctx.local_pods {
            rule(&pods.alone(), "pod traffic for ", "", svc_chain);
        }
        // The node itself: its source address would not reach back, so masquerade.
        let local = " -m addrtype --src-type LOCAL";
        rule("", "masquerade LOCAL traffic for ", local, KUBE_MARK_MASQ);
        rule("", "route LOCAL traffic for ", local, svc_chain);
    }
    if plan.has_external() {
        let mut r = out.rule();
        r.push_str("-j ");
        r.push_str(plan.external_policy_chain());
    }
}

/// `KUBE-FW-`: the allowed sources go on to `KUBE-EXT-`; the rest falls through to filter
/// `KUBE-PROXY-FIREWALL`, which drops it. When a range holds the node's own IP, so does
/// the load-balancer IP itself: a VIP routed locally loops the node's requests back from it.
fn fw_rules(plan: &PortPlan, ctx: &Ctx, out: &mut ChainBuilder) {
    let addresses = &plan.view.addresses;
    let ext = plan.ext_chain.as_str();
    let mut allow = |source: &str| {
        let mut r = out.rule();
        r.push_str("-s ");
        r.push_str(source);
        plan.comment.push(&mut r, "", " loadbalancer IP");
        r.push_str(" -j ");
        r.push_str(ext);
    };
    for range in addresses.source_ranges {
        allow(&range.to_string());
    }
    if ctx
        .node_ip
        .is_some_and(|ip| plan.view.source_ranges_admit(ip))
    {
        for ip in addresses.load_balancer_ips {
            allow(&format!("{ip}/32"));
        }
    }
    let mut r = out.rule();
    plan.comment.push(
        &mut r,
        "other traffic to ",
        " will be dropped by KUBE-PROXY-FIREWALL",
    );
}

/// The first rule of the cluster-IP chain: masquerade clients that are not pods (they may
/// have routed to this node through another), or everyone with `--masquerade-all`.
fn cluster_ip_masquerade(plan: &PortPlan, ctx: &Ctx, out: &mut ChainBuilder) {
    let none = LocalMatch::default();
    let not_local = match (&ctx.not_local, ctx.masquerade_all) {
        (_, true) => &none,
        (Some(m), false) => m,
        (None, false) => return,
    };
    let mut r = out.rule();
    if !not_local.source.is_empty() {
        r.push_str(&not_local.source);
        r.push(' ');
    }
    let addresses = &plan.view.addresses;
    dest_rule_from(
        &mut r,
        plan,
        addresses.cluster_ip,
        &not_local.interface,
        " cluster IP",
        addresses.port,
        KUBE_MARK_MASQ,
    );
}

/// `KUBE-SVC-` / `KUBE-SVL-`: affinity checks, then the random spread over `eps`.
fn policy_rules(plan: &PortPlan, ctx: &Ctx, eps: &[&Ep], out: &mut ChainBuilder) {
    if let Some(seconds) = plan.view.affinity_seconds {
        for ep in eps {
            let mut r = out.rule();
            if !plan.large {
                plan.comment.push_endpoint(&mut r, &ep.addr);
            }
            push_part(&mut r, "-m recent --rcheck --seconds ");
            push_u32(&mut r, seconds);
            r.push_str(" --reap --name ");
            r.push_str(ep.chain.as_str());
            r.push_str(" --mask 255.255.255.255 --rsource -j ");
            r.push_str(ep.chain.as_str());
        }
    }
    let n = eps.len();
    for (i, ep) in eps.iter().enumerate() {
        let mut r = out.rule();
        if !plan.large {
            plan.comment.push_endpoint(&mut r, &ep.addr);
        }
        if i + 1 < n {
            push_part(&mut r, "-m statistic --mode random --probability ");
            r.push_str(&ctx.probability(n - i));
        }
        push_part(&mut r, "-j ");
        r.push_str(ep.chain.as_str());
    }
}

/// Appends `part`, after a space unless `r` is empty.
fn push_part(r: &mut impl Out, part: &str) {
    if !r.is_empty() {
        r.push(' ');
    }
    r.push_str(part);
}

/// `KUBE-SEP-`: masquerade hairpin traffic (a pod reaching itself), then DNAT. `comment` is
/// empty or starts with a space.
fn endpoint_rules(plan: &PortPlan, comment: &str, ep: &Ep, out: &mut ChainBuilder) {
    {
        let mut hairpin = out.rule();
        hairpin.push_str("-s ");
        push_ip(&mut hairpin, ep.ip);
        hairpin.push_str("/32");
        hairpin.push_str(comment);
        hairpin.push_str(" -j ");
        hairpin.push_str(KUBE_MARK_MASQ);
    }
    let mut dnat = out.rule();
    dnat.push_str("-p ");
    dnat.push_str(plan.proto);
    dnat.push_str(comment);
    if plan.view.affinity_seconds.is_some() {
        dnat.push_str(" -m recent --set --name ");
        dnat.push_str(ep.chain.as_str());
        dnat.push_str(" --mask 255.255.255.255 --rsource");
    }
    dnat.push_str(" -j DNAT --to-destination ");
    ep.addr.push_to(&mut dnat);
}
