//! One service's share of the ruleset: its lines in the shared dispatch chains and its own
//! nat chains (`KUBE-EXT-`, `KUBE-SVC-`, `KUBE-SVL-`, `KUBE-SEP-`), in kube-proxy's layout.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;

use super::Ctx;
use super::text::push_comment3;
use crate::backend::iptables::names::{KUBE_MARK_MASQ, chain_name, hash16};
use crate::backend::iptables::ruleset::{Chain, Table};
use crate::model::{
    ProxyState, Service, ServiceEndpoint, ServicePort, TrafficPolicy, select_endpoints,
};

/// A service compiled on its own; the compiler concatenates the dispatch lines of all
/// services into the shared chains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompiledService {
    /// Rules for nat `KUBE-SERVICES` (cluster, external and load-balancer IPs).
    pub nat_services: Vec<String>,
    /// Rules for nat `KUBE-NODEPORTS`.
    pub nat_nodeports: Vec<String>,
    /// Rules for filter `KUBE-SERVICES` (cluster IPs without endpoints).
    pub filter_services: Vec<String>,
    /// Rules for filter `KUBE-EXTERNAL-SERVICES` (external destinations without endpoints).
    pub filter_external: Vec<String>,
    /// The service's own nat chains.
    pub chains: Vec<Arc<Chain>>,
}

/// How `-s` tells pod traffic from other traffic (kube-proxy's "local detector").
#[derive(Clone, Debug)]
pub enum PodDetector {
    /// No `--cluster-cidr`: pod traffic cannot be told apart.
    None,
    /// `--cluster-cidr 0.0.0.0/0`: everything is pod traffic (iptables cannot say `! -s 0/0`).
    All,
    /// The CIDR, as iptables-save prints it (`10.244.0.0/16`).
    Cidr(String),
}

/// A usable endpoint with the names derived from it, computed once.
struct Ep {
    ip: Ipv4Addr,
    port: u16,
    /// `ip:port`.
    addr: String,
    /// `KUBE-SEP-…`.
    chain: String,
}

/// What a port's filter rules do when it cannot be served.
struct Refusal {
    target: &'static str,
    comment_suffix: &'static str,
}

const REJECT: &str = "REJECT --reject-with icmp-port-unreachable";

pub fn compile_service(svc: &Service, state: &ProxyState, ctx: &Ctx) -> CompiledService {
    let mut out = CompiledService::default();
    for (i, port) in svc.ports.iter().enumerate() {
        // Two ports with the same name and protocol would give the same chains; the model
        // should refuse such a service, but the compiler must never emit a duplicate chain.
        let duplicate = svc.ports[..i]
            .iter()
            .any(|p| p.name == port.name && p.protocol == port.protocol);
        if !duplicate {
            compile_port(svc, port, state, ctx, &mut out);
        }
    }
    out
}

