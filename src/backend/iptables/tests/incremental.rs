//! The incremental compiler gives the same rules as a full compile, and shares the chains
//! (same `Arc`) of everything that did not change.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use proptest::prelude::*;

use super::arbitrary::{compile_options, service_and_slice};
use super::fixtures::*;
use crate::backend::iptables::compile::{CompileOptions, Compiler, compile};
use crate::backend::iptables::names::KUBE_SERVICES;
use crate::model::{Change, Conditions, EndpointSlice, Protocol, ProxyState, Service};
use crate::netfilter::iptables::ruleset::{Chain, Ruleset, Table};

fn chains_by_name(r: &Ruleset) -> HashMap<(Table, &str), &Arc<Chain>> {
    r.chains
        .iter()
        .map(|c| ((c.table(), c.name()), c))
        .collect()
}

/// Applies `change` and hands the dirty set over, as the sync loop does.
fn apply(state: &mut ProxyState, change: Change) -> BTreeSet<crate::model::ServiceName> {
    state.apply(change);
    state.take_pending().dirty
}

fn two_services() -> (ProxyState, Service, Service) {
    let a = service("a", 1, Some(30001));
    let b = service("b", 2, None);
    let st = state(
        &[a.clone(), b.clone()],
        &[
            slice(
                &a,
                &[
                    (local_pod(1), NODE, Conditions::READY),
                    (remote_pod(1), OTHER_NODE, Conditions::READY),
                ],
            ),
            slice(&b, &[(local_pod(2), NODE, Conditions::READY)]),
        ],
    );
    (st, a, b)
}

#[test]
fn endpoint_change_recompiles_only_its_service_and_keeps_dispatch_chains() {
    let (mut st, a, _) = two_services();
    let mut compiler = Compiler::new(options());
    let before = compiler.compile(&st, &BTreeSet::new());
    assert_eq!(
        before,
        compile(&st, &options()),
        "the first compile is a full one"
    );

    let grown = slice(
        &a,
        &[
            (local_pod(1), NODE, Conditions::READY),
            (remote_pod(1), OTHER_NODE, Conditions::READY),
            (remote_pod(3), OTHER_NODE, Conditions::READY),
        ],
    );
    let dirty = apply(&mut st, Change::slice(grown));
    let after = compiler.compile(&st, &dirty);
    assert_eq!(after, compile(&st, &options()));

    let old = chains_by_name(&before);
    let new = chains_by_name(&after);
    let shared = |table, name: &str| Arc::ptr_eq(old[&(table, name)], new[&(table, name)]);
    for chain in &before.chains {
        let name = chain.name();
        let same_content = new
            .get(&(chain.table(), name))
            .is_some_and(|c| c.same_rules(chain));
        // Every chain whose rules did not change is the very same Arc, including the
        // service-independent and dispatch chains (only endpoints changed).
        assert_eq!(shared(chain.table(), name), same_content, "{name}");
    }
    assert!(shared(Table::Nat, KUBE_SERVICES));
    let changed: Vec<&str> = after
        .chains
        .iter()
        .filter(|c| {
            !old.get(&(c.table(), c.name()))
                .is_some_and(|o| Arc::ptr_eq(o, c))
        })
        .map(|c| c.name())
        .collect();
    // The SVC chain of `a` and the new endpoint's SEP chain.
    assert_eq!(changed.len(), 2, "{changed:?}");
}

#[test]
fn deleted_service_disappears_and_unchanged_dirty_service_keeps_its_chains() {
    let (mut st, a, b) = two_services();
    let mut compiler = Compiler::new(options());
    let before = compiler.compile_all(&st);
    let mut dirty = apply(&mut st, Change::ServiceDeleted(a.name.clone()));
    // A service marked dirty without a real change (e.g. a node update).
    dirty.insert(b.name.clone());
    let after = compiler.compile(&st, &dirty);
    assert_eq!(after, compile(&st, &options()));
    assert!(
        after
            .chains
            .iter()
            .all(|c| !c.rules().any(|r| r.contains("ns/a:")))
    );
    let old = chains_by_name(&before);
    for chain in after
        .chains
        .iter()
        .filter(|c| c.rules().any(|r| r.contains("ns/b:")))
    {
        if chain.name() != KUBE_SERVICES {
            assert!(
                Arc::ptr_eq(old[&(chain.table(), chain.name())], chain),
                "{}",
                chain.name()
            );
        }
    }
}

