//! End-to-end iptables syncs on the real kernel, in throwaway network namespaces, at
//! 1k/5k/10k services × 10 endpoints: a cold full sync, a warm full resync, incremental
//! syncs of one changed endpoint and one added service, and — on the same rules — the bare
//! `iptables-restore` of the whole ruleset into an empty namespace (the floor; also with
//! `--noflush` up to `KPROXY_BENCH_NOFLUSH_FLOOR_MAX` services, default 2000). Then the
//! real binary's peak RSS and first-sync time on the same cluster written as manifests.
//!
//! `cargo bench --bench sync_e2e` (root). Settings: `KPROXY_BENCH_SIZES=1k,10k`,
//! `KPROXY_BENCH_REPS` (cold/floor pairs, default 2), `KPROXY_BENCH_INCREMENTAL_REPS`
//! (default 10), `KPROXY_BENCH_IPTABLES=nft|legacy`, `KPROXY_BENCH_MODE=iptables`.
//! Results: `<target>/bench-results/sync_e2e-<mode>-<flavour>.{md,json}`.

mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kproxy::backend::Backend;
use kproxy::backend::iptables::IptablesBackend;
use kproxy::backend::iptables::compile::Compiler;
use kproxy::metrics::Metrics;
use kproxy::model::{PendingChanges, ProxyState};
use kproxy::netfilter::iptables::runner::CommandRunner;
use kproxy::testing::netns::Netns;
use kproxy::testing::scale::Cluster;
use serde_json::{Value, json};

use support::cluster::{self, compile_options};
use support::env::{self, Flavour, Mode};
use support::kproxy::{delete_canary, start_on_cluster};
use support::netns::require_kernel;
use support::quiet::wait_for_quiet;
use support::report::{Report, machine};
use support::timing::{TimedRunner, fmt, median, percentile};

const DEFAULT_SIZES: &[usize] = &[1_000, 5_000, 10_000];
/// How long to wait for the machine to calm down before a big measurement.
const QUIET_LIMIT: Duration = Duration::from_secs(20);

/// One timed sync and where its time went.
#[derive(Clone, Copy, Debug, Default)]
struct Timed {
    total: Duration,
    restore: Duration,
    save: Duration,
    restore_bytes: usize,
}

impl Timed {
    /// Time spent in kproxy itself (compile, parse, plan, render).
    fn own(&self) -> Duration {
        self.total.saturating_sub(self.restore + self.save)
    }

    fn json(&self) -> Value {
        json!({
            "total_s": self.total.as_secs_f64(),
            "restore_s": self.restore.as_secs_f64(),
            "save_s": self.save.as_secs_f64(),
            "kproxy_s": self.own().as_secs_f64(),
            "restore_bytes": self.restore_bytes,
        })
    }
}

#[derive(Default)]
struct SizeResult {
    services: usize,
    restore_lines: usize,
    state_build: Duration,
    floor: Vec<Duration>,
    /// One bare `iptables-restore --noflush` of everything (small sizes only).
    floor_noflush: Option<Duration>,
    cold: Vec<Timed>,
    warm: Vec<Timed>,
    endpoint: Vec<Timed>,
    added: Vec<Timed>,
    binary: Option<BinaryRun>,
}

struct BinaryRun {
    /// VmHWM after the first (cold) sync.
    peak_rss: u64,
    /// VmHWM after the next sync, a full resync, and its drift check that reads the kernel back.
    peak_rss_resync: u64,
    /// How long the resync's drift check took to read the kernel back.
    resync: Duration,
    start_to_synced: Duration,
    first_sync: Duration,
}

