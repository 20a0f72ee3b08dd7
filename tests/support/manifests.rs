//! Writes Service and EndpointSlice manifests the way a user would, for `--manifests`.

use std::net::Ipv4Addr;
use std::path::Path;

/// One service port and its target port on the pods.
pub struct Port {
    pub name: &'static str,
    pub protocol: &'static str,
    pub port: u16,
    pub target: u16,
    pub node_port: Option<u16>,
}

pub fn service_yaml(name: &str, cluster_ip: Ipv4Addr, ports: &[Port], extra_spec: &str) -> String {
    let kind = if ports.iter().any(|p| p.node_port.is_some()) {
        "NodePort"
    } else {
        "ClusterIP"
    };
    let mut y = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: demo\nspec:\n  type: {kind}\n  clusterIP: {cluster_ip}\n{extra_spec}  ports:\n"
    );
    for p in ports {
        y += &format!(
            "  - name: {}\n    protocol: {}\n    port: {}\n    targetPort: {}\n",
            p.name, p.protocol, p.port, p.target
        );
        if let Some(np) = p.node_port {
            y += &format!("    nodePort: {np}\n");
        }
    }
    y
}

pub fn slice_yaml(
    service: &str,
    slice: &str,
    ports: &[Port],
    endpoints: &[(Ipv4Addr, &str)],
) -> String {
    let mut y = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {slice}\n  namespace: demo\n  labels:\n    kubernetes.io/service-name: {service}\naddressType: IPv4\nports:\n"
    );
    for p in ports {
        y += &format!(
            "- name: {}\n  protocol: {}\n  port: {}\n",
            p.name, p.protocol, p.target
        );
    }
    y += "endpoints:\n";
    for (ip, node) in endpoints {
        y += &format!(
            "- addresses: [\"{ip}\"]\n  nodeName: {node}\n  conditions:\n    ready: true\n"
        );
    }
    y
}

/// Writes `content` to `dir/file` atomically (temp file + rename), as tools do.
pub fn write(dir: &Path, file: &str, content: &str) {
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, dir.join(file)).unwrap();
}