#[test]
fn unchanged_services_keep_their_chains_through_full_compiles_and_node_updates() {
    let (mut st, _, _) = two_services();
    let mut compiler = Compiler::new(options());
    let first = compiler.compile_all(&st);
    let again = compiler.compile_all(&st);
    let same = |a: &Ruleset, b: &Ruleset| {
        a.chains.len() == b.chains.len()
            && a.chains
                .iter()
                .zip(&b.chains)
                .all(|(x, y)| Arc::ptr_eq(x, y))
    };
    assert!(
        same(&first, &again),
        "a full compile of an unchanged state shares every chain"
    );

    // A node update marks every service dirty without changing any of them.
    let node = crate::model::NodeInfo {
        name: NODE.to_string(),
        zone: Some("z1".to_string()),
        addresses: vec![NODE_IP],
        ..crate::model::NodeInfo::default()
    };
    let dirty = apply(&mut st, Change::NodeUpdated(node));
    assert_eq!(dirty.len(), 2);
    let after = compiler.compile(&st, &dirty);
    assert!(same(&first, &after));
}

#[test]
fn crossing_the_large_cluster_threshold_recompiles_everything() {
    // 2 services x 500 endpoints = 1000: not yet large.
    let mut st = big_state(2, 500);
    let mut compiler = Compiler::new(options());
    let small = compiler.compile_all(&st);
    // The per-endpoint rules: all of the KUBE-SEP- chains, and the jumps to them.
    let endpoint_rules = |r: &Ruleset| -> Vec<String> {
        r.chains
            .iter()
            .flat_map(|c| c.rules().map(move |rule| (c, rule)))
            .filter(|(c, rule)| c.name().starts_with("KUBE-SEP-") || rule.contains("-j KUBE-SEP-"))
            .map(|(_, rule)| rule.to_string())
            .collect()
    };
    let has_sep_comments = |r: &Ruleset| {
        endpoint_rules(r)
            .iter()
            .all(|rule| rule.contains("-m comment"))
    };
    assert!(has_sep_comments(&small));

    // One more endpoint in svc-1 makes the cluster large: svc-0's chains change too.
    let svc = st
        .service(&crate::model::ServiceName::new("ns", "svc-1"))
        .unwrap()
        .clone();
    let mut grown = EndpointSlice::new(&svc.name, "svc-1-2").with_port("http", 8080, Protocol::Tcp);
    grown = grown.with_endpoint(Ipv4Addr::new(10, 99, 0, 1), Some(NODE), Conditions::READY);
    let dirty = apply(&mut st, Change::slice(grown));
    let large = compiler.compile(&st, &dirty);
    assert_eq!(large, compile(&st, &options()));
    assert!(
        endpoint_rules(&large)
            .iter()
            .all(|rule| !rule.contains("-m comment"))
    );
    // The dispatch rules keep theirs.
    let services = large.chain(Table::Nat, KUBE_SERVICES).unwrap();
    assert!(services.rules().all(|r| r.contains("-m comment")));

    let dirty = apply(
        &mut st,
        Change::SliceDeleted(crate::model::SliceName::new("ns", "svc-1-2")),
    );
    let back = compiler.compile(&st, &dirty);
    assert_eq!(back, compile(&st, &options()));
    assert!(has_sep_comments(&back));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any sequence of updates and deletes, compiled incrementally, equals a full compile.
    #[test]
    fn incremental_equals_full(
        opts in compile_options(),
        steps in prop::collection::vec((service_and_slice(), 0u8..4, any::<bool>(), any::<bool>()), 1..12),
    ) {
        let mut st = ProxyState::new(NODE);
        let mut compiler = Compiler::new(opts.clone());
        compiler.compile_all(&st);
        for ((svc, slice), which, delete, full) in steps {
            // Few distinct names, so steps hit the same services again.
            let mut svc = svc;
            svc.name = crate::model::ServiceName::new("ns", format!("s{which}"));
            let mut slice = slice;
            slice.service = svc.name.clone();
            slice.name = crate::model::SliceName::new("ns", format!("s{which}-1"));
            if delete {
                st.apply(Change::ServiceDeleted(svc.name.clone()));
            } else {
                st.apply(Change::service(svc));
                st.apply(Change::slice(slice));
            }
            let dirty = st.take_pending().dirty;
            // A full compile on a warm compiler reuses what did not change; both must
            // give exactly what a fresh compiler gives.
            let warm = if full { compiler.compile_all(&st) } else { compiler.compile(&st, &dirty) };
            prop_assert_eq!(warm, compile(&st, &opts));
        }
    }
}

