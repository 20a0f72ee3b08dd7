//! IPVS mode's constant iptables rules against a real kernel (this machine's; no IPVS
//! needed): restored into a throwaway namespace next to kproxy's sets, `iptables-save` must
//! give back exactly the compiled text — the executor compares the two at every full sync —
//! and a node left by iptables mode must be converted by one plan. Needs root.

mod support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use kproxy::backend::iptables::compile::{CompileOptions, compile};
use kproxy::backend::ipvs::rules::{RuleOptions, is_owned, ruleset};
use kproxy::backend::ipvs::sets::IpvsSet;
use kproxy::ipset::{IpsetHandle, sync_set};
use kproxy::model::{
    Change, Conditions, EndpointSlice, LocalTraffic, Protocol, ProxyState, Service,
};
use kproxy::netfilter::iptables::plan::Plan;
use kproxy::netfilter::iptables::read_back::read_kernel_owned;
use kproxy::netfilter::iptables::ruleset::Ruleset;
use kproxy::netfilter::iptables::runner::{CommandRunner, IptablesRunner};
use support::netns::{Netns, netns_available};

/// Creates every set, empty, in the calling thread's namespace.
fn create_sets() {
    let mut ipset = IpsetHandle::new().expect("ipset socket");
    for set in IpvsSet::ALL {
        sync_set(&mut ipset, set.name(), &set.set_type(), &BTreeSet::new())
            .unwrap_or_else(|e| panic!("creating {set}: {e}"));
    }
}

/// The plan that would bring the namespace's rules to `rules`, rendered; empty when none.
fn remaining_plan(rules: &Ruleset) -> String {
    let mut runner = CommandRunner::default();
    let (chains, jumps) = read_kernel_owned(&mut runner, &is_owned).expect("iptables-save");
    Plan::new(rules, &chains, Some(&jumps)).render()
}

#[test]
fn the_compiled_rules_are_what_iptables_save_prints() {
    if !netns_available(&[]) {
        return;
    }
    let variants = [
        (Some("10.244.0.0/16"), false, 14),
        (None, false, 14),
        (Some("10.244.0.0/16"), true, 3),
    ];
    let interfaces = [
        LocalTraffic::FromInterface("cbr0".into()),
        LocalTraffic::FromInterfacePrefix("veth".into()),
    ];
    let variants = variants
        .into_iter()
        .map(|(cidr, all, bit)| {
            let local = LocalTraffic::from_cidr(cidr.map(|c| c.parse().unwrap()));
            (local, all, bit)
        })
        .chain(interfaces.into_iter().map(|local| (local, false, 14)));
    for (local_traffic, masquerade_all, bit) in variants {
        let opts = RuleOptions {
            masquerade_all,
            masquerade_bit: bit,
            local_traffic: local_traffic.clone(),
        };
        let ns = Netns::new("ipvs-rules");
        let left = ns.run_in(move || {
            create_sets();
            let rules = ruleset(&opts);
            CommandRunner::default()
                .restore(&rules.to_restore_input())
                .expect("iptables-restore of the IPVS rules");
            remaining_plan(&rules)
        });
        assert_eq!(
            left, "",
            "{local_traffic:?} masquerade_all={masquerade_all}: kernel differs"
        );
    }
}

#[test]
fn one_plan_turns_an_iptables_mode_node_into_an_ipvs_mode_node() {
    if !netns_available(&[]) {
        return;
    }
    let mut state = ProxyState::new("node-1");
    let svc = Service::new("demo", "web", Ipv4Addr::new(10, 96, 0, 10)).with_port(
        "http",
        80,
        Protocol::Tcp,
        Some(30080),
    );
    let slice = EndpointSlice::new(&svc.name, "web-1")
        .with_port("http", 8080, Protocol::Tcp)
        .with_endpoint(
            Ipv4Addr::new(10, 244, 1, 2),
            Some("node-1"),
            Conditions::READY,
        );
    state.apply(Change::service(svc));
    state.apply(Change::slice(slice));
    let iptables_mode = compile(&state, &CompileOptions::default()).to_restore_input();

    let ns = Netns::new("mode-switch");
    let (saved, left) = ns.run_in(move || {
        create_sets();
        let mut runner = CommandRunner::default();
        runner.restore(&iptables_mode).expect("iptables mode rules");
        let rules = ruleset(&RuleOptions {
            masquerade_all: false,
            masquerade_bit: 14,
            local_traffic: LocalTraffic::Unknown,
        });
        let plan = remaining_plan(&rules);
        runner.restore(&plan).expect("the switch plan");
        let saved = format!(
            "{}{}",
            runner
                .save(kproxy::netfilter::iptables::ruleset::Table::Filter)
                .unwrap(),
            runner
                .save(kproxy::netfilter::iptables::ruleset::Table::Nat)
                .unwrap()
        );
        (saved, remaining_plan(&rules))
    });
    assert_eq!(left, "", "a second plan is needed");
    for gone in [
        "KUBE-SVC-",
        "KUBE-SEP-",
        "KUBE-EXT-",
        "KUBE-NODEPORTS",
        "KUBE-EXTERNAL-SERVICES",
    ] {
        assert!(
            !saved.contains(gone),
            "{gone} left after the switch:\n{saved}"
        );
    }
    assert!(
        saved.contains(
            "-A INPUT -m comment --comment \"kubernetes ipvs access filter\" -j KUBE-IPVS-FILTER"
        ),
        "{saved}"
    );
}
