//! A virtual service as kproxy uses it (IPv4 address, protocol, port), converted to and
//! from `IPVS_SVC_ATTR_*` lists.

use std::fmt;
use std::net::Ipv4Addr;

use crate::model::Protocol;

use super::addr::InetAddr;
use super::constants::*;
use super::error::AttrError;
use super::service::{IpvsFlags, SvcAttr};
use super::stats::Stats;

/// What identifies a service in the kernel: protocol, address, port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub protocol: Protocol,
    pub addr: Ipv4Addr,
    pub port: u16,
}

impl ServiceKey {
    pub fn new(protocol: Protocol, addr: Ipv4Addr, port: u16) -> Self {
        Self {
            protocol,
            addr,
            port,
        }
    }

    /// The identifying attributes alone: enough to delete a service, or to name the
    /// service of a destination operation or dump.
    pub fn to_attrs(&self) -> Vec<SvcAttr> {
        vec![
            SvcAttr::Af(AF_INET),
            SvcAttr::Protocol(protocol_number(self.protocol)),
            SvcAttr::Addr(InetAddr::from(self.addr)),
            SvcAttr::Port(self.port),
        ]
    }
}

impl fmt::Display for ServiceKey {
    /// `tcp/10.96.0.1:443`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.protocol, self.addr, self.port)
    }
}

/// Service flags other than the two kproxy models elsewhere: `IP_VS_SVC_F_PERSISTENT`
/// (from `persistent_timeout`) and `IP_VS_SVC_F_HASHED` (kernel-internal, always set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    pub const ONE_PACKET: u32 = IP_VS_SVC_F_ONEPACKET;
    /// `sh` scheduler: fall back to another server when the hashed one is unavailable.
    pub const SH_FALLBACK: u32 = IP_VS_SVC_F_SCHED1;
    /// `sh` scheduler: hash the source port too.
    pub const SH_PORT: u32 = IP_VS_SVC_F_SCHED2;
    pub const SCHED3: u32 = IP_VS_SVC_F_SCHED3;
}

/// A virtual service: where clients connect and how the kernel picks a real server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualService {
    pub addr: Ipv4Addr,
    pub port: u16,
    pub protocol: Protocol,
    /// Kernel scheduler name: `rr`, `wrr`, `lc`, `wlc`, `sh`, …
    pub scheduler: String,
    /// Session affinity: `Some(seconds)` sets `IP_VS_SVC_F_PERSISTENT` with that timeout.
    pub persistent_timeout: Option<u32>,
    pub flags: ServiceFlags,
    /// Persistence granularity; `255.255.255.255` (one client address) by default.
    pub netmask: Ipv4Addr,
    /// Counters, present in what the kernel reports and ignored in requests.
    pub stats: Option<Stats>,
}

impl VirtualService {
    /// A service with `scheduler`, no persistence, no flags.
    pub fn new(key: ServiceKey, scheduler: impl Into<String>) -> Self {
        Self {
            addr: key.addr,
            port: key.port,
            protocol: key.protocol,
            scheduler: scheduler.into(),
            persistent_timeout: None,
            flags: ServiceFlags::default(),
            netmask: Ipv4Addr::BROADCAST,
            stats: None,
        }
    }

    pub fn key(&self) -> ServiceKey {
        ServiceKey::new(self.protocol, self.addr, self.port)
    }

    /// The full attribute list of an add or update, in ipvsadm's order. The kernel needs
    /// all of scheduler, flags, timeout and netmask; the flag mask covers every bit, so an
    /// update sets the service's flags exactly rather than merging them.
    pub fn to_attrs(&self) -> Vec<SvcAttr> {
        let mut flags = self.flags.0 & !(IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_HASHED);
        if self.persistent_timeout.is_some() {
            flags |= IP_VS_SVC_F_PERSISTENT;
        }
        let mut attrs = self.key().to_attrs();
        attrs.extend([
            SvcAttr::SchedName(self.scheduler.clone()),
            SvcAttr::Flags(IpvsFlags {
                flags,
                mask: u32::MAX,
            }),
            SvcAttr::Timeout(self.persistent_timeout.unwrap_or(0)),
            SvcAttr::Netmask(u32::from(self.netmask)),
        ]);
        attrs
    }

    /// Reads a service the kernel reported. Fails on what kproxy never creates: IPv6,
    /// fwmark services, protocols other than tcp/udp/sctp.
    pub fn from_attrs(attrs: &[SvcAttr]) -> Result<Self, AttrError> {
        let (mut af, mut proto, mut addr, mut port, mut fwmark) = (None, None, None, None, None);
        let (mut sched, mut flags, mut timeout, mut netmask) = (None, 0, 0, u32::MAX);
        let (mut stats, mut stats64) = (None, None);
        for attr in attrs {
            match attr {
                SvcAttr::Af(v) => af = Some(*v),
                SvcAttr::Protocol(v) => proto = Some(*v),
                SvcAttr::Addr(v) => addr = Some(*v),
                SvcAttr::Port(v) => port = Some(*v),
                SvcAttr::Fwmark(v) => fwmark = Some(*v),
                SvcAttr::SchedName(v) => sched = Some(v.clone()),
                SvcAttr::Flags(v) => flags = v.flags,
                SvcAttr::Timeout(v) => timeout = *v,
                SvcAttr::Netmask(v) => netmask = *v,
                SvcAttr::Stats(v) => stats = Some(Stats::from(v.as_slice())),
                SvcAttr::Stats64(v) => stats64 = Some(Stats::from(v.as_slice())),
                _ => {}
            }
        }
        match af.ok_or(AttrError::Missing("IPVS_SVC_ATTR_AF"))? {
            AF_INET => {}
            other => return Err(AttrError::UnsupportedFamily(other)),
        }
        if let Some(mark) = fwmark.filter(|m| *m != 0) {
            return Err(AttrError::FwmarkService(mark));
        }
        let proto = proto.ok_or(AttrError::Missing("IPVS_SVC_ATTR_PROTOCOL"))?;
        Ok(Self {
            addr: addr.ok_or(AttrError::Missing("IPVS_SVC_ATTR_ADDR"))?.v4(),
            port: port.ok_or(AttrError::Missing("IPVS_SVC_ATTR_PORT"))?,
            protocol: protocol_from_number(proto).ok_or(AttrError::UnsupportedProtocol(proto))?,
            scheduler: sched.ok_or(AttrError::Missing("IPVS_SVC_ATTR_SCHED_NAME"))?,
            persistent_timeout: (flags & IP_VS_SVC_F_PERSISTENT != 0).then_some(timeout),
            flags: ServiceFlags(flags & !(IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_HASHED)),
            netmask: Ipv4Addr::from(netmask),
            stats: stats64.or(stats),
        })
    }
}

/// `IPPROTO_*` of a protocol.
pub fn protocol_number(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
        Protocol::Sctp => IPPROTO_SCTP,
    }
}

fn protocol_from_number(n: u16) -> Option<Protocol> {
    match n {
        IPPROTO_TCP => Some(Protocol::Tcp),
        IPPROTO_UDP => Some(Protocol::Udp),
        IPPROTO_SCTP => Some(Protocol::Sctp),
        _ => None,
    }
}
