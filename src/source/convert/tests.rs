use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use serde_json::{Value, json};

use super::*;
use crate::model::{
    Conditions, Endpoint, EndpointPort, Protocol, ServiceName, ServicePort, SliceName,
    TrafficPolicy,
};

/// A valid ClusterIP service `demo/web` with one TCP port 80, then `patch` merged in.
fn svc(patch: Value) -> core::Service {
    let mut base = json!({
        "metadata": {"name": "web", "namespace": "demo"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80}]},
    });
    merge(&mut base, patch);
    serde_json::from_value(base).expect("test service parses")
}

/// A valid IPv4 slice `demo/web-abc` of service `web` with port 8080 and one endpoint.
fn slice(patch: Value) -> discovery::EndpointSlice {
    let mut base = json!({
        "metadata": {"name": "web-abc", "namespace": "demo",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080}],
        "endpoints": [{"addresses": ["10.244.1.2"]}],
    });
    merge(&mut base, patch);
    serde_json::from_value(base).expect("test slice parses")
}

/// JSON merge patch (RFC 7386): objects merge, `null` deletes, anything else replaces.
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(&k);
                } else {
                    merge(b.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (b, p) => *b = p,
    }
}

fn svc_err(patch: Value) -> ObjectError {
    service_kept(&svc(patch)).expect_err("service should be rejected")
}

fn slice_err(patch: Value) -> ObjectError {
    kept(&slice(patch)).expect_err("slice should be rejected")
}

#[test]
fn minimal_service_gets_kubernetes_defaults() {
    let got = service_kept(&svc(json!({}))).unwrap().unwrap();
    assert_eq!(
        got,
        crate::model::Service {
            name: ServiceName::new("demo", "web"),
            created: None,
            cluster_ip: Ipv4Addr::new(10, 96, 0, 10),
            ports: vec![ServicePort {
                name: "http".into(),
                port: 80,
                protocol: Protocol::Tcp,
                node_port: None,
            }],
            session_affinity: None,
            external_traffic_policy: TrafficPolicy::Cluster,
            internal_traffic_policy: TrafficPolicy::Cluster,
            external_ips: vec![],
            load_balancer_ips: vec![],
            load_balancer_source_ranges: vec![],
            health_check_node_port: None,
            annotations: Default::default(),
        }
    );
}

#[test]
fn full_service_keeps_every_field() {
    let got = service_kept(&svc(json!({
        "metadata": {"annotations": {"ipvs.kproxy.dev/scheduler": " wlc "}},
        "spec": {
            "type": "LoadBalancer",
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "nodePort": 30054},
                {"name": "sctp", "port": 9, "protocol": "SCTP"},
            ],
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
            "externalTrafficPolicy": "Local",
            "internalTrafficPolicy": "Local",
            "externalIPs": ["192.0.2.1", "2001:db8::1", "192.0.2.2"],
        },
        "status": {"loadBalancer": {"ingress": [
            {"ip": "198.51.100.7"}, {"hostname": "lb.example.com"}, {"ip": "2001:db8::7"},
        ]}},
    })))
    .unwrap()
    .unwrap();
    assert_eq!(got.ports.len(), 3);
    assert_eq!(got.ports[0].protocol, Protocol::Udp);
    assert_eq!(got.ports[0].node_port, Some(30053));
    assert_eq!(got.ports[2].protocol, Protocol::Sctp);
    assert_eq!(got.session_affinity, Some(Duration::from_secs(60)));
    assert_eq!(got.external_traffic_policy, TrafficPolicy::Local);
    assert_eq!(got.internal_traffic_policy, TrafficPolicy::Local);
    assert_eq!(
        got.external_ips,
        vec![Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)]
    );
    assert_eq!(got.load_balancer_ips, vec![Ipv4Addr::new(198, 51, 100, 7)]);
    assert_eq!(
        got.annotations
            .get("ipvs.kproxy.dev/scheduler")
            .map(String::as_str),
        Some("wlc")
    );
}

