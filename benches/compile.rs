//! Compiler benchmarks at 1k–50k services × 10 endpoints: full compile, incremental compile
//! after one endpoint changed and after one service was added, rendering the restore input,
//! planning a partial write, and building the state from all changes.
//!
//! `cargo bench --bench compile`; `KPROXY_BENCH_SIZES=1000,10k` picks the sizes.

mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, measurement::WallTime};
use kproxy::backend::iptables::compile::Compiler;
use kproxy::model::ProxyState;
use kproxy::netfilter::iptables::plan::{ChainMap, Plan};
use kproxy::netfilter::iptables::ruleset::Ruleset;
use kproxy::testing::scale::{Cluster, NODE};
use kproxy::testing::stopwatch::timed_iterations;

use support::cluster::{self, compile_options};

const DEFAULT_SIZES: &[usize] = &[1_000, 5_000, 10_000, 50_000];

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    for services in support::env::sizes(DEFAULT_SIZES) {
        eprintln!(
            "generating {services} services × {} endpoints",
            cluster::ENDPOINTS_PER_SERVICE
        );
        let (cluster, state, _) = cluster::cluster_and_state(services);
        let mut group = c.benchmark_group("iptables");
        group.sample_size(10).sampling_mode(SamplingMode::Flat);
        bench_state(&mut group, &cluster, services);
        bench_full(&mut group, &state, services);
        bench_cold(&mut group, &state, services);
        bench_render(&mut group, &state, services);
        bench_incremental(&mut group, cluster, state, services);
        group.finish();
    }
    c.final_summary();
}

/// Applying every change of the cluster to an empty state (what a start-up does before
/// the first sync).
fn bench_state(group: &mut BenchmarkGroup<WallTime>, cluster: &Cluster, services: usize) {
    let changes = cluster.changes();
    group.bench_with_input(
        BenchmarkId::new("state_build", services),
        &changes,
        |b, changes| {
            b.iter_custom(|iters| {
                timed_iterations(iters, |watch| {
                    let input = changes.clone();
                    let state = watch.time(|| {
                        let mut state = ProxyState::new(NODE);
                        for change in input {
                            state.apply(change);
                        }
                        state
                    });
                    drop(black_box(state));
                })
            })
        },
    );
}

fn bench_full(group: &mut BenchmarkGroup<WallTime>, state: &ProxyState, services: usize) {
    let mut compiler = Compiler::new(compile_options());
    group.bench_with_input(
        BenchmarkId::new("compile_all", services),
        state,
        |b, state| {
            b.iter_custom(|iters| {
                timed_iterations(iters, |watch| {
                    let ruleset = watch.time(|| compiler.compile_all(state));
                    drop(black_box(ruleset));
                })
            })
        },
    );
}

/// A first compile (nothing cached), as at start-up: the time until the ruleset is ready,
/// and separately the time to drop it (what replacing every cached service costs).
fn bench_cold(group: &mut BenchmarkGroup<WallTime>, state: &ProxyState, services: usize) {
    for (name, timed_drop) in [("compile_all_cold", false), ("drop_ruleset", true)] {
        group.bench_with_input(BenchmarkId::new(name, services), state, |b, state| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    let mut compiler = Compiler::new(compile_options());
                    let ruleset = compiler.compile_all(state);
                    let compiled = started.elapsed();
                    let started = Instant::now();
                    drop(black_box((compiler, ruleset)));
                    total += if timed_drop {
                        started.elapsed()
                    } else {
                        compiled
                    };
                }
                total
            })
        });
    }
}

fn bench_render(group: &mut BenchmarkGroup<WallTime>, state: &ProxyState, services: usize) {
    let ruleset = Compiler::new(compile_options()).compile_all(state);
    group.bench_with_input(
        BenchmarkId::new("to_restore_input", services),
        &ruleset,
        |b, r| b.iter(|| black_box(r.to_restore_input())),
    );
}

/// One endpoint replaced (a pod rolled) or one service added, then the compile of that
/// dirty set, then the plan of what a partial sync writes (compared against the chains
/// written last, as the backend does) and its rendering. An added service is removed again
/// after each iteration (untimed), so the cluster keeps its size.
fn bench_incremental(
    group: &mut BenchmarkGroup<WallTime>,
    mut cluster: Cluster,
    mut state: ProxyState,
    services: usize,
) {
    let mut compiler = Compiler::new(compile_options());
    let mut written = chain_map(&compiler.compile_all(&state));
    let mut next = 0usize;
    for (name, add) in [("endpoint_changed", false), ("service_added", true)] {
        let mut change = |cluster: &mut Cluster, state: &mut ProxyState| {
            if add {
                cluster::add_service(cluster, state);
            } else {
                // A different service each time, spread over the whole cluster.
                next = (next + 7919) % services;
                cluster::replace_endpoint(cluster, state, next);
            }
        };
        let undo =
            |cluster: &mut Cluster, state: &mut ProxyState, c: &mut Compiler, w: &mut ChainMap| {
                if add {
                    cluster::remove_last_service(cluster, state);
                    let pending = state.take_pending();
                    write(w, &c.compile(state, &pending.dirty));
                }
            };
        group.bench_function(BenchmarkId::new(format!("compile_{name}"), services), |b| {
            b.iter_custom(|iters| {
                timed_iterations(iters, |watch| {
                    change(&mut cluster, &mut state);
                    let pending = state.take_pending();
                    let ruleset = watch.time(|| compiler.compile(&state, &pending.dirty));
                    write(&mut written, &ruleset);
                    undo(&mut cluster, &mut state, &mut compiler, &mut written);
                })
            })
        });
        group.bench_function(BenchmarkId::new(format!("plan_{name}"), services), |b| {
            b.iter_custom(|iters| {
                timed_iterations(iters, |watch| {
                    change(&mut cluster, &mut state);
                    let pending = state.take_pending();
                    let ruleset = compiler.compile(&state, &pending.dirty);
                    let (plan, input) = watch.time(|| {
                        let plan = Plan::new(&ruleset, &written, None);
                        let input = plan.render();
                        (plan, input)
                    });
                    black_box(input);
                    record(&mut written, &plan);
                    undo(&mut cluster, &mut state, &mut compiler, &mut written);
                })
            })
        });
    }
}

/// What the backend remembers after writing `ruleset`'s plan.
fn write(written: &mut ChainMap, ruleset: &Ruleset) {
    let plan = Plan::new(ruleset, written, None);
    record(written, &plan);
}

fn record(written: &mut ChainMap, plan: &Plan) {
    for chain in plan.written() {
        written.insert(Arc::clone(chain));
    }
    for (table, name) in plan.deleted() {
        written.remove(table, name);
    }
}

fn chain_map(ruleset: &Ruleset) -> ChainMap {
    ruleset.chains.iter().cloned().collect()
}
