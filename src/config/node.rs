//! The settings that depend on this node, completed once at start from its Node object
//! (API source, or the directory's Node of this name in manifest mode) or, in manifest mode
//! without one, the host: `--nodeport-addresses primary` and
//! `--detect-local-mode NodeCIDR`. As kube-proxy, which reads the Node once when it
//! starts (`NodeManager`), a later change of the Node takes a restart.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::Config;
use crate::model::{DetectLocalMode, LocalTraffic, NodeInfo};

/// kube-proxy's warning (`checkBadConfig`) when NodePorts answer on every local address.
pub const NODE_PORT_ADDRESSES_UNSET: &str = "nodePortAddresses is unset; NodePort connections \
     will be accepted on all local IPs. Consider using `--nodeport-addresses primary`";

impl Config {
    /// Whether [`Config::resolve_node`] wants the Node object (the API source then reads it
    /// before the first sync), and whether it must wait for the Node's pod CIDRs.
    pub fn needs_node(&self) -> (bool, bool) {
        let pod_cidrs = self.detect_local_mode == DetectLocalMode::NodeCidr;
        (self.nodeport_primary || pod_cidrs, pod_cidrs)
    }

    /// Completes the node-dependent settings; returns the warnings to log. `node` is this
    /// node's Node object (`None` when it could not be read, or a manifest directory has none);
    /// `host_addresses` are the host's own addresses (outside kube-ipvs0).
    ///
    /// `primary` becomes the Node's first IPv4 address (kube-proxy's node IP), or, without
    /// a Node object, every non-loopback host address; a loopback or missing one adds
    /// nothing, as upstream. The detector is decided from the mode ([`LocalTraffic::decide`]).
    pub fn resolve_node(
        &mut self,
        node: Option<&NodeInfo>,
        host_addresses: &[Ipv4Addr],
    ) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.nodeport_primary {
            let primary: Vec<Ipv4Addr> = match node {
                Some(node) => node.addresses.first().copied().into_iter().collect(),
                None => host_addresses.to_vec(),
            };
            let primary: Vec<Ipv4Net> = primary
                .into_iter()
                .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
                .map(|ip| Ipv4Net::new(ip, 32).expect("/32"))
                .collect();
            if primary.is_empty() {
                warnings.push(
                    "nodePortAddresses 'primary': no node IP is known (no address on the Node \
                     object or the host)"
                        .to_string(),
                );
            }
            for net in primary {
                if !self.nodeport_addresses.contains(&net) {
                    self.nodeport_addresses.push(net);
                }
            }
            self.nodeport_primary = false;
        }
        if self.nodeport_addresses.is_empty() {
            warnings.push(NODE_PORT_ADDRESSES_UNSET.to_string());
        }
        let loopback: Ipv4Net = "127.0.0.0/8".parse().expect("a CIDR");
        let lists_loopback = self
            .nodeport_addresses
            .iter()
            .any(|n| n.prefix_len() > 0 && (n.contains(&loopback) || loopback.contains(n)));
        if lists_loopback && !self.iptables.localhost_node_ports {
            warnings.push(
                "--nodeport-addresses includes localhost but --iptables-localhost-nodeports=false \
                 was passed: no NodePorts on loopback addresses"
                    .to_string(),
            );
        }
        let pod_cidrs = node.map(|n| n.pod_cidrs.as_slice());
        let (local, warning) =
            LocalTraffic::decide(&self.detect_local_mode, self.cluster_cidr, pod_cidrs);
        warnings.extend(warning);
        self.local_traffic = local;
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Config {
        let mut all = vec!["kproxy", "--proxy-mode=iptables"];
        if !args.iter().any(|a| a.starts_with("--cluster-cidr")) {
            all.push("--cluster-cidr=10.0.0.0/8");
        }
        all.extend_from_slice(args);
        crate::config::load(all).unwrap()
    }

    fn node(addresses: &[Ipv4Addr], pod_cidrs: &[&str]) -> NodeInfo {
        NodeInfo {
            name: "n1".into(),
            addresses: addresses.to_vec(),
            pod_cidrs: pod_cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            ..NodeInfo::default()
        }
    }

