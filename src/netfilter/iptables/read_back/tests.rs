use super::*;
use crate::backend::iptables::names::is_owned_chain;
use crate::testing::iptables::fake::FakeRunner;

const SAVED_NAT: &str = "\
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]
:KUBE-SVC-BBBBBBBBBBBBBBBB - [0:0]
:KUBE-SVC-CCCCCCCCCCCCCCCC - [0:0]
:KUBE-SEP-DDDDDDDDDDDDDDDD - [0:0]
:KUBE-SEP-EEEEEEEEEEEEEEEE - [0:0]
:CNI-XYZ - [0:0]
-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
-A PREROUTING -j CNI-XYZ
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-SVC-AAAAAAAAAAAAAAAA
-A KUBE-SERVICES -d 10.96.0.2/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-BBBBBBBBBBBBBBBB
-A KUBE-SVC-AAAAAAAAAAAAAAAA -j KUBE-SEP-DDDDDDDDDDDDDDDD
-A KUBE-SVC-BBBBBBBBBBBBBBBB -j KUBE-SEP-EEEEEEEEEEEEEEEE
-A KUBE-SEP-DDDDDDDDDDDDDDDD -p tcp -m tcp -j DNAT --to-destination 10.244.0.1:443
-A KUBE-SEP-EEEEEEEEEEEEEEEE -p tcp -m tcp -j DNAT --to-destination 10.244.0.2:80
-A CNI-XYZ -j ACCEPT
COMMIT
";

fn kernel() -> FakeRunner {
    let mut runner = FakeRunner::default();
    runner.restore(SAVED_NAT).expect("fixture restores");
    runner
}

fn chain(name: &str, rules: &[&str]) -> Arc<Chain> {
    Arc::new(Chain::new(Table::Nat, name, rules.iter().copied()))
}

fn key(name: &str) -> (Table, String) {
    (Table::Nat, name.to_string())
}

fn found<'a>(chains: &'a ChainMap, name: &str) -> &'a Arc<Chain> {
    chains.get(Table::Nat, name).expect(name)
}

fn rules(chains: &ChainMap, name: &str) -> Vec<String> {
    found(chains, name).rules().map(String::from).collect()
}

#[test]
fn equal_chains_come_back_as_the_expected_arc() {
    let services = chain(
        "KUBE-SERVICES",
        &[
            "-d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-SVC-AAAAAAAAAAAAAAAA",
            "-d 10.96.0.2/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-BBBBBBBBBBBBBBBB",
        ],
    );
    let empty = chain("KUBE-SVC-CCCCCCCCCCCCCCCC", &[]);
    let expected = vec![services.clone(), empty.clone()];
    let (chains, _) = read_kernel_against(&mut kernel(), &expected, &is_owned_chain).unwrap();
    assert!(Arc::ptr_eq(found(&chains, "KUBE-SERVICES"), &services));
    assert!(Arc::ptr_eq(
        found(&chains, "KUBE-SVC-CCCCCCCCCCCCCCCC"),
        &empty
    ));
}

#[test]
fn chains_that_differ_come_back_as_the_kernel_has_them() {
    let longer = chain(
        "KUBE-SVC-AAAAAAAAAAAAAAAA",
        &[
            "-j KUBE-SEP-DDDDDDDDDDDDDDDD",
            "-j KUBE-SEP-FFFFFFFFFFFFFFFF",
        ],
    );
    let other = chain(
        "KUBE-SVC-BBBBBBBBBBBBBBBB",
        &["-j KUBE-SEP-FFFFFFFFFFFFFFFF"],
    );
    let shorter = chain(
        "KUBE-SEP-DDDDDDDDDDDDDDDD",
        &["-p tcp -m tcp -j DNAT --to-destination 10.244.0.1:443"][..0],
    );
    let not_empty = chain("KUBE-SVC-CCCCCCCCCCCCCCCC", &["-j KUBE-MARK-MASQ"]);
    let expected = vec![longer.clone(), other, shorter, not_empty];
    let (chains, _) = read_kernel_against(&mut kernel(), &expected, &is_owned_chain).unwrap();
    assert_eq!(
        rules(&chains, "KUBE-SVC-AAAAAAAAAAAAAAAA"),
        ["-j KUBE-SEP-DDDDDDDDDDDDDDDD"],
        "a prefix of the expected rules"
    );
    assert_eq!(
        rules(&chains, "KUBE-SVC-BBBBBBBBBBBBBBBB"),
        ["-j KUBE-SEP-EEEEEEEEEEEEEEEE"]
    );
    assert_eq!(
        rules(&chains, "KUBE-SEP-DDDDDDDDDDDDDDDD"),
        ["-p tcp -m tcp -j DNAT --to-destination 10.244.0.1:443"],
        "more rules than expected"
    );
    assert!(rules(&chains, "KUBE-SVC-CCCCCCCCCCCCCCCC").is_empty());
}

#[test]
fn reads_every_owned_chain_and_only_jumps_into_them() {
    let (chains, jumps) = read_kernel_against(&mut kernel(), &[], &is_owned_chain).unwrap();
    let mut names: Vec<&str> = chains.iter().map(|c| c.name()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "KUBE-SEP-DDDDDDDDDDDDDDDD",
            "KUBE-SEP-EEEEEEEEEEEEEEEE",
            "KUBE-SERVICES",
            "KUBE-SVC-AAAAAAAAAAAAAAAA",
            "KUBE-SVC-BBBBBBBBBBBBBBBB",
            "KUBE-SVC-CCCCCCCCCCCCCCCC",
        ]
    );
    assert_eq!(
        rules(&chains, "KUBE-SEP-EEEEEEEEEEEEEEEE"),
        ["-p tcp -m tcp -j DNAT --to-destination 10.244.0.2:80"]
    );
    assert_eq!(
        jumps[&key("PREROUTING")],
        ["-m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"]
    );
    assert_eq!(jumps.len(), 1, "{jumps:?}");
}

#[test]
fn jump_target_is_the_word_after_dash_j() {
    assert_eq!(jump_target("-j KUBE-MARK-MASQ"), Some("KUBE-MARK-MASQ"));
    assert_eq!(
        jump_target("-p tcp -j DNAT --to-destination 1.2.3.4:80"),
        Some("DNAT")
    );
    assert_eq!(jump_target("-m comment --comment x"), None);
}
