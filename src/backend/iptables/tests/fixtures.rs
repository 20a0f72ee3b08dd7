//! The address plan and terse builders shared by the tests.
//!
//! | what                   | addresses                                  |
//! |------------------------|--------------------------------------------|
//! | this node (`node-a`)   | 192.168.0.2                                |
//! | pods on this node      | 10.180.0.x                                 |
//! | pods on `node-b`       | 10.180.1.x                                 |
//! | cluster CIDR           | 10.180.0.0/16                              |
//! | service (cluster) IPs  | 172.30.0.x                                 |
//! | external IPs           | 192.168.99.x                               |
//! | load-balancer IPs      | 5.6.7.x                                    |
//! | outside client         | 203.0.113.5                                |

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::backend::iptables::compile::{CompileOptions, compile};
use crate::model::{
    Change, Conditions, EndpointSlice, Protocol, ProxyState, Service, TrafficPolicy,
};
use crate::netfilter::iptables::ruleset::Ruleset;
use crate::testing::iptables::parse::Tables;

pub const NODE: &str = "node-a";
pub const OTHER_NODE: &str = "node-b";
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 2);
pub const OUTSIDE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);

pub const TERMINATING: Conditions = Conditions {
    ready: false,
    serving: true,
    terminating: true,
};
pub const NOT_SERVING: Conditions = Conditions {
    ready: false,
    serving: false,
    terminating: true,
};

pub fn svc_ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(172, 30, 0, last)
}

pub fn local_pod(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 180, 0, last)
}

pub fn remote_pod(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 180, 1, last)
}

pub fn options() -> CompileOptions {
    CompileOptions {
        local_traffic: crate::model::LocalTraffic::from_cidr(Some(
            "10.180.0.0/16".parse().unwrap(),
        )),
        ..CompileOptions::default()
    }
}

/// A service `ns/<name>` with one TCP port `p80` (80) and the given node port.
pub fn service(name: &str, ip_last: u8, node_port: Option<u16>) -> Service {
    Service::new("ns", name, svc_ip(ip_last)).with_port("p80", 80, Protocol::Tcp, node_port)
}

pub fn with_policies(mut svc: Service, etp: TrafficPolicy, itp: TrafficPolicy) -> Service {
    svc.external_traffic_policy = etp;
    svc.internal_traffic_policy = itp;
    svc
}

pub fn with_affinity(mut svc: Service, seconds: u64) -> Service {
    svc.session_affinity = Some(Duration::from_secs(seconds));
    svc
}

/// A slice for port `p80`/TCP of `svc`, target port 80: (ip, node, conditions).
pub fn slice(svc: &Service, endpoints: &[(Ipv4Addr, &str, Conditions)]) -> EndpointSlice {
    let mut slice = EndpointSlice::new(&svc.name, &format!("{}-1", svc.name.name)).with_port(
        "p80",
        80,
        Protocol::Tcp,
    );
    for (ip, node, conditions) in endpoints {
        slice = slice.with_endpoint(*ip, Some(node), *conditions);
    }
    slice
}

pub fn state(services: &[Service], slices: &[EndpointSlice]) -> ProxyState {
    let mut state = ProxyState::new(NODE);
    for svc in services {
        state.apply(Change::service(svc.clone()));
    }
    for slice in slices {
        state.apply(Change::slice(slice.clone()));
    }
    state.take_pending();
    state
}

/// The compiled ruleset parsed back, as the tracer reads it.
pub fn parsed(ruleset: &Ruleset) -> Tables {
    Tables::parse(&ruleset.to_restore_input()).unwrap_or_else(|e| {
        panic!(
            "compiled rules do not parse: {e}\n{}",
            ruleset.to_restore_input()
        )
    })
}

pub fn compile_parsed(state: &ProxyState, opts: &CompileOptions) -> Tables {
    parsed(&compile(state, opts))
}
