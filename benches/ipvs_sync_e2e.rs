//! End-to-end IPVS-mode syncs against a real IPVS kernel, in throwaway network namespaces
//! (loopback up, a dummy `eth0` with the node address), at 1k/5k/10k services × 10
//! endpoints: a cold full sync, a warm full resync (nothing changed), incremental syncs of
//! one replaced endpoint and of one added service — and, on the same configuration, the
//! floor: `ipvsadm -R` of the same virtual servers (plus `ipset restore` of the same set
//! members and `ip -batch` of the same kube-ipvs0 addresses) into an empty namespace.
//! Each incremental sync must send exactly the netlink operations its change needs: the
//! bench asserts it against the difference of the desired states and against a formula.
//! Then the real binary's peak RSS (`--once` on the same cluster as manifests).
//!
//! The build machine's kernel has no IPVS: there the bench prints why and exits 0;
//! scripts/bench-ipvs.sh runs it inside a VM. Needs root.
//!
//! Settings: `KPROXY_BENCH_SIZES=1k,10k`, `KPROXY_BENCH_REPS` (cold/floor pairs, default
//! 3), `KPROXY_BENCH_WARM_REPS` (3), `KPROXY_BENCH_INCREMENTAL_REPS` (15),
//! `KPROXY_BENCH_ADDED_REPS` (3), `KPROXY_BENCH_RSS=0` skips the binary run,
//! `KPROXY_BENCH_OUT=DIR` (default `<target>/tmp/bench-results`) receives
//! `ipvs_sync_e2e.md` and `ipvs_sync_e2e.json`, rewritten after every size.

#[path = "ipvs_support/binary.rs"]
mod binary;
#[allow(dead_code)] // each bench uses a subset of the settings helpers
#[path = "support/env.rs"]
mod env;
#[path = "ipvs_support/expect.rs"]
mod expect;
#[path = "ipvs_support/floor.rs"]
mod floor;
#[path = "ipvs_support/netns.rs"]
mod netns;
#[allow(dead_code)] // the iptables benches' quiet rule goes unused here
#[path = "support/quiet.rs"]
mod quiet;
#[path = "ipvs_support/report.rs"]
mod report;
#[path = "ipvs_support/scale.rs"]
mod scale;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kproxy::backend::Backend;
use kproxy::backend::ipvs::breakdown::SyncBreakdown;
use kproxy::backend::ipvs::compile::{Compiler, Desired};
use kproxy::backend::ipvs::sets::IpvsSet;
use kproxy::backend::ipvs::{Handles, IpvsBackend, IpvsOptions};
use kproxy::metrics::Metrics;
use kproxy::model::{PendingChanges, ProxyState};
use kproxy::netfilter::iptables::runner::CommandRunner;

use expect::Needed;
use floor::FloorInputs;
use netns::{Netns, wait_for_quiet};
use report::{Incremental, SizeResult};

const DEFAULT_SIZES: &[usize] = &[1_000, 5_000, 10_000];
/// Kinds of generated services the endpoint changes cycle through (index modulo 20):
/// ClusterIP with one TCP port, a NodePort, two TCP ports, DNS-like (UDP + 2 TCP ports),
/// a NodePort with `externalTrafficPolicy: Local`.
const KINDS: [usize; 5] = [0, 3, 7, 9, 13];
const QUIET_LIMIT: Duration = Duration::from_secs(30);

type Ipvs = IpvsBackend<CommandRunner>;

fn main() {
    if let Err(why) = kernel_ready() {
        println!(
            "ipvs_sync_e2e: SKIPPED: {why}. The IPVS benchmark runs in a VM with Debian's \
             kernel: scripts/bench-ipvs.sh"
        );
        return;
    }
    let reps = env::count("KPROXY_BENCH_REPS", 3).max(1);
    let warm_reps = env::count("KPROXY_BENCH_WARM_REPS", 3).max(1);
    let incremental_reps = env::count("KPROXY_BENCH_INCREMENTAL_REPS", 15).max(1);
    let added_reps = env::count("KPROXY_BENCH_ADDED_REPS", 3);
    let rss = env::flag("KPROXY_BENCH_RSS", true);
    let out = out_dir();
    let mut results = Vec::new();
    for services in env::sizes(DEFAULT_SIZES) {
        let mut result = SizeResult::new(services);
        let reps = Reps {
            cold: reps,
            warm: warm_reps,
            incremental: incremental_reps,
            added: added_reps,
        };
        run_size(&mut result, reps, rss);
        eprintln!("{}", report::summary_line(&result));
        results.push(result);
        report::write(&out, &results);
    }
    println!("{}", report::markdown(&results));
    eprintln!("results in {}", out.display());
}

