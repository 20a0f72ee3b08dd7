//! Event-to-kernel latency under churn: the real kproxy binary with 10k services loaded,
//! then endpoint changes at a steady rate; for each change, the time from its publication
//! to its `KUBE-SEP-` chain being in the kernel. Also how many syncs carried them.
//!
//! `scripts/bench-churn.sh` or `cargo bench --bench churn` (root). Settings:
//! `KPROXY_CHURN_SOURCE` (`manifests`: a `--manifests` directory, the default; `apiserver`:
//! the in-process test API server, through `--kubeconfig` and watch events),
//! `KPROXY_CHURN_SERVICES` (10k), `KPROXY_CHURN_RATE` (changes/s, 20),
//! `KPROXY_CHURN_DURATION` (60s), `KPROXY_CHURN_MIN_SYNC_PERIOD` (1s),
//! `KPROXY_CHURN_SYNC_PERIOD` (kproxy's --sync-period, 30s), `KPROXY_CHURN_POLL` (pause
//! between kernel polls, 50ms), `KPROXY_BENCH_IPTABLES=nft|legacy`.
//! Results: `<target>/bench-results/churn-<source>-<flavour>.{md,json}`.

mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use kproxy::testing::netns::Netns;
use kproxy::testing::scale::Cluster;
use serde_json::json;

use support::churn_source::{self, ChangeSource};
use support::cluster::{self, first_endpoint_chain};
use support::env::{self, Flavour};
use support::kernel_poll::{Probe, Seen, poll_kernel};
use support::kproxy::{Kproxy, SyncLine, node_args, watch_syncs};
use support::netns::require_kernel;
use support::quiet::{busy_share, wait_for_quiet};
use support::report::{Report, machine};
use support::timing::{fmt, percentile};

struct Settings {
    services: usize,
    rate: f64,
    duration: Duration,
    min_sync: Duration,
    sync_period: Duration,
    poll: Duration,
    flavour: Flavour,
}

fn main() {
    require_kernel(&["iptables-restore", "iptables-save"]);
    let s = Settings {
        services: env::count("KPROXY_CHURN_SERVICES", 10_000),
        rate: env::float("KPROXY_CHURN_RATE", 20.0),
        duration: env::duration("KPROXY_CHURN_DURATION", Duration::from_secs(60)),
        min_sync: env::duration("KPROXY_CHURN_MIN_SYNC_PERIOD", Duration::from_secs(1)),
        sync_period: env::duration("KPROXY_CHURN_SYNC_PERIOD", Duration::from_secs(30)),
        poll: env::duration("KPROXY_CHURN_POLL", Duration::from_millis(50)),
        flavour: Flavour::from_env(),
    };
    let changes = (s.rate * s.duration.as_secs_f64()).round() as usize;
    assert!(
        changes <= s.services,
        "each change must touch a different service: {changes} changes > {} services",
        s.services
    );
    eprintln!(
        "churn: {} services × {} endpoints, {} changes/s for {:?} ({changes} changes), min sync period {:?}",
        s.services,
        cluster::ENDPOINTS_PER_SERVICE,
        s.rate,
        s.duration,
        s.min_sync
    );
    let kind = churn_source::Kind::from_env().unwrap_or_else(|e| {
        eprintln!("churn: {e}");
        std::process::exit(2);
    });
    let mut cluster = Cluster::generate(cluster::spec(s.services));
    // Dropped in reverse order: the source (maybe a server inside the namespace) first.
    let ns = Netns::for_bench("churn");
    let mut source = kind
        .open(&cluster, &ns.name)
        .expect("setting up the change source");
    eprintln!("churn: publishing through {}", source.name());
    run(&s, &ns, &mut cluster, source.as_mut(), changes);
}

