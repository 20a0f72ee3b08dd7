//! The kube-ipvs0 dummy interface and its addresses, over a blocking rtnetlink socket.
//! IPVS only sees packets addressed to the node, so every service address is bound to a
//! dummy device (left down, as kube-proxy leaves it: its addresses are local all the same,
//! and it never answers ARP for them). Messages are built with rtnetlink's pure builders
//! and sent over the shared blocking [`Connection`].

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{DecodeError, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use nix::errno::Errno;
use rtnetlink::{AddressMessageBuilder, LinkDummy};
use thiserror::Error;

use crate::netlink::{Connection, NetlinkError};

/// The dummy interface holding service addresses, named as kube-proxy names it.
pub const DUMMY_DEVICE: &str = "kube-ipvs0";

/// A failed rtnetlink exchange. All are retryable except `Socket`.
#[derive(Debug, Error)]
pub enum LinkError {
    #[error("opening a route netlink socket: {0}")]
    Socket(#[source] io::Error),
    #[error("{what}: netlink I/O: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{what}: {errno}")]
    Kernel { what: String, errno: Errno },
    #[error("{what}: undecodable reply: {source}")]
    Decode {
        what: String,
        #[source]
        source: DecodeError,
    },
}

impl LinkError {
    fn errno(&self) -> Option<Errno> {
        match self {
            Self::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// An IPv4 address of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IfAddr {
    pub index: u32,
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

/// A route netlink socket in the network namespace it was opened in.
pub struct LinkHandle {
    connection: Connection,
}

impl LinkHandle {
    pub fn new() -> Result<Self, LinkError> {
        let connection = Connection::open(NETLINK_ROUTE).map_err(LinkError::Socket)?;
        Ok(Self { connection })
    }

    /// The index of interface `name`, if it exists.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>, LinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        let what = || format!("looking up interface {name}");
        match self.request(RouteNetlinkMessage::GetLink(msg), NLM_F_ACK, what) {
            Ok(replies) => Ok(replies.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => Some(link.header.index),
                _ => None,
            })),
            Err(e) if e.errno() == Some(Errno::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates dummy interface `name` unless it exists; returns its index and whether it
    /// was created.
    pub fn ensure_dummy(&mut self, name: &str) -> Result<(u32, bool), LinkError> {
        if let Some(index) = self.link_index(name)? {
            return Ok((index, false));
        }
        let msg = LinkDummy::new(name).build();
        let what = || format!("creating dummy interface {name}");
        match self.request(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            what,
        ) {
            Ok(_) => {}
            Err(e) if e.errno() == Some(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        let index = self.link_index(name)?.ok_or_else(|| LinkError::Kernel {
            what: format!("interface {name} vanished after its creation"),
            errno: Errno::ENODEV,
        })?;
        Ok((index, true))
    }

    /// Deletes an interface (and with it its addresses).
    pub fn delete_link(&mut self, index: u32) -> Result<(), LinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        let what = || format!("deleting interface {index}");
        self.request(RouteNetlinkMessage::DelLink(msg), NLM_F_ACK, what)
            .map(drop)
    }

    /// Every IPv4 address of every interface.
    pub fn addresses(&mut self) -> Result<Vec<IfAddr>, LinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let replies = self.request(RouteNetlinkMessage::GetAddress(msg), NLM_F_DUMP, || {
            "listing addresses".to_string()
        })?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Some(a),
                _ => None,
            })
            .filter_map(|a| {
                // IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer's on
                // point-to-point links.
                let local = a.attributes.iter().find_map(|attr| match attr {
                    AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
                    _ => None,
                });
                let addr = local.or_else(|| {
                    a.attributes.iter().find_map(|attr| match attr {
                        AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                        _ => None,
                    })
                })?;
                Some(IfAddr {
                    index: a.header.index,
                    addr,
                    prefix_len: a.header.prefix_len,
                })
            })
            .collect())
    }

    /// Binds `addr/32` to interface `index`; an address already there is fine.
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr) -> Result<(), LinkError> {
        let msg = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(addr, 32)
            .build();
        let what = || format!("binding {addr} to interface {index}");
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            what,
        ) {
            Err(e) if e.errno() != Some(Errno::EEXIST) => Err(e),
            _ => Ok(()),
        }
    }

    /// Unbinds `addr/32` from interface `index`; an address already gone is fine.
    pub fn del_address(&mut self, index: u32, addr: Ipv4Addr) -> Result<(), LinkError> {
        let msg = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(addr, 32)
            .build();
        let what = || format!("unbinding {addr} from interface {index}");
        match self.request(RouteNetlinkMessage::DelAddress(msg), NLM_F_ACK, what) {
            Err(e) if e.errno() != Some(Errno::EADDRNOTAVAIL) => Err(e),
            _ => Ok(()),
        }
    }

    /// Sends one request and collects the data messages of its reply, up to the ACK or the
    /// end of the dump.
    fn request(
        &mut self,
        payload: RouteNetlinkMessage,
        flags: u16,
        what: impl Fn() -> String,
    ) -> Result<Vec<RouteNetlinkMessage>, LinkError> {
        self.connection
            .request(payload, flags)
            .map_err(|e| match e {
                NetlinkError::Io(source) => LinkError::Io {
                    what: what(),
                    source,
                },
                NetlinkError::Decode(source) => LinkError::Decode {
                    what: what(),
                    source,
                },
                NetlinkError::Kernel { code, .. } => LinkError::Kernel {
                    what: what(),
                    errno: Errno::from_raw(code),
                },
            })
    }
}
