//! The compiled text against a real kernel: restored into a throwaway network namespace,
//! `iptables-save` must print back exactly the compiled chains, for hand-picked and for
//! random states. This is what lets the executor compare kernel and compiled text.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::fixtures::*;
use super::netns::Netns;
use crate::backend::iptables::compile::{CompileOptions, compile};
use crate::backend::iptables::parse::{Tables, builtin_chains};
use crate::backend::iptables::ruleset::{Ruleset, Table};
use crate::model::{
    Change, Conditions, EndpointSlice, ProxyState, Protocol, Service, ServiceName, TrafficPolicy,
};

/// Restores `ruleset` (replacing the tables) and checks iptables-save prints it back.
fn assert_kernel_holds(ns: &Netns, ruleset: &Ruleset) -> Result<(), String> {
    let input = ruleset.to_restore_input();
    ns.restore(&[], &input)
        .map_err(|e| format!("iptables-restore refused the compiled rules: {e}\n{input}"))?;
    let saved = Tables::parse(&ns.save()).map_err(|e| format!("iptables-save output: {e}"))?;
    for table in Table::ALL {
        let name = table.as_str();
        let mut ours = BTreeSet::new();
        for chain in ruleset.chains.iter().filter(|c| c.table == table) {
            ours.insert(chain.name.as_str());
            let kernel = saved
                .chain(name, &chain.name)
                .ok_or_else(|| format!("{name}/{} missing in the kernel", chain.name))?;
            let kernel_rules: Vec<&str> = kernel.rules.iter().map(|r| r.text.as_str()).collect();
            if kernel_rules != chain.rules {
                let at = (0..).find(|&i| kernel_rules.get(i).copied() != chain.rules.get(i).map(String::as_str));
                let at = at.expect("lists differ somewhere");
                return Err(format!(
                    "{name}/{} differs at rule {at} ({} compiled, {} in the kernel):\ncompiled: {:?}\nkernel:   {:?}",
                    chain.name,
                    chain.rules.len(),
                    kernel_rules.len(),
                    chain.rules.get(at),
                    kernel_rules.get(at)
                ));
            }
        }
        for builtin in builtin_chains(name).unwrap() {
            let want: Vec<&str> = ruleset
                .jumps
                .iter()
                .filter(|j| j.table == table && j.chain == *builtin)
                .map(|j| j.rule.as_str())
                .collect();
            let got: Vec<&str> = saved
                .chain(name, builtin)
                .map(|c| c.rules.iter().map(|r| r.text.as_str()).collect())
                .unwrap_or_default();
            if got != want {
                return Err(format!("{name}/{builtin} jumps differ:\nwant {want:#?}\ngot  {got:#?}"));
            }
        }
        let theirs: BTreeSet<&str> = saved
            .table(name)
            .map(|t| t.chains.values().filter(|c| c.policy.is_none()).map(|c| c.name.as_str()).collect())
            .unwrap_or_default();
        if theirs != ours {
            return Err(format!("{name}: kernel chains {theirs:?} != compiled {ours:?}"));
        }
    }
    Ok(())
}

fn golden_state() -> ProxyState {
    let (services, slices) = super::flows::all_services();
    state(&services, &slices)
}

#[test]
fn compiled_rules_round_trip_through_the_kernel() {
    let Some(ns) = Netns::create("compiled_rules_round_trip_through_the_kernel") else {
        return;
    };
    let variants = [
        options(),
        CompileOptions {
            masquerade_all: true,
            masquerade_bit: 31,
            ..options()
        },
        CompileOptions {
            nodeport_addresses: vec!["192.168.0.9/24".parse().unwrap(), "10.0.0.0/8".parse().unwrap()],
            cluster_cidr: Some("0.0.0.0/0".parse().unwrap()),
            masquerade_bit: 0,
            ..options()
        },
        CompileOptions::default(),
    ];
    for opts in &variants {
        let ruleset = compile(&golden_state(), opts);
        assert_kernel_holds(&ns, &ruleset).unwrap_or_else(|e| panic!("{opts:?}: {e}"));
    }
}

#[test]
fn odd_names_and_many_endpoints_round_trip_through_the_kernel() {
    let Some(ns) = Netns::create("odd_names_and_many_endpoints_round_trip_through_the_kernel") else {
        return;
    };
    let long = "a".repeat(63);
    let mut svc = Service::new(&long, &format!("{}-9", "b".repeat(61)), svc_ip(9))
        .with_port("abcdefghijklmno", 65535, Protocol::Sctp, Some(32767))
        .with_port("", 1, Protocol::Udp, None);
    svc.session_affinity = Some(Duration::from_secs(86400));
    svc.external_traffic_policy = TrafficPolicy::Local;
    svc.external_ips = vec![Ipv4Addr::new(0, 0, 0, 0), Ipv4Addr::new(255, 255, 255, 255)];
    let mut slice = EndpointSlice::new(&svc.name, "s")
        .with_port("abcdefghijklmno", 1, Protocol::Sctp)
        .with_port("", 65535, Protocol::Udp);
    for i in 0..300u32 {
        let ip = Ipv4Addr::from(0x0ab4_0000 + i);
        let node = if i % 3 == 0 { NODE } else { OTHER_NODE };
        slice = slice.with_endpoint(ip, Some(node), Conditions::READY);
    }
    let ruleset = compile(&state(&[svc], &[slice]), &options());
    assert_kernel_holds(&ns, &ruleset).unwrap();
}

