//! kube-proxy's metrics (pkg/proxy/metrics/metrics.go), under kube-proxy's names, types and
//! labels, plus the process metrics, `kubernetes_build_info`, and kproxy's own. Cheap to
//! clone: every handle shares the same registry.
//!
//! kproxy proxies IPv4 only, so every metric kube-proxy labels with `ip_family` carries
//! `ip_family="IPv4"` (a sub-registry adds it; the handles stay plain counters and
//! histograms). Served as Prometheus text 0.0.4 by default, OpenMetrics when asked
//! ([`Metrics::encode_as`]).

mod process;
mod text;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

pub use text::Format;

/// The `ip_family` label value of every metric kproxy exposes.
pub const IP_FAMILY: &str = "IPv4";

/// Labels of `kproxy_rejected_objects_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectedLabels {
    /// `Service`, `EndpointSlice` or `File`.
    pub kind: String,
    /// A short machine-readable reason, e.g. `invalid_cluster_ip`.
    pub reason: String,
}

/// Labels of `kproxy_sync_objects_written_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabels {
    /// `full` or `partial`.
    pub sync: &'static str,
}

/// `table` of `kubeproxy_sync_proxy_rules_iptables_total` / `_last`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    /// `filter`, `nat`, `mangle`.
    pub table: String,
}

/// `traffic_policy` of `kubeproxy_sync_proxy_rules_no_local_endpoints_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TrafficPolicyLabels {
    /// `internal` or `external`.
    pub traffic_policy: String,
}

