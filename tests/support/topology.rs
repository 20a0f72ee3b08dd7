//! The address plan of the kernel tests: one node, pods on veth pairs, one outside client.
//!
//! ```text
//!  client ns  192.168.100.2 ──veth── 192.168.100.1  node ns  10.244.1.1 ──veth── pod-i 10.244.1.(2+i)
//! ```
//! Pods route everything to the node; the node routes pods by /32 and everything else to
//! the client, so node-originated service traffic has a route before DNAT. Nothing leaves
//! these namespaces.

use std::net::Ipv4Addr;

use super::echo::EchoServer;
use super::netns::Netns;

pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 1);
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 2);
pub const NODE_POD_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 1);
pub const NODE_NAME: &str = "node-1";

pub fn pod_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 1, 2 + i as u8)
}

pub struct Pod {
    pub name: String,
    pub ip: Ipv4Addr,
    pub ns: Netns,
    _servers: Vec<EchoServer>,
}

pub struct Topology {
    pub node: Netns,
    pub client: Netns,
    pub pods: Vec<Pod>,
}

impl Topology {
    /// A node with `pods` pods, each serving TCP and UDP on every port in `ports`.
    pub fn new(pods: usize, ports: &[u16]) -> Self {
        let node = Netns::new("node");
        node.sysctl("net.ipv4.ip_forward", "1");
        // The node routes the client's traffic back out the client's link; the ICMP
        // redirects that would cause use up the per-host ICMP budget that REJECT needs.
        node.sysctl("net.ipv4.conf.all.send_redirects", "0");
        node.sysctl("net.ipv4.conf.default.send_redirects", "0");
        let client = Netns::new("client");
        node.ip(&[
            "link",
            "add",
            "kp-client",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &client.name,
        ]);
        node.ip(&["addr", "add", &format!("{NODE_IP}/24"), "dev", "kp-client"]);
        node.ip(&["link", "set", "kp-client", "up"]);
        client.ip(&["addr", "add", &format!("{CLIENT_IP}/24"), "dev", "eth0"]);
        client.ip(&["link", "set", "eth0", "up"]);
        client.ip(&["route", "add", "default", "via", &NODE_IP.to_string()]);
        node.ip(&["route", "add", "default", "via", &CLIENT_IP.to_string()]);

        let pods = (0..pods)
            .map(|i| {
                let name = format!("pod-{i}");
                let ip = pod_ip(i);
                let ns = Netns::new(&name);
                let host_if = format!("kp-pod{i}");
                node.ip(&[
                    "link", "add", &host_if, "type", "veth", "peer", "name", "eth0", "netns",
                    &ns.name,
                ]);
                node.ip(&[
                    "addr",
                    "add",
                    &format!("{NODE_POD_GATEWAY}/32"),
                    "dev",
                    &host_if,
                ]);
                node.ip(&["link", "set", &host_if, "up"]);
                node.ip(&["route", "add", &format!("{ip}/32"), "dev", &host_if]);
                ns.ip(&["addr", "add", &format!("{ip}/32"), "dev", "eth0"]);
                ns.ip(&["link", "set", "eth0", "up"]);
                ns.ip(&["route", "add", &NODE_POD_GATEWAY.to_string(), "dev", "eth0"]);
                ns.ip(&[
                    "route",
                    "add",
                    "default",
                    "via",
                    &NODE_POD_GATEWAY.to_string(),
                ]);
                let servers = ports
                    .iter()
                    .map(|p| EchoServer::start(&ns, &name, ip, *p))
                    .collect();
                Pod {
                    name,
                    ip,
                    ns,
                    _servers: servers,
                }
            })
            .collect();
        Self { node, client, pods }
    }
}
