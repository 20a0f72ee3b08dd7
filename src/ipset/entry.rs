//! One member of a set, written the way `ipset list` writes it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use thiserror::Error;

use super::data::DataAttr;
use super::set_type::SetType;
use crate::model::Protocol;

/// A set member. Which variant a set holds follows from its [`SetType`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entry {
    /// `hash:ip,port`: `10.96.0.1,tcp:443`.
    IpPort {
        ip: Ipv4Addr,
        proto: Protocol,
        port: u16,
    },
    /// `hash:ip,port,ip`: `10.244.1.5,tcp:8080,10.244.1.5`.
    IpPortIp {
        ip: Ipv4Addr,
        proto: Protocol,
        port: u16,
        ip2: Ipv4Addr,
    },
    /// `hash:ip,port,net`: `5.6.7.8,tcp:80,203.0.113.0/24` (a /32 net without its prefix).
    IpPortNet {
        ip: Ipv4Addr,
        proto: Protocol,
        port: u16,
        net: Ipv4Net,
    },
    /// `bitmap:port`: `30080`.
    Port(u16),
    /// `hash:ip`: `192.168.1.1`.
    Ip(Ipv4Addr),
    /// `hash:net`: `10.0.0.0/8`, and a /32 without its prefix like ipset prints it.
    Net(Ipv4Net),
}

/// An entry that could not be read from ipset's text or the kernel's attributes.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("{text:?} is not a {set_type} entry")]
    Syntax { text: String, set_type: String },
    #[error("protocol number {0} is not tcp, udp or sctp")]
    Protocol(u8),
    #[error("entry attributes lack {0}")]
    Missing(&'static str),
    #[error("IPv6 address {0} in an IPv4 set")]
    Ipv6(IpAddr),
}

impl Entry {
    /// The same entry as the kernel keeps it: a net's host bits cleared.
    pub fn normalized(self) -> Self {
        match self {
            Self::Net(net) => Self::Net(net.trunc()),
            Self::IpPortNet {
                ip,
                proto,
                port,
                net,
            } => Self::IpPortNet {
                ip,
                proto,
                port,
                net: net.trunc(),
            },
            other => other,
        }
    }

    /// The attributes of this entry inside an add/del/test DATA nest, in the order the
    /// `ipset` tool sends them.
    pub fn to_data(&self) -> Vec<DataAttr> {
        match *self {
            Self::IpPort { ip, proto, port } => vec![
                DataAttr::Ip(ip.into()),
                DataAttr::Port(port),
                DataAttr::Proto(proto_number(proto)),
            ],
            Self::IpPortIp {
                ip,
                proto,
                port,
                ip2,
            } => vec![
                DataAttr::Ip(ip.into()),
                DataAttr::Port(port),
                DataAttr::Proto(proto_number(proto)),
                DataAttr::Ip2(ip2.into()),
            ],
            Self::IpPortNet {
                ip,
                proto,
                port,
                net,
            } => vec![
                DataAttr::Ip(ip.into()),
                DataAttr::Port(port),
                DataAttr::Proto(proto_number(proto)),
                DataAttr::Ip2(net.addr().into()),
                DataAttr::Cidr2(net.prefix_len()),
            ],
            Self::Port(port) => vec![DataAttr::Port(port)],
            Self::Ip(ip) => vec![DataAttr::Ip(ip.into())],
            Self::Net(net) => vec![
                DataAttr::Ip(net.addr().into()),
                DataAttr::Cidr(net.prefix_len()),
            ],
        }
    }

    /// Reads an entry of a set of type `set_type` from the kernel's attributes, ignoring
    /// extensions (timeouts, counters, comments).
    pub fn from_data(set_type: &SetType, attrs: &[DataAttr]) -> Result<Self, EntryError> {
        let mut ip = None;
        let mut ip2 = None;
        let mut port = None;
        let mut proto = None;
        let mut cidr = None;
        let mut cidr2 = None;
        for attr in attrs {
            match attr {
                DataAttr::Ip(a) => ip = Some(*a),
                DataAttr::Ip2(a) => ip2 = Some(*a),
                DataAttr::Port(p) => port = Some(*p),
                DataAttr::Proto(p) => proto = Some(*p),
                DataAttr::Cidr(c) => cidr = Some(*c),
                DataAttr::Cidr2(c) => cidr2 = Some(*c),
                _ => {}
            }
        }
        let v4 = |ip: Option<IpAddr>, what| match ip {
            Some(IpAddr::V4(ip)) => Ok(ip),
            Some(other) => Err(EntryError::Ipv6(other)),
            None => Err(EntryError::Missing(what)),
        };
        let port = |what| port.ok_or(EntryError::Missing(what));
        let proto = || -> Result<Protocol, EntryError> {
            let number = proto.ok_or(EntryError::Missing("a protocol"))?;
            protocol_from_number(number).ok_or(EntryError::Protocol(number))
        };
        Ok(match set_type {
            SetType::HashIpPort => Self::IpPort {
                ip: v4(ip, "an address")?,
                proto: proto()?,
                port: port("a port")?,
            },
            SetType::HashIpPortIp => Self::IpPortIp {
                ip: v4(ip, "an address")?,
                proto: proto()?,
                port: port("a port")?,
                ip2: v4(ip2, "a second address")?,
            },
            SetType::HashIpPortNet => Self::IpPortNet {
                ip: v4(ip, "an address")?,
                proto: proto()?,
                port: port("a port")?,
                net: Ipv4Net::new(v4(ip2, "a net")?, cidr2.unwrap_or(32))
                    .map_err(|_| EntryError::Missing("a valid prefix"))?,
            },
            SetType::BitmapPort { .. } => Self::Port(port("a port")?),
            SetType::HashIp => Self::Ip(v4(ip, "an address")?),
            SetType::HashNet => {
                let addr = v4(ip, "an address")?;
                let prefix = cidr.unwrap_or(32);
                let net = Ipv4Net::new(addr, prefix)
                    .map_err(|_| EntryError::Missing("a valid prefix"))?;
                Self::Net(net)
            }
        })
    }

