//! A stateful fake of the kernel IPVS mode programs ([`FakeKernel`], behind
//! `IpvsKernel`), so the executor's syncs run without the VM: it keeps the IPVS table, the
//! interfaces and their addresses, the ipsets and the sysctls, refuses what the kernel
//! refuses, and logs every write in order. The iptables side is
//! [`crate::testing::iptables::fake::FakeRunner`].

mod links;
mod virtual_servers;

use std::collections::BTreeMap;
use std::io;
use std::net::Ipv4Addr;

pub use links::{FakeLink, FakeLinks};
pub use virtual_servers::{FakeIpvs, FakeVs};

use super::ipset::FakeIpset;
use crate::backend::ipvs::apply::IpvsOps;
use crate::backend::ipvs::diff::Op;
use crate::backend::ipvs::handle::IpvsError;
use crate::backend::ipvs::kernel::IpvsKernel;
use crate::backend::ipvs::link::{IfAddr, LinkError};
use crate::backend::ipvs::netlink::{RealServer, ServiceKey, Timeouts, VirtualService};
use crate::backend::ipvs::sysctl;
use crate::ipset::{Entry, IpsetError, IpsetOps, SetListing, SetType};

#[derive(Clone, Debug, Default)]
pub struct FakeKernel {
    pub ipvs: FakeIpvs,
    pub ipset: FakeIpset,
    pub links: FakeLinks,
    /// By path under `/proc/sys`; a missing key reads as `0`.
    pub sysctls: BTreeMap<String, String>,
    pub timeouts: Timeouts,
    /// Every write that changed something, in order: IPVS operations as [`Op`] prints them,
    /// `bind ADDR` / `unbind ADDR` for addresses, `ipset add|del NAME N`, `sysctl KEY=VALUE`.
    pub writes: Vec<String>,
}

impl FakeKernel {
    /// A node with `lo` (127.0.0.1/8) and `eth0` holding `node_ip/24`.
    pub fn node(node_ip: Ipv4Addr) -> Self {
        let mut kernel = Self::default();
        kernel.links.add_link("lo", &[(Ipv4Addr::LOCALHOST, 8)]);
        kernel.links.add_link("eth0", &[(node_ip, 24)]);
        kernel
    }

    /// The index of the position in [`FakeKernel::writes`] of the first write `pred` accepts.
    pub fn position(&self, pred: impl Fn(&str) -> bool) -> Option<usize> {
        self.writes.iter().position(|w| pred(w))
    }
}

impl IpvsKernel for FakeKernel {
    fn ensure_sysctls(&mut self, strict_arp: bool) -> io::Result<usize> {
        let mut written = 0;
        for (key, value) in sysctl::wanted(strict_arp) {
            let current = self.sysctls.get(key).map_or("0", String::as_str);
            if current != value {
                self.sysctls.insert(key.to_string(), value.to_string());
                self.writes.push(format!("sysctl {key}={value}"));
                written += 1;
            }
        }
        Ok(written)
    }

    fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<(), IpvsError> {
        self.ipvs.requests += 1;
        let keep = |new: u32, old: u32| if new == 0 { old } else { new };
        self.timeouts = Timeouts {
            tcp: keep(timeouts.tcp, self.timeouts.tcp),
            tcp_fin: keep(timeouts.tcp_fin, self.timeouts.tcp_fin),
            udp: keep(timeouts.udp, self.timeouts.udp),
        };
        self.writes.push(format!("timeouts {timeouts:?}"));
        Ok(())
    }

    fn services(&mut self) -> Result<Vec<VirtualService>, IpvsError> {
        Ok(self.ipvs.dump_services())
    }

    fn ipvs_requests(&self) -> u64 {
        self.ipvs.requests
    }

    fn ensure_dummy(&mut self, name: &str) -> Result<(u32, bool), LinkError> {
        let (index, created) = self.links.ensure_dummy(name);
        if created {
            self.writes.push(format!("ip link add {name} type dummy"));
        }
        Ok((index, created))
    }

    fn addresses(&mut self) -> Result<Vec<IfAddr>, LinkError> {
        Ok(self.links.addresses())
    }

    fn add_address(&mut self, index: u32, addr: Ipv4Addr) -> Result<(), LinkError> {
        if self.links.add_address(index, addr)? {
            self.writes.push(format!("bind {addr}"));
        }
        Ok(())
    }

    fn del_address(&mut self, index: u32, addr: Ipv4Addr) -> Result<(), LinkError> {
        if self.links.del_address(index, addr)? {
            self.writes.push(format!("unbind {addr}"));
        }
        Ok(())
    }
}

impl IpvsOps for FakeKernel {
    fn destinations(&mut self, svc: &ServiceKey) -> Result<Vec<RealServer>, IpvsError> {
        self.ipvs.destinations(svc)
    }

    fn send(&mut self, op: &Op) -> Result<(), IpvsError> {
        self.ipvs.send(op)?;
        self.writes.push(op.to_string());
        Ok(())
    }
}

impl IpsetOps for FakeKernel {
    fn list(&mut self, name: &str) -> Result<SetListing, IpsetError> {
        self.ipset.list(name)
    }

    fn create(&mut self, name: &str, set_type: &SetType) -> Result<(), IpsetError> {
        self.ipset.create(name, set_type)?;
        self.writes.push(format!("ipset create {name} {set_type}"));
        Ok(())
    }

    fn destroy(&mut self, name: &str) -> Result<(), IpsetError> {
        self.ipset.destroy(name)?;
        self.writes.push(format!("ipset destroy {name}"));
        Ok(())
    }

    fn flush(&mut self, name: &str) -> Result<(), IpsetError> {
        self.ipset.flush(name)?;
        self.writes.push(format!("ipset flush {name}"));
        Ok(())
    }

    fn add_all(&mut self, name: &str, entries: &[Entry]) -> Result<usize, IpsetError> {
        let sent = self.ipset.add_all(name, entries)?;
        self.writes
            .push(format!("ipset add {name} {}", entries.len()));
        Ok(sent)
    }

    fn del_all(&mut self, name: &str, entries: &[Entry]) -> Result<usize, IpsetError> {
        let sent = self.ipset.del_all(name, entries)?;
        self.writes
            .push(format!("ipset del {name} {}", entries.len()));
        Ok(sent)
    }
}