fn main() {
    require_kernel(&["iptables-restore", "iptables-save"]);
    let mode = Mode::from_env();
    let flavour = Flavour::from_env();
    let sizes = env::sizes(DEFAULT_SIZES);
    let reps = env::count("KPROXY_BENCH_REPS", 2).max(1);
    let incremental = env::count("KPROXY_BENCH_INCREMENTAL_REPS", 10).max(1);
    let noflush_max = env::count("KPROXY_BENCH_NOFLUSH_FLOOR_MAX", 2_000);
    let version = flavour.version();
    eprintln!(
        "sync_e2e: mode {}, {version}, sizes {sizes:?}, {reps} cold/floor pairs",
        mode.as_str()
    );

    if let Ok(dir) = std::env::var("KPROXY_BENCH_DUMP_ONLY") {
        for &services in &sizes {
            let (cluster, state, _) = cluster::cluster_and_state(services);
            let manifests = std::path::Path::new(&dir).join(format!("manifests-{services}"));
            std::fs::create_dir_all(&manifests).expect("creating the manifest directory");
            cluster
                .write_manifests(&manifests)
                .expect("writing manifests");
            let input = Compiler::new(compile_options())
                .compile_all(&state)
                .to_restore_input();
            let path = std::path::Path::new(&dir).join(format!("restore-{services}.txt"));
            std::fs::write(&path, input).expect("writing the restore input");
            eprintln!("wrote {}", path.display());
        }
        return;
    }
    let mut results = Vec::new();
    for &services in &sizes {
        let result = match mode {
            Mode::Iptables => run_iptables(services, flavour, reps, incremental, noflush_max),
        };
        print_size(&result);
        results.push(result);
    }
    let name = format!("sync_e2e-{}-{}", mode.as_str(), flavour.label());
    let (summary, breakdown) = reports(&name, &results);
    let context =
        json!({ "machine": machine(&version), "reps": reps, "incremental_reps": incremental });
    summary.finish(context.clone());
    breakdown.finish(context);
}

fn run_iptables(
    services: usize,
    flavour: Flavour,
    reps: usize,
    incremental: usize,
    noflush_max: usize,
) -> SizeResult {
    eprintln!(
        "\n== {services} services × {} endpoints",
        cluster::ENDPOINTS_PER_SERVICE
    );
    let (mut cluster, mut state, state_build) = cluster::cluster_and_state(services);
    let mut result = SizeResult {
        services,
        state_build,
        ..SizeResult::default()
    };
    let runner = || CommandRunner::new(flavour.restore_program(), flavour.save_program());
    for rep in 0..reps {
        // Alternate which goes first, so neither always meets a kernel still busy with the other.
        let floor_first = rep % 2 == 0;
        if floor_first {
            let floor = bare_restore(&state, flavour, false, &mut result.restore_lines);
            result.floor.push(floor);
        }
        if rep == 0 && services <= noflush_max {
            let floor = bare_restore(&state, flavour, true, &mut result.restore_lines);
            result.floor_noflush = Some(floor);
        }
        let ns = Netns::for_bench("kproxy");
        let busy = wait_for_quiet(QUIET_LIMIT);
        eprintln!(
            "  rep {rep}: machine busy {:.0}% before the cold sync",
            busy * 100.0
        );
        ns.run_in(|| {
            let mut backend = IptablesBackend::new(
                compile_options(),
                TimedRunner::new(runner()),
                Metrics::new(),
            );
            let cold = timed_sync(&mut backend, &state, PendingChanges::default(), true);
            eprintln!("  cold full sync {}", fmt(cold.total));
            result.cold.push(cold);
            if rep > 0 {
                return;
            }
            for _ in 0..2 {
                let warm = timed_sync(&mut backend, &state, PendingChanges::default(), true);
                eprintln!("  warm full resync {}", fmt(warm.total));
                result.warm.push(warm);
            }
            for k in 0..incremental {
                let i = (k * 7919 + 13) % services;
                cluster::replace_endpoint(&mut cluster, &mut state, i);
                let pending = state.take_pending();
                result
                    .endpoint
                    .push(timed_sync(&mut backend, &state, pending, false));
            }
            for _ in 0..incremental {
                cluster::add_service(&mut cluster, &mut state);
                let pending = state.take_pending();
                result
                    .added
                    .push(timed_sync(&mut backend, &state, pending, false));
            }
            eprintln!(
                "  1-endpoint sync p50 {}, add-service sync p50 {}",
                fmt(median(&totals(&result.endpoint))),
                fmt(median(&totals(&result.added)))
            );
        });
        drop(ns);
        if !floor_first {
            let floor = bare_restore(&state, flavour, false, &mut result.restore_lines);
            result.floor.push(floor);
        }
    }
    result.binary = Some(run_binary(&cluster, flavour));
    result
}

