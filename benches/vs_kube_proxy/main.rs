//! kproxy and upstream kube-proxy, same run: one real control plane (upstream etcd,
//! kube-apiserver, kube-controller-manager; `kproxy::testing::controlplane`) holding the
//! generated cluster (`kproxy::testing::scale`, 10 endpoints a service), and each proxy
//! in turn on a fresh node namespace, with the same flags, measured the same way
//! (measure.rs): start to first completed sync, single endpoint changes to the kernel,
//! churn (a steady rate of endpoint changes through the API server) p50/p90/p99, peak
//! RSS, CPU seconds. Sizes grow within the run: 1k, 5k, 10k services.
//!
//! `scripts/bench-vs-kube-proxy.sh` (root; builds the upstream binaries first). Settings:
//! `KPROXY_BENCH_SIZES` (1k,5k,10k), `KPROXY_VS_PROXIES` (order, `kproxy,kube-proxy`),
//! `KPROXY_CHURN_RATE` (20/s), `KPROXY_CHURN_DURATION` (60s), `KPROXY_VS_SINGLES` (5),
//! `KPROXY_CHURN_POLL` (50ms). iptables mode, the machine's iptables (nf_tables backend).
//! Results: `<target>/bench-results/vs-kube-proxy-iptables.{md,json}`; docs/benchmarks.md
//! has the numbers.

#[path = "../support/mod.rs"]
mod support;

mod load;
mod measure;
mod metrics;
mod procstat;

use std::path::PathBuf;
use std::time::Duration;

use kproxy::testing::controlplane::{Binaries, ControlPlane, Options, Proxy};
use serde_json::json;

use measure::{Measured, Picker, Settings};
use support::env::{self, Flavour};
use support::netns::require_kernel;
use support::report::{Report, machine};
use support::timing::{fmt, median, percentile};

fn main() {
    require_kernel(&["iptables-restore", "iptables-save", "iptables"]);
    let bins = Binaries::locate().unwrap_or_else(|e| {
        eprintln!("vs-kube-proxy: {e}");
        std::process::exit(2);
    });
    let sizes = env::sizes(&[1_000, 5_000, 10_000]);
    let proxies: Vec<Proxy> = std::env::var("KPROXY_VS_PROXIES")
        .unwrap_or_else(|_| "kproxy,kube-proxy".into())
        .split(',')
        .map(|p| match p.trim() {
            "kproxy" => Proxy::Kproxy,
            "kube-proxy" => Proxy::KubeProxy,
            other => panic!("KPROXY_VS_PROXIES: {other:?} is not kproxy or kube-proxy"),
        })
        .collect();
    let s = Settings {
        rate: env::float("KPROXY_CHURN_RATE", 20.0),
        duration: env::duration("KPROXY_CHURN_DURATION", Duration::from_secs(60)),
        singles: env::count("KPROXY_VS_SINGLES", 5),
        min_sync: Duration::from_secs(1),
        sync_period: Duration::from_secs(30),
        poll: env::duration("KPROXY_CHURN_POLL", Duration::from_millis(50)),
        first_sync_deadline: Duration::from_secs(1200),
    };
    let flavour = Flavour::from_env();
    assert_eq!(
        flavour,
        Flavour::Default,
        "both proxies use the machine's iptables"
    );
    let iptables = flavour.iptables_program();
    let kproxy_bin = PathBuf::from(support::kproxy::binary());
    let upstream = bins.clone();
    let started_load = procstat::loadavg();

    let cp = ControlPlane::start(bins, Options::default());
    cp.apply_proxy_rbac();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let mut loaded = load::Loaded::new(&cp, largest);
    let logs = tempfile::tempdir().expect("a directory for the proxies' logs");
    let mut picker = Picker(0);
    let mut rows = Vec::new();
    for &size in &sizes {
        let took = loaded.grow_to(&cp, size);
        eprintln!("vs-kube-proxy: {size} services in the API server (stored in {took:.1?})");
        for &proxy in &proxies {
            let program = match proxy {
                Proxy::Kproxy => kproxy_bin.clone(),
                Proxy::KubeProxy => upstream.path("kube-proxy"),
            };
            rows.push(measure::measure(
                &cp,
                proxy,
                &program,
                &mut loaded,
                &mut picker,
                &s,
                iptables,
                logs.path(),
            ));
        }
    }
    report(&rows, &s, &flavour.version(), &started_load);
}

