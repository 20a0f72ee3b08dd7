//! A service port's lines in the shared chains: nat `KUBE-SERVICES` / `KUBE-NODEPORTS`
//! capture its addresses; filter `KUBE-SERVICES` / `KUBE-EXTERNAL-SERVICES` refuse what
//! cannot be served, so clients fail at once instead of timing out.

use std::net::Ipv4Addr;

use super::numbers::{push_ip, push_u32};
use super::service::{DispatchLines, PortPlan};
use super::text::Out;

/// What a port's filter rules do when traffic cannot be served.
#[derive(Clone, Copy)]
struct Refusal {
    target: &'static str,
    comment_suffix: &'static str,
}

/// No endpoint anywhere: "connection refused".
const NO_ENDPOINTS: Refusal = Refusal {
    target: "REJECT --reject-with icmp-port-unreachable",
    comment_suffix: " has no endpoints",
};
/// Endpoints exist, but not on this node while policy is Local: kube-proxy drops.
const NO_LOCAL_ENDPOINTS: Refusal = Refusal {
    target: "DROP",
    comment_suffix: " has no local endpoints",
};

fn refusal(has_endpoints: bool, served: bool) -> Option<Refusal> {
    match (has_endpoints, served) {
        (false, _) => Some(NO_ENDPOINTS),
        (true, false) => Some(NO_LOCAL_ENDPOINTS),
        (true, true) => None,
    }
}

pub fn write_dispatch(plan: &PortPlan, out: &mut DispatchLines) {
    let addresses = &plan.view.addresses;
    let port = addresses.port;
    let has_endpoints = plan.view.has_endpoints();
    let external_refusal = refusal(has_endpoints, plan.has_external());

    match refusal(has_endpoints, plan.has_internal()) {
        None => dest_rule(
            &mut out.nat_services.rule(),
            plan,
            addresses.cluster_ip,
            " cluster IP",
            port,
            plan.internal_chain(),
        ),
        Some(r) => dest_rule(
            &mut out.filter_services.rule(),
            plan,
            addresses.cluster_ip,
            r.comment_suffix,
            port,
            r.target,
        ),
    }
    for (ips, suffix, target) in [
        (
            addresses.external_ips,
            " external IP",
            plan.ext_chain.as_str(),
        ),
        (
            addresses.load_balancer_ips,
            " loadbalancer IP",
            plan.load_balancer_chain(),
        ),
    ] {
        for &ip in ips {
            if has_endpoints {
                dest_rule(&mut out.nat_services.rule(), plan, ip, suffix, port, target);
            }
            if let Some(r) = external_refusal {
                let rule = &mut out.filter_external.rule();
                dest_rule(rule, plan, ip, r.comment_suffix, port, r.target);
            }
        }
    }
    if !plan.fw_chain.is_empty() {
        // What the `KUBE-FW-` chain did not DNAT comes from outside the source ranges.
        let suffix = format!(" traffic not accepted by {}", plan.fw_chain.as_str());
        for &ip in addresses.load_balancer_ips {
            let rule = &mut out.filter_firewall.rule();
            dest_rule(rule, plan, ip, &suffix, port, "DROP");
        }
    }
    if let Some(node_port) = addresses.node_port {
        if has_endpoints {
            let target = plan.ext_chain.as_str();
            node_port_rule(
                &mut out.nat_nodeports.rule(),
                plan,
                "",
                "",
                node_port,
                target,
            );
        }
        if let Some(r) = external_refusal {
            node_port_rule(
                &mut out.filter_external.rule(),
                plan,
                r.comment_suffix,
                " -m addrtype --dst-type LOCAL",
                node_port,
                r.target,
            );
        }
    }
}

/// Lets a health-check node port in, whether or not this node has endpoints (one rule
/// per service port, as kube-proxy writes them).
pub fn write_health_check(plan: &PortPlan, out: &mut DispatchLines) {
    if let Some(port) = plan.view.health_check_node_port {
        let r = &mut out.filter_nodeports.rule();
        r.push_str("-p tcp");
        plan.comment.push(r, "", " health check node port");
        push_dport_target(r, "tcp", port, "ACCEPT");
    }
}

/// Appends `-d IP/32 -p P -m comment --comment "<name><suffix>" -m P --dport N -j TARGET`.
pub fn dest_rule(
    r: &mut impl Out,
    plan: &PortPlan,
    ip: Ipv4Addr,
    suffix: &str,
    dport: u16,
    target: &str,
) {
    dest_rule_from(r, plan, ip, "", suffix, dport, target);
}

/// [`dest_rule`] with an input-interface match (`-i cbr0`, or empty) after `-d`, where
/// iptables-save prints it.
pub fn dest_rule_from(
    r: &mut impl Out,
    plan: &PortPlan,
    ip: Ipv4Addr,
    interface: &str,
    suffix: &str,
    dport: u16,
    target: &str,
) {
    r.push_str("-d ");
    push_ip(r, ip);
    r.push_str("/32");
    if !interface.is_empty() {
        r.push(' ');
        r.push_str(interface);
    }
    r.push_str(" -p ");
    r.push_str(plan.proto);
    plan.comment.push(r, "", suffix);
    push_dport_target(r, plan.proto, dport, target);
}

/// `-p P -m comment --comment "<name><suffix>"<matches> -m P --dport N -j TARGET`.
fn node_port_rule(
    r: &mut impl Out,
    plan: &PortPlan,
    suffix: &str,
    matches: &str,
    dport: u16,
    target: &str,
) {
    r.push_str("-p ");
    r.push_str(plan.proto);
    plan.comment.push(r, "", suffix);
    r.push_str(matches);
    push_dport_target(r, plan.proto, dport, target);
}

fn push_dport_target(r: &mut impl Out, proto: &str, dport: u16, target: &str) {
    r.push_str(" -m ");
    r.push_str(proto);
    r.push_str(" --dport ");
    push_u32(r, dport.into());
    r.push_str(" -j ");
    r.push_str(target);
}