/// The floor: the whole ruleset, rendered by the compiler, applied by one bare
/// `iptables-restore` into an empty namespace. Without `--noflush` this is the fastest the
/// tool can load these rules; with it (what a proxy sharing the tables must use), one
/// restore of many chains is quadratic in iptables-nft (see `plan/batches.rs`).
fn bare_restore(
    state: &ProxyState,
    flavour: Flavour,
    noflush: bool,
    lines: &mut usize,
) -> Duration {
    let input = Compiler::new(compile_options())
        .compile_all(state)
        .to_restore_input();
    *lines = input.lines().count();
    let ns = Netns::for_bench("floor");
    let busy = wait_for_quiet(QUIET_LIMIT);
    let took = ns.run_in(|| {
        let mut cmd = Command::new(flavour.restore_program());
        cmd.args(["-w", "5"]);
        if noflush {
            cmd.arg("--noflush");
        }
        let started = Instant::now();
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting iptables-restore");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(input.as_bytes())
            .expect("writing to iptables-restore");
        let status = child.wait().expect("waiting for iptables-restore");
        assert!(status.success(), "bare iptables-restore failed: {status}");
        started.elapsed()
    });
    eprintln!(
        "  bare iptables-restore{} of {} lines: {} (machine busy {:.0}% before)",
        if noflush { " --noflush" } else { "" },
        *lines,
        fmt(took),
        busy * 100.0
    );
    took
}

fn timed_sync(
    backend: &mut IptablesBackend<TimedRunner>,
    state: &ProxyState,
    pending: PendingChanges,
    full: bool,
) -> Timed {
    backend.runner_mut().reset();
    let started = Instant::now();
    backend.sync(state, &pending, full).expect("sync");
    let total = started.elapsed();
    let runner = backend.runner_mut();
    Timed {
        total,
        restore: runner.restore,
        save: runner.save,
        restore_bytes: runner.restore_bytes,
    }
}

/// The real binary on the same cluster as manifests: peak RSS (`VmHWM`) after its first
/// sync, and the time from start to that sync done.
fn run_binary(cluster: &Cluster, flavour: Flavour) -> BinaryRun {
    wait_for_quiet(QUIET_LIMIT);
    // The second sync is then a full resync, which reads the kernel back (once told to).
    let (_dir, ns, mut kproxy) =
        start_on_cluster(cluster, "binary", flavour, &["--sync-period", "2s"]);
    let wait = Duration::from_secs(600);
    let first = kproxy.wait_for(&ns, "first sync", wait, |c| c.total() >= 1);
    let start_to_synced = kproxy.started.elapsed();
    let peak_rss = kproxy.peak_rss().expect("kproxy's /proc status");
    delete_canary(&ns, flavour);
    let second = kproxy.wait_for(&ns, "second sync", wait, |c| c.total() >= 2);
    // The resync itself returns at once; its read-back runs on a thread beside the syncs.
    let checked = kproxy.wait_for(&ns, "a finished drift check", wait, |c| c.drift_checks >= 1);
    let peak_rss_resync = kproxy.peak_rss().expect("kproxy's /proc status");
    drop(kproxy);
    assert_eq!(second.full, 2, "the second sync should be a full resync");
    let run = BinaryRun {
        peak_rss,
        peak_rss_resync,
        resync: Duration::from_secs_f64(checked.drift_check_seconds),
        start_to_synced,
        first_sync: Duration::from_secs_f64(first.full_seconds),
    };
    eprintln!(
        "  kproxy binary: first sync {} (start to synced {}), peak RSS {:.1} MiB; \
         full resync's drift check {}, peak RSS {:.1} MiB",
        fmt(run.first_sync),
        fmt(run.start_to_synced),
        mib(run.peak_rss),
        fmt(run.resync),
        mib(run.peak_rss_resync)
    );
    run
}

fn totals(timed: &[Timed]) -> Vec<Duration> {
    timed.iter().map(|t| t.total).collect()
}