#[test]
fn health_check_node_port_is_read_where_kube_proxy_reads_it() {
    use crate::model::HealthCheckNodePort::{Invalid, Port};
    let read = |type_: &str, policy: &str, port: Value| {
        let spec = json!({
            "type": type_, "externalTrafficPolicy": policy, "healthCheckNodePort": port,
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}],
        });
        service_kept(&svc(json!({ "spec": spec })))
            .unwrap()
            .unwrap()
            .health_check_node_port
    };
    assert_eq!(
        read("LoadBalancer", "Local", json!(30999)),
        Some(Port(30999))
    );
    // Missing or out of range: the service stays, its health check is skipped.
    assert_eq!(read("LoadBalancer", "Local", Value::Null), Some(Invalid(0)));
    assert_eq!(read("LoadBalancer", "Local", json!(0)), Some(Invalid(0)));
    assert_eq!(
        read("LoadBalancer", "Local", json!(70000)),
        Some(Invalid(70000))
    );
    assert_eq!(read("LoadBalancer", "Local", json!(-1)), Some(Invalid(-1)));
    // Ignored without a Local policy or on another type, as kube-proxy ignores it.
    assert_eq!(read("LoadBalancer", "Cluster", json!(30999)), None);
    assert_eq!(read("NodePort", "Local", json!(30999)), None);
}

#[test]
fn client_ip_affinity_defaults_to_three_hours() {
    let got = service_kept(&svc(json!({"spec": {"sessionAffinity": "ClientIP"}})))
        .unwrap()
        .unwrap();
    assert_eq!(got.session_affinity, Some(Duration::from_secs(10800)));
}

#[test]
fn external_policy_is_reported_as_given_and_normalised_only_by_the_view() {
    let got = service_kept(&svc(json!({"spec": {"externalTrafficPolicy": "Local"}})))
        .unwrap()
        .unwrap();
    assert_eq!(got.external_traffic_policy, TrafficPolicy::Local);
    let state = crate::model::ProxyState::new("node");
    let snapshot = crate::model::ServiceSnapshot::read(&state, &std::sync::Arc::new(got));
    assert!(
        snapshot.ports().all(|p| !p.external_policy_local),
        "Local means nothing without external destinations"
    );
}

#[test]
fn missing_namespace_defaults_and_missing_name_is_an_error() {
    let got = service_kept(&svc(json!({"metadata": {"namespace": null}})))
        .unwrap()
        .unwrap();
    assert_eq!(got.name, ServiceName::new("default", "web"));
    let err = svc_err(json!({"metadata": {"name": null}}));
    assert_eq!(err, ObjectError::MissingName);
    assert_eq!(err.reason(), "missing_name");
}

#[test]
fn ignored_services_are_none() {
    for patch in [
        json!({"spec": {"type": "ExternalName", "externalName": "example.com", "clusterIP": null}}),
        json!({"spec": {"clusterIP": "None"}}),
        json!({"spec": {"clusterIP": ""}}),
        json!({"spec": {"clusterIP": null}}),
        json!({"spec": {"clusterIP": "fd00::10", "ipFamilies": ["IPv6"]}}),
        json!({"spec": {"clusterIP": "fd00::10", "clusterIPs": ["fd00::10"]}}),
    ] {
        assert_eq!(service_kept(&svc(patch.clone())), Ok(None), "{patch}");
    }
}

#[test]
fn dual_stack_service_uses_its_ipv4_cluster_ip() {
    let got = service_kept(&svc(json!({"spec": {
        "clusterIP": "fd00::10",
        "clusterIPs": ["fd00::10", "10.96.0.11"],
        "ipFamilies": ["IPv6", "IPv4"],
    }})))
    .unwrap()
    .unwrap();
    assert_eq!(got.cluster_ip, Ipv4Addr::new(10, 96, 0, 11));
}

