//! Which endpoints receive traffic: kube-proxy's rules, written once for every backend.

use super::ServiceEndpoint;

/// The endpoints a service port sends traffic to, by traffic origin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointSelection {
    /// Endpoints for cluster-wide traffic policy.
    pub cluster: Vec<ServiceEndpoint>,
    /// This node's endpoints, for `Local` traffic policies.
    pub local: Vec<ServiceEndpoint>,
}

/// Applies kube-proxy's rule: use the ready endpoints; only when none is ready, fall back to
/// those that are serving and terminating (KEP-1669). The same rule is applied separately to
/// this node's endpoints, so a node whose local endpoints are all terminating still serves
/// `Local` traffic while they drain.
pub fn select_endpoints(endpoints: &[ServiceEndpoint]) -> EndpointSelection {
    EndpointSelection {
        cluster: usable(endpoints.iter()),
        local: usable(endpoints.iter().filter(|e| e.is_local)),
    }
}

fn usable<'a>(
    endpoints: impl Iterator<Item = &'a ServiceEndpoint> + Clone,
) -> Vec<ServiceEndpoint> {
    let ready: Vec<_> = endpoints.clone().filter(|e| e.ready).cloned().collect();
    if !ready.is_empty() {
        return ready;
    }
    endpoints
        .filter(|e| e.serving && e.terminating)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ep(
        last: u8,
        ready: bool,
        serving: bool,
        terminating: bool,
        is_local: bool,
    ) -> ServiceEndpoint {
        ServiceEndpoint {
            ip: Ipv4Addr::new(10, 244, 0, last),
            port: 80,
            ready,
            serving,
            terminating,
            is_local,
        }
    }

    #[test]
    fn ready_endpoints_win_over_terminating_ones() {
        let eps = [
            ep(1, true, true, false, false),
            ep(2, false, true, true, false),
        ];
        assert_eq!(select_endpoints(&eps).cluster, vec![eps[0].clone()]);
    }

    #[test]
    fn serving_terminating_endpoints_are_the_fallback() {
        let eps = [
            ep(1, false, true, true, false),
            ep(2, false, false, true, false),
            ep(3, false, false, false, false),
        ];
        assert_eq!(select_endpoints(&eps).cluster, vec![eps[0].clone()]);
    }

    #[test]
    fn local_selection_falls_back_independently() {
        let eps = [
            ep(1, true, true, false, false),
            ep(2, false, true, true, true),
        ];
        let sel = select_endpoints(&eps);
        assert_eq!(sel.cluster, vec![eps[0].clone()]);
        assert_eq!(sel.local, vec![eps[1].clone()]);
    }

    #[test]
    fn nothing_usable_gives_empty_selection() {
        assert_eq!(
            select_endpoints(&[ep(1, false, false, false, true)]),
            EndpointSelection::default()
        );
    }
}
