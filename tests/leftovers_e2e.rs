//! Another proxy mode's leftovers, with the real binary in network namespaces: kproxy in
//! iptables mode removes, after its first sync, what an IPVS-mode and an nftables-mode
//! kube-proxy left on the node (IPVS-only chains and the jumps into them, the ipsets they
//! match, the `kube-proxy` nftables tables); `--cleanup` removes the nftables
//! tables too. IPVS virtual servers and kube-ipvs0 need the VM
//! (tests/vm/run-ipvs-tests.sh), where a node first run by IPVS mode is taken over.

mod ipvs;
mod support;

use std::path::Path;
use std::time::Duration;

use ipvs::ipvs_available;
use ipvs::ipvsadm::ipvsadm;
use kproxy::nftables::client::NftHandle;
use kproxy::nftables::{Batch, Chain, Family, Hook, NftMessage, Table, priority};
use support::e2e::{Setup, WEB_IP, left_after_cleanup, write_web_and_shared_services};
use support::kproxy::{eventually, run_once, start_on_node};
use support::netns::{Netns, netns_available};

const WAIT: Duration = Duration::from_secs(20);

/// nftables mode's tables as kube-proxy makes them: one per family, each with a base chain
/// hooked into prerouting and a regular one.
fn leave_nftables_tables(node: &Netns) {
    let mut nft = node.run_in(NftHandle::new).expect("nf_tables handle");
    let mut batch = Batch::new();
    for family in [Family::Ip, Family::Ip6] {
        batch.push(NftMessage::NewTable(Table::new(family, "kube-proxy")));
        batch.push(NftMessage::NewChain(
            Chain::new(family, "kube-proxy", "nat-prerouting").base(
                "nat",
                Hook::Prerouting,
                priority::DSTNAT,
            ),
        ));
        batch.push(NftMessage::NewChain(Chain::new(
            family,
            "kube-proxy",
            "services",
        )));
    }
    nft.commit(&batch)
        .expect("creating kube-proxy's nftables tables");
    assert_eq!(kube_proxy_tables(node), 2);
}

fn kube_proxy_tables(node: &Netns) -> usize {
    node.exec_stdout(&["nft", "list", "tables"])
        .lines()
        .filter(|l| l.trim_end().ends_with(" kube-proxy"))
        .count()
}

/// What an IPVS-mode kube-proxy leaves besides virtual servers and kube-ipvs0 (the host
/// kernel has neither IPVS nor dummy links; the VM tests have): its sets, and its own
/// chains matching them, jumped into from built-in and shared chains.
fn leave_ipvs_state(node: &Netns) {
    node.exec(&["ipset", "create", "KUBE-CLUSTER-IP", "hash:ip,port"]);
    node.exec(&["ipset", "create", "KUBE-LOAD-BALANCER", "hash:ip,port"]);
    let nat = "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-LOAD-BALANCER - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n\
        -A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
        -A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\n\
        -A KUBE-SERVICES -j KUBE-LOAD-BALANCER\n\
        -A KUBE-LOAD-BALANCER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-MARK-MASQ\n\
        COMMIT\n";
    let filter = "*filter\n:KUBE-IPVS-FILTER - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n\
        -A INPUT -m comment --comment \"kubernetes ipvs access filter\" -j KUBE-IPVS-FILTER\n\
        -A INPUT -j KUBE-PROXY-FIREWALL\n\
        -A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN\n\
        COMMIT\n";
    node.iptables_restore(&["--noflush"], nat).unwrap();
    node.iptables_restore(&["--noflush"], filter).unwrap();
    assert!(ipsets(node).contains("KUBE-CLUSTER-IP"));
}

fn has_kube_ipvs0(node: &Netns) -> bool {
    String::from_utf8_lossy(&node.ip(&["-o", "link", "show"]).stdout).contains(" kube-ipvs0:")
}

fn ipsets(node: &Netns) -> String {
    node.exec_stdout(&["ipset", "list", "-n"])
}

#[test]
fn iptables_mode_removes_ipvs_and_nftables_leftovers_and_cleanup_the_tables() {
    if !netns_available(&[]) {
        return;
    }
    let start = |node: &Netns, dir: &Path| {
        leave_nftables_tables(node);
        leave_ipvs_state(node);
        start_on_node(
            node,
            dir,
            &["--proxy-mode=iptables", "--min-sync-period", "100ms"],
        )
    };
    let Setup { topo, dir, kproxy } = Setup::start(write_web_and_shared_services, start, WAIT);
    let node = &topo.node;
    eventually(WAIT, "the other modes' leftovers to go", || {
        let save = node.iptables_save(&[]);
        let gone = kube_proxy_tables(node) == 0
            && ipsets(node).trim().is_empty()
            && !save.contains("KUBE-LOAD-BALANCER")
            && !save.contains("KUBE-IPVS-FILTER")
            // The chain is iptables mode's too (as kube-proxy's); IPVS mode's jump is not.
            && !save.contains("-A INPUT -j KUBE-PROXY-FIREWALL");
        gone.then_some(())
    });
    // kproxy's own rules stayed.
    let save = node.iptables_save(&[]);
    assert!(save.contains("KUBE-SVC-"), "{save}");
    assert!(
        kproxy
            .log_text()
            .contains("removed other proxy modes' leftovers")
    );
    kproxy.stop();

    leave_nftables_tables(node);
    run_once(&["--cleanup", "--netns", &node.name]);
    assert_eq!(kube_proxy_tables(node), 0);
    let after = node.iptables_save(&[]);
    assert!(
        left_after_cleanup(&after).is_empty(),
        "left behind:\n{after}"
    );
    drop(dir);
}

/// In the VM: a node IPVS mode programmed (virtual servers, kube-ipvs0, sets, its chains)
/// is taken over by iptables mode, which leaves nothing of IPVS mode behind and serves.
#[test]
fn iptables_mode_takes_over_a_node_ipvs_mode_programmed() {
    if !ipvs_available() {
        return;
    }
    let ipvs_mode = |node: &Netns, dir: &Path| {
        let args = [
            "--proxy-mode=ipvs",
            "--nodeport-addresses",
            "192.168.100.0/24",
            "--ipvs-min-sync-period",
            "100ms",
        ];
        start_on_node(node, dir, &args)
    };
    let Setup { topo, dir, kproxy } = Setup::start(write_web_and_shared_services, ipvs_mode, WAIT);
    let node = &topo.node;
    assert!(has_kube_ipvs0(node));
    assert!(ipvsadm(&node.name, &["-Ln"]).contains("10.96.0.10:80"));
    assert!(ipsets(node).contains("KUBE-CLUSTER-IP"));
    kproxy.stop();

    let iptables_mode = start_on_node(
        node,
        dir.path(),
        &["--proxy-mode=iptables", "--min-sync-period", "100ms"],
    );
    eventually(WAIT, "IPVS mode's state to go", || {
        let save = node.iptables_save(&[]);
        // The listing's header has no protocol; a virtual server line starts with one.
        let listing = ipvsadm(&node.name, &["-Ln"]);
        let gone = !listing.contains("TCP")
            && !listing.contains("UDP")
            && !has_kube_ipvs0(node)
            && ipsets(node).trim().is_empty()
            && !save.contains("KUBE-NODE-PORT ")
            && !save.contains("KUBE-LOAD-BALANCER")
            && !save.contains("KUBE-IPVS-FILTER");
        gone.then_some(())
    });
    let setup = Setup {
        topo,
        dir,
        kproxy: iptables_mode,
    };
    setup.wait_for_service(WEB_IP, 80, WAIT);
}
