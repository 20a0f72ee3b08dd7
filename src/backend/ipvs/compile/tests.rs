//! Address plan: services in 10.96.0.0/16, pods in 10.244.1.0/24 (this node, `node-1`) and
//! 10.244.2.0/24 (another node), node addresses 192.168.100.1 and 10.0.0.5, an external IP
//! 203.0.113.7 and a load-balancer IP 198.51.100.9.

use std::time::Duration;

use super::*;
use crate::model::{Change, Conditions, EndpointSlice, Protocol, Service, TrafficPolicy};

const NODE: &str = "node-1";
const WEB: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const NODE_ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 168, 100, 1), Ipv4Addr::new(10, 0, 0, 5)];

fn local(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 1, n)
}

fn remote(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 2, n)
}

const TERMINATING: Conditions = Conditions {
    ready: false,
    serving: true,
    terminating: true,
};

fn web() -> Service {
    Service::new("demo", "web", WEB).with_port("http", 80, Protocol::Tcp, None)
}

/// A slice of `web` (port `http` → 8080) with these endpoints.
fn slice(name: &str, eps: &[(Ipv4Addr, Conditions)]) -> EndpointSlice {
    let mut s = EndpointSlice::new(&web().name, name).with_port("http", 8080, Protocol::Tcp);
    for (ip, cond) in eps {
        let node = if ip.octets()[2] == 1 { NODE } else { "node-2" };
        s = s.with_endpoint(*ip, Some(node), *cond);
    }
    s
}

fn state(services: Vec<Service>, slices: Vec<EndpointSlice>) -> ProxyState {
    let mut st = ProxyState::new(NODE);
    for s in services {
        st.apply(Change::service(s));
    }
    for s in slices {
        st.apply(Change::slice(s));
    }
    st
}

/// `proto/addr:port sched[ persistent N] -> dest,dest` per virtual server.
fn describe(plan: &ServicePlan) -> Vec<String> {
    plan.virtual_servers
        .iter()
        .map(|v| {
            let mut line = format!("{} {}", v.service.key(), v.service.scheduler);
            if let Some(t) = v.service.persistent_timeout {
                line += &format!(" persistent {t}");
            }
            let dests: Vec<String> = v.dests.iter().map(ToString::to_string).collect();
            line + " -> " + &dests.join(",")
        })
        .collect()
}

fn entries(plan: &ServicePlan) -> Vec<String> {
    plan.entries
        .iter()
        .map(|(set, e)| format!("{set} {e}"))
        .collect()
}

fn plan_of(svc: Service, slices: Vec<EndpointSlice>) -> ServicePlan {
    let st = state(vec![svc.clone()], slices);
    compile_service(
        &st.snapshot(&svc.name).unwrap(),
        "rr",
        &NODE_ADDRS,
        Some(NODE_ADDRS[0]),
    )
}

/// `svc` with the scheduler annotation.
fn scheduled(mut svc: Service, scheduler: &str) -> Service {
    svc.annotations
        .insert(SCHEDULER_ANNOTATION.to_string(), scheduler.to_string());
    svc
}

const READY: Conditions = Conditions::READY;

