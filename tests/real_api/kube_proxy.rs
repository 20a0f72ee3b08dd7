//! Upstream kube-proxy on a second node beside kproxy's, from the same API server: the
//! harness the differential test and the side-by-side benchmark build on. Both nodes have
//! the same topology (pods at the same addresses, each node its own namespaces).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use kproxy::testing::controlplane::proxies::KUBE_PROXY_RBAC;
use kproxy::testing::controlplane::{Proxy, ProxySettings};

use crate::cluster::{Cluster, POD_PORT, pods_slice, reached, svc};
use crate::support::topology::{NODE_NAME, Topology};

const WEB_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

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
    let settings = ProxySettings {
        mode: "iptables".into(),
        node_name: NODE_NAME.into(),
        cluster_cidr: "10.244.0.0/16".into(),
        min_sync_period: Duration::from_millis(100),
        sync_period: Duration::from_secs(30),
        extra: Vec::new(),
    };
    let program = c.cp.binaries().path("kube-proxy");
    let kube_proxy = c.cp.start_proxy(
        Proxy::KubeProxy,
        &program,
        &twin.node,
        &settings,
        dir.path(),
        &[],
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
