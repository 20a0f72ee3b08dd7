//! The test bed: a control plane, and the two twins attached to it — upstream kube-proxy
//! on one, kproxy on the other — watching the same API server. The corpus is published
//! through the API as a cluster admin; a sentinel Service, changed last in every step,
//! tells when a proxy has programmed everything published before it.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use kproxy::testing::controlplane::{ControlPlane, Options, Proxy, binaries_or_skip};

use crate::corpus::{NS, ServiceSpec};
use crate::mode::Mode;
use crate::support::netns::netns_available;
use crate::twin::Twin;

/// How long both proxies may take to program a step.
const SYNC_DEADLINE: Duration = Duration::from_secs(120);
const SENTINEL: &str = "zz-sentinel";
const SENTINEL_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 255, 254);

pub struct Bed {
    pub mode: Mode,
    // Dropped in this order: the twins (their proxies first), then the control plane.
    pub twins: [Twin; 2],
    pub cp: ControlPlane,
    pub dir: tempfile::TempDir,
}

impl Bed {
    /// The control plane, both twins, and both proxies started in `mode`. `None`
    /// (skipped) when the machine cannot run it.
    pub fn start(mode: Mode) -> Option<Self> {
        // First: it fails, rather than skips, under KPROXY_REQUIRE_KERNEL=1.
        let bins = binaries_or_skip()?;
        if !netns_available(&[]) {
            return None;
        }
        let cp = ControlPlane::start(bins, Options::default());
        cp.apply_proxy_rbac();
        cp.create_namespace(NS);
        // Both twins are the same node to their proxy.
        let node = kproxy::testing::objects::node(
            crate::support::topology::NODE_NAME,
            Some("zone-a"),
            &[("InternalIP", &crate::support::topology::NODE_IP.to_string())],
        );
        cp.admin().apply(&node);
        cp.admin().apply_status(&node);
        let twins = [
            Twin::new(Proxy::KubeProxy, &cp),
            Twin::new(Proxy::Kproxy, &cp),
        ];
        let mut bed = Self {
            mode,
            twins,
            cp,
            dir: tempfile::tempdir().expect("a directory for the logs"),
        };
        for twin in &mut bed.twins {
            twin.start(&bed.cp, mode, bed.dir.path());
        }
        Some(bed)
    }

    /// Makes the API server hold `now`, given that it held `before` (the same services,
    /// each present or not), then changes the sentinel to `step`'s.
    pub fn publish(&self, before: &[ServiceSpec], now: &[ServiceSpec], step: usize) {
        let admin = self.cp.admin();
        for (k, svc) in now.iter().enumerate() {
            let old = Some(&before[k]).filter(|o| o.present);
            if old == Some(svc) || (old.is_none() && !svc.present) {
                continue;
            }
            if !svc.present {
                for slice in &old.expect("was present").slices {
                    admin.delete::<discovery::EndpointSlice>(
                        Some(NS),
                        &svc.slice_name(slice.suffix),
                        None,
                    );
                }
                admin.delete::<core::Service>(Some(NS), &svc.name, None);
                continue;
            }
            let object = svc.object();
            admin.apply(&object);
            admin.apply_status(&object);
            for slice in svc.slice_objects() {
                admin.apply(&slice);
            }
            for gone in old.iter().flat_map(|o| &o.slices) {
                if !svc.slices.iter().any(|s| s.suffix == gone.suffix) {
                    admin.delete::<discovery::EndpointSlice>(
                        Some(NS),
                        &svc.slice_name(gone.suffix),
                        None,
                    );
                }
            }
        }
        self.set_sentinel(step);
    }

    /// The sentinel's port and endpoint say `step`: its Service is written after every
    /// other Service of the step, its slice after every other slice, and each watch
    /// delivers events in order.
    fn set_sentinel(&self, step: usize) {
        let port = sentinel_port(step);
        let svc = kproxy::testing::objects::service(
            NS,
            SENTINEL,
            &SENTINEL_IP.to_string(),
            &[("p", i32::from(port), "TCP")],
        );
        self.cp.admin().apply(&svc);
        let ip = sentinel_endpoint(step).to_string();
        let slice = kproxy::testing::objects::slice(
            NS,
            SENTINEL,
            SENTINEL,
            ("p", 8080, "TCP"),
            &[(ip.as_str(), None)],
        );
        self.cp.admin().apply(&slice);
    }

    /// Waits until both proxies have programmed `step` (published at `published`): each
    /// finished a sync since then (its `kubeproxy_sync_proxy_rules_last_timestamp_seconds`)
    /// and its rules hold the step's sentinel.
    pub fn wait_for_step(&self, step: usize, published: SystemTime) {
        let after = published
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        let deadline = Instant::now() + SYNC_DEADLINE;
        let port = format!("--dport {}", sentinel_port(step));
        let endpoint = format!("--to-destination {}:8080", sentinel_endpoint(step));
        for twin in &self.twins {
            twin.wait_synced(
                self.mode,
                &format!("step {step}'s sentinel"),
                after,
                deadline,
                |rules| has_sentinel(rules, &port, &endpoint),
            );
        }
    }
}

fn sentinel_port(step: usize) -> u16 {
    1000 + step as u16
}

fn sentinel_endpoint(step: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 9, 1 + step as u8)
}

fn has_sentinel(rules: &str, port: &str, endpoint: &str) -> bool {
    let name = format!("{NS}/{SENTINEL}:p");
    let mine = |l: &&str| l.contains(&name);
    rules.lines().filter(mine).any(|l| l.contains(port))
        && rules.lines().filter(mine).any(|l| l.contains(endpoint))
}
