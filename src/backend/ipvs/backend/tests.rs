//! The executor against the stateful fake kernel (`testing::ipvs::FakeKernel`) and the
//! fake iptables runner: what full and partial syncs write, `--ipvs-exclude-cidrs`, the
//! order of kube-ipvs0 binds and unbinds around the virtual servers, and draining. The VM
//! tests (tests/ipvs_e2e.rs) run the same executor against a real kernel.
//!
//! Address plan: this node `node-1` at 192.168.100.1 (eth0); services in 10.96.0.0/16; pods
//! 10.244.1.0/24 on this node; 10.96.9.0/24 excluded with `--ipvs-exclude-cidrs`.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::*;
use crate::backend::ipvs::netlink::VirtualService;
use crate::model::{Change, Conditions, EndpointSlice, Protocol, Service};
use crate::netfilter::iptables::ruleset::Table;
use crate::testing::iptables::fake::FakeRunner;
use crate::testing::ipvs::FakeKernel;

const NODE: &str = "node-1";
const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 1);
const NODE_PORT: u16 = 30080;
const EXCLUDED: Ipv4Addr = Ipv4Addr::new(10, 96, 9, 1);

fn vip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 96, 0, last)
}

fn pod(last: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 244, 1, last), 8080)
}

fn service(name: &str, last: u8, protocol: Protocol, node_port: Option<u16>) -> Service {
    Service::new("demo", name, vip(last)).with_port("p", 80, protocol, node_port)
}

fn slice(svc: &Service, protocol: Protocol, pods: &[u8]) -> EndpointSlice {
    let slice = EndpointSlice::new(&svc.name, &format!("{}-1", svc.name.name));
    pods.iter()
        .fold(slice.with_port("p", 8080, protocol), |s, p| {
            s.with_endpoint(*pod(*p).ip(), Some(NODE), Conditions::READY)
        })
}

fn key(protocol: Protocol, addr: Ipv4Addr, port: u16) -> ServiceKey {
    ServiceKey::new(protocol, addr, port)
}

struct Fixture {
    state: ProxyState,
    backend: IpvsBackend<FakeRunner, FakeKernel>,
}

impl Fixture {
    /// `web` (TCP, cluster IP 10.96.0.1 and NodePort 30080) on pods 1 and 2, and `dns`
    /// (UDP, 10.96.0.2) on pod 3; nothing synced yet.
    fn new() -> Self {
        let options = IpvsOptions {
            compile: CompileOptions {
                nodeport_addresses: vec!["192.168.100.0/24".parse().unwrap()],
                ..CompileOptions::default()
            },
            exclude_cidrs: vec!["10.96.9.0/24".parse().unwrap()],
            ..IpvsOptions::default()
        };
        let backend = IpvsBackend::new(
            options,
            FakeKernel::node(NODE_IP),
            FakeRunner::default(),
            Metrics::new(),
        );
        let mut f = Self {
            state: ProxyState::new(NODE),
            backend,
        };
        f.apply_service(service("web", 1, Protocol::Tcp, Some(NODE_PORT)), &[1, 2]);
        f.apply_service(service("dns", 2, Protocol::Udp, None), &[3]);
        f
    }

    fn apply_service(&mut self, svc: Service, pods: &[u8]) {
        let protocol = svc.ports[0].protocol;
        self.state.apply(Change::slice(slice(&svc, protocol, pods)));
        self.state.apply(Change::service(svc));
    }

    fn sync(&mut self, full: bool) -> SyncReport {
        self.try_sync(full).expect("sync")
    }

    fn try_sync(&mut self, full: bool) -> Result<SyncReport, SyncError> {
        let pending = self.state.take_pending();
        self.backend.sync(&self.state, &pending, full)
    }

    fn kernel(&mut self) -> &mut FakeKernel {
        self.backend.kernel_mut()
    }

    /// The writes made since `from` (an index into the kernel's write log).
    fn writes_since(&self, from: usize) -> Vec<String> {
        self.backend.kernel().writes[from..].to_vec()
    }

