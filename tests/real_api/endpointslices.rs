//! Pods → EndpointSlices → kernel. The test creates Pods through the API and, acting as the
//! kubelet, sets their status (pod IP, Ready) through the status subresource; the real
//! EndpointSlice controller turns them into slices; kproxy routes to the pods of the node's
//! topology at those IPs. Readiness flips and a pod's deletion (terminating, then gone)
//! reach the kernel.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kproxy::testing::controlplane::Options;

use crate::cluster::{Cluster, NS, POD_PORT};
use crate::support::topology::{NODE_NAME, pod_ip};

const WEB_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

fn labels() -> BTreeMap<String, String> {
    [("app".to_string(), "web".to_string())].into()
}

/// web: a Service selecting the pods, 80 → the pods' named port `http`.
fn web() -> core::Service {
    core::Service {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some(NS.into()),
            ..ObjectMeta::default()
        },
        spec: Some(core::ServiceSpec {
            selector: Some(labels()),
            cluster_ip: Some(WEB_IP.to_string()),
            ports: Some(vec![core::ServicePort {
                name: Some("http".into()),
                port: 80,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..core::ServicePort::default()
            }]),
            ..core::ServiceSpec::default()
        }),
        ..core::Service::default()
    }
}

/// Pod number `i`, scheduled on this node, serving `http` on [`POD_PORT`]; with the status
/// its kubelet would report: running at its topology address, Ready or not.
fn pod(i: usize, ready: bool) -> core::Pod {
    let ip = pod_ip(i).to_string();
    let condition = |type_: &str| core::PodCondition {
        type_: type_.into(),
        status: if ready { "True" } else { "False" }.into(),
        ..core::PodCondition::default()
    };
    core::Pod {
        metadata: ObjectMeta {
            name: Some(format!("pod-{i}")),
            namespace: Some(NS.into()),
            labels: Some(labels()),
            ..ObjectMeta::default()
        },
        spec: Some(core::PodSpec {
            node_name: Some(NODE_NAME.into()),
            containers: vec![core::Container {
                name: "echo".into(),
                image: Some("kproxy.invalid/echo".into()),
                ports: Some(vec![core::ContainerPort {
                    name: Some("http".into()),
                    container_port: i32::from(POD_PORT),
                    ..core::ContainerPort::default()
                }]),
                ..core::Container::default()
            }],
            termination_grace_period_seconds: Some(300),
            ..core::PodSpec::default()
        }),
        status: Some(core::PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some(ip.clone()),
            pod_ips: Some(vec![core::PodIP { ip }]),
            conditions: Some(vec![condition("Ready"), condition("ContainersReady")]),
            ..core::PodStatus::default()
        }),
    }
}

/// The test as pod `i`'s kubelet: reports it Ready or not.
fn set_ready(c: &Cluster, i: usize, ready: bool) {
    c.cp.admin().apply_status(&pod(i, ready));
}

/// The conditions the controller published for pod `i`'s endpoint, if it has one.
fn endpoint_conditions(c: &Cluster, i: usize) -> Option<discovery::EndpointConditions> {
    let ip = pod_ip(i).to_string();
    c.cp.admin()
        .list::<discovery::EndpointSlice>(Some(NS))
        .into_iter()
        .flat_map(|s| s.endpoints)
        .find(|e| e.addresses.contains(&ip))
        .and_then(|e| e.conditions)
}

fn conditions(ready: bool, serving: bool, terminating: bool) -> discovery::EndpointConditions {
    discovery::EndpointConditions {
        ready: Some(ready),
        serving: Some(serving),
        terminating: Some(terminating),
    }
}

#[test]
fn pods_become_endpoints_and_their_lifecycle_reaches_the_kernel() {
    let Some(mut c) = Cluster::new(Options::default()) else {
        return;
    };
    c.apply_rbac();
    c.cp.admin().apply(&web());
    for i in 0..3 {
        c.cp.admin().apply(&pod(i, true));
        set_ready(&c, i, true);
    }
    c.start_kproxy();
    c.wait_traffic(WEB_IP, 80, &[0, 1, 2]);
    let slices = c.cp.admin().list::<discovery::EndpointSlice>(Some(NS));
    assert!(
        slices.iter().all(
            |s| s.metadata.labels.as_ref().unwrap()["endpointslice.kubernetes.io/managed-by"]
                == "endpointslice-controller.k8s.io"
        ),
        "{slices:#?}"
    );

    // Readiness flips.
    set_ready(&c, 1, false);
    c.wait_traffic(WEB_IP, 80, &[0, 2]);
    assert_eq!(
        endpoint_conditions(&c, 1),
        Some(conditions(false, false, false))
    );
    set_ready(&c, 1, true);
    c.wait_traffic(WEB_IP, 80, &[0, 1, 2]);

    // Deleted with a grace period: terminating but still serving, so no new connections
    // while the others are ready ...
    c.cp.admin()
        .delete::<core::Pod>(Some(NS), "pod-2", Some(300));
    c.wait("pod-2's endpoint to be terminating", |c| {
        endpoint_conditions(c, 2) == Some(conditions(false, true, true))
    });
    c.wait_traffic(WEB_IP, 80, &[0, 1]);
    // ... and all of them when no other endpoint is ready.
    set_ready(&c, 0, false);
    set_ready(&c, 1, false);
    c.wait_traffic(WEB_IP, 80, &[2]);

    // Gone for good (the kubelet confirms with grace 0): nothing left to serve.
    c.cp.admin().delete::<core::Pod>(Some(NS), "pod-2", Some(0));
    c.wait("pod-2's endpoint to be gone", |c| {
        endpoint_conditions(c, 2).is_none()
    });
    c.wait_traffic(WEB_IP, 80, &[]);
    set_ready(&c, 0, true);
    c.wait_traffic(WEB_IP, 80, &[0]);
    c.assert_rbac_was_enough();
}
