//! The compiled text against a real kernel: restored into a throwaway network namespace,
//! `iptables-save` must print back exactly the compiled chains, for hand-picked and for
//! random states. This is what lets the executor compare kernel and compiled text.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::arbitrary::{compile_options, service_and_slice};

use super::fixtures::*;
use super::netns;
use crate::backend::iptables::compile::{CompileOptions, compile};
use crate::model::{
    Change, Conditions, EndpointSlice, Protocol, ProxyState, Service, ServiceName, TrafficPolicy,
};
use crate::netfilter::iptables::ruleset::{Ruleset, Table};
use crate::testing::iptables::parse::{Tables, builtin_chains};
use crate::testing::netns::Netns;

/// Restores `ruleset` (replacing the tables) and checks iptables-save prints it back.
fn assert_kernel_holds(ns: &Netns, ruleset: &Ruleset) -> Result<(), String> {
    let input = ruleset.to_restore_input();
    ns.iptables_restore(&[], &input)
        .map_err(|e| format!("iptables-restore refused the compiled rules: {e}\n{input}"))?;
    let saved =
        Tables::parse(&ns.iptables_save(&[])).map_err(|e| format!("iptables-save output: {e}"))?;
    for table in Table::ALL {
        let name = table.as_str();
        let mut ours = BTreeSet::new();
        for chain in ruleset.chains.iter().filter(|c| c.table() == table) {
            ours.insert(chain.name());
            let kernel = saved
                .chain(name, chain.name())
                .ok_or_else(|| format!("{name}/{} missing in the kernel", chain.name()))?;
            let kernel_rules: Vec<&str> = kernel.rules.iter().map(|r| r.text.as_str()).collect();
            let rules: Vec<&str> = chain.rules().collect();
            if kernel_rules != rules {
                let at = (0..).find(|&i| kernel_rules.get(i) != rules.get(i));
                let at = at.expect("lists differ somewhere");
                return Err(format!(
                    "{name}/{} differs at rule {at} ({} compiled, {} in the kernel):\ncompiled: {:?}\nkernel:   {:?}",
                    chain.name(),
                    rules.len(),
                    kernel_rules.len(),
                    rules.get(at),
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
                return Err(format!(
                    "{name}/{builtin} jumps differ:\nwant {want:#?}\ngot  {got:#?}"
                ));
            }
        }
        let theirs: BTreeSet<&str> = saved
            .table(name)
            .map(|t| {
                t.chains
                    .values()
                    .filter(|c| c.policy.is_none())
                    .map(|c| c.name.as_str())
                    .collect()
            })
            .unwrap_or_default();
        if theirs != ours {
            return Err(format!(
                "{name}: kernel chains {theirs:?} != compiled {ours:?}"
            ));
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
    let Some(ns) = netns::create() else {
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
            nodeport_addresses: vec![
                "192.168.0.9/24".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap(),
            ],
            local_traffic: crate::model::LocalTraffic::from_cidr(Some(
                "0.0.0.0/0".parse().unwrap(),
            )),
            masquerade_bit: 0,
            ..options()
        },
        CompileOptions::default(),
        CompileOptions {
            local_traffic: crate::model::LocalTraffic::FromInterface("cbr0".into()),
            localhost_node_ports: true,
            ..options()
        },
        CompileOptions {
            local_traffic: crate::model::LocalTraffic::FromInterfacePrefix("veth".into()),
            nodeport_addresses: vec!["127.0.0.0/8".parse().unwrap()],
            localhost_node_ports: true,
            ..options()
        },
    ];
    for opts in &variants {
        let ruleset = compile(&golden_state(), opts);
        assert_kernel_holds(&ns, &ruleset).unwrap_or_else(|e| panic!("{opts:?}: {e}"));
    }
}

#[test]
fn odd_names_and_many_endpoints_round_trip_through_the_kernel() {
    let Some(ns) = netns::create() else {
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

#[test]
fn large_cluster_rules_round_trip_through_the_kernel_and_trace() {
    let Some(ns) = netns::create() else {
        return;
    };
    // 120 services x 10 endpoints: past kube-proxy's 1000-endpoint threshold.
    let st = super::incremental::big_state(120, 10);
    let ruleset = compile(&st, &options());
    assert!(ruleset.chains.iter().any(
        |c| c.name().starts_with("KUBE-SEP-") && !c.rules().next().unwrap().contains("comment")
    ));
    assert_kernel_holds(&ns, &ruleset).unwrap();
    let tables = parsed(&ruleset);
    let svc = st.service(&ServiceName::new("ns", "svc-7")).unwrap();
    let trace = crate::testing::iptables::trace::Tracer::new(&tables, &[NODE_IP])
        .trace(crate::testing::iptables::trace::Packet {
            src: OUTSIDE,
            proto: Protocol::Tcp,
            dst: NODE_IP,
            dport: svc.ports[0].node_port.unwrap(),
        })
        .unwrap();
    assert_eq!(trace.paths.len(), 10, "{}", trace.output);
    assert!(trace.masquerade);
}

/// No state may produce input iptables-restore refuses, and whatever it accepts must come
/// back from iptables-save exactly as compiled.
#[test]
fn random_states_are_accepted_and_saved_back_verbatim() {
    let Some(ns) = netns::create() else {
        return;
    };
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(service_and_slice(), 0..5),
        compile_options(),
    );
    runner
        .run(&strategy, |(services, opts)| {
            let mut state = ProxyState::new(NODE);
            let mut names = BTreeSet::<ServiceName>::new();
            for (svc, slice) in services {
                if names.insert(svc.name.clone()) {
                    state.apply(Change::service(svc));
                    state.apply(Change::slice(slice));
                }
            }
            let ruleset = compile(&state, &opts);
            assert_kernel_holds(&ns, &ruleset).map_err(TestCaseError::fail)?;
            // What the kernel accepted also traces: nothing the tracer cannot read.
            let tables = parsed(&ruleset);
            let tracer = crate::testing::iptables::trace::Tracer::new(&tables, &[NODE_IP]);
            for svc in state.services() {
                for port in &svc.ports {
                    let packet = crate::testing::iptables::trace::Packet {
                        src: OUTSIDE,
                        proto: port.protocol,
                        dst: svc.cluster_ip,
                        dport: port.port,
                    };
                    tracer
                        .trace(packet)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
            }
            Ok(())
        })
        .unwrap();
}