/// `n` services with `per` endpoints each, ClusterIP + NodePort, half of them local.
pub fn big_state(n: u32, per: u32) -> ProxyState {
    let mut st = ProxyState::new(NODE);
    for i in 0..n {
        let ip = Ipv4Addr::from(0xac1e_0000 + i);
        let svc = Service::new("ns", &format!("svc-{i}"), ip).with_port(
            "http",
            80,
            Protocol::Tcp,
            Some((30000 + i % 2768) as u16),
        );
        let mut slice = EndpointSlice::new(&svc.name, &format!("svc-{i}-1")).with_port(
            "http",
            8080,
            Protocol::Tcp,
        );
        for j in 0..per {
            let node = if j % 2 == 0 { NODE } else { OTHER_NODE };
            slice = slice.with_endpoint(
                Ipv4Addr::from(0x0ab4_0000 + i * per + j),
                Some(node),
                Conditions::READY,
            );
        }
        st.apply(Change::service(svc));
        st.apply(Change::slice(slice));
    }
    st.take_pending();
    st
}

/// Timing at the benchmark's scale; meaningful in release:
/// `cargo test --release --lib compile_speed -- --ignored --nocapture`.
///
/// As in the sync loop, the caller keeps the previous ruleset while the next one is
/// compiled (the executor compares them), so freeing the old rules is not the compiler's
/// time; it is reported apart.
#[test]
#[ignore]
fn compile_speed_at_10k_services() {
    let mut st = big_state(10_000, 10);
    let opts = CompileOptions {
        local_traffic: crate::model::LocalTraffic::from_cidr(Some(
            "10.180.0.0/16".parse().unwrap(),
        )),
        ..CompileOptions::default()
    };
    let best = |times: &[f64]| times.iter().copied().fold(f64::MAX, f64::min) * 1e3;

    // Cold: a new compiler (the first sync).
    let mut cold = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut compiler = Compiler::new(opts.clone());
        let ruleset = compiler.compile_all(&st);
        cold.push(t.elapsed().as_secs_f64());
        drop((compiler, ruleset));
    }

    // Full compile of an unchanged state on a warm compiler (a periodic full resync), the
    // previous ruleset still held by the caller: every service's inputs are re-read and
    // compared, nothing is recompiled.
    let mut compiler = Compiler::new(opts.clone());
    let mut last = compiler.compile_all(&st);
    let mut full = Vec::new();
    let mut frees = Vec::new();
    let cpu0 = process_cpu_seconds();
    for _ in 0..10 {
        let t = Instant::now();
        let next = compiler.compile_all(&st);
        full.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        last = next;
        frees.push(t.elapsed().as_secs_f64());
    }
    let cpu = (process_cpu_seconds() - cpu0) / 10.0;
    let rules = last.chains.iter().map(|c| c.rules().len()).sum::<usize>();

    // Incremental: one endpoint of one service changes.
    let mut incremental = Vec::new();
    for k in 0..10u8 {
        let name = crate::model::ServiceName::new("ns", "svc-77");
        let slice = EndpointSlice::new(&name, "svc-77-1")
            .with_port("http", 8080, Protocol::Tcp)
            .with_endpoint(Ipv4Addr::new(10, 99, 0, k), Some(NODE), Conditions::READY);
        let dirty = apply(&mut st, Change::slice(slice));
        let t = Instant::now();
        let next = compiler.compile(&st, &dirty);
        incremental.push(t.elapsed().as_secs_f64());
        last = next;
    }
    assert!(last.chains.len() > 10_000);
    eprintln!(
        "10k services x 10 endpoints, {rules} rules (best of runs): cold full compile {:.1} ms; \
         warm full compile, nothing changed {:.1} ms ({:.1} ms CPU incl. freeing, all threads); \
         freeing the previous ruleset {:.1} ms; incremental, one endpoint changed {:.2} ms",
        best(&cold),
        best(&full),
        cpu * 1e3,
        best(&frees),
        best(&incremental)
    );
}

/// User + system CPU time of this process, from /proc/self/stat (clock ticks of 10 ms).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}