    fn dests(&self, key: &ServiceKey) -> Vec<(SocketAddrV4, u32)> {
        self.backend.kernel().ipvs.services[key]
            .dests
            .iter()
            .map(|d| (SocketAddrV4::new(d.addr, d.port), d.weight))
            .collect()
    }
}

fn web_cluster() -> ServiceKey {
    key(Protocol::Tcp, vip(1), 80)
}

fn web_node_port() -> ServiceKey {
    key(Protocol::Tcp, NODE_IP, NODE_PORT)
}

fn dns() -> ServiceKey {
    key(Protocol::Udp, vip(2), 80)
}

#[test]
fn a_full_sync_programs_every_part_and_a_second_one_writes_nothing() {
    let mut f = Fixture::new();
    let report = f.sync(true);
    assert!(report.full);
    let kernel = f.backend.kernel();
    let vs: Vec<ServiceKey> = kernel.ipvs.services.keys().copied().collect();
    assert_eq!(vs, [web_cluster(), web_node_port(), dns()]);
    assert_eq!(f.dests(&web_cluster()), [(pod(1), 1), (pod(2), 1)]);
    assert_eq!(f.dests(&dns()), [(pod(3), 1)]);
    assert_eq!(
        kernel.links.addresses_of(DUMMY_DEVICE),
        [vip(1), vip(2)].into()
    );
    let cluster_ips = kernel.ipset.members(IpvsSet::ClusterIp.name());
    assert_eq!(cluster_ips.len(), 2, "{cluster_ips:?}");
    assert_eq!(kernel.sysctls["net/ipv4/vs/conntrack"], "1");
    let filter = f.backend.iptables.chain_names(Table::Filter);
    assert!(filter.iter().any(|c| c == "KUBE-IPVS-FILTER"), "{filter:?}");

    let written = f.backend.kernel().writes.len();
    let again = f.sync(true);
    assert_eq!(again.objects_written, 0);
    assert_eq!(f.writes_since(written), Vec::<String>::new());
}

#[test]
fn a_partial_sync_sends_only_what_changed() {
    let mut f = Fixture::new();
    f.sync(true);
    let restores = f.backend.iptables.restores.len();
    let written = f.backend.kernel().writes.len();
    f.apply_service(
        service("web", 1, Protocol::Tcp, Some(NODE_PORT)),
        &[1, 2, 4],
    );
    let report = f.sync(false);
    assert!(!report.full);
    let writes = f.writes_since(written);
    // The new endpoint on both of web's virtual servers, and in the hairpin set.
    assert_eq!(
        writes,
        [
            "ipset add KUBE-LOOP-BACK 1",
            "-a tcp/10.96.0.1:80 -r 10.244.1.4:8080 -w 1",
            "-a tcp/192.168.100.1:30080 -r 10.244.1.4:8080 -w 1",
        ]
    );
    assert_eq!(report.objects_written, writes.len());
    assert_eq!(
        f.backend.iptables.restores.len(),
        restores,
        "the constant iptables rules are not rewritten"
    );
}

#[test]
fn a_partial_sync_the_kernel_refuses_is_followed_by_a_full_sync_that_repairs() {
    let mut f = Fixture::new();
    f.sync(true);
    // Someone deletes web's cluster IP virtual server behind kproxy's back.
    f.kernel().ipvs.services.remove(&web_cluster());
    f.apply_service(
        service("web", 1, Protocol::Tcp, Some(NODE_PORT)),
        &[1, 2, 4],
    );
    let err = f.try_sync(false).unwrap_err();
    assert!(matches!(err, SyncError::IpvsRefused { .. }), "{err}");
    // Asked for as partial, the retry must be full: what the kernel holds is unknown.
    let report = f.sync(false);
    assert!(report.full);
    assert_eq!(
        f.dests(&web_cluster()),
        [(pod(1), 1), (pod(2), 1), (pod(4), 1)]
    );
}