/// The run with the median total.
fn median_of(timed: &[Timed]) -> Timed {
    let mut sorted = timed.to_vec();
    sorted.sort_by_key(|t| t.total);
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn print_size(r: &SizeResult) {
    eprintln!(
        "  => floor {}, cold {}, warm {}, endpoint {}, added {}",
        fmt(median(&r.floor)),
        fmt(median(&totals(&r.cold))),
        fmt(median(&totals(&r.warm))),
        fmt(median(&totals(&r.endpoint))),
        fmt(median(&totals(&r.added)))
    );
}

fn reports(name: &str, results: &[SizeResult]) -> (Report, Report) {
    let mut summary = Report::new(
        name,
        &[
            "services",
            "restore lines",
            "bare iptables-restore",
            "bare, --noflush",
            "cold full sync",
            "cold / bare",
            "warm full resync",
            "1-endpoint sync (p50 / max)",
            "endpoint / cold",
            "add-service sync (p50 / max)",
            "kproxy peak RSS (cold / resync)",
        ],
    );
    let mut breakdown = Report::new(
        &format!("{name}-breakdown"),
        &[
            "services",
            "sync",
            "total",
            "in iptables-restore",
            "in iptables-save",
            "in kproxy",
            "bytes written",
        ],
    );
    for r in results {
        let floor = median(&r.floor);
        let cold = median_of(&r.cold);
        let endpoint = median(&totals(&r.endpoint));
        let added = median(&totals(&r.added));
        let max = |t: &[Timed]| percentile(&totals(t), 100.0).unwrap_or_default();
        let rss = r.binary.as_ref().map_or(0, |b| b.peak_rss);
        let rss_resync = r.binary.as_ref().map_or(0, |b| b.peak_rss_resync);
        summary.row(
            vec![
                r.services.to_string(),
                r.restore_lines.to_string(),
                fmt(floor),
                r.floor_noflush.map_or_else(|| "not run".to_string(), fmt),
                fmt(cold.total),
                format!("{:.2}×", cold.total.as_secs_f64() / floor.as_secs_f64()),
                fmt(median(&totals(&r.warm))),
                format!("{} / {}", fmt(endpoint), fmt(max(&r.endpoint))),
                format!(
                    "{:.2}%",
                    100.0 * endpoint.as_secs_f64() / cold.total.as_secs_f64()
                ),
                format!("{} / {}", fmt(added), fmt(max(&r.added))),
                format!("{:.1} / {:.1} MiB", mib(rss), mib(rss_resync)),
            ],
            json!({
                "services": r.services,
                "endpoints_per_service": cluster::ENDPOINTS_PER_SERVICE,
                "restore_lines": r.restore_lines,
                "state_build_s": r.state_build.as_secs_f64(),
                "bare_restore_s": r.floor.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
                "bare_restore_noflush_s": r.floor_noflush.map(|d| d.as_secs_f64()),
                "cold": r.cold.iter().map(Timed::json).collect::<Vec<_>>(),
                "warm": r.warm.iter().map(Timed::json).collect::<Vec<_>>(),
                "endpoint": r.endpoint.iter().map(Timed::json).collect::<Vec<_>>(),
                "added": r.added.iter().map(Timed::json).collect::<Vec<_>>(),
                "binary": r.binary.as_ref().map(|b| json!({
                    "peak_rss_bytes": b.peak_rss,
                    "peak_rss_after_resync_bytes": b.peak_rss_resync,
                    "resync_s": b.resync.as_secs_f64(),
                    "start_to_synced_s": b.start_to_synced.as_secs_f64(),
                    "first_sync_s": b.first_sync.as_secs_f64(),
                })),
            }),
        );
        for (label, t) in [
            ("cold full", cold),
            ("warm full", median_of(&r.warm)),
            ("1 endpoint", median_of(&r.endpoint)),
            ("add service", median_of(&r.added)),
        ] {
            breakdown.row(
                vec![
                    r.services.to_string(),
                    label.to_string(),
                    fmt(t.total),
                    fmt(t.restore),
                    fmt(t.save),
                    fmt(t.own()),
                    t.restore_bytes.to_string(),
                ],
                json!({ "services": r.services, "sync": label, "timing": t.json() }),
            );
        }
    }
    summary.note(
        "Medians. Cold: first sync into an empty namespace (reads the empty kernel, writes \
         everything; with iptables-nft in batches of 250 chains). Warm: full resync with \
         nothing changed (reads the kernel back with iptables-save, writes nothing). Bare: \
         one iptables-restore (without --noflush) of the same rules into an empty namespace; \
         \"bare, --noflush\": the same with --noflush, in one restore. kproxy peak RSS: the \
         release binary's VmHWM after its first sync from manifests, and after the full \
         resync that follows it.",
    );
    (summary, breakdown)
}
