//! Golden output of the compiler (as `nft -f` text, one file per case under `golden/`,
//! reviewed by hand against kube-proxy's layout; regenerate with
//! `UPDATE_GOLDEN=1 cargo test --lib backend::nftables` and review the diff), and the
//! planner's batches.
//!
//! Address plan: this node `node-a`; its pods 10.180.0.x, pods on `node-b` 10.180.1.x;
//! cluster CIDR 10.180.0.0/16; service IPs 172.30.0.x; external IPs 192.168.99.x;
//! load-balancer IPs 5.6.7.x.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use super::plan::plan;
use super::state::{Desired, Mirror};
use super::text::nft_script;
use super::{Compiler, Options, compile};
use crate::model::{
    Change, Conditions, EndpointSlice, Protocol, ProxyState, Service, ServiceName, TrafficPolicy,
};
use crate::nftables::NftMessage;

const NODE: &str = "node-a";
const OTHER: &str = "node-b";
const READY: Conditions = Conditions::READY;
const TERMINATING: Conditions = Conditions {
    ready: false,
    serving: true,
    terminating: true,
};

fn options() -> Options {
    Options {
        cluster_cidr: Some("10.180.0.0/16".parse().unwrap()),
        ..Options::default()
    }
}

fn service(name: &str, last: u8, node_port: Option<u16>) -> Service {
    Service::new("ns", name, Ipv4Addr::new(172, 30, 0, last)).with_port(
        "p80",
        80,
        Protocol::Tcp,
        node_port,
    )
}

fn local(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 180, 0, last)
}

fn remote(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 180, 1, last)
}

fn slice(svc: &Service, eps: &[(Ipv4Addr, &str, Conditions)]) -> EndpointSlice {
    let mut s = EndpointSlice::new(&svc.name, &format!("{}-1", svc.name.name)).with_port(
        "p80",
        80,
        Protocol::Tcp,
    );
    for (ip, node, c) in eps {
        s = s.with_endpoint(*ip, Some(node), *c);
    }
    s
}

fn two(svc: &Service) -> EndpointSlice {
    slice(svc, &[(local(1), NODE, READY), (remote(1), OTHER, READY)])
}

fn state(services: &[Service], slices: &[EndpointSlice]) -> ProxyState {
    let mut st = ProxyState::new(NODE);
    for s in services {
        st.apply(Change::service(s.clone()));
    }
    for s in slices {
        st.apply(Change::slice(s.clone()));
    }
    st.take_pending();
    st
}

fn cases() -> Vec<(&'static str, ProxyState)> {
    let np = service("nodeport", 41, Some(30001));
    let mut aff = service("affinity", 42, None);
    aff.session_affinity = Some(Duration::from_secs(10800));
    let mut lb = service("lblocal", 43, Some(30003));
    lb.load_balancer_ips = vec![Ipv4Addr::new(5, 6, 7, 8)];
    lb.external_traffic_policy = TrafficPolicy::Local;
    let mut noeps = service("noeps", 44, Some(30004));
    noeps.external_ips = vec![Ipv4Addr::new(192, 168, 99, 22)];
    let mut nolocal = service("nolocal", 45, Some(30005));
    nolocal.external_traffic_policy = TrafficPolicy::Local;
    let nolocal_slice = slice(&nolocal, &[(remote(5), OTHER, READY)]);
    let term = service("terminating", 46, None);
    let term_slice = slice(&term, &[(local(6), NODE, TERMINATING)]);
    vec![
        ("empty", state(&[], &[])),
        ("node_port", state(std::slice::from_ref(&np), &[two(&np)])),
        ("affinity", state(std::slice::from_ref(&aff), &[two(&aff)])),
        (
            "lb_local_policy",
            state(std::slice::from_ref(&lb), &[two(&lb)]),
        ),
        ("no_endpoints", state(&[noeps], &[])),
        ("no_local_endpoints", state(&[nolocal], &[nolocal_slice])),
        ("terminating_fallback", state(&[term], &[term_slice])),
    ]
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/backend/nftables/golden")
        .join(format!("{name}.nft"))
}

#[test]
fn golden_tables() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let empty = nft_script(&compile(&state(&[], &[]), &options()));
    for (name, st) in cases() {
        let full = nft_script(&compile(&st, &options()));
        // Every case but `empty` holds only the lines it adds to the empty table.
        let text = if name == "empty" {
            full
        } else {
            let base: BTreeSet<&str> = empty.lines().collect();
            let mut out: String = full
                .lines()
                .filter(|l| !base.contains(l))
                .collect::<Vec<_>>()
                .join("\n");
            out.push('\n');
            out
        };
        let path = golden_path(name);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        assert_eq!(text, want, "golden {name} differs");
    }
}

