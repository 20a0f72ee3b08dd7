//! IPVS compiler benchmarks at 1k–50k services × 10 endpoints: the full compile of the
//! desired state (virtual servers, kube-ipvs0 addresses, ipset members), and the
//! incremental compile after one endpoint changed and after one service was added (the
//! dirty service recompiled, every other plan reused, the desired state reassembled).
//!
//! `cargo bench --bench ipvs_compile`; `KPROXY_BENCH_SIZES=1000,10k` picks the sizes.
//! Pure: no kernel, no root.

#[allow(dead_code)] // each bench uses a subset of the settings helpers
#[path = "support/env.rs"]
mod env;
#[path = "ipvs_support/scale.rs"]
mod scale;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, measurement::WallTime};
use kproxy::backend::ipvs::listing::ipvsadm_save;
use kproxy::model::ProxyState;
use kproxy::testing::scale::Cluster;
use kproxy::testing::stopwatch::timed_iterations;

const DEFAULT_SIZES: &[usize] = &[1_000, 5_000, 10_000, 50_000];

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    for services in env::sizes(DEFAULT_SIZES) {
        eprintln!(
            "generating {services} services × {} endpoints",
            scale::ENDPOINTS_PER_SERVICE
        );
        let (cluster, state) = scale::cluster_and_state(services);
        describe(&state, services);
        let mut group = c.benchmark_group("ipvs");
        group.sample_size(10).sampling_mode(SamplingMode::Flat);
        bench_full(&mut group, &state, services);
        bench_incremental(&mut group, cluster, state, services);
        group.finish();
    }
    c.final_summary();
}

/// Prints the size of what is compiled, so the numbers can be read per virtual server.
fn describe(state: &ProxyState, services: usize) {
    let desired = scale::compiler().compile_all(state).desired;
    let dests: usize = desired
        .virtual_servers
        .values()
        .map(|v| v.dests.len())
        .sum();
    let members: usize = desired.sets.values().map(|s| s.len()).sum();
    eprintln!(
        "{services} services: {} virtual servers, {dests} real servers, {} addresses, \
         {members} set members, {} ipvsadm -S lines",
        desired.virtual_servers.len(),
        desired.addresses.len(),
        ipvsadm_save(&desired).lines().count(),
    );
}

fn bench_full(group: &mut BenchmarkGroup<WallTime>, state: &ProxyState, services: usize) {
    let mut compiler = scale::compiler();
    group.bench_with_input(
        BenchmarkId::new("compile_all", services),
        state,
        |b, state| {
            b.iter_custom(|iters| {
                timed_iterations(iters, |watch| {
                    let compiled = watch.time(|| compiler.compile_all(state));
                    // Freeing the previous desired state is not part of a compile.
                    drop(black_box(compiled));
                })
            })
        },
    );
}

/// One endpoint replaced (a pod rolled) or one service added, then the compile of that
/// dirty set, which is what a partial sync compiles. The change itself is applied to the
/// state untimed. An added service is removed again after each iteration (untimed, with
/// its own compile), so the cluster keeps its size and every timed compile adds a service
/// the compiler has not seen.
fn bench_incremental(
    group: &mut BenchmarkGroup<WallTime>,
    mut cluster: Cluster,
    mut state: ProxyState,
    services: usize,
) {
    let mut compiler = scale::compiler();
    drop(compiler.compile_all(&state));
    let mut next = 0usize;
    for (name, add) in [("endpoint_changed", false), ("service_added", true)] {
        group.bench_function(BenchmarkId::new(name, services), |b| {
            b.iter_custom(|iters| {
                timed_iterations(iters, |watch| {
                    if add {
                        scale::add_service(&mut cluster, &mut state);
                    } else {
                        // Spread the changes over the cluster, one service each time.
                        next = (next + 7919) % services;
                        scale::replace_endpoint(&mut cluster, &mut state, next);
                    }
                    let dirty = state.take_pending().dirty;
                    let compiled = watch.time(|| compiler.compile(&state, &dirty));
                    assert!(
                        compiled.touched.as_ref().is_some_and(|t| !t.is_empty()),
                        "an incremental compile touches the changed service's virtual servers"
                    );
                    drop(black_box(compiled));
                    if add {
                        scale::remove_last_service(&mut cluster, &mut state);
                        let dirty = state.take_pending().dirty;
                        drop(compiler.compile(&state, &dirty));
                    }
                })
            })
        });
    }
}