#[test]
fn virtual_servers_per_case() {
    let ready2 = || vec![slice("a", &[(local(2), READY), (remote(3), READY)])];
    #[rustfmt::skip]
    let cases: Vec<(&str, Service, Vec<EndpointSlice>, Vec<&str>)> = vec![
        ("cluster IP, every ready endpoint", web(), ready2(),
            vec!["tcp/10.96.0.10:80 rr -> 10.244.1.2:8080,10.244.2.3:8080"]),
        ("no endpoints: an empty virtual server", web(), vec![],
            vec!["tcp/10.96.0.10:80 rr -> "]),
        ("NodePort on every node address", Service::new("demo", "web", WEB).with_port("http", 80, Protocol::Tcp, Some(30080)), ready2(),
            vec!["tcp/10.96.0.10:80 rr -> 10.244.1.2:8080,10.244.2.3:8080",
                 "tcp/192.168.100.1:30080 rr -> 10.244.1.2:8080,10.244.2.3:8080",
                 "tcp/10.0.0.5:30080 rr -> 10.244.1.2:8080,10.244.2.3:8080"]),
        ("externalTrafficPolicy Local: only local endpoints outside",
            Service { external_traffic_policy: TrafficPolicy::Local, external_ips: vec![Ipv4Addr::new(203, 0, 113, 7)], ..web() }, ready2(),
            vec!["tcp/10.96.0.10:80 rr -> 10.244.1.2:8080,10.244.2.3:8080",
                 "tcp/203.0.113.7:80 rr -> 10.244.1.2:8080"]),
        ("internalTrafficPolicy Local: only local endpoints on the cluster IP",
            Service { internal_traffic_policy: TrafficPolicy::Local, load_balancer_ips: vec![Ipv4Addr::new(198, 51, 100, 9)], ..web() }, ready2(),
            vec!["tcp/10.96.0.10:80 rr -> 10.244.1.2:8080",
                 "tcp/198.51.100.9:80 rr -> 10.244.1.2:8080,10.244.2.3:8080"]),
        ("session affinity: persistent", Service { session_affinity: Some(Duration::from_secs(10800)), ..web() }, ready2(),
            vec!["tcp/10.96.0.10:80 rr persistent 10800 -> 10.244.1.2:8080,10.244.2.3:8080"]),
        ("scheduler annotation", scheduled(web(), "lc"), ready2(),
            vec!["tcp/10.96.0.10:80 lc -> 10.244.1.2:8080,10.244.2.3:8080"]),
        ("invalid scheduler annotation: the default", scheduled(web(), "fastest"), ready2(),
            vec!["tcp/10.96.0.10:80 rr -> 10.244.1.2:8080,10.244.2.3:8080"]),
        ("ready endpoints win over terminating ones", web(), vec![slice("a", &[(local(2), READY), (remote(3), TERMINATING)])],
            vec!["tcp/10.96.0.10:80 rr -> 10.244.1.2:8080"]),
        ("terminating endpoints when none is ready", web(), vec![slice("a", &[(local(2), TERMINATING)])],
            vec!["tcp/10.96.0.10:80 rr -> 10.244.1.2:8080"]),
        ("endpoints merged from two slices", web(), vec![slice("a", &[(local(2), READY)]), slice("b", &[(remote(4), READY)])],
            vec!["tcp/10.96.0.10:80 rr -> 10.244.1.2:8080,10.244.2.4:8080"]),
    ];
    for (name, svc, slices, want) in cases {
        assert_eq!(describe(&plan_of(svc, slices)), want, "{name}");
    }
}

#[test]
fn set_members_per_case() {
    let ready = || vec![slice("a", &[(local(2), READY), (remote(3), READY)])];
    let udp_np = Service::new("demo", "web", WEB).with_port("http", 80, Protocol::Udp, Some(30053));
    let udp_slice = EndpointSlice::new(&udp_np.name, "u")
        .with_port("http", 5353, Protocol::Udp)
        .with_endpoint(remote(3), Some("node-2"), READY);
    #[rustfmt::skip]
    let cases: Vec<(&str, Service, Vec<EndpointSlice>, Vec<&str>)> = vec![
        ("cluster IP with a local endpoint: hairpin member", web(), ready(),
            vec!["KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2", "KUBE-CLUSTER-IP 10.96.0.10,tcp:80"]),
        ("no endpoints: refused", web(), vec![],
            vec!["KUBE-CLUSTER-IP 10.96.0.10,tcp:80", "KPROXY-NO-ENDPOINTS 10.96.0.10,tcp:80"]),
        ("UDP NodePort without local endpoints", udp_np, vec![udp_slice],
            vec!["KUBE-CLUSTER-IP 10.96.0.10,udp:80", "KUBE-NODE-PORT-UDP 30053"]),
        ("ETP Local external IP, load balancer and NodePort",
            Service {
                external_traffic_policy: TrafficPolicy::Local,
                external_ips: vec![Ipv4Addr::new(203, 0, 113, 7)],
                load_balancer_ips: vec![Ipv4Addr::new(198, 51, 100, 9)],
                ..Service::new("demo", "web", WEB).with_port("http", 80, Protocol::Tcp, Some(30080))
            },
            vec![slice("a", &[(remote(3), READY)])],
            vec!["KUBE-CLUSTER-IP 10.96.0.10,tcp:80",
                 "KUBE-EXTERNAL-IP-LOCAL 203.0.113.7,tcp:80",
                 "KUBE-LOAD-BALANCER 198.51.100.9,tcp:80",
                 "KUBE-LOAD-BALANCER-LOCAL 198.51.100.9,tcp:80",
                 "KUBE-NODE-PORT-TCP 30080",
                 "KUBE-NODE-PORT-LOCAL-TCP 30080"]),
    ];
    for (name, svc, slices, want) in cases {
        assert_eq!(entries(&plan_of(svc, slices)), want, "{name}");
    }
}