fn compile_port(
    svc: &Service,
    port: &ServicePort,
    state: &ProxyState,
    ctx: &Ctx,
    out: &mut CompiledService,
) {
    let mut name = String::with_capacity(64);
    let _ = write!(name, "{}", svc.name);
    if !port.name.is_empty() {
        name.push(':');
        name.push_str(&port.name);
    }
    let name = name.as_str();
    let proto = port.protocol.as_str();
    let hash = hash16(&[name, proto]);
    let svc_chain = chain_name("KUBE-SVC-", &hash);
    let svl_chain = chain_name("KUBE-SVL-", &hash);
    let ext_chain = chain_name("KUBE-EXT-", &hash);

    let node_port = port.node_port.filter(|&p| p != 0);
    let external =
        node_port.is_some() || !svc.external_ips.is_empty() || !svc.load_balancer_ips.is_empty();
    let itp_local = svc.internal_traffic_policy == TrafficPolicy::Local;
    let etp_local = external && svc.external_traffic_policy == TrafficPolicy::Local;

    let endpoints = state.endpoints(&svc.name, port);
    let selection = select_endpoints(&endpoints);
    // kube-proxy's UsesClusterEndpoints / UsesLocalEndpoints: externally reachable ports
    // need the cluster chain even with Local policy, for the short-circuit rules.
    let uses_cluster = !itp_local || external;
    let uses_local = itp_local || etp_local;
    let cluster_eps: &[ServiceEndpoint] = if uses_cluster {
        &selection.cluster
    } else {
        &[]
    };
    let local_eps: &[ServiceEndpoint] = if uses_local { &selection.local } else { &[] };
    let has_endpoints = !selection.cluster.is_empty();
    let has_internal = has_endpoints && (!itp_local || !local_eps.is_empty());
    let has_external = has_endpoints && (!etp_local || !local_eps.is_empty());
    let internal_chain = if itp_local { &svl_chain } else { &svc_chain };
    let external_policy_chain = if etp_local { &svl_chain } else { &svc_chain };

    let no_endpoints = Refusal {
        target: REJECT,
        comment_suffix: " has no endpoints",
    };
    let no_local = Refusal {
        target: "DROP",
        comment_suffix: " has no local endpoints",
    };
    let internal_refusal = match (has_endpoints, has_internal) {
        (false, _) => Some(&no_endpoints),
        (true, false) => Some(&no_local),
        (true, true) => None,
    };
    let external_refusal = match (has_endpoints, has_external) {
        (false, _) => Some(&no_endpoints),
        (true, false) => Some(&no_local),
        (true, true) => None,
    };

    // Writes `-d IP/32 -p P -m comment --comment "..." -m P --dport N -j TARGET`.
    let dest_rule = |ip: Ipv4Addr, suffix: &str, dport: u16, target: &str| {
        let mut r = String::with_capacity(96 + name.len());
        let _ = write!(r, "-d {ip}/32 -p {proto}");
        push_comment3(&mut r, "", name, suffix);
        let _ = write!(r, " -m {proto} --dport {dport} -j {target}");
        r
    };

    // Cluster IP.
    match internal_refusal {
        None => out.nat_services.push(dest_rule(
            svc.cluster_ip,
            " cluster IP",
            port.port,
            internal_chain,
        )),
        Some(refusal) => out.filter_services.push(dest_rule(
            svc.cluster_ip,
            refusal.comment_suffix,
            port.port,
            refusal.target,
        )),
    }
    // External IPs, then load-balancer IPs.
    for (ips, suffix) in [
        (&svc.external_ips, " external IP"),
        (&svc.load_balancer_ips, " loadbalancer IP"),
    ] {
        for &ip in ips {
            if has_endpoints {
                out.nat_services
                    .push(dest_rule(ip, suffix, port.port, &ext_chain));
            }
            if let Some(refusal) = external_refusal {
                out.filter_external.push(dest_rule(
                    ip,
                    refusal.comment_suffix,
                    port.port,
                    refusal.target,
                ));
            }
        }
    }
    // Node port.
    if let Some(node_port) = node_port {
        if has_endpoints {
            let mut r = String::with_capacity(80 + name.len());
            let _ = write!(r, "-p {proto}");
            push_comment3(&mut r, "", name, "");
            let _ = write!(r, " -m {proto} --dport {node_port} -j {ext_chain}");
            out.nat_nodeports.push(r);
        }
        if let Some(refusal) = external_refusal {
            let mut r = String::with_capacity(120 + name.len());
            let _ = write!(r, "-p {proto}");
            push_comment3(&mut r, "", name, refusal.comment_suffix);
            let _ = write!(
                r,
                " -m addrtype --dst-type LOCAL -m {proto} --dport {node_port} -j {}",
                refusal.target
            );
            out.filter_external.push(r);
        }
    }

    if !has_endpoints {
        return;
    }

    // The endpoints either policy uses, each named once.
    let reachable = union_sorted(cluster_eps, local_eps);
    let eps: Vec<Ep> = reachable
        .iter()
        .map(|e| {
            let mut addr = String::with_capacity(21);
            let _ = write!(addr, "{}:{}", e.ip, e.port);
            let chain = chain_name("KUBE-SEP-", &hash16(&[name, proto, &addr]));
            Ep {
                ip: e.ip,
                port: e.port,
                addr,
                chain,
            }
        })
        .collect();
    let find = |e: &ServiceEndpoint| -> &Ep {
        let i = eps
            .binary_search_by(|x| (x.ip, x.port).cmp(&(e.ip, e.port)))
            .expect("every selected endpoint is in the union");
        &eps[i]
    };

    // KUBE-EXT-: entry for external destinations.
    if external {
        let mut rules = Vec::with_capacity(4);
        if !etp_local {
            let mut r = String::with_capacity(100 + name.len());
            push_comment3(
                &mut r,
                "masquerade traffic for ",
                name,
                " external destinations",
            );
            let _ = write!(r, " -j {KUBE_MARK_MASQ}");
            rules.push(trim(r));
        } else {
            let pod_source = match &ctx.pods {
                PodDetector::None => None,
                PodDetector::All => Some(String::new()),
                PodDetector::Cidr(cidr) => Some(format!("-s {cidr}")),
            };
            if let Some(source) = pod_source {
                let mut r = source;
                push_comment3(&mut r, "pod traffic for ", name, " external destinations");
                let _ = write!(r, " -j {svc_chain}");
                rules.push(trim(r));
            }
            let mut r = String::with_capacity(120 + name.len());
            push_comment3(
                &mut r,
                "masquerade LOCAL traffic for ",
                name,
                " external destinations",
            );
            let _ = write!(r, " -m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}");
            rules.push(trim(r));
            let mut r = String::with_capacity(120 + name.len());
            push_comment3(
                &mut r,
                "route LOCAL traffic for ",
                name,
                " external destinations",
            );
            let _ = write!(r, " -m addrtype --src-type LOCAL -j {svc_chain}");
            rules.push(trim(r));
        }
        if has_external {
            rules.push(format!("-j {external_policy_chain}"));
        }
        out.chains.push(nat_chain(ext_chain.clone(), rules));
    }

    // KUBE-SVC- and KUBE-SVL-: the internal one first masquerades off-cluster clients.
    for (chain, chain_eps) in [(&svc_chain, cluster_eps), (&svl_chain, local_eps)] {
        if chain_eps.is_empty() {
            continue;
        }
        let mut rules = Vec::with_capacity(chain_eps.len() * 2 + 1);
        if chain == internal_chain && has_internal {
            let source = match (&ctx.pods, ctx.masquerade_all) {
                (_, true) => Some(""),
                (PodDetector::Cidr(cidr), false) => Some(cidr.as_str()),
                _ => None,
            };
            if let Some(cidr) = source {
                let mut r = String::with_capacity(120 + name.len());
                if !cidr.is_empty() {
                    let _ = write!(r, "! -s {cidr} ");
                }
                r.push_str(&dest_rule(
                    svc.cluster_ip,
                    " cluster IP",
                    port.port,
                    KUBE_MARK_MASQ,
                ));
                rules.push(r);
            }
        }
        if let Some(timeout) = svc.session_affinity {
            // The kernel refuses `--seconds 0`.
            let seconds = timeout.as_secs().clamp(1, u64::from(u32::MAX));
            for e in chain_eps {
                rules.push(affinity_check(name, find(e), seconds));
            }
        }
        let n = chain_eps.len();
        for (i, e) in chain_eps.iter().enumerate() {
            let ep = find(e);
            let mut r = String::with_capacity(120 + name.len());
            push_comment3(&mut r, name, " -> ", &ep.addr);
            if i + 1 < n {
                r.push_str(" -m statistic --mode random --probability ");
                r.push_str(&ctx.probability(n - i));
            }
            let _ = write!(r, " -j {}", ep.chain);
            rules.push(trim(r));
        }
        out.chains.push(nat_chain(chain.clone(), rules));
    }

    // KUBE-SEP-: hairpin masquerade, then DNAT.
    for ep in &eps {
        let mut hairpin = String::with_capacity(60 + name.len());
        let _ = write!(hairpin, "-s {}/32", ep.ip);
        push_comment3(&mut hairpin, "", name, "");
        let _ = write!(hairpin, " -j {KUBE_MARK_MASQ}");
        let mut dnat = String::with_capacity(140 + name.len());
        let _ = write!(dnat, "-p {proto}");
        push_comment3(&mut dnat, "", name, "");
        if svc.session_affinity.is_some() {
            let _ = write!(
                dnat,
                " -m recent --set --name {} --mask 255.255.255.255 --rsource",
                ep.chain
            );
        }
        let _ = write!(dnat, " -j DNAT --to-destination {}", ep.addr);
        out.chains
            .push(nat_chain(ep.chain.clone(), vec![hairpin, dnat]));
    }
}

fn affinity_check(name: &str, ep: &Ep, seconds: u64) -> String {
    let mut r = String::with_capacity(160 + name.len());
    push_comment3(&mut r, name, " -> ", &ep.addr);
    let _ = write!(
        r,
        " -m recent --rcheck --seconds {seconds} --reap --name {} --mask 255.255.255.255 --rsource -j {}",
        ep.chain, ep.chain
    );
    trim(r)
}

/// Rules built by appending ` -m …` pieces start with a space; iptables-save's do not.
fn trim(mut r: String) -> String {
    if r.starts_with(' ') {
        r.remove(0);
    }
    r
}

fn nat_chain(name: String, rules: Vec<String>) -> Arc<Chain> {
    Arc::new(Chain {
        table: Table::Nat,
        name,
        rules,
    })
}

/// The union of both lists, sorted by (ip, port), each endpoint once.
fn union_sorted<'a>(
    a: &'a [ServiceEndpoint],
    b: &'a [ServiceEndpoint],
) -> Vec<&'a ServiceEndpoint> {
    let mut out: Vec<&ServiceEndpoint> = a.iter().chain(b).collect();
    out.sort_by_key(|e| (e.ip, e.port));
    out.dedup_by_key(|e| (e.ip, e.port));
    out
}
