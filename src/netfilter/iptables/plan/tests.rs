use super::*;
use crate::netfilter::iptables::ruleset::Jump;

fn chain(table: Table, name: &str, rules: &[&str]) -> Arc<Chain> {
    Arc::new(Chain::new(table, name, rules.iter().copied()))
}

fn kernel_of(chains: &[Arc<Chain>]) -> ChainMap {
    chains.iter().map(|c| Arc::new(Chain::clone(c))).collect()
}

fn services_jump() -> Jump {
    Jump {
        table: Table::Nat,
        chain: "PREROUTING",
        rule: "-m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES".into(),
    }
}

#[test]
fn identical_chains_are_not_rewritten() {
    let a = chain(Table::Nat, "KUBE-SVC-A", &["-j KUBE-SEP-A"]);
    let desired = Ruleset {
        chains: vec![a.clone()],
        jumps: vec![],
    };
    // A copy read back from the kernel, not the same Arc: compared by content.
    let plan = Plan::new(&desired, &kernel_of(&[a]), None);
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(plan.render(), "");
}

#[test]
fn changed_missing_and_stale_chains() {
    let desired = Ruleset {
        chains: vec![
            chain(
                Table::Nat,
                "KUBE-SERVICES",
                &["-d 10.0.0.1/32 -j KUBE-SVC-A"],
            ),
            chain(Table::Nat, "KUBE-SVC-A", &["-j KUBE-SEP-A"]),
            chain(
                Table::Nat,
                "KUBE-SEP-A",
                &["-p tcp -m tcp -j DNAT --to-destination 10.1.0.1:80"],
            ),
        ],
        jumps: vec![],
    };
    let kernel = kernel_of(&[
        chain(
            Table::Nat,
            "KUBE-SERVICES",
            &["-d 10.0.0.1/32 -j KUBE-SVC-B"],
        ),
        chain(Table::Nat, "KUBE-SVC-A", &["-j KUBE-SEP-A"]),
        chain(Table::Nat, "KUBE-SVC-B", &[]),
    ]);
    let plan = Plan::new(&desired, &kernel, None);
    assert_eq!(
        plan.render(),
        "*nat\n\
         :KUBE-SVC-B - [0:0]\n\
         :KUBE-SERVICES - [0:0]\n\
         :KUBE-SEP-A - [0:0]\n\
         -A KUBE-SERVICES -d 10.0.0.1/32 -j KUBE-SVC-A\n\
         -A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.1.0.1:80\n\
         -X KUBE-SVC-B\n\
         COMMIT\n"
    );
    assert_eq!(plan.size(), 3);
}

#[test]
fn jumps_are_inserted_when_missing_and_strays_removed() {
    let desired = Ruleset {
        chains: vec![],
        jumps: vec![services_jump()],
    };
    let kernel_jumps: JumpMap = [(
        (Table::Nat, "PREROUTING".to_string()),
        vec!["-j KUBE-SERVICES".to_string()],
    )]
    .into();
    let plan = Plan::new(&desired, &ChainMap::new(), Some(&kernel_jumps));
    assert_eq!(
        plan.render(),
        "*nat\n\
         -D PREROUTING -j KUBE-SERVICES\n\
         -I PREROUTING 1 -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
         COMMIT\n"
    );

    let present: JumpMap = [(
        (Table::Nat, "PREROUTING".to_string()),
        vec![services_jump().rule],
    )]
    .into();
    assert!(Plan::new(&desired, &ChainMap::new(), Some(&present)).is_empty());
}

#[test]
fn without_kernel_jumps_the_jumps_are_not_checked() {
    let desired = Ruleset {
        chains: vec![],
        jumps: vec![services_jump()],
    };
    assert!(Plan::new(&desired, &ChainMap::new(), None).is_empty());
}

#[test]
fn the_same_arcs_are_skipped_and_stale_chains_still_found() {
    let svc = chain(Table::Nat, "KUBE-SVC-A", &["-j KUBE-SEP-B"]);
    let old_sep = chain(
        Table::Nat,
        "KUBE-SEP-A",
        &["-j DNAT --to-destination 10.1.0.1:80"],
    );
    let new_sep = chain(
        Table::Nat,
        "KUBE-SEP-B",
        &["-j DNAT --to-destination 10.1.0.2:80"],
    );
    let filter = chain(Table::Filter, "KUBE-SERVICES", &[]);
    // The map shares the desired `Arc`s for unchanged chains, as after a partial compile.
    let kernel: ChainMap = [
        chain(Table::Nat, "KUBE-SVC-A", &["-j KUBE-SEP-A"]),
        old_sep,
        Arc::clone(&filter),
        // Same name as a desired chain of the other table: not stale there, stale here.
        chain(Table::Filter, "KUBE-SEP-B", &[]),
    ]
    .into_iter()
    .collect();
    let desired = Ruleset {
        chains: vec![filter, svc, new_sep],
        jumps: vec![],
    };
    let plan = Plan::new(&desired, &kernel, None);
    let written: Vec<&str> = plan.written().map(|c| c.name()).collect();
    assert_eq!(written, vec!["KUBE-SVC-A", "KUBE-SEP-B"]);
    let deleted: Vec<(Table, &str)> = plan.deleted().collect();
    assert_eq!(
        deleted,
        vec![(Table::Filter, "KUBE-SEP-B"), (Table::Nat, "KUBE-SEP-A")]
    );
}
