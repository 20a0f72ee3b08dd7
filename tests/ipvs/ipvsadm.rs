//! What `ipvsadm` (the kernel's reference userspace) says about a namespace, parsed into a
//! shape the kproxy client's dumps convert to, so the two can be compared.

use std::collections::BTreeMap;
use std::process::Command;

use kproxy::backend::ipvs::netlink::{FwdMethod, RealServer, VirtualService};

/// One service as both views can express it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceView {
    pub scheduler: String,
    pub persistent: Option<u32>,
    /// `addr:port` → destination.
    pub dests: BTreeMap<String, DestView>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestView {
    /// ipvsadm's word: `Masq`, `Route`, `Tunnel`, `Local`.
    pub forward: String,
    pub weight: u32,
    /// `None` where the view has no counters (`ipvsadm -S`).
    pub conns: Option<(u32, u32)>,
}

/// `proto/addr:port` (lower-case protocol) → service.
pub type View = BTreeMap<String, ServiceView>;

/// Runs `ipvsadm ARGS` in network namespace `netns` and returns its stdout.
pub fn ipvsadm(netns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", netns, "ipvsadm"])
        .args(args)
        .output()
        .expect("run ipvsadm");
    assert!(
        out.status.success(),
        "ipvsadm {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Parses `ipvsadm -Ln`.
pub fn parse_list(text: &str) -> View {
    let mut view = View::new();
    let mut current = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [proto @ ("TCP" | "UDP" | "SCTP"), addr, sched, rest @ ..] => {
                let key = format!("{}/{addr}", proto.to_lowercase());
                let persistent = match rest {
                    ["persistent", secs, ..] => Some(secs.parse().expect("persistence")),
                    _ => None,
                };
                view.insert(key.clone(), service(sched, persistent));
                current = Some(key);
            }
            ["->", "RemoteAddress:Port", ..] => {}
            ["->", addr, forward, weight, active, inactive] => {
                let svc = view
                    .get_mut(current.as_ref().expect("dest after service"))
                    .unwrap();
                svc.dests.insert(
                    addr.to_string(),
                    DestView {
                        forward: forward.to_string(),
                        weight: weight.parse().expect("weight"),
                        conns: Some((active.parse().unwrap(), inactive.parse().unwrap())),
                    },
                );
            }
            _ => {}
        }
    }
    view
}

/// Parses `ipvsadm -S -n` (the restore format): no counters.
pub fn parse_save(text: &str) -> View {
    let mut view = View::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let proto = match f.get(1) {
            Some(&"-t") => "tcp",
            Some(&"-u") => "udp",
            Some(&"--sctp-service") => "sctp",
            _ => continue,
        };
        let key = format!("{proto}/{}", f[2]);
        let opt = |name: &str| f.iter().position(|t| *t == name).map(|i| f[i + 1]);
        match f[0] {
            "-A" => {
                let persistent = opt("-p").map(|s| s.parse().expect("persistence"));
                view.insert(key, service(opt("-s").expect("scheduler"), persistent));
            }
            "-a" => {
                let forward = ["-m", "-g", "-i"]
                    .iter()
                    .find(|flag| f.contains(flag))
                    .map(|flag| match *flag {
                        "-m" => "Masq",
                        "-g" => "Route",
                        _ => "Tunnel",
                    })
                    .expect("forwarding flag");
                view.get_mut(&key)
                    .expect("service before dest")
                    .dests
                    .insert(
                        opt("-r").expect("real server").to_string(),
                        DestView {
                            forward: forward.to_string(),
                            weight: opt("-w").expect("weight").parse().unwrap(),
                            conns: None,
                        },
                    );
            }
            _ => {}
        }
    }
    view
}

/// The view of what the kproxy client dumped.
pub fn from_client(dump: &[(VirtualService, Vec<RealServer>)], with_conns: bool) -> View {
    dump.iter()
        .map(|(svc, dests)| {
            let mut view = service(&svc.scheduler, svc.persistent_timeout);
            for rs in dests {
                view.dests.insert(
                    rs.to_string(),
                    DestView {
                        forward: forward_word(rs.fwd_method).to_string(),
                        weight: rs.weight,
                        conns: with_conns.then_some((rs.active_conns, rs.inactive_conns)),
                    },
                );
            }
            (svc.key().to_string(), view)
        })
        .collect()
}

/// Drops the connection counters, to compare with `ipvsadm -S`.
pub fn without_conns(mut view: View) -> View {
    for svc in view.values_mut() {
        for d in svc.dests.values_mut() {
            d.conns = None;
        }
    }
    view
}

fn service(sched: &str, persistent: Option<u32>) -> ServiceView {
    ServiceView {
        scheduler: sched.to_string(),
        persistent,
        dests: BTreeMap::new(),
    }
}

fn forward_word(m: FwdMethod) -> &'static str {
    match m {
        FwdMethod::Masq => "Masq",
        FwdMethod::DirectRoute => "Route",
        FwdMethod::Tunnel => "Tunnel",
        FwdMethod::Local => "Local",
        FwdMethod::Bypass => "Bypass",
    }
}
