//! The IPVS end-to-end bench's results: what was measured per size, as markdown tables
//! (for docs/benchmarks-ipvs.md) and JSON.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use kproxy::backend::ipvs::breakdown::{Phase, SyncBreakdown};
use kproxy::backend::ipvs::compile::Desired;
use serde_json::{Value, json};

use crate::binary::BinaryRun;
use crate::expect::Needed;
use crate::floor::Floor;

/// One partial sync and the drain check after it.
#[derive(Clone, Debug)]
pub struct Incremental {
    /// The changed service's index in the generated cluster.
    pub service: usize,
    pub breakdown: SyncBreakdown,
    pub needed: Needed,
    /// IPVS netlink requests the sync sent (dumps included: there must be none).
    pub requests: u64,
    /// IPVS netlink requests of the drain check that followed.
    pub drain_requests: u64,
}

#[derive(Debug)]
pub struct SizeResult {
    pub services: usize,
    pub virtual_servers: usize,
    pub real_servers: usize,
    pub addresses: usize,
    pub set_members: usize,
    pub floors: Vec<Floor>,
    pub cold: Vec<SyncBreakdown>,
    pub warm: Vec<SyncBreakdown>,
    /// IPVS dump requests of one warm resync.
    pub warm_dumps: u64,
    pub endpoint: Vec<Incremental>,
    pub added: Vec<Incremental>,
    pub removed: Vec<Incremental>,
    pub binary: Option<Result<BinaryRun, String>>,
}

impl SizeResult {
    pub fn new(services: usize) -> Self {
        Self {
            services,
            virtual_servers: 0,
            real_servers: 0,
            addresses: 0,
            set_members: 0,
            floors: Vec::new(),
            cold: Vec::new(),
            warm: Vec::new(),
            warm_dumps: 0,
            endpoint: Vec::new(),
            added: Vec::new(),
            removed: Vec::new(),
            binary: None,
        }
    }

    pub fn describe(&mut self, desired: &Desired) {
        self.virtual_servers = desired.virtual_servers.len();
        self.real_servers = desired
            .virtual_servers
            .values()
            .map(|v| v.dests.len())
            .sum();
        self.addresses = desired.addresses.len();
        self.set_members = desired.sets.values().map(|s| s.len()).sum();
    }

    fn floor(&self) -> Floor {
        let pick = |f: fn(&Floor) -> Duration| median(self.floors.iter().map(f));
        Floor {
            ipvsadm: pick(|f| f.ipvsadm),
            ipset: pick(|f| f.ipset),
            ip: pick(|f| f.ip),
        }
    }
}

/// The median (the mean of the middle two for an even count); zero for none.
pub fn median(values: impl IntoIterator<Item = Duration>) -> Duration {
    let mut v: Vec<Duration> = values.into_iter().collect();
    v.sort_unstable();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

/// `median (min–max)` when there is more than one value.
fn spread(values: &[Duration]) -> String {
    let m = secs(median(values.iter().copied()));
    match (values.iter().min(), values.iter().max()) {
        (Some(lo), Some(hi)) if values.len() > 1 => format!("{m} ({}–{})", secs(*lo), secs(*hi)),
        _ => m,
    }
}

/// The sync whose total is the median (the lower middle one for an even count), to show
/// one consistent breakdown.
fn median_sync(syncs: &[SyncBreakdown]) -> SyncBreakdown {
    let mut v = syncs.to_vec();
    v.sort_by_key(|b| b.total);
    v.get(v.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

fn max(values: impl IntoIterator<Item = Duration>) -> Duration {
    values.into_iter().max().unwrap_or_default()
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 {
        format!("{s:.1} s")
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 0.01 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{:.1} ms", s * 1e3)
    }
}

fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        return "–".into();
    }
    format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64())
}

fn percent(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        return "–".into();
    }
    format!("{:.2} %", 100.0 * a.as_secs_f64() / b.as_secs_f64())
}

fn ipvs_time(b: &SyncBreakdown) -> Duration {
    b.ipvs_read.time + b.ipvs_write.time
}

fn rss(r: &SizeResult) -> String {
    match &r.binary {
        Some(Ok(run)) => format!("{:.0} MiB", run.peak_rss_kib as f64 / 1024.0),
        Some(Err(e)) => format!("not measured ({})", e.lines().next().unwrap_or("")),
        None => "not measured".into(),
    }
}

