//! A stateful stand-in for the kernel's IPVS table: virtual servers and their real
//! servers, changed by the operations it is sent and refusing them as `ip_vs_ctl.c` does
//! (`EEXIST` for what exists, `ESRCH` for a missing service, `ENOENT` for a missing
//! destination or scheduler). Connection counters are the test's to set.

use std::collections::{BTreeMap, BTreeSet};

use nix::errno::Errno;

use crate::backend::ipvs::apply::IpvsOps;
use crate::backend::ipvs::diff::Op;
use crate::backend::ipvs::handle::{IpvsError, Operation, Target};
use crate::backend::ipvs::netlink::{RealServer, ServiceKey, VirtualService};

/// The schedulers Debian's kernel ships as modules (`ip_vs_*`).
const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// One virtual server with its destinations, in the order they were added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeVs {
    pub service: VirtualService,
    pub dests: Vec<RealServer>,
}

#[derive(Clone, Debug, Default)]
pub struct FakeIpvs {
    pub services: BTreeMap<ServiceKey, FakeVs>,
    /// Keys every operation on which is refused (`ENOENT`), as a kernel in trouble would.
    pub refuse: BTreeSet<ServiceKey>,
    /// Every accepted write, as [`Op`]'s ipvsadm-like text.
    pub sent: Vec<String>,
    /// Requests made, dumps included (what `IpvsHandle::operations` counts).
    pub requests: u64,
}

impl FakeIpvs {
    /// A virtual server with `dests`, as if someone had created it.
    pub fn insert(&mut self, service: VirtualService, dests: impl IntoIterator<Item = RealServer>) {
        let dests = dests.into_iter().collect();
        self.services
            .insert(service.key(), FakeVs { service, dests });
    }

    /// The destination `addr:port` of `key`, to set its connection counters.
    pub fn dest_mut(&mut self, key: &ServiceKey, addr: std::net::SocketAddrV4) -> &mut RealServer {
        self.services
            .get_mut(key)
            .and_then(|vs| {
                vs.dests
                    .iter_mut()
                    .find(|d| d.addr == *addr.ip() && d.port == addr.port())
            })
            .unwrap_or_else(|| panic!("no destination {addr} in {key}"))
    }

    /// Every IPv4 virtual server, as a dump returns them.
    pub fn dump_services(&mut self) -> Vec<VirtualService> {
        self.requests += 1;
        self.services
            .values()
            .map(|vs| vs.service.clone())
            .collect()
    }

    fn apply(&mut self, op: &Op) -> Result<(), Errno> {
        let key = op.key();
        if self.refuse.contains(&key) {
            return Err(Errno::ENOENT);
        }
        let same = |d: &RealServer, o: &RealServer| d.addr == o.addr && d.port == o.port;
        match op {
            Op::AddService(s) => {
                if self.services.contains_key(&key) {
                    return Err(Errno::EEXIST);
                }
                if !SCHEDULERS.contains(&s.scheduler.as_str()) {
                    return Err(Errno::ENOENT);
                }
                self.insert(fresh_service(s), []);
            }
            Op::UpdateService(s) => {
                if !SCHEDULERS.contains(&s.scheduler.as_str()) {
                    return Err(Errno::ENOENT);
                }
                self.services.get_mut(&key).ok_or(Errno::ESRCH)?.service = fresh_service(s);
            }
            Op::DeleteService(_) => {
                self.services.remove(&key).ok_or(Errno::ESRCH)?;
            }
            Op::AddDest(_, d) => {
                let vs = self.services.get_mut(&key).ok_or(Errno::ESRCH)?;
                if vs.dests.iter().any(|x| same(x, d)) {
                    return Err(Errno::EEXIST);
                }
                vs.dests.push(fresh_dest(d));
            }
            Op::UpdateDest(_, d) => {
                let vs = self.services.get_mut(&key).ok_or(Errno::ESRCH)?;
                let dest = vs
                    .dests
                    .iter_mut()
                    .find(|x| same(x, d))
                    .ok_or(Errno::ENOENT)?;
                dest.weight = d.weight;
                dest.fwd_method = d.fwd_method;
                dest.upper_threshold = d.upper_threshold;
                dest.lower_threshold = d.lower_threshold;
            }
            Op::DeleteDest(_, d) => {
                let vs = self.services.get_mut(&key).ok_or(Errno::ESRCH)?;
                let before = vs.dests.len();
                vs.dests.retain(|x| !same(x, d));
                if vs.dests.len() == before {
                    return Err(Errno::ENOENT);
                }
            }
        }
        Ok(())
    }
}

