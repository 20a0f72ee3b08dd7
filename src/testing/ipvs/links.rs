//! A stateful stand-in for the node's interfaces and their IPv4 addresses, as IPVS mode's
//! executor sees them through `IpvsKernel` (with the handle's contract: binding an address
//! already there, or unbinding one already gone, is fine; an interface that does not exist
//! is refused with `ENODEV`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use nix::errno::Errno;

use crate::backend::ipvs::link::{IfAddr, LinkError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeLink {
    pub name: String,
    /// Addresses with their prefix length.
    pub addrs: BTreeSet<(Ipv4Addr, u8)>,
}

#[derive(Clone, Debug, Default)]
pub struct FakeLinks {
    /// By interface index.
    pub links: BTreeMap<u32, FakeLink>,
}

impl FakeLinks {
    /// Adds interface `name` with `addrs` (`/prefix`); returns its index.
    pub fn add_link(&mut self, name: &str, addrs: &[(Ipv4Addr, u8)]) -> u32 {
        let index = self.links.keys().next_back().map_or(1, |i| i + 1);
        let link = FakeLink {
            name: name.to_string(),
            addrs: addrs.iter().copied().collect(),
        };
        self.links.insert(index, link);
        index
    }

    pub fn index(&self, name: &str) -> Option<u32> {
        self.links
            .iter()
            .find_map(|(i, l)| (l.name == name).then_some(*i))
    }

    /// The addresses of interface `name` (none when it does not exist).
    pub fn addresses_of(&self, name: &str) -> BTreeSet<Ipv4Addr> {
        self.index(name)
            .map(|i| self.links[&i].addrs.iter().map(|(a, _)| *a).collect())
            .unwrap_or_default()
    }

    pub fn ensure_dummy(&mut self, name: &str) -> (u32, bool) {
        match self.index(name) {
            Some(index) => (index, false),
            None => (self.add_link(name, &[]), true),
        }
    }

    pub fn addresses(&self) -> Vec<IfAddr> {
        self.links
            .iter()
            .flat_map(|(index, link)| {
                link.addrs.iter().map(|(addr, prefix_len)| IfAddr {
                    index: *index,
                    addr: *addr,
                    prefix_len: *prefix_len,
                })
            })
            .collect()
    }

    /// Binds `addr/32`; returns whether it was not bound yet.
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr) -> Result<bool, LinkError> {
        let link = self.link(index, "binding")?;
        Ok(link.addrs.insert((addr, 32)))
    }

    /// Unbinds `addr/32`; returns whether it was bound.
    pub fn del_address(&mut self, index: u32, addr: Ipv4Addr) -> Result<bool, LinkError> {
        let link = self.link(index, "unbinding")?;
        Ok(link.addrs.remove(&(addr, 32)))
    }

    fn link(&mut self, index: u32, what: &str) -> Result<&mut FakeLink, LinkError> {
        self.links.get_mut(&index).ok_or_else(|| LinkError::Kernel {
            what: format!("{what} an address of interface {index}"),
            errno: Errno::ENODEV,
        })
    }
}
