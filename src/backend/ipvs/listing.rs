//! The desired virtual servers in `ipvsadm -S -n` form, for `--dry-run`: what an operator
//! would compare with `ipvsadm -S -n` on the node.

use std::fmt::Write as _;

use super::compile::Desired;
use super::netlink::ServiceKey;
use crate::model::Protocol;

fn service_flag(key: &ServiceKey) -> String {
    let flag = match key.protocol {
        Protocol::Tcp => "-t",
        Protocol::Udp => "-u",
        Protocol::Sctp => "--sctp-service",
    };
    format!("{flag} {}:{}", key.addr, key.port)
}

/// One `-A` line per virtual server, followed by its `-a` lines, sorted as ipvsadm sorts.
pub fn ipvsadm_save(desired: &Desired) -> String {
    let mut out = String::new();
    for (key, vs) in &desired.virtual_servers {
        let svc = service_flag(key);
        let _ = write!(out, "-A {svc} -s {}", vs.service.scheduler);
        if let Some(timeout) = vs.service.persistent_timeout {
            let _ = write!(out, " -p {timeout}");
        }
        out.push('\n');
        for dest in &vs.dests {
            let _ = writeln!(out, "-a {svc} -r {dest} -m -w 1");
        }
    }
    out
}