/// A service as the kernel keeps it: what was asked, without counters.
fn fresh_service(s: &VirtualService) -> VirtualService {
    VirtualService {
        stats: None,
        ..s.clone()
    }
}

/// A destination as the kernel adds it: no connections yet.
fn fresh_dest(d: &RealServer) -> RealServer {
    RealServer {
        active_conns: 0,
        inactive_conns: 0,
        persistent_conns: 0,
        stats: None,
        ..d.clone()
    }
}

fn operation(op: &Op) -> (Operation, Target) {
    let dest = |k: &ServiceKey, d: &RealServer| Target::Destination(*k, d.addr, d.port);
    match op {
        Op::AddService(s) => (Operation::AddService, Target::Service(s.key())),
        Op::UpdateService(s) => (Operation::UpdateService, Target::Service(s.key())),
        Op::DeleteService(k) => (Operation::DeleteService, Target::Service(*k)),
        Op::AddDest(k, d) => (Operation::AddDestination, dest(k, d)),
        Op::UpdateDest(k, d) => (Operation::UpdateDestination, dest(k, d)),
        Op::DeleteDest(k, d) => (Operation::DeleteDestination, dest(k, d)),
    }
}

impl IpvsOps for FakeIpvs {
    fn destinations(&mut self, svc: &ServiceKey) -> Result<Vec<RealServer>, IpvsError> {
        self.requests += 1;
        Ok(self
            .services
            .get(svc)
            .map(|vs| vs.dests.clone())
            .unwrap_or_default())
    }

    fn send(&mut self, op: &Op) -> Result<(), IpvsError> {
        self.requests += 1;
        match self.apply(op) {
            Ok(()) => {
                self.sent.push(op.to_string());
                Ok(())
            }
            Err(errno) => {
                let (op, target) = operation(op);
                Err(IpvsError::Kernel { op, target, errno })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::backend::ipvs::diff::wanted_dest;
    use crate::model::Protocol;

    #[test]
    fn refuses_what_the_kernel_refuses() {
        let key = ServiceKey::new(Protocol::Tcp, Ipv4Addr::new(10, 96, 0, 1), 80);
        let dest = wanted_dest("10.244.0.1:8080".parse().unwrap());
        let mut ipvs = FakeIpvs::default();
        let errno = |ipvs: &mut FakeIpvs, op| ipvs.send(&op).unwrap_err().errno();
        assert_eq!(
            errno(&mut ipvs, Op::AddDest(key, dest.clone())),
            Some(Errno::ESRCH)
        );
        assert_eq!(errno(&mut ipvs, Op::DeleteService(key)), Some(Errno::ESRCH));
        let bogus = VirtualService::new(key, "no-such-scheduler");
        assert_eq!(errno(&mut ipvs, Op::AddService(bogus)), Some(Errno::ENOENT));
        ipvs.send(&Op::AddService(VirtualService::new(key, "rr")))
            .unwrap();
        let again = Op::AddService(VirtualService::new(key, "rr"));
        assert_eq!(errno(&mut ipvs, again), Some(Errno::EEXIST));
        assert_eq!(
            errno(&mut ipvs, Op::DeleteDest(key, dest.clone())),
            Some(Errno::ENOENT)
        );
        ipvs.send(&Op::AddDest(key, dest.clone())).unwrap();
        assert_eq!(
            errno(&mut ipvs, Op::AddDest(key, dest)),
            Some(Errno::EEXIST)
        );
        assert_eq!(ipvs.sent.len(), 2, "refused operations change nothing");
        assert_eq!(ipvs.services[&key].dests.len(), 1);
    }
}
