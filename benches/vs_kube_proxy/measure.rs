//! One proxy measured on a fresh node: start to first completed sync, single endpoint
//! changes to the kernel, churn at a steady rate, peak memory, CPU time. Both proxies go
//! through exactly this, with the same flags (`ProxySettings`), against the same API
//! server and objects.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use kproxy::testing::controlplane::{ControlPlane, Process, Proxy, ProxySettings};
use kproxy::testing::netns::Netns;

use crate::load::Loaded;
use crate::metrics::{self, LAST_SYNC, SYNCS};
use crate::procstat::{self, Cpu};
use crate::support::cluster::{CLUSTER_CIDR, first_endpoint_chain};
use crate::support::kernel_poll::{Probe, Seen, chain_exists, poll_kernel};
use crate::support::quiet::{busy_share, wait_for_quiet};

/// How a run is measured.
pub struct Settings {
    pub rate: f64,
    pub duration: Duration,
    /// Single changes, each after the last has reached the kernel.
    pub singles: usize,
    pub min_sync: Duration,
    pub sync_period: Duration,
    pub poll: Duration,
    /// The longest a first sync may take.
    pub first_sync_deadline: Duration,
}

/// What one proxy did at one size.
pub struct Measured {
    pub proxy: Proxy,
    pub services: usize,
    pub first_sync: Duration,
    pub first_sync_load: String,
    pub singles: Vec<Duration>,
    pub singles_load: String,
    pub churn: Seen,
    pub churn_changes: usize,
    pub churn_time: Duration,
    pub churn_syncs: f64,
    pub churn_busy: f64,
    pub churn_load: String,
    pub peak_rss: u64,
    pub cpu_first_sync: Cpu,
    /// During the churn only.
    pub cpu_churn: Cpu,
    pub cpu_total: Cpu,
}

/// The next service to change: distinct services spread over the cluster (7919 is prime).
pub struct Picker(pub usize);

impl Picker {
    fn next(&mut self, services: usize) -> usize {
        self.0 += 1;
        (self.0 * 7919 + 1) % services
    }
}

/// Measures `proxy` (the program at `program`) on a new node attached to `cp`.
#[allow(clippy::too_many_arguments)]
pub fn measure(
    cp: &ControlPlane,
    proxy: Proxy,
    program: &Path,
    loaded: &mut Loaded,
    picker: &mut Picker,
    s: &Settings,
    iptables: &str,
    logs: &Path,
) -> Measured {
    let services = loaded.stored;
    let node = Netns::for_bench(proxy.name());
    cp.attach(&node);
    wait_for_quiet(Duration::from_secs(60));
    let settings = ProxySettings {
        mode: "iptables".into(),
        node_name: kproxy::testing::scale::NODE.into(),
        cluster_cidr: CLUSTER_CIDR.into(),
        min_sync_period: s.min_sync,
        sync_period: s.sync_period,
        extra: Vec::new(),
    };
    let dir = logs.join(format!("{}-{services}", proxy.name()));
    std::fs::create_dir_all(&dir).expect("log directory");
    let env = [("RUST_LOG", "kproxy=info"), ("NO_COLOR", "1")];
    let started = SystemTime::now();
    let process = cp.start_proxy(proxy, program, &node, &settings, &dir, &env);
    let pid = process.pid();

    let first_sync = first_sync(&node, &process, started, s.first_sync_deadline);
    let first_sync_load = procstat::loadavg();
    let cpu_first_sync = procstat::cpu(pid).unwrap_or_default();
    eprintln!(
        "  {} at {services}: first sync after {first_sync:.2?} (load {first_sync_load})",
        proxy.name()
    );
    // A first sync that took a good part of the sync period is followed at once by the
    // periodic one: let it pass. kube-proxy has none to wait for: its iptables proxier
    // syncs on changes, on its canary, and at most hourly otherwise (FullSyncPeriod).
    if proxy == Proxy::Kproxy && first_sync * 2 > s.sync_period {
        wait_until(&process, "the second sync", s.first_sync_deadline, || {
            metrics::read(&node, SYNCS).is_some_and(|n| n >= 2.0)
        });
    }
    wait_for_quiet(Duration::from_secs(30));

    let singles_load = procstat::loadavg();
    let singles: Vec<Duration> = (0..s.singles)
        .map(|_| {
            settle(&node, &process, s.min_sync);
            single_change(cp, &node, loaded, picker, iptables, s.poll)
        })
        .collect();
    eprintln!(
        "  {} at {services}: single changes {singles:.2?}",
        proxy.name()
    );

    settle(&node, &process, s.min_sync);
    wait_for_quiet(Duration::from_secs(30));
    let churn_load = procstat::loadavg();
    let syncs_before = metrics::read(&node, SYNCS).unwrap_or(0.0);
    let cpu_before_churn = procstat::cpu(pid).unwrap_or_default();
    let changes = (s.rate * s.duration.as_secs_f64()).round() as usize;
    let (churn, churn_busy, churn_time) = churn(cp, &node, loaded, picker, iptables, s, changes);
    let churn_syncs = metrics::read(&node, SYNCS).unwrap_or(0.0) - syncs_before;
    let cpu_churn = procstat::cpu(pid)
        .unwrap_or_default()
        .since(&cpu_before_churn);
    process.assert_running();
    let peak_rss = procstat::peak_rss(pid).unwrap_or(0);
    let cpu_total = procstat::cpu(pid).unwrap_or_default();
    drop(process);
    Measured {
        proxy,
        services,
        first_sync,
        first_sync_load,
        singles,
        singles_load,
        churn,
        churn_changes: changes,
        churn_time,
        churn_syncs,
        churn_busy,
        churn_load,
        peak_rss,
        cpu_first_sync,
        cpu_churn,
        cpu_total,
    }
}