#[test]
fn incremental_desired_equals_a_fresh_compile() {
    let np = service("nodeport", 41, Some(30001));
    let other = service("other", 47, None);
    let mut st = state(&[np.clone(), other.clone()], &[two(&np), two(&other)]);
    let mut compiler = Compiler::new(options());
    compiler.update(&st, None);
    // One endpoint goes, the other service goes.
    st.apply(Change::slice(slice(&np, &[(remote(1), OTHER, READY)])));
    st.apply(Change::ServiceDeleted(other.name.clone()));
    let pending = st.take_pending();
    let touched = compiler.update(&st, Some(&pending.dirty));
    assert!(!touched.is_empty());
    let fresh = Desired::from_layout(&compile(&st, &options()));
    let d = compiler.desired();
    assert_eq!(d.chains, fresh.chains);
    assert_eq!(d.sets, fresh.sets);
    assert_eq!(d.elements, fresh.elements);
}

fn kinds(msgs: &[NftMessage]) -> Vec<String> {
    msgs.iter()
        .map(|m| m.describe().split(" ip ").next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_kernel_that_holds_the_table_gets_nothing() {
    let np = service("nodeport", 41, Some(30001));
    let st = state(std::slice::from_ref(&np), &[two(&np)]);
    let desired = Desired::from_layout(&compile(&st, &options()));
    assert!(plan(&desired, &Mirror::of(&desired), None).is_empty());
}

#[test]
fn a_cold_sync_builds_everything_in_dependency_order() {
    let np = service("nodeport", 41, Some(30001));
    let st = state(std::slice::from_ref(&np), &[two(&np)]);
    let desired = Desired::from_layout(&compile(&st, &options()));
    let msgs = plan(&desired, &Mirror::default(), None);
    assert!(matches!(msgs[0], NftMessage::NewTable(_)));
    let first_rule = msgs
        .iter()
        .position(|m| matches!(m, NftMessage::NewRule(_)))
        .unwrap();
    let last_chain = msgs
        .iter()
        .rposition(|m| matches!(m, NftMessage::NewChain(_) | NftMessage::NewSet(_)))
        .unwrap();
    assert!(last_chain < first_rule, "{:?}", kinds(&msgs));
    assert!(
        !msgs
            .iter()
            .any(|m| matches!(m, NftMessage::DelRule(_) | NftMessage::DelTable(_))),
        "a cold sync deletes nothing"
    );
}

#[test]
fn an_endpoint_change_rewrites_one_chain_and_no_element() {
    let np = service("nodeport", 41, Some(30001));
    let mut st = state(std::slice::from_ref(&np), &[two(&np)]);
    let mut compiler = Compiler::new(options());
    compiler.update(&st, None);
    let mirror = Mirror::of(compiler.desired());
    st.apply(Change::slice(slice(
        &np,
        &[(local(1), NODE, READY), (remote(2), OTHER, READY)],
    )));
    let pending = st.take_pending();
    let touched = compiler.update(&st, Some(&pending.dirty));
    let msgs = plan(compiler.desired(), &mirror, Some(&touched));
    let chain = "service-";
    let flushes: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            NftMessage::DelRule(r) => Some(r.chain.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(flushes.len(), 1, "{:?}", kinds(&msgs));
    assert!(flushes[0].starts_with(chain));
    assert!(
        msgs.iter()
            .all(|m| matches!(m, NftMessage::DelRule(_) | NftMessage::NewRule(_))),
        "{:?}",
        kinds(&msgs)
    );
}

#[test]
fn a_removed_service_leaves_nothing_and_chains_go_last() {
    let np = service("nodeport", 41, Some(30001));
    let mut st = state(std::slice::from_ref(&np), &[two(&np)]);
    let mut compiler = Compiler::new(options());
    compiler.update(&st, None);
    let mirror = Mirror::of(compiler.desired());
    st.apply(Change::ServiceDeleted(np.name.clone()));
    let pending = st.take_pending();
    let touched = compiler.update(&st, Some(&pending.dirty));
    let msgs = plan(compiler.desired(), &mirror, Some(&touched));
    let first_del_chain = msgs
        .iter()
        .position(|m| matches!(m, NftMessage::DelChain(_)))
        .unwrap();
    assert!(
        msgs[first_del_chain..]
            .iter()
            .all(|m| matches!(m, NftMessage::DelChain(_))),
        "{:?}",
        kinds(&msgs)
    );
    assert!(msgs.iter().any(|m| matches!(m, NftMessage::DelSetElems(_))));
    // Afterwards only the fixed table is desired, and the scoped mirror agrees.
    let mut after = mirror.clone();
    after.copy(compiler.desired(), Some(&touched));
    let fixed = Desired::from_layout(&compile(&ProxyState::new(NODE), &options()));
    assert!(plan(&fixed, &after, None).is_empty());
    let _ = ServiceName::new("ns", "nodeport");
}
