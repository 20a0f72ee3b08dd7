//! The set types kube-proxy's IPVS mode uses, all IPv4 (`family inet`).

use std::fmt;

use super::consts::{NFPROTO_IPV4, NFPROTO_UNSPEC};
use super::data::DataAttr;
use super::entry::Entry;

/// A set type with the parameters that make two sets of it interchangeable (a
/// bitmap's range). Sizing hints live in [`CreateOptions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetType {
    /// `hash:ip`.
    HashIp,
    /// `hash:ip,port`: KUBE-CLUSTER-IP, KUBE-EXTERNAL-IP, KUBE-LOAD-BALANCER, ….
    HashIpPort,
    /// `hash:ip,port,ip`: KUBE-LOOP-BACK.
    HashIpPortIp,
    /// `hash:ip,port,net`: KUBE-LOAD-BALANCER-SOURCE-CIDR.
    HashIpPortNet,
    /// `hash:net`.
    HashNet,
    /// `bitmap:port range FROM-TO`: KUBE-NODE-PORT-TCP / -UDP.
    BitmapPort { from: u16, to: u16 },
}

/// Optional sizing of hash sets (`hashsize`, `maxelem`); the kernel's defaults are
/// 1024 and 65536. Ignored for bitmaps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreateOptions {
    pub hash_size: Option<u32>,
    pub max_elem: Option<u32>,
}

impl SetType {
    /// kube-proxy's node-port bitmap: every port.
    pub const ALL_PORTS: SetType = SetType::BitmapPort { from: 0, to: 65535 };

    /// The kernel's name of the type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::HashIp => "hash:ip",
            Self::HashIpPort => "hash:ip,port",
            Self::HashIpPortIp => "hash:ip,port,ip",
            Self::HashIpPortNet => "hash:ip,port,net",
            Self::HashNet => "hash:net",
            Self::BitmapPort { .. } => "bitmap:port",
        }
    }

    /// `IPSET_ATTR_FAMILY` at create: bitmap:port has no address family.
    pub fn family(&self) -> u8 {
        match self {
            Self::BitmapPort { .. } => NFPROTO_UNSPEC,
            _ => NFPROTO_IPV4,
        }
    }

    /// Whether `entry` can be a member of a set of this type.
    pub fn accepts(&self, entry: &Entry) -> bool {
        match (self, entry) {
            (Self::HashIp, Entry::Ip(_))
            | (Self::HashIpPort, Entry::IpPort { .. })
            | (Self::HashIpPortIp, Entry::IpPortIp { .. }) => true,
            // As hash:net, the kernel refuses a /0.
            (Self::HashIpPortNet, Entry::IpPortNet { net, .. }) => net.prefix_len() > 0,
            // The kernel refuses a /0 in hash:net.
            (Self::HashNet, Entry::Net(net)) => net.prefix_len() > 0,
            (Self::BitmapPort { from, to }, Entry::Port(port)) => (*from..=*to).contains(port),
            _ => false,
        }
    }

    /// The DATA nest of a create request, in the order the `ipset` tool sends it.
    pub fn create_data(&self, options: &CreateOptions) -> Vec<DataAttr> {
        match *self {
            Self::BitmapPort { from, to } => vec![DataAttr::Port(from), DataAttr::PortTo(to)],
            _ => options
                .hash_size
                .map(DataAttr::HashSize)
                .into_iter()
                .chain(options.max_elem.map(DataAttr::MaxElem))
                .collect(),
        }
    }

    /// Recognises a type from a list reply's type name, family and header. `None` for
    /// types kproxy does not model (including IPv6 hash sets).
    pub fn from_header(type_name: &str, family: u8, header: &[DataAttr]) -> Option<SetType> {
        let inet = family == NFPROTO_IPV4;
        match type_name {
            "hash:ip" if inet => Some(Self::HashIp),
            "hash:ip,port" if inet => Some(Self::HashIpPort),
            "hash:ip,port,ip" if inet => Some(Self::HashIpPortIp),
            "hash:ip,port,net" if inet => Some(Self::HashIpPortNet),
            "hash:net" if inet => Some(Self::HashNet),
            "bitmap:port" => {
                let from = header.iter().find_map(|a| match a {
                    DataAttr::Port(p) => Some(*p),
                    _ => None,
                })?;
                let to = header.iter().find_map(|a| match a {
                    DataAttr::PortTo(p) => Some(*p),
                    _ => None,
                })?;
                Some(Self::BitmapPort { from, to })
            }
            _ => None,
        }
    }

    /// The newest revision of this type that ipset 7.x userspace reads; creating newer
    /// ones would keep operators' `ipset list` from showing kproxy's sets.
    pub fn newest_known_revision(&self) -> u8 {
        match self {
            Self::HashIp | Self::HashIpPortIp => 6,
            Self::HashIpPort | Self::HashNet => 7,
            Self::HashIpPortNet => 8,
            Self::BitmapPort { .. } => 3,
        }
    }
}

impl fmt::Display for SetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BitmapPort { from, to } => write!(f, "bitmap:port range {from}-{to}"),
            other => f.write_str(other.type_name()),
        }
    }
}