fn dns_label(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z]([-a-z0-9]{0,8}[a-z0-9])?",
        1 => Just("x".repeat(max)),
        1 => Just(format!("{}-0", "z".repeat(max - 2))),
    ]
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp), Just(Protocol::Sctp)]
}

fn policy() -> impl Strategy<Value = TrafficPolicy> {
    prop_oneof![Just(TrafficPolicy::Cluster), Just(TrafficPolicy::Local)]
}

fn conditions() -> impl Strategy<Value = Conditions> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(ready, serving, terminating)| Conditions {
        ready,
        serving,
        terminating,
    })
}

type EndpointSpec = (u32, u16, bool, Conditions);

/// A service and one slice for it, both random.
fn service_and_slice() -> impl Strategy<Value = (Service, EndpointSlice)> {
    let ports = prop::collection::vec(
        (prop_oneof![Just(String::new()), "[a-z][-a-z0-9]{0,13}"], any::<u16>(), protocol(), prop::option::of(30000u16..=32767)),
        1..4,
    );
    let endpoints = prop::collection::vec((any::<u32>(), any::<u16>(), any::<bool>(), conditions()), 0..6);
    (
        dns_label(63),
        dns_label(63),
        any::<u32>(),
        ports,
        prop::option::of(0u64..=86400),
        policy(),
        policy(),
        prop::collection::vec(any::<u32>(), 0..3),
        prop::collection::vec(any::<u32>(), 0..3),
        endpoints,
    )
        .prop_map(|(ns, name, ip, ports, affinity, etp, itp, ext, lb, eps)| {
            let mut svc = Service::new(&ns, &name, Ipv4Addr::from(ip));
            for (port_name, port, proto, node_port) in &ports {
                svc = svc.with_port(port_name, *port, *proto, *node_port);
            }
            svc.session_affinity = affinity.map(Duration::from_secs);
            svc.external_traffic_policy = etp;
            svc.internal_traffic_policy = itp;
            svc.external_ips = ext.into_iter().map(Ipv4Addr::from).collect();
            svc.load_balancer_ips = lb.into_iter().map(Ipv4Addr::from).collect();
            let mut slice = EndpointSlice::new(&svc.name, "slice");
            for (port_name, port, proto, _) in &ports {
                slice = slice.with_port(port_name, port.wrapping_add(1), *proto);
            }
            for (ip, _, local, cond) in eps.iter().map(|e: &EndpointSpec| *e) {
                let node = if local { NODE } else { OTHER_NODE };
                slice = slice.with_endpoint(Ipv4Addr::from(ip), Some(node), cond);
            }
            (svc, slice)
        })
}

fn compile_options() -> impl Strategy<Value = CompileOptions> {
    let net = (any::<u32>(), 0u8..=32).prop_map(|(ip, len)| ipnet::Ipv4Net::new(Ipv4Addr::from(ip), len).unwrap());
    (any::<bool>(), 0u8..=31, prop::option::of(net.clone()), prop::collection::vec(net, 0..3)).prop_map(
        |(masquerade_all, masquerade_bit, cluster_cidr, nodeport_addresses)| CompileOptions {
            masquerade_all,
            masquerade_bit,
            cluster_cidr,
            nodeport_addresses,
        },
    )
}

/// No state may produce input iptables-restore refuses, and whatever it accepts must come
/// back from iptables-save exactly as compiled.
#[test]
fn random_states_are_accepted_and_saved_back_verbatim() {
    let Some(ns) = Netns::create("random_states_are_accepted_and_saved_back_verbatim") else {
        return;
    };
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (prop::collection::vec(service_and_slice(), 0..5), compile_options());
    runner
        .run(&strategy, |(services, opts)| {
            let mut state = ProxyState::new(NODE);
            let mut names = BTreeSet::<ServiceName>::new();
            for (svc, slice) in services {
                if names.insert(svc.name.clone()) {
                    state.apply(Change::ServiceUpdated(svc));
                    state.apply(Change::SliceUpdated(slice));
                }
            }
            let ruleset = compile(&state, &opts);
            assert_kernel_holds(&ns, &ruleset).map_err(TestCaseError::fail)?;
            // What the kernel accepted also traces: nothing the tracer cannot read.
            let tables = parsed(&ruleset);
            let tracer = crate::backend::iptables::trace::Tracer::new(&tables, &[NODE_IP]);
            for svc in state.services() {
                for port in &svc.ports {
                    let packet = crate::backend::iptables::trace::Packet {
                        src: OUTSIDE,
                        proto: port.protocol,
                        dst: svc.cluster_ip,
                        dport: port.port,
                    };
                    tracer.trace(packet).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
            }
            Ok(())
        })
        .unwrap();
}