#[test]
fn addresses_to_bind_are_the_service_addresses_not_the_node_ones() {
    let svc = Service {
        external_ips: vec![Ipv4Addr::new(203, 0, 113, 7)],
        load_balancer_ips: vec![Ipv4Addr::new(198, 51, 100, 9)],
        ..Service::new("demo", "web", WEB).with_port("http", 80, Protocol::Tcp, Some(30080))
    };
    let plan = plan_of(svc, vec![]);
    let addrs: Vec<Ipv4Addr> = plan.addresses.into_iter().collect();
    assert_eq!(
        addrs,
        [
            WEB,
            Ipv4Addr::new(198, 51, 100, 9),
            Ipv4Addr::new(203, 0, 113, 7)
        ]
    );
}

#[test]
fn the_invalid_scheduler_is_reported_in_the_plan() {
    let plan = plan_of(scheduled(web(), "fastest"), vec![]);
    assert_eq!(plan.invalid_scheduler.as_deref(), Some("fastest"));
    assert_eq!(plan_of(web(), vec![]).invalid_scheduler, None);
}

#[test]
fn node_port_addresses_skip_loopback_and_follow_the_filter() {
    let local = [
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::new(192, 168, 100, 1),
        Ipv4Addr::new(10, 0, 0, 5),
        Ipv4Addr::new(10, 0, 0, 5),
    ];
    assert_eq!(
        node_port_addresses(&local, &[]),
        [Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(192, 168, 100, 1)]
    );
    assert_eq!(
        node_port_addresses(&local, &["192.168.0.0/16".parse().unwrap()]),
        [Ipv4Addr::new(192, 168, 100, 1)]
    );
}

#[test]
fn an_incremental_compile_touches_only_the_dirty_service() {
    let other = Service::new("demo", "other", Ipv4Addr::new(10, 96, 0, 20)).with_port(
        "",
        53,
        Protocol::Udp,
        None,
    );
    let mut st = state(
        vec![web(), other.clone()],
        vec![slice("a", &[(local(2), READY)])],
    );
    let mut compiler = Compiler::new(CompileOptions::default());
    compiler.set_local_addresses(&NODE_ADDRS);
    let first = compiler.compile_all(&st);
    assert!(first.touched.is_none());
    assert_eq!(first.desired.virtual_servers.len(), 2);
    st.take_pending();

    st.apply(Change::slice(slice(
        "a",
        &[(local(2), READY), (remote(3), READY)],
    )));
    let pending = st.take_pending();
    let second = compiler.compile(&st, &pending.dirty);
    let web_key = ServiceKey::new(Protocol::Tcp, WEB, 80);
    assert_eq!(second.touched, Some([web_key].into()));
    assert_eq!(second.desired.virtual_servers[&web_key].dests.len(), 2);
    let other_key = ServiceKey::new(Protocol::Udp, other.cluster_ip, 53);
    assert_eq!(
        second.desired.virtual_servers[&other_key],
        first.desired.virtual_servers[&other_key]
    );

    // Deleting a service touches its virtual servers, which are then not desired.
    st.apply(Change::ServiceDeleted(other.name.clone()));
    let pending = st.take_pending();
    let third = compiler.compile(&st, &pending.dirty);
    assert_eq!(third.touched, Some([other_key].into()));
    assert!(!third.desired.virtual_servers.contains_key(&other_key));
    assert!(!third.desired.addresses.contains(&other.cluster_ip));
    assert!(
        !third.desired.sets[&IpvsSet::IpvsIps].contains(&Entry::Ip(other.cluster_ip)),
        "KUBE-IPVS-IPS follows the bound addresses"
    );

    // New node addresses make the next compile full.
    compiler.set_local_addresses(&[Ipv4Addr::new(192, 168, 100, 1)]);
    assert!(compiler.compile(&st, &Default::default()).touched.is_none());
}