/// Root, and IPVS in this kernel.
fn kernel_ready() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root (network namespaces)".into());
    }
    if !Path::new("/proc/net/ip_vs").exists() {
        return Err("this kernel has no IPVS (/proc/net/ip_vs is missing)".into());
    }
    Ok(())
}

fn out_dir() -> PathBuf {
    let dir = std::env::var_os("KPROXY_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-results"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

#[derive(Clone, Copy)]
struct Reps {
    cold: usize,
    warm: usize,
    incremental: usize,
    added: usize,
}

fn progress(services: usize, what: &str, started: Instant) {
    eprintln!(
        "[{services}] {what} ({:.1}s)",
        started.elapsed().as_secs_f64()
    );
}

fn run_size(result: &mut SizeResult, reps: Reps, rss: bool) {
    let services = result.services;
    let started = Instant::now();
    let (mut cluster, mut state) = scale::cluster_and_state(services);
    let mut shadow = scale::compiler();
    let mut desired = shadow.compile_all(&state).desired;
    result.describe(&desired);
    let inputs = FloorInputs::new(&desired);
    progress(services, "generated", started);

    // Cold full syncs and floors, interleaved so that drift in the machine hits both.
    let mut node = None;
    for rep in 0..reps.cold {
        drop(node.take());
        wait_for_quiet(QUIET_LIMIT);
        result.floors.push(inputs.run());
        progress(services, "floor", started);
        wait_for_quiet(QUIET_LIMIT);
        let ns = Netns::node("node");
        let (backend, breakdown) = ns.within(|| {
            let mut backend = new_backend();
            sync(&mut backend, &state, &PendingChanges::default(), true);
            let breakdown = *backend.last_breakdown();
            (backend, breakdown)
        });
        check_cold(&desired, &breakdown);
        result.cold.push(breakdown);
        progress(services, &format!("cold full sync {}", rep + 1), started);
        node = Some((ns, backend));
    }
    let (ns, mut backend) = node.expect("at least one cold sync");

    // Warm full resyncs: everything read back, nothing written.
    for _ in 0..reps.warm {
        let before = backend.ipvs_operations();
        let written = ns.within(|| sync(&mut backend, &state, &PendingChanges::default(), true));
        assert_eq!(
            written, 0,
            "a warm full resync of an unchanged cluster writes nothing"
        );
        result.warm_dumps = backend.ipvs_operations() - before;
        result.warm.push(*backend.last_breakdown());
    }
    progress(services, "warm full resyncs", started);

    // One endpoint replaced, in services of each kind in turn.
    for k in 0..reps.incremental {
        let group = (k * 7919) % (services / 20).max(1);
        let i = (group * 20 + KINDS[k % KINDS.len()]).min(services - 1);
        scale::replace_endpoint(&mut cluster, &mut state, i);
        let formula = expect::endpoint_replaced(&cluster, i, 1);
        let step = incremental(&ns, &mut backend, &mut state, &mut shadow, &mut desired, i);
        assert_eq!(
            step.needed.ipvs, formula,
            "service {i}: the desired states differ by 2 operations per virtual server"
        );
        result.endpoint.push(step);
    }
    progress(services, "incremental syncs (one endpoint)", started);

    // One service added (then removed again, so every rep adds a new one).
    for _ in 0..reps.added {
        let i = scale::add_service(&mut cluster, &mut state);
        let step = incremental(&ns, &mut backend, &mut state, &mut shadow, &mut desired, i);
        result.added.push(step);
        scale::remove_last_service(&mut cluster, &mut state);
        let step = incremental(&ns, &mut backend, &mut state, &mut shadow, &mut desired, i);
        result.removed.push(step);
    }
    progress(services, "incremental syncs (service added)", started);

    // The partial syncs left the kernel exactly as desired: a full resync finds nothing
    // to repair.
    let written = ns.within(|| sync(&mut backend, &state, &PendingChanges::default(), true));
    assert_eq!(
        written, 0,
        "after the partial syncs, a full resync finds nothing to repair"
    );
    drop(backend);
    drop(ns);
    progress(services, "verified by a full resync", started);

    if rss {
        wait_for_quiet(QUIET_LIMIT);
        result.binary = Some(binary::run_once(&cluster));
        progress(services, "kproxy --once", started);
    }
}

fn new_backend() -> Ipvs {
    let handles = Handles::open().expect("opening the IPVS, ipset and rtnetlink sockets");
    IpvsBackend::new(
        IpvsOptions::default(),
        handles,
        CommandRunner::default(),
        Metrics::new(),
    )
}

/// Syncs, panicking on failure; returns the objects written.
fn sync(backend: &mut Ipvs, state: &ProxyState, changes: &PendingChanges, full: bool) -> usize {
    let report = backend
        .sync(state, changes, full)
        .unwrap_or_else(|e| panic!("sync failed: {e}"));
    assert_eq!(report.full, full);
    report.objects_written
}

/// A cold sync writes every object once and reads only the (empty) list of virtual
/// servers.
fn check_cold(desired: &Desired, b: &SyncBreakdown) {
    let empty = Desired {
        sets: desired
            .sets
            .keys()
            .map(|s| (*s, Default::default()))
            .collect(),
        ..Desired::default()
    };
    let needed = expect::between(&empty, desired);
    assert_eq!(b.ipvs_read.ops, 1, "one dump of the (no) virtual servers");
    assert_eq!(
        b.ipvs_write.ops, needed.ipvs,
        "every virtual and real server"
    );
    assert_eq!(b.addresses.ops, needed.addresses, "every address");
    assert_eq!(
        b.sets.ops,
        needed.set_members + IpvsSet::ALL.len(),
        "every set created and every member added"
    );
}

/// One partial sync of the pending change to service `i`, checked against what the
/// change needs, then the drain check that deletes the destinations it retired.
fn incremental(
    ns: &Netns,
    backend: &mut Ipvs,
    state: &mut ProxyState,
    shadow: &mut Compiler,
    desired: &mut Desired,
    i: usize,
) -> Incremental {
    let pending = state.take_pending();
    let after = shadow.compile(state, &pending.dirty).desired;
    let needed = expect::between(desired, &after);
    *desired = after;
    let before = backend.ipvs_operations();
    let written = ns.within(|| sync(backend, state, &pending, false));
    let requests = backend.ipvs_operations() - before;
    let breakdown = *backend.last_breakdown();
    check(i, &needed, written, requests, &breakdown);

    let before = backend.ipvs_operations();
    let drained = ns.within(|| backend.wakeup()).expect("drain check");
    let drain_requests = backend.ipvs_operations() - before;
    assert_eq!(
        drained.objects_written, needed.draining,
        "service {i}: the drain check deletes each retired TCP destination"
    );
    assert_eq!(
        drain_requests as usize,
        needed.draining + needed.draining_vs,
        "service {i}: the drain check reads each draining virtual server once"
    );
    assert_eq!(backend.draining(), 0);
    Incremental {
        service: i,
        breakdown,
        needed,
        requests,
        drain_requests,
    }
}

/// The partial sync sent exactly what the change needs: no IPVS dump, one IPVS request
/// per needed operation, the set members and addresses that changed, nothing else.
fn check(i: usize, needed: &Needed, written: usize, requests: u64, b: &SyncBreakdown) {
    let what = |x: &str| format!("service {i}: {x} ({needed:?}, {b:?})");
    assert_eq!(
        b.ipvs_read.ops,
        0,
        "{}",
        what("a partial sync dumps nothing")
    );
    assert_eq!(requests as usize, needed.ipvs, "{}", what("IPVS requests"));
    assert_eq!(b.ipvs_write.ops, needed.ipvs, "{}", what("IPVS writes"));
    assert_eq!(b.sets.ops, needed.set_members, "{}", what("set members"));
    assert_eq!(b.addresses.ops, needed.addresses, "{}", what("addresses"));
    assert_eq!(written, needed.total(), "{}", what("objects written"));
}
