//! What IPVS mode's executor needs from the kernel besides iptables (which it reaches
//! through an [`IptablesRunner`](crate::netfilter::iptables::runner::IptablesRunner)): IPVS
//! virtual and real servers ([`IpvsOps`] and the methods here), ipsets ([`IpsetOps`]),
//! kube-ipvs0 and its addresses, and a few sysctls. [`Handles`] is the real kernel;
//! `kproxy::testing::ipvs::FakeKernel` a stateful fake that refuses what the kernel refuses.

use std::io;
use std::net::Ipv4Addr;

use super::apply::IpvsOps;
use super::diff::Op;
use super::handle::{IpvsError, IpvsHandle};
use super::link::{IfAddr, LinkError, LinkHandle};
use super::netlink::{RealServer, ServiceKey, Timeouts, VirtualService};
use super::sysctl;
use crate::backend::SyncError;
use crate::ipset::{Entry, IpsetError, IpsetHandle, IpsetOps, SetListing, SetType};

/// The kernel as IPVS mode's executor sees it, one line of contract per method.
pub trait IpvsKernel: IpvsOps + IpsetOps + Send {
    /// Sets the sysctls IPVS mode needs that differ; returns how many were written.
    fn ensure_sysctls(&mut self, strict_arp: bool) -> io::Result<usize>;
    /// Sets IPVS's connection timeouts; a 0 field leaves that timeout unchanged.
    fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<(), IpvsError>;
    /// Every IPv4 address/port virtual server (kproxy never creates the others).
    fn services(&mut self) -> Result<Vec<VirtualService>, IpvsError>;
    /// IPVS requests sent so far, dumps included.
    fn ipvs_requests(&self) -> u64;
    /// Creates dummy interface `name` unless it exists; returns its index and whether it
    /// was created.
    fn ensure_dummy(&mut self, name: &str) -> Result<(u32, bool), LinkError>;
    /// Every IPv4 address of every interface.
    fn addresses(&mut self) -> Result<Vec<IfAddr>, LinkError>;
    /// Binds `addr/32` to interface `index`; an address already there is fine.
    fn add_address(&mut self, index: u32, addr: Ipv4Addr) -> Result<(), LinkError>;
    /// Unbinds `addr/32` from interface `index`; an address already gone is fine.
    fn del_address(&mut self, index: u32, addr: Ipv4Addr) -> Result<(), LinkError>;
}

/// The sockets IPVS mode talks through, all opened in the namespace kproxy runs in.
pub struct Handles {
    pub ipvs: IpvsHandle,
    pub ipset: IpsetHandle,
    pub link: LinkHandle,
}

impl Handles {
    /// Opens the three sockets; fails clearly when the kernel has no IPVS.
    pub fn open() -> Result<Self, SyncError> {
        Ok(Self {
            ipvs: IpvsHandle::new().map_err(SyncError::Ipvs)?,
            ipset: IpsetHandle::new().map_err(SyncError::IpsetOpen)?,
            link: LinkHandle::new().map_err(SyncError::Link)?,
        })
    }
}

impl IpvsKernel for Handles {
    fn ensure_sysctls(&mut self, strict_arp: bool) -> io::Result<usize> {
        sysctl::ensure(strict_arp)
    }

    fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<(), IpvsError> {
        self.ipvs.set_timeouts(timeouts)
    }

    fn services(&mut self) -> Result<Vec<VirtualService>, IpvsError> {
        self.ipvs.services()
    }

    fn ipvs_requests(&self) -> u64 {
        self.ipvs.operations()
    }

    fn ensure_dummy(&mut self, name: &str) -> Result<(u32, bool), LinkError> {
        self.link.ensure_dummy(name)
    }

    fn addresses(&mut self) -> Result<Vec<IfAddr>, LinkError> {
        self.link.addresses()
    }

    fn add_address(&mut self, index: u32, addr: Ipv4Addr) -> Result<(), LinkError> {
        self.link.add_address(index, addr)
    }

    fn del_address(&mut self, index: u32, addr: Ipv4Addr) -> Result<(), LinkError> {
        self.link.del_address(index, addr)
    }
}

impl IpvsOps for Handles {
    fn destinations(&mut self, svc: &ServiceKey) -> Result<Vec<RealServer>, IpvsError> {
        self.ipvs.destinations(svc)
    }

    fn send(&mut self, op: &Op) -> Result<(), IpvsError> {
        self.ipvs.send(op)
    }
}

impl IpsetOps for Handles {
    fn list(&mut self, name: &str) -> Result<SetListing, IpsetError> {
        IpsetOps::list(&mut self.ipset, name)
    }

    fn create(&mut self, name: &str, set_type: &SetType) -> Result<(), IpsetError> {
        IpsetOps::create(&mut self.ipset, name, set_type)
    }

    fn destroy(&mut self, name: &str) -> Result<(), IpsetError> {
        IpsetOps::destroy(&mut self.ipset, name)
    }

    fn flush(&mut self, name: &str) -> Result<(), IpsetError> {
        IpsetOps::flush(&mut self.ipset, name)
    }

    fn add_all(&mut self, name: &str, entries: &[Entry]) -> Result<usize, IpsetError> {
        IpsetOps::add_all(&mut self.ipset, name, entries)
    }

    fn del_all(&mut self, name: &str, entries: &[Entry]) -> Result<usize, IpsetError> {
        IpsetOps::del_all(&mut self.ipset, name, entries)
    }
}
