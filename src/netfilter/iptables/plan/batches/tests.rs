use std::collections::{HashMap, HashSet};

use super::*;
use crate::netfilter::iptables::plan::{ChainMap, JumpMap};
use crate::netfilter::iptables::ruleset::{Jump, Ruleset};

fn chain(name: &str, rules: &[&str]) -> Arc<Chain> {
    Arc::new(Chain::new(Table::Nat, name, rules.iter().copied()))
}

/// A ruleset of `n` services: KUBE-SERVICES → KUBE-SVC-i → KUBE-SEP-i → KUBE-MARK-MASQ.
fn services(n: usize, prefix: &str) -> Vec<Arc<Chain>> {
    let mut chains = vec![chain(
        "KUBE-MARK-MASQ",
        &["-j MARK --set-xmark 0x4000/0x4000"],
    )];
    let dispatch: Vec<String> = (0..n)
        .map(|i| format!("-d 10.0.0.{i}/32 -j KUBE-SVC-{prefix}{i}"))
        .collect();
    let dispatch: Vec<&str> = dispatch.iter().map(String::as_str).collect();
    chains.push(chain("KUBE-SERVICES", &dispatch));
    for i in 0..n {
        chains.push(chain(
            &format!("KUBE-SVC-{prefix}{i}"),
            &[&format!("-j KUBE-SEP-{prefix}{i}")],
        ));
        chains.push(chain(
            &format!("KUBE-SEP-{prefix}{i}"),
            &[
                "-s 10.1.0.1/32 -j KUBE-MARK-MASQ",
                "-p tcp -j DNAT --to-destination 10.1.0.1:80",
            ],
        ));
    }
    chains
}

fn kernel_of(chains: &[Arc<Chain>]) -> ChainMap {
    chains.iter().cloned().collect()
}

/// Applies batches to a model of the nat table the way iptables-restore --noflush does,
/// failing on a jump to a missing chain or the deletion of a chain still jumped to.
fn apply(kernel: &mut HashMap<String, Vec<String>>, batch: &str) -> Result<(), String> {
    let mut next = kernel.clone();
    for line in batch.lines() {
        if let Some(decl) = line.strip_prefix(':') {
            let name = decl.split_whitespace().next().unwrap();
            next.insert(name.to_string(), Vec::new());
        } else if let Some(rest) = line
            .strip_prefix("-A ")
            .or_else(|| line.strip_prefix("-I "))
        {
            let (chain, rule) = rest.split_once(' ').unwrap();
            let rule = rule.strip_prefix("1 ").unwrap_or(rule);
            if let Some(t) = jump_target(rule).filter(|t| t.starts_with("KUBE-"))
                && !next.contains_key(t)
            {
                return Err(format!("{line}: no chain {t}"));
            }
            next.entry(chain.to_string())
                .or_default()
                .push(rule.to_string());
        } else if let Some(name) = line.strip_prefix("-X ") {
            let used = next
                .iter()
                .any(|(c, rules)| c != name && rules.iter().any(|r| jump_target(r) == Some(name)));
            if used {
                return Err(format!("{line}: chain still jumped to"));
            }
            next.remove(name);
        } else if let Some(rest) = line.strip_prefix("-D ") {
            let (chain, rule) = rest.split_once(' ').unwrap();
            next.get_mut(chain).unwrap().retain(|r| r != rule);
        }
    }
    *kernel = next;
    Ok(())
}

fn chains_named(batch: &str) -> usize {
    batch.lines().filter(|l| l.starts_with(':')).count()
}

#[test]
fn a_plan_that_fits_is_one_render() {
    let desired = Ruleset {
        chains: services(2, "A"),
        jumps: vec![],
    };
    let plan = Plan::new(&desired, &ChainMap::new(), None);
    assert_eq!(
        plan.render_batches(100).collect::<Vec<_>>(),
        vec![plan.render()]
    );
    let empty = Plan::new(&desired, &kernel_of(&desired.chains), None);
    assert_eq!(empty.render_batches(1).count(), 0);
}

#[test]
fn batches_write_leaves_first_and_stay_small() {
    let desired = Ruleset {
        chains: services(5, "A"),
        jumps: vec![Jump {
            table: Table::Nat,
            chain: "PREROUTING",
            rule: "-j KUBE-SERVICES".into(),
        }],
    };
    let plan = Plan::new(&desired, &ChainMap::new(), Some(&JumpMap::new()));
    let batches: Vec<String> = plan.render_batches(3).collect();
    assert!(batches.len() >= 4, "{batches:#?}");
    let mut kernel: HashMap<String, Vec<String>> = [("PREROUTING".to_string(), Vec::new())].into();
    for batch in &batches {
        assert!(chains_named(batch) <= 3, "{batch}");
        apply(&mut kernel, batch).unwrap_or_else(|e| panic!("{e}\n{batch}"));
    }
    for c in &desired.chains {
        let rules: Vec<&str> = c.rules().collect();
        assert_eq!(kernel[c.name()], rules, "{}", c.name());
    }
    assert_eq!(kernel["PREROUTING"], vec!["-j KUBE-SERVICES"]);
    // The jump into kproxy's chains comes with the last batch that writes chains.
    assert!(
        batches
            .last()
            .unwrap()
            .contains("-I PREROUTING 1 -j KUBE-SERVICES")
    );
    // Declarations in a batch go in descending name order.
    let first: Vec<&str> = batches[0].lines().filter(|l| l.starts_with(':')).collect();
    let mut sorted = first.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(first, sorted);
}

#[test]
fn batched_replacement_deletes_stale_chains_referrers_first() {
    let old = services(4, "OLD");
    let new = services(4, "NEW");
    let plan = Plan::new(
        &Ruleset {
            chains: new.clone(),
            jumps: vec![],
        },
        &kernel_of(&old),
        None,
    );
    let mut kernel: HashMap<String, Vec<String>> = old
        .iter()
        .map(|c| {
            (
                c.name().to_string(),
                c.rules().map(String::from).collect::<Vec<_>>(),
            )
        })
        .collect();
    for batch in plan.render_batches(2) {
        assert!(chains_named(&batch) <= 2, "{batch}");
        apply(&mut kernel, &batch).unwrap_or_else(|e| panic!("{e}\n{batch}"));
    }
    let names: HashSet<&str> = kernel.keys().map(String::as_str).collect();
    let wanted: HashSet<&str> = new.iter().map(|c| c.name()).collect();
    assert_eq!(names, wanted);
}

#[test]
fn depth_counts_jumps_within_the_set_and_survives_cycles() {
    let a = chain("A", &["-j B", "-j ACCEPT", "-j C"]);
    let b = chain("B", &["-g C"]);
    let c = chain("C", &["-j DNAT --to-destination 1.2.3.4:80"]);
    // Whatever the order, the longest path counts.
    assert_eq!(depths(&[&*a, &*b, &*c]), [2, 1, 0]);
    assert_eq!(depths(&[&*c, &*b, &*a]), [0, 1, 2]);
    assert_eq!(depths(&[&*b, &*a, &*c]), [1, 2, 0]);
    let ordered: Vec<&str> = by_depth(&[&*a, &*b, &*c], false)
        .iter()
        .map(|c| c.name())
        .collect();
    assert_eq!(ordered, ["C", "B", "A"]);
    let x = chain("X", &["-j Y"]);
    let y = chain("Y", &["-j X", "-j Z"]);
    let z = chain("Z", &["-j X"]);
    // Cut where the walk meets its own path: X → Y → Z (→ X cut), Y also → X (cut).
    assert_eq!(depths(&[&*x, &*y, &*z]), [2, 1, 0]);
}