/// `code` of `kubeproxy_proxy_healthz_total` / `_livez_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    /// The HTTP status code, e.g. `200`.
    pub code: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub sync_duration: Histogram,
    pub full_sync_duration: Histogram,
    pub partial_sync_duration: Histogram,
    pub last_sync_timestamp: FloatGauge,
    /// When a change last asked for a sync (kube-proxy: "if this is much larger than
    /// last_timestamp_seconds, something is hung").
    pub last_queued_timestamp: FloatGauge,
    pub network_programming_duration: Histogram,
    pub endpoint_changes: Counter,
    pub service_changes: Counter,
    pub endpoint_changes_pending: Gauge,
    pub service_changes_pending: Gauge,
    pub restore_failures: Counter,
    /// A partial iptables-restore failed and the sync fell back to a full one.
    pub partial_restore_failures: Counter,
    /// Rules kproxy owns per table after the last sync.
    pub iptables_rules: Family<TableLabels, Gauge>,
    /// Rules written per table by the last sync.
    pub iptables_rules_last_sync: Family<TableLabels, Gauge>,
    /// Services with a Local traffic policy and no local endpoints, per policy.
    pub no_local_endpoints: Family<TrafficPolicyLabels, Gauge>,
    /// kube-proxy's conntrack reconciler (`src/conntrack/reconciler.rs`).
    pub conntrack_reconcile_duration: Histogram,
    pub conntrack_deleted_entries: Counter,
    pub healthz_requests: Family<CodeLabels, Counter>,
    pub livez_requests: Family<CodeLabels, Counter>,
    pub sync_failures: Counter,
    pub drift_check_duration: Histogram,
    pub drift_repairs: Counter,
    pub rejected_objects: Family<RejectedLabels, Counter>,
    pub objects_written: Family<SyncLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        // kube-proxy: metrics.ExponentialBuckets(0.001, 2, 15) for sync durations.
        let sync_buckets = || Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let m = Self {
            registry: Arc::new(Registry::default()),
            sync_duration: sync_buckets(),
            full_sync_duration: sync_buckets(),
            partial_sync_duration: sync_buckets(),
            last_sync_timestamp: Gauge::default(),
            last_queued_timestamp: Gauge::default(),
            network_programming_duration: Histogram::new(network_programming_buckets()),
            endpoint_changes: Counter::default(),
            service_changes: Counter::default(),
            endpoint_changes_pending: Gauge::default(),
            service_changes_pending: Gauge::default(),
            restore_failures: Counter::default(),
            partial_restore_failures: Counter::default(),
            iptables_rules: Family::default(),
            iptables_rules_last_sync: Family::default(),
            no_local_endpoints: Family::default(),
            conntrack_reconcile_duration: sync_buckets(),
            conntrack_deleted_entries: Counter::default(),
            healthz_requests: Family::default(),
            livez_requests: Family::default(),
            sync_failures: Counter::default(),
            drift_check_duration: sync_buckets(),
            drift_repairs: Counter::default(),
            rejected_objects: Family::default(),
            objects_written: Family::default(),
        };
        let mut registry = Registry::default();
        m.register_kube_proxy(&mut registry);
        m.register_kproxy(&mut registry);
        registry.register_collector(Box::new(process::ProcessCollector));
        registry.register_collector(Box::new(process::BuildInfo));
        Self {
            registry: Arc::new(registry),
            ..m
        }
    }

    /// kube-proxy's names; prometheus-client appends `_total` to counters.
    fn register_kube_proxy(&self, registry: &mut Registry) {
        let r = registry;
        r.register(
            "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
            "Pending proxy rules Endpoint changes",
            self.endpoint_changes_pending.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_endpoint_changes",
            "Cumulative proxy rules Endpoint changes",
            self.endpoint_changes.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_service_changes_pending",
            "Pending proxy rules Service changes",
            self.service_changes_pending.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_service_changes",
            "Cumulative proxy rules Service changes",
            self.service_changes.clone(),
        );
        r.register(
            "kubeproxy_proxy_healthz",
            "Cumulative proxy healthz HTTP status",
            self.healthz_requests.clone(),
        );
        r.register(
            "kubeproxy_proxy_livez",
            "Cumulative proxy livez HTTP status",
            self.livez_requests.clone(),
        );
        let r = r.sub_registry_with_label(("ip_family".into(), IP_FAMILY.into()));
        r.register(
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
            self.sync_duration.clone(),
        );
        r.register(
            "kubeproxy_sync_full_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for full resyncs",
            self.full_sync_duration.clone(),
        );
        r.register(
            "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for partial resyncs",
            self.partial_sync_duration.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
            "The last time proxy rules were successfully synced",
            self.last_sync_timestamp.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
            "The last time a sync of proxy rules was queued",
            self.last_queued_timestamp.clone(),
        );
        r.register(
            "kubeproxy_network_programming_duration_seconds",
            "In Cluster Network Programming Latency in seconds",
            self.network_programming_duration.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
            "Number of services with a Local traffic policy and no endpoints",
            self.no_local_endpoints.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_iptables_restore_failures",
            "Cumulative proxy iptables restore failures",
            self.restore_failures.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures",
            "Cumulative proxy iptables partial restore failures",
            self.partial_restore_failures.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_iptables_total",
            "Total number of iptables rules owned by kube-proxy",
            self.iptables_rules.clone(),
        );
        r.register(
            "kubeproxy_sync_proxy_rules_iptables_last",
            "Number of iptables rules written by kube-proxy in last sync",
            self.iptables_rules_last_sync.clone(),
        );
        r.register(
            "kubeproxy_conntrack_reconciler_sync_duration_seconds",
            "ReconcileConntrackFlowsLatency latency in seconds",
            self.conntrack_reconcile_duration.clone(),
        );
        r.register(
            "kubeproxy_conntrack_reconciler_deleted_entries",
            "Cumulative conntrack flows deleted by conntrack reconciler",
            self.conntrack_deleted_entries.clone(),
        );
    }

    fn register_kproxy(&self, registry: &mut Registry) {
        registry.register(
            "kproxy_sync_failures",
            "Syncs that failed and were retried as full syncs",
            self.sync_failures.clone(),
        );
        registry.register(
            "kproxy_drift_check_duration_seconds",
            "How long a periodic resync took to read the kernel back, beside the syncs",
            self.drift_check_duration.clone(),
        );
        registry.register(
            "kproxy_drift_repairs",
            "Chains and jumps rewritten because the kernel no longer held what kproxy wrote",
            self.drift_repairs.clone(),
        );
        registry.register(
            "kproxy_rejected_objects",
            "Services, EndpointSlices and manifest files skipped because they are invalid",
            self.rejected_objects.clone(),
        );
        registry.register(
            "kproxy_sync_objects_written",
            "Kernel objects successful syncs wrote (chains for iptables, netlink operations for IPVS)",
            self.objects_written.clone(),
        );
    }

    /// A `/healthz` answer with this status code (kube-proxy counts every probe).
    pub fn count_healthz(&self, code: u16) {
        self.healthz_requests
            .get_or_create(&CodeLabels {
                code: code.to_string(),
            })
            .inc();
    }

    /// A `/livez` answer with this status code.
    pub fn count_livez(&self, code: u16) {
        self.livez_requests
            .get_or_create(&CodeLabels {
                code: code.to_string(),
            })
            .inc();
    }

    /// A change arrived that needs a sync (the sync loop's `queued`).
    pub fn queued_now(&self) {
        self.last_queued_timestamp.set(unix_now());
    }

    /// Changes waiting for the next sync, as kube-proxy's change trackers report them.
    pub fn set_pending(&self, services: usize, endpoints: usize) {
        self.service_changes_pending
            .set(i64::try_from(services).unwrap_or(i64::MAX));
        self.endpoint_changes_pending
            .set(i64::try_from(endpoints).unwrap_or(i64::MAX));
    }

    /// After an iptables sync: the rules kproxy owns in `table`, and how many it wrote.
    pub fn set_iptables_rules(&self, table: &str, total: usize, written: usize) {
        let labels = TableLabels {
            table: table.to_string(),
        };
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.iptables_rules
            .get_or_create(&labels)
            .set(as_i64(total));
        self.iptables_rules_last_sync
            .get_or_create(&labels)
            .set(as_i64(written));
    }

    /// After a sync: services whose internal / external traffic policy is Local and that
    /// have no local endpoints.
    pub fn set_no_local_endpoints(&self, internal: usize, external: usize) {
        for (policy, n) in [("internal", internal), ("external", external)] {
            self.no_local_endpoints
                .get_or_create(&TrafficPolicyLabels {
                    traffic_policy: policy.into(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Counts one object skipped as invalid.
    pub fn reject(&self, kind: &str, reason: &str) {
        self.rejected_objects
            .get_or_create(&RejectedLabels {
                kind: kind.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn rejected(&self, kind: &str, reason: &str) -> u64 {
        self.rejected_objects
            .get_or_create(&RejectedLabels {
                kind: kind.to_string(),
                reason: reason.to_string(),
            })
            .get()
    }

    /// Counts what one successful sync wrote.
    pub fn count_written(&self, full: bool, written: usize) {
        let sync = if full { "full" } else { "partial" };
        self.objects_written
            .get_or_create(&SyncLabels { sync })
            .inc_by(u64::try_from(written).unwrap_or(u64::MAX));
    }

    pub fn observe_sync(&self, elapsed: Duration, full: bool) {
        let secs = elapsed.as_secs_f64();
        self.sync_duration.observe(secs);
        if full {
            self.full_sync_duration.observe(secs);
        } else {
            self.partial_sync_duration.observe(secs);
        }
    }

    /// OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Every metric in the given exposition format.
    pub fn encode_as(&self, format: Format) -> String {
        match format {
            Format::OpenMetrics => self.encode(),
            Format::Prometheus => text::to_prometheus(&self.encode()),
        }
    }
}

/// Seconds since the Unix epoch, as a gauge value.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// kube-proxy's buckets for network programming latency: fine below a minute, coarse above.
fn network_programming_buckets() -> Vec<f64> {
    let mut b = vec![0.25, 0.5];
    b.extend((1..=59).map(f64::from));
    b.extend((0..12).map(|i| 60.0 + 5.0 * f64::from(i)));
    b.extend((0..7).map(|i| 120.0 + 30.0 * f64::from(i)));
    b
}