#[test]
fn excluded_cidrs_keep_their_virtual_servers_and_addresses() {
    let mut f = Fixture::new();
    let theirs = key(Protocol::Tcp, EXCLUDED, 443);
    let stale = key(Protocol::Tcp, vip(99), 80);
    let kernel = f.kernel();
    kernel.ipvs.insert(VirtualService::new(theirs, "rr"), []);
    kernel.ipvs.insert(VirtualService::new(stale, "rr"), []);
    let (dummy, _) = kernel.links.ensure_dummy(DUMMY_DEVICE);
    kernel.links.add_address(dummy, EXCLUDED).unwrap();
    kernel.links.add_address(dummy, vip(99)).unwrap();

    f.sync(true);
    let kernel = f.backend.kernel();
    assert!(kernel.ipvs.services.contains_key(&theirs));
    assert!(!kernel.ipvs.services.contains_key(&stale));
    let bound = kernel.links.addresses_of(DUMMY_DEVICE);
    assert!(bound.contains(&EXCLUDED), "{bound:?}");
    assert!(!bound.contains(&vip(99)), "{bound:?}");
}

#[test]
fn addresses_are_bound_before_their_virtual_servers_and_unbound_after() {
    let mut f = Fixture::new();
    f.sync(true);
    let written = f.backend.kernel().writes.len();
    f.apply_service(service("api", 3, Protocol::Tcp, None), &[5]);
    f.sync(false);
    let writes = f.writes_since(written);
    let at = |w: &str| writes.iter().position(|x| x == w).expect(w);
    assert!(
        at("bind 10.96.0.3") < at("-A tcp/10.96.0.3:80 -s rr"),
        "{writes:?}"
    );

    let written = f.backend.kernel().writes.len();
    let api = service("api", 3, Protocol::Tcp, None);
    f.state.apply(Change::ServiceDeleted(api.name));
    f.sync(false);
    let writes = f.writes_since(written);
    let at = |w: &str| writes.iter().position(|x| x == w).expect(w);
    assert!(
        at("-D tcp/10.96.0.3:80") < at("unbind 10.96.0.3"),
        "{writes:?}"
    );
    assert!(
        !f.backend
            .kernel()
            .links
            .addresses_of(DUMMY_DEVICE)
            .contains(&vip(3))
    );
}

#[test]
fn removed_tcp_destinations_drain_until_idle_and_udp_ones_go_at_once() {
    let mut f = Fixture::new();
    f.sync(true);
    // Pod 2 has a connection open when it leaves web; pod 3 leaves dns.
    f.kernel()
        .ipvs
        .dest_mut(&web_cluster(), pod(2))
        .active_conns = 1;
    f.apply_service(service("web", 1, Protocol::Tcp, Some(NODE_PORT)), &[1]);
    f.apply_service(service("dns", 2, Protocol::Udp, None), &[]);
    f.sync(false);
    assert_eq!(f.dests(&web_cluster()), [(pod(1), 1), (pod(2), 0)]);
    assert_eq!(f.dests(&web_node_port()), [(pod(1), 1), (pod(2), 0)]);
    assert_eq!(f.dests(&dns()), [], "UDP destinations do not drain");
    assert_eq!(f.backend.draining(), 2);
    assert!(f.backend.next_wakeup().is_some());

    // The node port's destination is idle: it goes; the cluster IP's stays while busy.
    assert_eq!(f.backend.wakeup().unwrap().objects_written, 1);
    assert_eq!(f.dests(&web_node_port()), [(pod(1), 1)]);
    assert_eq!(f.dests(&web_cluster()), [(pod(1), 1), (pod(2), 0)]);

    f.kernel()
        .ipvs
        .dest_mut(&web_cluster(), pod(2))
        .active_conns = 0;
    assert_eq!(f.backend.wakeup().unwrap().objects_written, 1);
    assert_eq!(f.dests(&web_cluster()), [(pod(1), 1)]);
    assert_eq!(f.backend.draining(), 0);
    assert!(f.backend.next_wakeup().is_none());
}
