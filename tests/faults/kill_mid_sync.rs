//! kill -9 in the middle of a large first sync, then a restart: the kernel ends up exactly
//! as after a clean run, and a service programmed before keeps answering throughout.

use std::path::Path;
use std::time::Instant;

use kproxy::testing::scale::{Cluster, ScaleSpec};

use super::node::{
    WAIT, diff, once_args, sorted_rules, topology, wait_for_web, web_answers, write_web,
};
use super::{figure, scale};
use crate::support::fake_restore::FakeRestore;
use crate::support::kproxy::{eventually, run_once, start_on_node_with_env};
use crate::support::netns::{Netns, netns_available};

/// An `iptables-restore` that passes the first `pass` writes to the real tool and hangs on
/// the next one (after reading its input), so a kill lands between two batches of a first
/// sync at a known point.
fn hang_after(pass: usize) -> FakeRestore {
    // Only writes count (kproxy also asks `iptables-restore --version`).
    FakeRestore::new(&format!(
        "case \" $* \" in *\" --version \"*|*\" -V \"*) exec $REAL \"$@\" ;; esac\n\
         n=$(cat $DIR/count 2>/dev/null || echo 0); echo $((n+1)) > $DIR/count\n\
         if [ \"$n\" -ge {pass} ]; then cat > /dev/null; hang; fi"
    ))
}

fn write_cluster(dir: &Path, services: usize) {
    let spec = ScaleSpec {
        services,
        endpoints_per_service: 10,
    };
    Cluster::generate(spec)
        .write_manifests(dir)
        .expect("writing manifests");
}

fn chains(rules: &[String]) -> usize {
    rules.iter().filter(|l| l.starts_with(":KUBE-")).count()
}

#[test]
fn kill_9_during_a_large_first_sync_then_a_restart_ends_as_a_clean_run() {
    if !netns_available(&[]) {
        return;
    }
    let services = scale(1_000, 5_000);
    let topo = topology();
    let dir = tempfile::tempdir().unwrap();
    write_web(dir.path());
    // web is programmed first, by an earlier run.
    run_once(&once_args(&topo.node, dir.path()));
    let client = &topo.pods[0].ns;
    wait_for_web(client);

    write_cluster(dir.path(), services);
    let reference = Netns::new("clean");
    run_once(&once_args(&reference, dir.path()));
    let clean = sorted_rules(&reference);

    // About half the first sync's batches (250 chains each, ~15 chains a service) reach
    // the kernel; the next one hangs, and kproxy dies.
    let hang = hang_after(services * 15 / 250 / 2);
    let path = hang.path();
    let mut kproxy = start_on_node_with_env(
        &topo.node,
        dir.path(),
        &["--proxy-mode=iptables"],
        &[("PATH", &path)],
    );
    eventually(WAIT, "the first sync's hanging restore", || {
        kproxy.assert_running();
        hang.hanging()
    });
    drop(kproxy); // kill -9
    drop(hang);
    let partial = sorted_rules(&topo.node);
    assert!(
        chains(&partial) > chains(&clean) / 4 && chains(&partial) < chains(&clean),
        "not killed mid-sync: {} of {} chains",
        chains(&partial),
        chains(&clean)
    );
    assert!(web_answers(client), "web stopped answering after the kill");

    let started = Instant::now();
    run_once(&once_args(&topo.node, dir.path()));
    let took = started.elapsed();
    let after = sorted_rules(&topo.node);
    assert!(
        after == clean,
        "differs from a clean run:\n{}",
        diff(&clean, &after).join("\n")
    );
    assert!(
        web_answers(client),
        "web stopped answering after the restart"
    );
    figure(&format!(
        "kill -9 mid first sync at {services} services ({} of {} chains written): \
         restart converged in {:.1} s, sorted iptables-save diff vs a clean run empty",
        chains(&partial),
        chains(&clean),
        took.as_secs_f64()
    ));
}
