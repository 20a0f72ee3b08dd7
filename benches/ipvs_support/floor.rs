//! The floors: the bare tools loading the same configuration into an empty namespace —
//! `ipvsadm -R` for the virtual servers, `ipset restore` for the set members, `ip -batch`
//! for kube-ipvs0 and its addresses. Nothing kproxy does to load the same objects can be
//! cheaper than the kernel work these do.

use std::fmt::Write as _;
use std::time::Duration;

use kproxy::backend::ipvs::compile::Desired;
use kproxy::backend::ipvs::listing::ipvsadm_save;

use crate::netns::Netns;

/// How long each tool took.
#[derive(Clone, Copy, Debug, Default)]
pub struct Floor {
    pub ipvsadm: Duration,
    pub ipset: Duration,
    pub ip: Duration,
}

impl Floor {
    pub fn total(&self) -> Duration {
        self.ipvsadm + self.ipset + self.ip
    }
}

/// The inputs of the three tools for one desired state, built once.
pub struct FloorInputs {
    pub ipvsadm: String,
    pub ipset: String,
    pub ip: String,
}

impl FloorInputs {
    pub fn new(desired: &Desired) -> Self {
        let mut ipset = String::new();
        for (set, entries) in &desired.sets {
            let _ = writeln!(ipset, "create {} {}", set.name(), set.set_type());
            for entry in entries {
                let _ = writeln!(ipset, "add {} {entry}", set.name());
            }
        }
        let mut ip = String::from("link add kube-ipvs0 type dummy\n");
        for addr in &desired.addresses {
            let _ = writeln!(ip, "address add {addr}/32 dev kube-ipvs0");
        }
        Self {
            ipvsadm: ipvsadm_save(desired),
            ipset,
            ip,
        }
    }

    /// Loads everything into a fresh namespace, timing each tool.
    pub fn run(&self) -> Floor {
        let ns = Netns::new("floor");
        Floor {
            ipvsadm: ns.timed_stdin("ipvsadm", &["-R"], self.ipvsadm.as_bytes()),
            ipset: ns.timed_stdin("ipset", &["restore"], self.ipset.as_bytes()),
            ip: ns.timed_stdin("ip", &["-batch", "-"], self.ip.as_bytes()),
        }
    }
}