#[test]
fn service_errors_have_reasons_and_name_the_field() {
    let cases = [
        (
            json!({"spec": {"clusterIP": "10.96.0.300"}}),
            "invalid_cluster_ip",
            "10.96.0.300",
        ),
        (
            json!({"spec": {"type": "Magic"}}),
            "invalid_service_type",
            "Magic",
        ),
        (
            json!({"spec": {"ports": [{"name": "http", "port": 0}]}}),
            "invalid_port",
            "ports[0] (\"http\")",
        ),
        (
            json!({"spec": {"ports": [{"port": 65536}]}}),
            "invalid_port",
            "65536",
        ),
        (
            json!({"spec": {"ports": [{"port": 80, "nodePort": 0}]}}),
            "invalid_node_port",
            "nodePort 0",
        ),
        (
            json!({"spec": {"ports": [{"port": 80, "nodePort": 70000}]}}),
            "invalid_node_port",
            "70000",
        ),
        (
            json!({"spec": {"ports": [{"port": 80, "protocol": "ICMP"}]}}),
            "unknown_protocol",
            "\"ICMP\"",
        ),
        (
            json!({"spec": {"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}}),
            "duplicate_port_name",
            "\"a\"",
        ),
        (
            json!({"spec": {"sessionAffinity": "Cookie"}}),
            "invalid_session_affinity",
            "Cookie",
        ),
        (
            json!({"spec": {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}}}),
            "invalid_session_affinity",
            "timeoutSeconds 0",
        ),
        (
            json!({"spec": {"externalTrafficPolicy": "Global"}}),
            "invalid_traffic_policy",
            "externalTrafficPolicy",
        ),
        (
            json!({"spec": {"externalIPs": ["1.2.3"]}}),
            "invalid_external_ip",
            "1.2.3",
        ),
        (
            json!({"status": {"loadBalancer": {"ingress": [{"ip": "lb"}]}}}),
            "invalid_load_balancer_ip",
            "\"lb\"",
        ),
    ];
    for (patch, reason, needle) in cases {
        let err = svc_err(patch.clone());
        assert_eq!(err.reason(), reason, "{patch}");
        assert!(
            err.to_string().contains(needle),
            "{err} should mention {needle}"
        );
    }
}

#[test]
fn minimal_slice_gets_defaulted_conditions() {
    let got = kept(&slice(json!({}))).unwrap().unwrap();
    assert_eq!(
        got,
        crate::model::EndpointSlice {
            name: SliceName::new("demo", "web-abc"),
            service: ServiceName::new("demo", "web"),
            ports: vec![EndpointPort {
                name: "http".into(),
                port: 8080,
                protocol: Protocol::Tcp,
            }],
            endpoints: vec![Endpoint {
                ip: Ipv4Addr::new(10, 244, 1, 2),
                conditions: Conditions::READY,
                node_name: None,
                zone: None,
                zone_hints: vec![],
                node_hints: vec![],
            }],
            trigger_time: None,
        }
    );
}

#[test]
fn slice_conditions_follow_kubernetes_defaulting() {
    let got = kept(&slice(json!({"endpoints": [
        {"addresses": ["10.0.0.1"], "conditions": {"ready": false}},
        {"addresses": ["10.0.0.2"], "conditions": {"ready": false, "serving": true, "terminating": true}},
        {"addresses": ["10.0.0.3", "10.0.0.99"], "nodeName": "node-1", "zone": "z1"},
    ]})))
    .unwrap()
    .unwrap();
    let c: Vec<_> = got.endpoints.iter().map(|e| e.conditions).collect();
    assert_eq!(
        c,
        vec![
            Conditions {
                ready: false,
                serving: false,
                terminating: false
            },
            Conditions {
                ready: false,
                serving: true,
                terminating: true
            },
            Conditions::READY,
        ]
    );
    assert_eq!(got.endpoints[2].ip, Ipv4Addr::new(10, 0, 0, 3));
    assert_eq!(got.endpoints[2].node_name.as_deref(), Some("node-1"));
    assert_eq!(got.endpoints[2].zone.as_deref(), Some("z1"));
}

#[test]
fn slice_ports_default_and_skip_missing_numbers() {
    let got = kept(&slice(json!({"ports": [
        {"port": 53, "protocol": "UDP"},
        {"name": "unresolved"},
        {"name": "x", "port": 9000},
    ]})))
    .unwrap()
    .unwrap();
    assert_eq!(
        got.ports,
        vec![
            EndpointPort {
                name: "".into(),
                port: 53,
                protocol: Protocol::Udp
            },
            EndpointPort {
                name: "x".into(),
                port: 9000,
                protocol: Protocol::Tcp
            },
        ]
    );
}

#[test]
fn non_ipv4_slices_are_none() {
    for t in ["IPv6", "FQDN"] {
        let patch = json!({"addressType": t, "endpoints": [{"addresses": ["fd00::1"]}]});
        assert_eq!(kept(&slice(patch)), Ok(None), "{t}");
    }
}

#[test]
fn trigger_time_is_parsed_and_malformed_is_ignored() {
    let at = |v: &str| {
        let patch = json!({"metadata": {"annotations": {TRIGGER_TIME: v}}});
        kept(&slice(patch)).unwrap().unwrap().trigger_time
    };
    const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
    let expected = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
    assert_eq!(at("2023-11-14T22:13:20.25Z"), Some(expected));
    assert_eq!(at("2023-11-14T23:13:20.25+01:00"), Some(expected));
    assert_eq!(at("yesterday"), None);
}

#[test]
fn slice_errors_have_reasons_and_name_the_field() {
    let cases = [
        (
            json!({"metadata": {"labels": null}}),
            "missing_service_name",
            "kubernetes.io/service-name",
        ),
        (
            json!({"metadata": {"name": null}}),
            "missing_name",
            "metadata.name",
        ),
        (json!({"addressType": "IPX"}), "invalid_address_type", "IPX"),
        (json!({"ports": [{"port": 0}]}), "invalid_port", "ports[0]"),
        (json!({"ports": [{"port": 70000}]}), "invalid_port", "70000"),
        (
            json!({"ports": [{"port": 80, "protocol": "icmp"}]}),
            "unknown_protocol",
            "icmp",
        ),
        (
            json!({"ports": [{"port": 80}, {"port": 81}]}),
            "duplicate_port_name",
            "\"\"",
        ),
        (
            json!({"endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.256"]}]}),
            "invalid_address",
            "endpoints[1]",
        ),
        (
            json!({"endpoints": [{"addresses": ["fd00::1"]}]}),
            "invalid_address",
            "fd00::1",
        ),
        (
            json!({"endpoints": [{"addresses": []}]}),
            "invalid_address",
            "no addresses",
        ),
    ];
    for (patch, reason, needle) in cases {
        let err = slice_err(patch.clone());
        assert_eq!(err.reason(), reason, "{patch}");
        assert!(
            err.to_string().contains(needle),
            "{err} should mention {needle}"
        );
    }
}

