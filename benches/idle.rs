//! What an idle node costs: the real kproxy binary on a generated cluster (default 10k
//! services × 10 endpoints, from manifests), nothing changing, for a window after its first
//! sync: the CPU-seconds per minute of kproxy and its children (iptables-save/-restore)
//! together, with the resyncs it ran and the read-backs they started (docs/reliability.md,
//! target under 1). Then the same window after another writer's change, for the cost of a
//! resync that does read the kernel back.
//!
//! `cargo bench --bench idle` (root). Settings: `KPROXY_BENCH_SIZES=10k`,
//! `KPROXY_BENCH_IDLE_WINDOW` (default 60s), `KPROXY_BENCH_IDLE_SYNC_PERIOD` (default 30s,
//! kube-proxy's), `KPROXY_BENCH_IPTABLES=nft|legacy`.
//! Results: `<target>/bench-results/idle-<flavour>.{md,json}`.

mod support;

use std::time::{Duration, Instant};

use kproxy::testing::netns::Netns;
use kproxy::testing::scale::Cluster;
use serde_json::json;

use support::cluster;
use support::env::{self, Flavour};
use support::kproxy::{Kproxy, delete_canary, start_on_cluster};
use support::metrics::Syncs;
use support::netns::require_kernel;
use support::quiet::wait_for_quiet;
use support::report::{Report, machine};

const QUIET_LIMIT: Duration = Duration::from_secs(20);

/// One measured window.
struct Window {
    cpu: Duration,
    took: Duration,
    resyncs: u64,
    read_backs: u64,
    written: u64,
}

impl Window {
    fn per_minute(&self) -> f64 {
        self.cpu.as_secs_f64() * 60.0 / self.took.as_secs_f64()
    }
}

fn main() {
    let flavour = Flavour::from_env();
    require_kernel(&[flavour.restore_program(), flavour.save_program()]);
    let window = env::duration("KPROXY_BENCH_IDLE_WINDOW", Duration::from_secs(60));
    let period = env::duration("KPROXY_BENCH_IDLE_SYNC_PERIOD", Duration::from_secs(30));
    let mut report = Report::new(
        &format!("idle-{}", flavour.label()),
        &[
            "services",
            "window",
            "resyncs",
            "read-backs",
            "CPU-s / min idle",
            "CPU-s / min, another writer once",
        ],
    );
    for services in env::sizes(&[10_000]) {
        eprintln!("{services} services, sync period {period:?}, window {window:?}:");
        let cluster = Cluster::generate(cluster::spec(services));
        let (idle, poked) = run(&cluster, flavour, period, window);
        let show = |w: &Window| {
            format!(
                "{:.2} ({} resyncs, {} read back)",
                w.per_minute(),
                w.resyncs,
                w.read_backs
            )
        };
        eprintln!(
            "  idle: {}; another writer once: {}",
            show(&idle),
            show(&poked)
        );
        let record = |w: &Window| {
            json!({
                "cpu_s": w.cpu.as_secs_f64(),
                "window_s": w.took.as_secs_f64(),
                "cpu_s_per_min": w.per_minute(),
                "resyncs": w.resyncs,
                "read_backs": w.read_backs,
                "written": w.written,
            })
        };
        report.row(
            vec![
                services.to_string(),
                format!("{:.0} s", idle.took.as_secs_f64()),
                idle.resyncs.to_string(),
                idle.read_backs.to_string(),
                format!("{:.2}", idle.per_minute()),
                format!("{:.2} ({} read back)", poked.per_minute(), poked.read_backs),
            ],
            json!({
                "services": services,
                "sync_period_s": period.as_secs_f64(),
                "idle": record(&idle),
                "another_writer_once": record(&poked),
            }),
        );
    }
    report.note(format!(
        "Sync period {period:?}. CPU: utime + stime of kproxy and of its waited-for \
         children (/proc/PID/stat), over the window. \"Another writer once\": one \
         `iptables -t mangle -X KUBE-PROXY-CANARY` at the window's start, so one resync \
         reads the kernel back and repairs it."
    ));
    report.finish(json!({ "machine": machine(&flavour.version()) }));
}

/// Starts kproxy on `cluster`, waits for its first sync, then measures an idle `window`
/// and a window that starts with another writer's change.
fn run(
    cluster: &Cluster,
    flavour: Flavour,
    period: Duration,
    window: Duration,
) -> (Window, Window) {
    let period = format!("{}ms", period.as_millis());
    let (_dir, ns, mut kproxy) =
        start_on_cluster(cluster, "idle", flavour, &["--sync-period", &period]);
    let wait = Duration::from_secs(600);
    let first = kproxy.wait_for(&ns, "first sync", wait, |c| c.full >= 1);
    eprintln!("  first sync {:.1} s", first.full_seconds);
    // Let the first sync's aftermath (freeing its buffers) pass.
    std::thread::sleep(Duration::from_secs(2));
    wait_for_quiet(QUIET_LIMIT);
    let idle = measure(&mut kproxy, &ns, window, || {});
    let poked = measure(&mut kproxy, &ns, window, || delete_canary(&ns, flavour));
    (idle, poked)
}

fn measure(kproxy: &mut Kproxy, ns: &Netns, window: Duration, at_start: impl FnOnce()) -> Window {
    let before = kproxy.wait_for(ns, "counters", Duration::from_secs(10), |_| true);
    let cpu_before = kproxy.cpu_time().expect("kproxy's /proc stat");
    let started = Instant::now();
    at_start();
    std::thread::sleep(window);
    let after = kproxy.wait_for(ns, "counters", Duration::from_secs(10), |_| true);
    let cpu = kproxy.cpu_time().expect("kproxy's /proc stat") - cpu_before;
    let syncs = |s: &Syncs| s.full + s.partial;
    Window {
        cpu,
        took: started.elapsed(),
        resyncs: syncs(&after) - syncs(&before),
        read_backs: after.drift_checks - before.drift_checks,
        written: (after.full_written + after.partial_written)
            - (before.full_written + before.partial_written),
    }
}
