//! kube-proxy's metrics, under kube-proxy's names, plus kproxy's own count of rejected
//! objects. Cheap to clone: every handle shares the same registry.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Labels of `kproxy_rejected_objects_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectedLabels {
    /// `Service`, `EndpointSlice` or `File`.
    pub kind: String,
    /// A short machine-readable reason, e.g. `invalid_cluster_ip`.
    pub reason: String,
}

/// Labels of the conntrack reconciler's metrics: `IPv4` or `IPv6`, as kube-proxy's.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IpFamilyLabels {
    pub ip_family: String,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub sync_duration: Histogram,
    pub full_sync_duration: Histogram,
    pub partial_sync_duration: Histogram,
    pub last_sync_timestamp: Gauge<f64, AtomicU64>,
    pub network_programming_duration: Histogram,
    pub endpoint_changes: Counter,
    pub service_changes: Counter,
    pub restore_failures: Counter,
    pub sync_failures: Counter,
    pub drift_check_duration: Histogram,
    pub drift_repairs: Counter,
    pub rejected_objects: Family<RejectedLabels, Counter>,
    pub conntrack_reconcile_duration: Family<IpFamilyLabels, Histogram, fn() -> Histogram>,
    pub conntrack_deleted_entries: Family<IpFamilyLabels, Counter>,
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
            network_programming_duration: Histogram::new(network_programming_buckets()),
            endpoint_changes: Counter::default(),
            service_changes: Counter::default(),
            restore_failures: Counter::default(),
            sync_failures: Counter::default(),
            drift_check_duration: sync_buckets(),
            drift_repairs: Counter::default(),
            rejected_objects: Family::default(),
            conntrack_reconcile_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 15))
            }),
            conntrack_deleted_entries: Family::default(),
        };
        let mut registry = Registry::default();
        registry.register(
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
            m.sync_duration.clone(),
        );
        registry.register(
            "kubeproxy_sync_full_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for full resyncs",
            m.full_sync_duration.clone(),
        );
        registry.register(
            "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for partial resyncs",
            m.partial_sync_duration.clone(),
        );
        registry.register(
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
            "The last time proxy rules were successfully synced",
            m.last_sync_timestamp.clone(),
        );
        registry.register(
            "kubeproxy_network_programming_duration_seconds",
            "In Cluster Network Programming Latency in seconds",
            m.network_programming_duration.clone(),
        );
        // prometheus-client appends `_total` to counter names.
        registry.register(
            "kubeproxy_sync_proxy_rules_endpoint_changes",
            "Cumulative proxy rules Endpoint changes",
            m.endpoint_changes.clone(),
        );
        registry.register(
            "kubeproxy_sync_proxy_rules_service_changes",
            "Cumulative proxy rules Service changes",
            m.service_changes.clone(),
        );
        registry.register(
            "kubeproxy_sync_proxy_rules_iptables_restore_failures",
            "Cumulative proxy iptables restore failures",
            m.restore_failures.clone(),
        );
        registry.register(
            "kproxy_sync_failures",
            "Syncs that failed and were retried as full syncs",
            m.sync_failures.clone(),
        );
        registry.register(
            "kproxy_drift_check_duration_seconds",
            "How long a periodic resync took to read the kernel back, beside the syncs",
            m.drift_check_duration.clone(),
        );
        registry.register(
            "kproxy_drift_repairs",
            "Chains and jumps rewritten because the kernel no longer held what kproxy wrote",
            m.drift_repairs.clone(),
        );
        registry.register(
            "kproxy_rejected_objects",
            "Services, EndpointSlices and manifest files skipped because they are invalid",
            m.rejected_objects.clone(),
        );
        registry.register(
            "kubeproxy_conntrack_reconciler_sync_duration_seconds",
            "ReconcileConntrackFlowsLatency latency in seconds",
            m.conntrack_reconcile_duration.clone(),
        );
        registry.register(
            "kubeproxy_conntrack_reconciler_deleted_entries",
            "Cumulative conntrack flows deleted by conntrack reconciler",
            m.conntrack_deleted_entries.clone(),
        );
        Self {
            registry: Arc::new(registry),
            ..m
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

    pub fn observe_sync(&self, elapsed: Duration, full: bool) {
        let secs = elapsed.as_secs_f64();
        self.sync_duration.observe(secs);
        if full {
            self.full_sync_duration.observe(secs);
        } else {
            self.partial_sync_duration.observe(secs);
        }
    }

    /// Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// kube-proxy's buckets for network programming latency: fine below a minute, coarse above.
fn network_programming_buckets() -> Vec<f64> {
    let mut b = vec![0.25, 0.5];
    b.extend((1..=59).map(f64::from));
    b.extend((0..12).map(|i| 60.0 + 5.0 * f64::from(i)));
    b.extend((0..7).map(|i| 120.0 + 30.0 * f64::from(i)));
    b
}
