//! Which health-check node ports to serve and what each answers: pure, from the state
//! alone (kube-proxy's `HealthCheckNodePorts` and `LocalReadyEndpoints`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::model::{HealthCheckNodePort, ProxyState, ServiceName};

/// What one health-check port answers for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub service: ServiceName,
    /// This node's ready endpoints of the service, counted by address (a pod serving two
    /// ports is one endpoint). Terminating ones do not count: a node whose endpoints only
    /// drain must fail the check, so load balancers move away first.
    pub local_endpoints: usize,
}

/// Every health-check port to serve, by port.
pub type Checks = BTreeMap<u16, Check>;

/// The decision, with what it had to leave out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub checks: Checks,
    /// Services that need a health check and have no valid port, with the value they gave.
    pub invalid: BTreeMap<ServiceName, i32>,
    /// Services whose port another service (first by name) already has: the API server
    /// never allocates a port twice, a manifest directory may.
    pub duplicates: BTreeMap<ServiceName, (u16, ServiceName)>,
}

/// Decides from the services that need a health check (set on the model only for type
/// LoadBalancer with `externalTrafficPolicy: Local`).
pub fn decide(state: &ProxyState) -> Decision {
    let mut decision = Decision::default();
    for service in state.services() {
        let port = match service.health_check_node_port {
            None => continue,
            Some(HealthCheckNodePort::Invalid(raw)) => {
                decision.invalid.insert(service.name.clone(), raw);
                continue;
            }
            Some(HealthCheckNodePort::Port(port)) => port,
        };
        if let Some(owner) = decision.checks.get(&port) {
            let owner = owner.service.clone();
            decision
                .duplicates
                .insert(service.name.clone(), (port, owner));
            continue;
        }
        let local_ready: BTreeSet<Ipv4Addr> = service
            .distinct_ports()
            .flat_map(|p| state.endpoints(&service.name, p))
            .filter(|e| e.is_local && e.ready)
            .map(|e| e.ip)
            .collect();
        decision.checks.insert(
            port,
            Check {
                service: service.name.clone(),
                local_endpoints: local_ready.len(),
            },
        );
    }
    decision
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::model::{Change, Conditions, EndpointSlice, Protocol, Service, TrafficPolicy};

    const NODE: &str = "node-a";

    /// Each service on its own address and node ports (derived from the name's first
    /// letter): services sharing one would be one service to the state (`model::claims`).
    fn lb(name: &str, hcnp: Option<HealthCheckNodePort>) -> Service {
        let n = name.as_bytes()[0];
        let mut svc = Service::new("ns", name, Ipv4Addr::new(10, 96, 0, n))
            .with_port("http", 80, Protocol::Tcp, Some(30000 + u16::from(n)))
            .with_port("https", 443, Protocol::Tcp, Some(31000 + u16::from(n)));
        svc.external_traffic_policy = TrafficPolicy::Local;
        svc.health_check_node_port = hcnp;
        svc
    }

    fn state(services: Vec<Service>, slices: Vec<EndpointSlice>) -> ProxyState {
        let mut state = ProxyState::new(NODE);
        for svc in services {
            state.apply(Change::service(svc));
        }
        for slice in slices {
            state.apply(Change::slice(slice));
        }
        state
    }

    /// A slice of `svc` with both ports and `(ip, node, conditions)` endpoints.
    fn slice(svc: &Service, eps: &[(u8, &str, Conditions)]) -> EndpointSlice {
        let mut slice = EndpointSlice::new(&svc.name, &format!("{}-1", svc.name.name))
            .with_port("http", 8080, Protocol::Tcp)
            .with_port("https", 8443, Protocol::Tcp);
        for (last, node, conditions) in eps {
            slice = slice.with_endpoint(Ipv4Addr::new(10, 244, 0, *last), Some(*node), *conditions);
        }
        slice
    }

    #[test]
    fn local_ready_endpoints_are_counted_by_address() {
        use HealthCheckNodePort::Port;
        let web = lb("web", Some(Port(32000)));
        let terminating = Conditions {
            ready: false,
            serving: true,
            terminating: true,
        };
        let eps = slice(
            &web,
            &[
                (1, NODE, Conditions::READY),
                (2, NODE, Conditions::READY),
                (3, "node-b", Conditions::READY),
                (4, NODE, terminating),
            ],
        );
        let d = decide(&state(vec![web], vec![eps]));
        assert_eq!(
            d.checks[&32000],
            Check {
                service: ServiceName::new("ns", "web"),
                // Two ports each: still two pods; the remote and the draining one are out.
                local_endpoints: 2,
            }
        );
    }

    #[test]
    fn a_node_with_only_remote_or_draining_endpoints_counts_none() {
        let web = lb("web", Some(HealthCheckNodePort::Port(32000)));
        let draining = Conditions {
            ready: false,
            serving: true,
            terminating: true,
        };
        let eps = slice(
            &web,
            &[(3, "node-b", Conditions::READY), (4, NODE, draining)],
        );
        let d = decide(&state(vec![web.clone()], vec![eps]));
        assert_eq!(d.checks[&32000].local_endpoints, 0);
        // Without any slice the port is still served (and answers 503).
        let d = decide(&state(vec![web], vec![]));
        assert_eq!(d.checks[&32000].local_endpoints, 0);
    }

    #[test]
    fn invalid_and_duplicate_ports_are_left_out_and_named() {
        use HealthCheckNodePort::{Invalid, Port};
        let services = vec![
            lb("a", Some(Port(32000))),
            lb("b", Some(Port(32000))),
            lb("c", Some(Invalid(0))),
            lb("d", None),
        ];
        let d = decide(&state(services, vec![]));
        assert_eq!(d.checks.keys().copied().collect::<Vec<_>>(), [32000]);
        assert_eq!(d.checks[&32000].service, ServiceName::new("ns", "a"));
        assert_eq!(
            d.duplicates,
            [(
                ServiceName::new("ns", "b"),
                (32000, ServiceName::new("ns", "a"))
            )]
            .into()
        );
        assert_eq!(d.invalid, [(ServiceName::new("ns", "c"), 0)].into());
    }
}