#[test]
fn object_ref_defaults_the_namespace() {
    let s = svc(json!({"metadata": {"namespace": null}}));
    assert_eq!(object_ref(&s.metadata), "default/web");
}

#[test]
fn names_follow_the_api_servers_rules() {
    let long = "x".repeat(300);
    for bad in [
        "web\nCOMMIT",
        "we\"b",
        "wéb",
        "Web",
        "a.b",
        "nul\0",
        "tab\t",
        &long,
    ] {
        let err = svc_err(json!({"metadata": {"name": bad}}));
        assert_eq!(err.reason(), "invalid_name", "{bad:?}");
        assert!(!err.to_string().contains(['\n', '\0', '\t']), "{err}");
    }
    for bad in ["a/b", "a:b", "kube system", "ns\n", "NS"] {
        let err = svc_err(json!({"metadata": {"namespace": bad}}));
        assert_eq!(err.reason(), "invalid_namespace", "{bad:?}");
        let err = slice_err(json!({"metadata": {"namespace": bad}}));
        assert_eq!(err.reason(), "invalid_namespace", "{bad:?}");
    }
    // Slice names are subdomains: dots are fine, up to 253 characters.
    let dotted = format!("{}.{}", "a".repeat(126), "b".repeat(126));
    let got = kept(&slice(json!({"metadata": {"name": dotted}})));
    assert!(got.is_ok(), "{got:?}");
    for bad in ["web/abc", "web abc", "-web", &"s".repeat(254)] {
        let err = slice_err(json!({"metadata": {"name": bad}}));
        assert_eq!(err.reason(), "invalid_name", "{bad:?}");
    }
    for bad in ["web\nCOMMIT", "a b", "-web", &"l".repeat(64)] {
        let err = slice_err(json!({"metadata": {"labels": {"kubernetes.io/service-name": bad}}}));
        assert_eq!(err.reason(), "invalid_service_name", "{bad:?}");
    }
}