fn run(
    s: &Settings,
    ns: &Netns,
    cluster: &mut Cluster,
    source: &mut dyn ChangeSource,
    changes: usize,
) {
    let mut args = source.kproxy_args();
    args.extend(node_args(&ns.name));
    args.extend(
        [
            "--min-sync-period",
            &humantime::format_duration(s.min_sync).to_string(),
            "--sync-period",
            &humantime::format_duration(s.sync_period).to_string(),
        ]
        .map(String::from),
    );
    let log_dir = tempfile::tempdir().expect("log directory");
    let mut kproxy = Kproxy::start(&args, &log_dir.path().join("kproxy.log"), s.flavour);
    let wait = Duration::from_secs(900);
    let first = kproxy.wait_for(ns, "first sync", wait, |c| c.full >= 1);
    let first = Duration::from_secs_f64(first.full_seconds);
    eprintln!("first sync done: {}", fmt(first));
    // A first sync that takes a good part of the sync period is followed at once by a full
    // resync (the period counts from the first sync's start): let it pass first.
    if first * 2 > s.sync_period {
        kproxy.wait_for(ns, "second sync", wait, |c| c.full >= 2);
    }
    wait_for_quiet(Duration::from_secs(20));

    let (tx, rx) = mpsc::channel::<Probe>();
    let program = s.flavour.iptables_program();
    let ((seen, busy, churn_time), syncs) = watch_syncs(ns, || {
        std::thread::scope(|scope| {
            let poller = scope.spawn(|| ns.run_in(|| poll_kernel(rx, program, s.poll)));
            let started = Instant::now();
            let busy = scope.spawn(move || busy_share(s.duration));
            for k in 0..changes {
                let due = started + Duration::from_secs_f64(k as f64 / s.rate);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                // Distinct services, spread over the cluster (7919 is prime, so no repeats).
                let i = (k * 7919 + 1) % s.services;
                cluster.replace_endpoint(i);
                let chain = first_endpoint_chain(cluster, i);
                source.publish(cluster, i).expect("publishing a change");
                let probe = Probe {
                    chain,
                    published: Instant::now(),
                };
                tx.send(probe).expect("poller is running");
            }
            let churn_time = started.elapsed();
            drop(tx);
            let busy = busy.join().expect("load sampler");
            (poller.join().expect("poller"), busy, churn_time)
        })
    });
    let peak_rss = kproxy.peak_rss().unwrap_or(0);
    drop(kproxy);
    report(
        s, source, changes, churn_time, &seen, &syncs, busy, peak_rss,
    );
}

#[allow(clippy::too_many_arguments)]
fn report(
    s: &Settings,
    source: &dyn ChangeSource,
    changes: usize,
    churn_time: Duration,
    seen: &Seen,
    syncs: &[SyncLine],
    busy: f64,
    peak_rss: u64,
) {
    let pct = |p| percentile(&seen.latencies, p).unwrap_or_default();
    let durations: Vec<Duration> = syncs.iter().map(|l| l.elapsed).collect();
    let full = syncs.iter().filter(|l| l.full).count();
    let target = s.min_sync + Duration::from_millis(200);
    let mut r = Report::new(
        &format!("churn-{}-{}", source.name(), s.flavour.label()),
        &[
            "services",
            "changes",
            "p50",
            "p90",
            "p99",
            "max",
            "syncs (full)",
            "changes / sync",
            "sync time p50 / max",
            "target p99",
        ],
    );
    let poll_avg = seen
        .check_time
        .checked_div(seen.checks as u32)
        .unwrap_or_default();
    r.row(
        vec![
            s.services.to_string(),
            format!("{changes} in {}", fmt(churn_time)),
            fmt(pct(50.0)),
            fmt(pct(90.0)),
            fmt(pct(99.0)),
            fmt(pct(100.0)),
            format!("{} ({full})", syncs.len()),
            format!("{:.1}", changes as f64 / syncs.len().max(1) as f64),
            format!(
                "{} / {}",
                fmt(percentile(&durations, 50.0).unwrap_or_default()),
                fmt(percentile(&durations, 100.0).unwrap_or_default())
            ),
            fmt(target),
        ],
        json!({
            "services": s.services,
            "endpoints_per_service": cluster::ENDPOINTS_PER_SERVICE,
            "rate_per_s": s.rate,
            "duration_s": s.duration.as_secs_f64(),
            "min_sync_period_s": s.min_sync.as_secs_f64(),
            "sync_period_s": s.sync_period.as_secs_f64(),
            "changes": changes,
            "lost": seen.lost,
            "latency_s": {
                "p50": pct(50.0).as_secs_f64(),
                "p90": pct(90.0).as_secs_f64(),
                "p99": pct(99.0).as_secs_f64(),
                "max": pct(100.0).as_secs_f64(),
                "all": seen.latencies.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            },
            "syncs": syncs.iter().map(|l| json!({
                "full": l.full, "changes": l.changes, "written": l.written,
                "elapsed_s": l.elapsed.as_secs_f64(),
            })).collect::<Vec<_>>(),
            "poll": { "checks": seen.checks, "avg_check_s": poll_avg.as_secs_f64(),
                      "pause_s": s.poll.as_secs_f64() },
            "machine_busy_share": busy,
            "kproxy_peak_rss_bytes": peak_rss,
        }),
    );
    r.note(format!(
        "Source: {}. Latency: from {} to the new endpoint's \
         KUBE-SEP chain being listed by `{} -t nat -S` (polled: {} checks, {} each on \
         average, {} pause between misses, so latencies are over-stated by up to about {}). \
         {} of {changes} changes never appeared. Machine busy {:.0}% during the churn. \
         kproxy peak RSS {:.1} MiB.",
        source.name(),
        source.published_at(),
        s.flavour.iptables_program(),
        seen.checks,
        fmt(poll_avg),
        fmt(s.poll),
        fmt(poll_avg + s.poll),
        seen.lost,
        busy * 100.0,
        peak_rss as f64 / (1024.0 * 1024.0),
    ));
    r.finish(json!({ "machine": machine(&s.flavour.version()), "source": source.name() }));
}