/// From the process's start to the end of its first sync, as its own metric records it
/// (so how often it is polled does not matter).
fn first_sync(
    node: &Netns,
    process: &Process,
    started: SystemTime,
    deadline: Duration,
) -> Duration {
    let mut at = 0.0;
    wait_until(process, "the first sync", deadline, || {
        at = metrics::read(node, LAST_SYNC).unwrap_or(0.0);
        at > 0.0
    });
    let start = started
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    Duration::from_secs_f64((at - start).max(0.0))
}

/// Waits until the last sync is more than the minimum sync period old, so that the next
/// change is not held back by the rate limit of both proxies' sync runners.
fn settle(node: &Netns, process: &Process, min_sync: Duration) {
    let quiet_for = (min_sync + Duration::from_millis(500)).as_secs_f64();
    wait_until(process, "a quiet moment", Duration::from_secs(300), || {
        let last = metrics::read(node, LAST_SYNC).unwrap_or(0.0);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        now - last > quiet_for
    });
}

/// Replaces one endpoint and waits for its chain in the kernel.
fn single_change(
    cp: &ControlPlane,
    node: &Netns,
    loaded: &mut Loaded,
    picker: &mut Picker,
    iptables: &str,
    poll: Duration,
) -> Duration {
    let i = picker.next(loaded.stored);
    let slice = loaded.cluster.replace_endpoint(i);
    let chain = first_endpoint_chain(&loaded.cluster, i);
    cp.admin().apply(&slice);
    let published = Instant::now();
    node.run_in(|| {
        loop {
            if chain_exists(iptables, &chain) {
                return published.elapsed();
            }
            assert!(
                published.elapsed() < Duration::from_secs(120),
                "{chain} never appeared"
            );
            std::thread::sleep(poll);
        }
    })
}

/// `changes` endpoint changes at `s.rate` a second, each published through the API server;
/// the poller records when each one's chain appears.
fn churn(
    cp: &ControlPlane,
    node: &Netns,
    loaded: &mut Loaded,
    picker: &mut Picker,
    iptables: &str,
    s: &Settings,
    changes: usize,
) -> (Seen, f64, Duration) {
    let (tx, rx) = mpsc::channel::<Probe>();
    std::thread::scope(|scope| {
        let poller = scope.spawn(|| node.run_in(|| poll_kernel(rx, iptables, s.poll)));
        let busy = scope.spawn(|| busy_share(s.duration));
        let started = Instant::now();
        for k in 0..changes {
            let due = started + Duration::from_secs_f64(k as f64 / s.rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let i = picker.next(loaded.stored);
            let slice = loaded.cluster.replace_endpoint(i);
            let chain = first_endpoint_chain(&loaded.cluster, i);
            cp.admin().apply(&slice);
            let probe = Probe {
                chain,
                published: Instant::now(),
            };
            tx.send(probe).expect("the poller is running");
        }
        let churn_time = started.elapsed();
        drop(tx);
        let busy = busy.join().expect("load sampler");
        (poller.join().expect("poller"), busy, churn_time)
    })
}

/// Polls `done` (every 50 ms) until it holds; panics when the proxy exits or `deadline`
/// passes.
fn wait_until(process: &Process, what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    loop {
        if done() {
            return;
        }
        process.assert_running();
        assert!(
            Instant::now() < until,
            "no {what} within {deadline:?}; the end of the log:\n{}",
            process.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