#[test]
fn port_names_are_dns_labels_as_the_api_server_checks_them() {
    // Longer than an IANA service name (15): the API server takes it for Services and slices.
    let long_ok = "prometheus-metrics-1";
    let got = service_kept(&svc(
        json!({"spec": {"ports": [{"name": long_ok, "port": 80}]}}),
    ));
    assert_eq!(got.unwrap().unwrap().ports[0].name, long_ok);
    let got = kept(&slice(json!({"ports": [{"name": long_ok, "port": 80}]})));
    assert_eq!(got.unwrap().unwrap().ports[0].name, long_ok);
    for bad in ["HTTP", "h\nx", "a_b", "-a", &"p".repeat(64)] {
        let err = svc_err(json!({"spec": {"ports": [{"name": bad, "port": 80}]}}));
        assert_eq!(err.reason(), "invalid_port_name", "{bad:?}");
        let err = slice_err(json!({"ports": [{"name": bad, "port": 80}]}));
        assert_eq!(err.reason(), "invalid_port_name", "{bad:?}");
    }
}

#[test]
fn object_ref_escapes_what_would_break_a_log_line() {
    let s = svc(json!({"metadata": {"name": "web\nCOMMIT", "namespace": "a\"b"}}));
    assert_eq!(object_ref(&s.metadata), r#"a\"b/web\nCOMMIT"#);
}

/// [`service`] of a service none of whose values is left out.
fn service_kept(obj: &core::Service) -> Result<Option<crate::model::Service>, ObjectError> {
    let mut dropped = Vec::new();
    let got = service(obj, &mut dropped);
    assert_eq!(dropped, [], "no value should be left out");
    got
}

/// [`endpoint_slice`] of a slice none of whose endpoints is dropped.
fn kept(
    obj: &discovery::EndpointSlice,
) -> Result<Option<crate::model::EndpointSlice>, ObjectError> {
    let mut dropped = Vec::new();
    let got = endpoint_slice(obj, &mut dropped);
    assert_eq!(dropped, [], "no endpoint should be dropped");
    got
}

#[test]
fn service_addresses_the_api_server_refuses_reject_the_service() {
    let cases = [
        (
            json!({"spec": {"clusterIP": "127.0.0.1"}}),
            "invalid_cluster_ip",
        ),
        (
            json!({"spec": {"clusterIP": "0.0.0.0"}}),
            "invalid_cluster_ip",
        ),
        (
            json!({"spec": {"clusterIPs": ["169.254.1.1"]}}),
            "invalid_cluster_ip",
        ),
        (
            json!({"spec": {"clusterIP": "224.0.0.5"}}),
            "invalid_cluster_ip",
        ),
        (
            json!({"spec": {"clusterIP": "255.255.255.255"}}),
            "invalid_cluster_ip",
        ),
        (
            json!({"spec": {"externalIPs": ["1.2.3.4", "127.0.0.2"]}}),
            "invalid_external_ip",
        ),
        (
            json!({"spec": {"externalIPs": ["239.1.1.1"]}}),
            "invalid_external_ip",
        ),
        (
            json!({"status": {"loadBalancer": {"ingress": [{"ip": "0.0.0.0"}]}}}),
            "invalid_load_balancer_ip",
        ),
    ];
    for (patch, reason) in cases {
        let err = svc_err(patch.clone());
        assert_eq!(err.reason(), reason, "{patch}");
        assert!(
            err.to_string().contains("which the API server refuses"),
            "{err}"
        );
    }
    let err = svc_err(json!({"spec": {"externalIPs": ["127.0.0.2"]}}));
    assert_eq!(
        err.to_string(),
        "spec.externalIPs: 127.0.0.2 is a loopback address, which the API server refuses"
    );
}

#[test]
fn an_endpoint_with_a_refused_address_is_left_out_and_the_rest_kept() {
    let obj = slice(json!({"endpoints": [
        {"addresses": ["10.244.1.2"]},
        {"addresses": ["127.0.0.1"]},
        {"addresses": ["169.254.0.7"]},
        {"addresses": ["10.244.1.3"]},
    ]}));
    let mut dropped = Vec::new();
    let got = endpoint_slice(&obj, &mut dropped).unwrap().unwrap();
    let ips: Vec<_> = got.endpoints.iter().map(|e| e.ip.to_string()).collect();
    assert_eq!(ips, ["10.244.1.2", "10.244.1.3"]);
    let messages: Vec<_> = dropped.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "endpoints[1]: 127.0.0.1 is a loopback address, which the API server refuses",
            "endpoints[2]: 169.254.0.7 is a link-local address, which the API server refuses",
        ]
    );
    assert!(dropped.iter().all(|e| e.reason() == "invalid_address"));
}