/// One line per size for the progress log.
pub fn summary_line(r: &SizeResult) -> String {
    let cold = median(r.cold.iter().map(|b| b.total));
    let incr = median(r.endpoint.iter().map(|i| i.breakdown.total));
    format!(
        "{} services: cold {} (ipvsadm -R {}), warm {}, one endpoint {} ({} of cold), peak RSS {}",
        r.services,
        secs(cold),
        secs(r.floor().ipvsadm),
        secs(median_sync(&r.warm).total),
        secs(incr),
        percent(incr, cold),
        rss(r),
    )
}

/// The tables of docs/benchmarks-ipvs.md.
pub fn markdown(results: &[SizeResult]) -> String {
    let mut md = String::new();
    md.push_str(
        "| services | virtual / real servers | `ipvsadm -R` (floor), median (range) | cold full \
         sync, median (range) | cold ÷ floor | cold IPVS part ÷ floor | warm full resync | one endpoint: sync \
         (median / max) | one endpoint ÷ cold | one endpoint ÷ warm | one service added | \
         kproxy peak RSS |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let cold = median_sync(&r.cold);
        let cold_total = median(r.cold.iter().map(|b| b.total));
        let floor = r.floor();
        let floors: Vec<Duration> = r.floors.iter().map(|f| f.ipvsadm).collect();
        let colds: Vec<Duration> = r.cold.iter().map(|b| b.total).collect();
        let incr = median(r.endpoint.iter().map(|i| i.breakdown.total));
        let incr_max = max(r.endpoint.iter().map(|i| i.breakdown.total));
        let warm = median_sync(&r.warm).total;
        let _ = writeln!(
            md,
            "| {} | {} / {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} |",
            r.services,
            r.virtual_servers,
            r.real_servers,
            spread(&floors),
            spread(&colds),
            ratio(cold_total, floor.ipvsadm),
            ratio(ipvs_time(&cold), floor.ipvsadm),
            secs(warm),
            secs(incr),
            secs(incr_max),
            percent(incr, cold_total),
            percent(incr, warm),
            secs(median(r.added.iter().map(|i| i.breakdown.total))),
            rss(r),
        );
    }
    for r in results {
        breakdown_table(&mut md, r);
        changes_table(&mut md, r);
    }
    md
}

fn phase(p: &Phase) -> String {
    if p.time.is_zero() && p.ops == 0 {
        return "–".into();
    }
    format!("{} ({})", secs(p.time), p.ops)
}

/// One cell of a breakdown row: a phase of one sync, formatted.
type Cell = fn(&SyncBreakdown) -> String;

/// Where the time of each kind of sync went, next to the tools doing the same work.
fn breakdown_table(md: &mut String, r: &SizeResult) {
    let cold = median_sync(&r.cold);
    let warm = median_sync(&r.warm);
    let incr = median_sync(&r.endpoint.iter().map(|i| i.breakdown).collect::<Vec<_>>());
    let floor = r.floor();
    let _ = write!(
        md,
        "\n{} services ({} virtual servers, {} real servers, {} addresses, {} set members): \
         time (requests)\n\n\
         | phase | cold full sync | warm full resync | one endpoint (median) | floor |\n\
         |---|---|---|---|---|\n",
        r.services, r.virtual_servers, r.real_servers, r.addresses, r.set_members
    );
    let rows: [(&str, Cell, String); 9] = [
        (
            "prepare (sysctls, kube-ipvs0, node addresses)",
            |b| phase(&b.prepare),
            "–".into(),
        ),
        ("compile", |b| secs(b.compile), "–".into()),
        (
            "ipsets (members)",
            |b| phase(&b.sets),
            format!("`ipset restore` {}", secs(floor.ipset)),
        ),
        (
            "iptables rules (chains)",
            |b| phase(&b.iptables),
            "–".into(),
        ),
        (
            "kube-ipvs0 addresses",
            |b| phase(&b.addresses),
            format!("`ip -batch` {}", secs(floor.ip)),
        ),
        (
            "IPVS read (dump requests)",
            |b| phase(&b.ipvs_read),
            "–".into(),
        ),
        (
            "IPVS write (operations)",
            |b| phase(&b.ipvs_write),
            format!("`ipvsadm -R` {}", secs(floor.ipvsadm)),
        ),
        ("other", |b| secs(b.other()), "–".into()),
        ("**total**", |b| secs(b.total), secs(floor.total())),
    ];
    for (name, cell, floor) in rows {
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {floor} |",
            cell(&cold),
            cell(&warm),
            cell(&incr)
        );
    }
}

