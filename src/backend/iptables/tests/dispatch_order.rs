//! The nat dispatch chains list their rules in descending order of jump target (what makes
//! iptables-nft's restore of a large `KUBE-SERVICES` fast), with the node-port rule last.

use super::fixtures::*;
use crate::backend::iptables::compile::compile;
use crate::backend::iptables::names::{KUBE_NODEPORTS, KUBE_SERVICES};
use crate::model::Conditions;
use crate::netfilter::iptables::read_back::jump_target;
use crate::netfilter::iptables::ruleset::Table;

#[test]
fn nat_dispatch_rules_are_in_descending_jump_target_order() {
    let services: Vec<_> = (1..=40u8)
        .map(|i| service(&format!("s{i:02}"), i, Some(30000 + u16::from(i))))
        .collect();
    let slices: Vec<_> = services
        .iter()
        .zip(1u8..)
        .map(|(svc, i)| slice(svc, &[(remote_pod(i), "other", Conditions::READY)]))
        .collect();
    let ruleset = compile(&state(&services, &slices), &options());
    for name in [KUBE_SERVICES, KUBE_NODEPORTS] {
        let chain = ruleset.chain(Table::Nat, name).expect(name);
        let mut targets: Vec<&str> = chain.rules().filter_map(jump_target).collect();
        if name == KUBE_SERVICES {
            assert_eq!(targets.pop(), Some(KUBE_NODEPORTS), "node ports stay last");
        }
        assert_eq!(targets.len(), 40, "{name}: {targets:?}");
        let mut sorted = targets.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(targets, sorted, "{name}");
    }
}