#[test]
fn two_services_claiming_one_virtual_server_keep_the_first() {
    let a = Service::new("demo", "a", WEB).with_port("", 80, Protocol::Tcp, None);
    let b = Service {
        external_ips: vec![WEB],
        ..Service::new("demo", "b", Ipv4Addr::new(10, 96, 0, 11)).with_port(
            "",
            80,
            Protocol::Tcp,
            None,
        )
    };
    let st = state(vec![a, b], vec![]);
    let desired = Compiler::new(CompileOptions::default())
        .compile_all(&st)
        .desired;
    let key = ServiceKey::new(Protocol::Tcp, WEB, 80);
    assert_eq!(desired.virtual_servers[&key].port_name.service.name, "a");
    assert_eq!(desired.virtual_servers.len(), 2);
}

#[test]
fn source_ranges_and_health_check_ports_fill_their_sets() {
    let lb = Ipv4Addr::new(198, 51, 100, 9);
    let ranged = |ranges: &[&str]| Service {
        load_balancer_ips: vec![lb],
        load_balancer_source_ranges: ranges.iter().map(|r| r.parse().unwrap()).collect(),
        ..Service::new("demo", "web", WEB).with_port("http", 80, Protocol::Tcp, Some(30080))
    };
    let filtered = |plan: &ServicePlan| -> Vec<String> {
        entries(plan)
            .into_iter()
            .filter(|e| e.contains("-FW ") || e.contains("-SOURCE-"))
            .collect()
    };
    let eps = || vec![slice("a", &[(remote(3), READY)])];
    // The node's IP (192.168.100.1) is in a range: the LB IP is an allowed source too.
    assert_eq!(
        filtered(&plan_of(
            ranged(&["192.168.100.0/24", "203.0.113.0/24"]),
            eps()
        )),
        [
            "KUBE-LOAD-BALANCER-FW 198.51.100.9,tcp:80",
            "KUBE-LOAD-BALANCER-SOURCE-CIDR 198.51.100.9,tcp:80,192.168.100.0/24",
            "KUBE-LOAD-BALANCER-SOURCE-CIDR 198.51.100.9,tcp:80,203.0.113.0/24",
            "KUBE-LOAD-BALANCER-SOURCE-IP 198.51.100.9,tcp:80,198.51.100.9",
        ]
    );
    assert_eq!(
        filtered(&plan_of(ranged(&["203.0.113.0/24"]), eps())),
        [
            "KUBE-LOAD-BALANCER-FW 198.51.100.9,tcp:80",
            "KUBE-LOAD-BALANCER-SOURCE-CIDR 198.51.100.9,tcp:80,203.0.113.0/24",
        ]
    );
    // No ranges, or no endpoints to send what passes to: no filter.
    assert!(filtered(&plan_of(ranged(&[]), eps())).is_empty());
    assert!(filtered(&plan_of(ranged(&["203.0.113.0/24"]), vec![])).is_empty());

    let mut health = ranged(&[]);
    health.health_check_node_port = Some(crate::model::HealthCheckNodePort::Port(32000));
    assert!(
        entries(&plan_of(health, eps())).contains(&"KUBE-HEALTH-CHECK-NODE-PORT 32000".to_string())
    );
}

#[test]
fn zone_hints_choose_the_cluster_ip_real_servers() {
    let mut eps = slice("a", &[(local(4), READY), (remote(4), READY)]);
    eps.endpoints[0].zone_hints = vec!["zone-a".into()];
    eps.endpoints[1].zone_hints = vec!["zone-b".into()];
    let mut st = state(vec![web()], vec![eps]);
    let zoned = |zone: &str| crate::model::NodeInfo {
        name: NODE.into(),
        zone: Some(zone.into()),
        addresses: vec![],
        pod_cidrs: vec![],
    };
    let plan = |st: &ProxyState| {
        describe(&compile_service(
            &st.snapshot(&web().name).unwrap(),
            "rr",
            &NODE_ADDRS,
            None,
        ))
    };
    st.apply(Change::NodeUpdated(zoned("zone-b")));
    assert_eq!(plan(&st), ["tcp/10.96.0.10:80 rr -> 10.244.2.4:8080"]);
    st.apply(Change::NodeUpdated(zoned("zone-c")));
    assert_eq!(
        plan(&st),
        ["tcp/10.96.0.10:80 rr -> 10.244.1.4:8080,10.244.2.4:8080"]
    );
}