    /// Parses an entry as `ipset list` / `ipset save` print it for a set of `set_type`.
    pub fn parse(set_type: &SetType, text: &str) -> Result<Self, EntryError> {
        let syntax = || EntryError::Syntax {
            text: text.to_string(),
            set_type: set_type.type_name().to_string(),
        };
        let proto_port = |s: &str| -> Option<(Protocol, u16)> {
            let (proto, port) = s.split_once(':')?;
            let proto = match proto {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                "sctp" => Protocol::Sctp,
                _ => return None,
            };
            Some((proto, port.parse().ok()?))
        };
        let parsed = match set_type {
            SetType::HashIpPort => text.split_once(',').and_then(|(ip, rest)| {
                let (proto, port) = proto_port(rest)?;
                Some(Self::IpPort {
                    ip: ip.parse().ok()?,
                    proto,
                    port,
                })
            }),
            SetType::HashIpPortNet => {
                let mut parts = text.split(',');
                match (parts.next(), parts.next(), parts.next(), parts.next()) {
                    (Some(ip), Some(pp), Some(net), None) => {
                        proto_port(pp).and_then(|(proto, port)| {
                            let net = match net.parse::<Ipv4Net>() {
                                Ok(net) => net,
                                Err(_) => net.parse::<Ipv4Addr>().ok()?.into(),
                            };
                            Some(Self::IpPortNet {
                                ip: ip.parse().ok()?,
                                proto,
                                port,
                                net,
                            })
                        })
                    }
                    _ => None,
                }
            }
            SetType::HashIpPortIp => {
                let mut parts = text.split(',');
                match (parts.next(), parts.next(), parts.next(), parts.next()) {
                    (Some(ip), Some(pp), Some(ip2), None) => {
                        proto_port(pp).and_then(|(proto, port)| {
                            Some(Self::IpPortIp {
                                ip: ip.parse().ok()?,
                                proto,
                                port,
                                ip2: ip2.parse().ok()?,
                            })
                        })
                    }
                    _ => None,
                }
            }
            SetType::BitmapPort { .. } => text.parse().ok().map(Self::Port),
            SetType::HashIp => text.parse().ok().map(Self::Ip),
            SetType::HashNet => match text.parse::<Ipv4Net>() {
                Ok(net) => Some(Self::Net(net)),
                Err(_) => text.parse::<Ipv4Addr>().ok().map(|ip| Self::Net(ip.into())),
            },
        };
        parsed.ok_or_else(syntax)
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IpPort { ip, proto, port } => write!(f, "{ip},{proto}:{port}"),
            Self::IpPortIp {
                ip,
                proto,
                port,
                ip2,
            } => write!(f, "{ip},{proto}:{port},{ip2}"),
            Self::IpPortNet {
                ip,
                proto,
                port,
                net,
            } if net.prefix_len() == 32 => write!(f, "{ip},{proto}:{port},{}", net.addr()),
            Self::IpPortNet {
                ip,
                proto,
                port,
                net,
            } => write!(f, "{ip},{proto}:{port},{net}"),
            Self::Port(port) => write!(f, "{port}"),
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Net(net) if net.prefix_len() == 32 => write!(f, "{}", net.addr()),
            Self::Net(net) => write!(f, "{net}"),
        }
    }
}

/// IANA protocol numbers, as the kernel stores them.
pub fn proto_number(proto: Protocol) -> u8 {
    match proto {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

fn protocol_from_number(number: u8) -> Option<Protocol> {
    match number {
        6 => Some(Protocol::Tcp),
        17 => Some(Protocol::Udp),
        132 => Some(Protocol::Sctp),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
