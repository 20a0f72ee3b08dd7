//! How this node tells its pods' traffic from other traffic (kube-proxy's
//! `--detect-local-mode` and its `LocalTrafficDetector`), decided once at start and used by
//! both backends wherever a rule depends on it: masquerading off-cluster clients of cluster
//! IPs, and the `externalTrafficPolicy: Local` short-circuit for pods.

use ipnet::Ipv4Net;

/// `--detect-local-mode` / `detectLocalMode` with the setting each mode reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DetectLocalMode {
    /// Sources within `--cluster-cidr` (kube-proxy's default).
    #[default]
    ClusterCidr,
    /// Sources within this Node's `spec.podCIDRs`.
    NodeCidr,
    /// Packets arriving on this bridge (`--pod-bridge-interface`).
    BridgeInterface(String),
    /// Packets arriving on interfaces named with this prefix (`--pod-interface-name-prefix`).
    InterfaceNamePrefix(String),
}

impl DetectLocalMode {
    /// kube-proxy's spelling, for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ClusterCidr => "ClusterCIDR",
            Self::NodeCidr => "NodeCIDR",
            Self::BridgeInterface(_) => "BridgeInterface",
            Self::InterfaceNamePrefix(_) => "InterfaceNamePrefix",
        }
    }
}

/// Which packets come from this node's pods: the decision both backends spell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LocalTraffic {
    /// Nothing tells them apart (no cluster CIDR, or a Node without pod CIDRs):
    /// kube-proxy's no-op detector; the rules that need it are left out.
    #[default]
    Unknown,
    /// Sources within this CIDR.
    FromCidr(Ipv4Net),
    /// Packets whose input interface is this one.
    FromInterface(String),
    /// Packets whose input interface name starts with this prefix.
    FromInterfacePrefix(String),
}

impl LocalTraffic {
    /// `Some(cidr)` as [`LocalTraffic::FromCidr`], `None` as unknown.
    pub fn from_cidr(cidr: Option<Ipv4Net>) -> Self {
        cidr.map_or(Self::Unknown, |c| Self::FromCidr(c.trunc()))
    }

    pub fn is_known(&self) -> bool {
        *self != Self::Unknown
    }

    /// The detector for `mode`, as kube-proxy's `getLocalDetectors` builds it: the first
    /// IPv4 CIDR of the cluster CIDR or of the Node's pod CIDRs (`node_pod_cidrs` is `None`
    /// when no Node object is known), or the interface. Returns a warning when the mode
    /// cannot tell anything apart, or fell back.
    pub fn decide(
        mode: &DetectLocalMode,
        cluster_cidr: Option<Ipv4Net>,
        node_pod_cidrs: Option<&[Ipv4Net]>,
    ) -> (Self, Option<String>) {
        match mode {
            DetectLocalMode::ClusterCidr => {
                let warning = cluster_cidr.is_none().then(|| {
                    "detect-local-mode ClusterCIDR without a cluster CIDR (--cluster-cidr / \
                     clusterCIDR): pod traffic cannot be told apart"
                        .to_string()
                });
                (Self::from_cidr(cluster_cidr), warning)
            }
            DetectLocalMode::NodeCidr => match node_pod_cidrs {
                Some(cidrs) => match cidrs.first() {
                    Some(first) => (Self::FromCidr(first.trunc()), None),
                    None => (
                        Self::Unknown,
                        Some(
                            "detect-local-mode NodeCIDR, but the Node has no IPv4 spec.podCIDRs: \
                             pod traffic cannot be told apart"
                                .to_string(),
                        ),
                    ),
                },
                None => (
                    Self::from_cidr(cluster_cidr),
                    Some(format!(
                        "detect-local-mode NodeCIDR needs this node's Node object, which is not \
                         known here (manifest mode); using the cluster CIDR ({}) instead",
                        cluster_cidr.map_or_else(|| "none".to_string(), |c| c.to_string())
                    )),
                ),
            },
            DetectLocalMode::BridgeInterface(name) => (Self::FromInterface(name.clone()), None),
            DetectLocalMode::InterfaceNamePrefix(prefix) => {
                (Self::FromInterfacePrefix(prefix.clone()), None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn each_mode_decides_as_kube_proxy() {
        let cluster = Some(net("10.244.0.0/16"));
        let pods = [net("10.244.3.0/24"), net("10.250.0.0/24")];
        let decide = |mode, pods| LocalTraffic::decide(&mode, cluster, pods);
        assert_eq!(
            decide(DetectLocalMode::ClusterCidr, Some(&pods[..])),
            (LocalTraffic::FromCidr(net("10.244.0.0/16")), None)
        );
        assert_eq!(
            decide(DetectLocalMode::NodeCidr, Some(&pods[..])),
            (LocalTraffic::FromCidr(net("10.244.3.0/24")), None)
        );
        let (none, warning) = decide(DetectLocalMode::NodeCidr, Some(&[]));
        assert_eq!(none, LocalTraffic::Unknown);
        assert!(warning.unwrap().contains("no IPv4 spec.podCIDRs"));
        let (fallback, warning) = decide(DetectLocalMode::NodeCidr, None);
        assert_eq!(fallback, LocalTraffic::FromCidr(net("10.244.0.0/16")));
        assert!(
            warning
                .unwrap()
                .contains("using the cluster CIDR (10.244.0.0/16)")
        );
        assert_eq!(
            decide(DetectLocalMode::BridgeInterface("cbr0".into()), None),
            (LocalTraffic::FromInterface("cbr0".into()), None)
        );
        assert_eq!(
            decide(DetectLocalMode::InterfaceNamePrefix("veth".into()), None),
            (LocalTraffic::FromInterfacePrefix("veth".into()), None)
        );
        let (unknown, warning) =
            LocalTraffic::decide(&DetectLocalMode::ClusterCidr, None, Some(&pods[..]));
        assert!(!unknown.is_known() && warning.is_some());
    }
}