fn report(rows: &[Measured], s: &Settings, iptables: &str, started_load: &str) {
    let mut r = Report::new(
        "vs-kube-proxy-iptables",
        &[
            "services",
            "proxy",
            "first sync",
            "one change (median, max)",
            "churn p50",
            "p90",
            "p99",
            "max",
            "syncs",
            "peak RSS",
            "CPU s (own + children)",
            "load avg (first sync; churn)",
        ],
    );
    for m in rows {
        let pct = |p| percentile(&m.churn.latencies, p).unwrap_or_default();
        let cpu = m.cpu_total;
        r.row(
            vec![
                m.services.to_string(),
                m.proxy.name().to_string(),
                fmt(m.first_sync),
                format!(
                    "{}, {}",
                    fmt(median(&m.singles)),
                    fmt(percentile(&m.singles, 100.0).unwrap_or_default())
                ),
                fmt(pct(50.0)),
                fmt(pct(90.0)),
                fmt(pct(99.0)),
                fmt(pct(100.0)),
                format!("{}", m.churn_syncs),
                format!("{:.0} MiB", m.peak_rss as f64 / (1024.0 * 1024.0)),
                format!(
                    "{:.1} ({:.1} + {:.1})",
                    cpu.total().as_secs_f64(),
                    cpu.own.as_secs_f64(),
                    cpu.children.as_secs_f64()
                ),
                format!("{}; {}", m.first_sync_load, m.churn_load),
            ],
            json!({
                "services": m.services,
                "proxy": m.proxy.name(),
                "first_sync_s": m.first_sync.as_secs_f64(),
                "first_sync_loadavg": m.first_sync_load,
                "single_changes_s": m.singles.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
                "single_changes_loadavg": m.singles_load,
                "churn": {
                    "changes": m.churn_changes,
                    "published_in_s": m.churn_time.as_secs_f64(),
                    "lost": m.churn.lost,
                    "syncs": m.churn_syncs,
                    "machine_busy_share": m.churn_busy,
                    "loadavg": m.churn_load,
                    "latency_s": {
                        "p50": pct(50.0).as_secs_f64(),
                        "p90": pct(90.0).as_secs_f64(),
                        "p99": pct(99.0).as_secs_f64(),
                        "max": pct(100.0).as_secs_f64(),
                        "all": m.churn.latencies.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
                    },
                    "poll": {
                        "checks": m.churn.checks,
                        "avg_check_s": m.churn.check_time.checked_div(m.churn.checks as u32)
                            .unwrap_or_default().as_secs_f64(),
                    },
                },
                "peak_rss_bytes": m.peak_rss,
                "cpu_s": {
                    "first_sync_own": m.cpu_first_sync.own.as_secs_f64(),
                    "first_sync_children": m.cpu_first_sync.children.as_secs_f64(),
                    "churn_own": m.cpu_churn.own.as_secs_f64(),
                    "churn_children": m.cpu_churn.children.as_secs_f64(),
                    "total_own": cpu.own.as_secs_f64(),
                    "total_children": cpu.children.as_secs_f64(),
                },
            }),
        );
    }
    r.note(format!(
        "Same control plane and objects for both; each proxy on a fresh node namespace, one \
         after the other, with --min-sync-period {} and --sync-period {} \
         (kube-proxy: --iptables-*). First sync: from the process's start to the end of its \
         first sync, by its own `kubeproxy_sync_proxy_rules_last_timestamp_seconds`. One \
         change: an endpoint replaced through the API server (from the apply's answer) to \
         its KUBE-SEP chain in the kernel, {} times, each after the last sync was over a \
         min-sync-period old. Churn: {} changes/s for {}, latency the same way (polled every \
         {}). CPU: the proxy's own time and its waited-for children's (iptables-restore, \
         iptables-save), from start to the end of the churn. Load average at the start: {}.",
        humantime::format_duration(s.min_sync),
        humantime::format_duration(s.sync_period),
        s.singles,
        s.rate,
        humantime::format_duration(s.duration),
        humantime::format_duration(s.poll),
        started_load,
    ));
    r.finish(json!({ "machine": machine(iptables) }));
}