    const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
    const HOST: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 168, 1, 2), Ipv4Addr::new(10, 1, 0, 1)];

    #[test]
    fn primary_is_the_node_ip_or_the_host_addresses() {
        let mut c = config(&["--nodeport-addresses=primary,10.9.0.0/16"]);
        assert_eq!(c.needs_node(), (true, false));
        let warnings = c.resolve_node(Some(&node(&[NODE_IP, HOST[0]], &[])), &HOST);
        assert!(warnings.is_empty(), "{warnings:?}");
        let nets = |s: &[&str]| -> Vec<Ipv4Net> { s.iter().map(|n| n.parse().unwrap()).collect() };
        assert_eq!(c.nodeport_addresses, nets(&["10.9.0.0/16", "10.0.0.5/32"]));

        let mut manifest = config(&["--nodeport-addresses=primary"]);
        manifest.resolve_node(None, &HOST);
        assert_eq!(
            manifest.nodeport_addresses,
            nets(&["192.168.1.2/32", "10.1.0.1/32"])
        );

        let mut bound = config(&["--nodeport-addresses=primary", "--bind-address=10.0.0.7"]);
        assert_eq!(bound.needs_node(), (false, false));
        bound.resolve_node(None, &HOST);
        assert_eq!(bound.nodeport_addresses, nets(&["10.0.0.7/32"]));
    }

    #[test]
    fn unset_or_empty_node_port_addresses_draw_kube_proxys_warning() {
        let mut c = config(&[]);
        assert_eq!(c.needs_node(), (false, false));
        assert_eq!(c.resolve_node(None, &HOST), [NODE_PORT_ADDRESSES_UNSET]);
        let mut c = config(&["--nodeport-addresses=primary"]);
        let warnings = c.resolve_node(Some(&node(&[], &[])), &HOST);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(c.nodeport_addresses.is_empty());
    }

    #[test]
    fn node_cidr_reads_the_pod_cidrs_and_falls_back_without_a_node() {
        let flags = [
            "--detect-local-mode=NodeCIDR",
            "--cluster-cidr=10.244.0.0/16",
        ];
        let mut c = config(&flags);
        assert_eq!(c.needs_node(), (true, true));
        c.resolve_node(Some(&node(&[NODE_IP], &["10.244.7.0/24"])), &HOST);
        assert_eq!(
            c.local_traffic,
            LocalTraffic::FromCidr("10.244.7.0/24".parse().unwrap())
        );
        let mut manifest = config(&flags);
        let warnings = manifest.resolve_node(None, &HOST);
        assert_eq!(
            manifest.local_traffic,
            LocalTraffic::FromCidr("10.244.0.0/16".parse().unwrap())
        );
        assert!(
            warnings.iter().any(|w| w.contains("NodeCIDR")),
            "{warnings:?}"
        );
    }

    #[test]
    fn interface_modes_need_their_interface() {
        let mut c = config(&[
            "--detect-local-mode=BridgeInterface",
            "--pod-bridge-interface=cbr0",
        ]);
        c.resolve_node(None, &HOST);
        assert_eq!(c.local_traffic, LocalTraffic::FromInterface("cbr0".into()));
        let mut c = config(&[
            "--detect-local-mode=InterfaceNamePrefix",
            "--pod-interface-name-prefix=veth",
        ]);
        c.resolve_node(None, &HOST);
        assert_eq!(
            c.local_traffic,
            LocalTraffic::FromInterfacePrefix("veth".into())
        );
        let load = |args: &[&str]| {
            let mut all = vec!["kproxy"];
            all.extend_from_slice(args);
            crate::config::load(all)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        assert!(load(&["--detect-local-mode=BridgeInterface"]).contains("--pod-bridge-interface"));
        assert!(load(&["--detect-local-mode=Nope"]).contains("--detect-local-mode"));
    }

    #[test]
    fn localhost_node_ports_default_to_true() {
        assert!(config(&[]).iptables.localhost_node_ports);
        assert!(
            !config(&["--iptables-localhost-nodeports=false"])
                .iptables
                .localhost_node_ports
        );
        let mut c = config(&[
            "--iptables-localhost-nodeports=false",
            "--nodeport-addresses=localhost,10.0.0.0/8",
        ]);
        let warnings = c.resolve_node(None, &HOST);
        assert!(
            warnings.iter().any(|w| w.contains("includes localhost")),
            "{warnings:?}"
        );
    }
}