/// Every incremental sync: the service changed, what the change needs, what was sent.
fn changes_table(md: &mut String, r: &SizeResult) {
    let _ = write!(
        md,
        "\n{} services, incremental syncs: IPVS requests sent = operations needed \
         (asserted), no dump\n\n\
         | change | service (ports) | virtual servers touched | IPVS requests | set members | \
         addresses | sync time | drain check requests |\n|---|---|---|---|---|---|---|---|\n",
        r.services
    );
    let kinds = [
        ("one endpoint replaced", &r.endpoint),
        ("service added", &r.added),
        ("service removed", &r.removed),
    ];
    for (what, steps) in kinds {
        for s in steps {
            let _ = writeln!(
                md,
                "| {what} | svc-{} ({}) | {} | {} | {} | {} | {} | {} |",
                s.service,
                kind(s.service),
                s.needed.virtual_servers,
                s.requests,
                s.needed.set_members,
                s.needed.addresses,
                secs(s.breakdown.total),
                s.drain_requests
            );
        }
    }
}

/// The generated service's shape (kproxy::testing::scale).
fn kind(i: usize) -> &'static str {
    match i % 10 {
        3 if i % 20 == 13 => "NodePort, TCP, externalTrafficPolicy: Local",
        3 => "NodePort, TCP",
        0..=6 => "TCP",
        7 | 8 => "2×TCP",
        _ => "UDP+2×TCP",
    }
}

fn phase_json(p: &Phase) -> Value {
    json!({ "s": p.time.as_secs_f64(), "ops": p.ops })
}

fn breakdown_json(b: &SyncBreakdown) -> Value {
    json!({
        "total_s": b.total.as_secs_f64(),
        "prepare": phase_json(&b.prepare),
        "compile_s": b.compile.as_secs_f64(),
        "sets": phase_json(&b.sets),
        "iptables": phase_json(&b.iptables),
        "addresses": phase_json(&b.addresses),
        "ipvs_read": phase_json(&b.ipvs_read),
        "ipvs_write": phase_json(&b.ipvs_write),
        "other_s": b.other().as_secs_f64(),
    })
}

fn incremental_json(s: &Incremental) -> Value {
    json!({
        "service": s.service,
        "sync": breakdown_json(&s.breakdown),
        "needed": {
            "virtual_servers": s.needed.virtual_servers,
            "ipvs": s.needed.ipvs,
            "set_members": s.needed.set_members,
            "addresses": s.needed.addresses,
            "draining": s.needed.draining,
        },
        "ipvs_requests": s.requests,
        "drain_check_requests": s.drain_requests,
    })
}

fn json(r: &SizeResult) -> Value {
    json!({
        "services": r.services,
        "virtual_servers": r.virtual_servers,
        "real_servers": r.real_servers,
        "addresses": r.addresses,
        "set_members": r.set_members,
        "floor": r.floors.iter().map(|f| json!({
            "ipvsadm_restore_s": f.ipvsadm.as_secs_f64(),
            "ipset_restore_s": f.ipset.as_secs_f64(),
            "ip_batch_s": f.ip.as_secs_f64(),
        })).collect::<Vec<_>>(),
        "cold": r.cold.iter().map(breakdown_json).collect::<Vec<_>>(),
        "warm": r.warm.iter().map(breakdown_json).collect::<Vec<_>>(),
        "warm_dump_requests": r.warm_dumps,
        "endpoint_replaced": r.endpoint.iter().map(incremental_json).collect::<Vec<_>>(),
        "service_added": r.added.iter().map(incremental_json).collect::<Vec<_>>(),
        "service_removed": r.removed.iter().map(incremental_json).collect::<Vec<_>>(),
        "binary": match &r.binary {
            Some(Ok(b)) => json!({
                "peak_rss_kib": b.peak_rss_kib,
                "wall_s": b.wall.as_secs_f64(),
                "sync_s": b.sync.map(|d| d.as_secs_f64()),
            }),
            Some(Err(e)) => json!({ "error": e }),
            None => Value::Null,
        },
    })
}

/// Writes `ipvs_sync_e2e.md` and `.json` into `dir` (after every size, so that a run cut
/// short keeps what it measured).
pub fn write(dir: &Path, results: &[SizeResult]) {
    let machine = std::fs::read_to_string("/proc/version").unwrap_or_default();
    let md = format!("Kernel: {}\n\n{}", machine.trim(), markdown(results));
    let json = json!({
        "kernel": machine.trim(),
        "sizes": results.iter().map(json).collect::<Vec<_>>(),
    });
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    };
    write("ipvs_sync_e2e.md", md);
    write(
        "ipvs_sync_e2e.json",
        serde_json::to_string_pretty(&json).expect("serializable"),
    );
}
