//! `spec.loadBalancerSourceRanges` → the model's IPv4 source ranges, as kube-proxy reads
//! them (`BaseServicePortInfo`): whitespace trimmed (validation lets it through), other
//! families left out, and a zero-prefix range meaning "everyone", the same as none.

use ipnet::{IpNet, Ipv4Net};

use crate::model::ServiceName;

/// `kproxy_rejected_objects_total` reason of a range that is no CIDR.
pub const INVALID_SOURCE_RANGE: &str = "invalid_load_balancer_source_range";

/// The ranges, and the raw values that are no CIDR (skipped: the rest of the service
/// keeps working, and the caller logs and counts each once).
pub fn source_ranges(raw: &[String]) -> (Vec<Ipv4Net>, Vec<String>) {
    let mut ranges = Vec::new();
    let mut invalid = Vec::new();
    let mut allow_all = false;
    for value in raw {
        match value.trim().parse::<IpNet>() {
            Ok(IpNet::V4(net)) => {
                allow_all |= net.prefix_len() == 0;
                ranges.push(net.trunc());
            }
            // The other family's business (a dual-stack service), as kube-proxy.
            Ok(IpNet::V6(_)) => {}
            Err(_) => invalid.push(value.clone()),
        }
    }
    if allow_all {
        ranges.clear();
    }
    ranges.sort_unstable();
    ranges.dedup();
    (ranges, invalid)
}

/// How many of a Service's source ranges are skipped as no CIDR, for the callers that
/// count them in `kproxy_rejected_objects_total` (the conversion has no metrics).
pub fn invalid_source_ranges(obj: &k8s_openapi::api::core::v1::Service) -> usize {
    let raw = obj
        .spec
        .as_ref()
        .and_then(|s| s.load_balancer_source_ranges.as_deref())
        .unwrap_or_default();
    source_ranges(raw).1.len()
}

/// Logs a skipped range, naming the service.
pub fn log_invalid(service: &ServiceName, value: &str) {
    tracing::warn!(
        kind = "Service",
        object = %service,
        reason = INVALID_SOURCE_RANGE,
        "Service {service}: spec.loadBalancerSourceRanges {value:?} is not a CIDR; skipping it"
    );
}