#[test]
fn source_ranges_are_trimmed_ipv4_truncated_and_invalid_ones_skipped() {
    let mut dropped = Vec::new();
    let got = service(
        &svc(
            json!({"spec": {"type": "LoadBalancer", "loadBalancerSourceRanges": [
                " 203.0.113.7/24 ", "2001:db8::/32", "not-a-cidr", "10.0.0.0/8", "10.0.0.0/8"
            ]}}),
        ),
        &mut dropped,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        dropped,
        [ObjectError::InvalidSourceRange("not-a-cidr".into())]
    );
    assert_eq!(dropped[0].reason(), "invalid_load_balancer_source_range");
    let want: Vec<ipnet::Ipv4Net> = vec![
        "10.0.0.0/8".parse().unwrap(),
        "203.0.113.0/24".parse().unwrap(),
    ];
    assert_eq!(got.load_balancer_source_ranges, want);
    let open = service_kept(&svc(
        json!({"spec": {"loadBalancerSourceRanges": ["10.0.0.0/8", "0.0.0.0/0"]}}),
    ))
    .unwrap()
    .unwrap();
    assert!(
        open.load_balancer_source_ranges.is_empty(),
        "a /0 admits everyone"
    );
}

#[test]
fn proxy_mode_ingress_ips_are_not_load_balancer_ips() {
    let got = service_kept(&svc(json!({"status": {"loadBalancer": {"ingress": [
        {"ip": "198.51.100.1", "ipMode": "Proxy"},
        {"ip": "198.51.100.2", "ipMode": "VIP"},
        {"ip": "198.51.100.3"},
    ]}}})))
    .unwrap()
    .unwrap();
    assert_eq!(
        got.load_balancer_ips,
        vec![
            Ipv4Addr::new(198, 51, 100, 2),
            Ipv4Addr::new(198, 51, 100, 3)
        ]
    );
}

#[test]
fn slice_hints_are_kept_by_name() {
    let got = kept(&slice(json!({"endpoints": [
        {"addresses": ["10.0.0.1"], "hints": {"forZones": [{"name": "zone-a"}, {"name": ""}],
                                              "forNodes": [{"name": "node-1"}]}},
    ]})))
    .unwrap()
    .unwrap();
    assert_eq!(got.endpoints[0].zone_hints, ["zone-a"]);
    assert_eq!(got.endpoints[0].node_hints, ["node-1"]);
}
