//! `spec.loadBalancerSourceRanges` → the model's IPv4 source ranges, as kube-proxy reads
//! them (`BaseServicePortInfo`): whitespace trimmed (validation lets it through), other
//! families left out, and a zero-prefix range meaning "everyone", the same as none.

use ipnet::{IpNet, Ipv4Net};

use super::ObjectError;

/// The ranges; a value that is no CIDR goes to `dropped` (skipped: the rest of the service
/// keeps working, and the source logs and counts it as a part left out).
pub fn source_ranges(raw: &[String], dropped: &mut Vec<ObjectError>) -> Vec<Ipv4Net> {
    let mut ranges = Vec::new();
    let mut allow_all = false;
    for value in raw {
        match value.trim().parse::<IpNet>() {
            Ok(IpNet::V4(net)) => {
                allow_all |= net.prefix_len() == 0;
                ranges.push(net.trunc());
            }
            // The other family's business (a dual-stack service), as kube-proxy.
            Ok(IpNet::V6(_)) => {}
            Err(_) => dropped.push(ObjectError::InvalidSourceRange(value.clone())),
        }
    }
    if allow_all {
        ranges.clear();
    }
    ranges.sort_unstable();
    ranges.dedup();
    ranges
}
