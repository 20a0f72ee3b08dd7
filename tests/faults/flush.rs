//! The whole nat table flushed by hand (`iptables -t nat -F`, then also `-X`): the next
//! resync sees another writer and repairs it, to the rules it had before.

use std::time::Instant;

use super::figure;
use super::node::{WAIT, diff, sorted_rules, topology, wait_for_web, write_web};
use crate::support::kproxy::start_on_node;
use crate::support::metrics::wait_for_syncs;
use crate::support::netns::netns_available;

#[test]
fn a_nat_table_flushed_by_hand_is_repaired_to_what_it_was() {
    if !netns_available(&[]) {
        return;
    }
    let topo = topology();
    let node = &topo.node;
    let dir = tempfile::tempdir().unwrap();
    write_web(dir.path());
    let args = ["--proxy-mode=iptables", "--sync-period", "1s"];
    let _kproxy = start_on_node(node, dir.path(), &args);
    wait_for_syncs(node, "the first sync", WAIT, |s| s.full >= 1);
    let client = &topo.pods[0].ns;
    wait_for_web(client);
    let before = sorted_rules(node);

    for (what, commands) in [
        ("iptables -t nat -F", &[&["-F"][..]][..]),
        (
            "iptables -t nat -F; iptables -t nat -X",
            &[&["-F"][..], &["-X"][..]][..],
        ),
    ] {
        let repairs = wait_for_syncs(node, "counters", WAIT, |_| true).drift_repairs;
        let started = Instant::now();
        for args in commands {
            let mut cmd = vec!["iptables", "-t", "nat"];
            cmd.extend_from_slice(args);
            node.exec(&cmd);
        }
        wait_for_syncs(node, "the repair", WAIT, |s| s.drift_repairs > repairs);
        let took = started.elapsed();
        wait_for_web(client);
        let after = sorted_rules(node);
        assert!(
            after == before,
            "{what}: not repaired:\n{}",
            diff(&before, &after).join("\n")
        );
        figure(&format!(
            "{what} by hand, sync period 1 s: repaired in {:.1} s to the rules it had",
            took.as_secs_f64()
        ));
    }
}
