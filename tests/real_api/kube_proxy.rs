//! Upstream kube-proxy on a second node beside kproxy's, from the same API server: the
//! harness the differential test and the side-by-side benchmark build on. Both nodes have
//! the same topology (pods at the same addresses, each node its own namespaces).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use kproxy::testing::controlplane::Process;

use crate::cluster::{Cluster, POD_PORT, pods_slice, reached, svc};
use crate::support::topology::{NODE_NAME, Topology};

const WEB_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

/// kube-proxy's identity, with the ClusterRole upstream gives it.
const KUBE_PROXY_RBAC: &str = "apiVersion: v1
kind: ServiceAccount
metadata:
  name: kube-proxy
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kube-proxy
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:node-proxier
subjects:
- kind: ServiceAccount
  name: kube-proxy
  namespace: kube-system
";

#[test]
fn kube_proxy_on_a_second_node_routes_like_kproxy() {
    let Some(mut c) = Cluster::new(Default::default()) else {
        return;
    };
    c.apply_rbac();
    c.cp.admin().apply_manifest(KUBE_PROXY_RBAC);
    c.cp.admin().apply(&svc("web", WEB_IP, 80));
    c.cp.admin().apply(&pods_slice("web-1", "web", &[0, 1, 2]));
    c.start_kproxy();

    let twin = Topology::new(3, &[POD_PORT]);
    c.cp.attach(&twin.node);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kube-proxy.kubeconfig");
    c.cp.service_account_kubeconfig("kube-system", "kube-proxy", &kubeconfig);
    let args: Vec<String> = [
        "--proxy-mode=iptables",
        &format!("--kubeconfig={}", kubeconfig.display()),
        &format!("--hostname-override={NODE_NAME}"),
        "--cluster-cidr=10.244.0.0/16",
        "--iptables-min-sync-period=100ms",
        // Conntrack limits and timeouts are the host's, not a namespace's to set.
        "--conntrack-max-per-core=0",
        "--conntrack-tcp-timeout-established=0",
        "--conntrack-tcp-timeout-close-wait=0",
        "--oom-score-adj=0",
        "--metrics-bind-address=127.0.0.1:10249",
        "--healthz-bind-address=127.0.0.1:10256",
    ]
    .map(String::from)
    .to_vec();
    let log = dir.path().join("kube-proxy.log");
    let kube_proxy = Process::start(
        &twin.node.name,
        &c.cp.binaries().path("kube-proxy"),
        &args,
        &log,
    );

    c.wait_traffic(WEB_IP, 80, &[0, 1, 2]);
    let all: std::collections::BTreeSet<String> = (0..3).map(|i| format!("pod-{i}")).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while reached(&twin, WEB_IP, 80).as_ref() != Some(&all) {
        kube_proxy.assert_running();
        assert!(
            Instant::now() < deadline,
            "kube-proxy's node never reached web's pods\nrules:\n{}\nkube-proxy log:\n{}",
            twin.node.iptables_save(&[]),
            kube_proxy.log_tail(60)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The same chain names and comments on both nodes.
    let theirs = twin.node.iptables_save(&["-t", "nat"]);
    let ours = c.topo.node.iptables_save(&["-t", "nat"]);
    for chain in [
        "KUBE-SERVICES",
        "KUBE-SVC-",
        "KUBE-SEP-",
        "\"demo/web:http cluster IP\"",
    ] {
        assert!(
            theirs.contains(chain),
            "kube-proxy has no {chain}:\n{theirs}"
        );
        assert!(ours.contains(chain), "kproxy has no {chain}:\n{ours}");
    }
    let refused: Vec<_> =
        c.cp.audit_of("kube-system", "kube-proxy")
            .into_iter()
            .filter(|e| matches!(e.code, Some(401 | 403)))
            .collect();
    assert!(refused.is_empty(), "{refused:#?}");
}
