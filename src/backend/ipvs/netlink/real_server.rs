//! A destination (real server) as kproxy uses it, converted to and from
//! `IPVS_DEST_ATTR_*` lists.

use std::fmt;
use std::net::Ipv4Addr;

use super::addr::InetAddr;
use super::constants::*;
use super::dest::DestAttr;
use super::error::AttrError;
use super::stats::Stats;

/// How IPVS forwards to a real server (`IP_VS_CONN_F_*`). kube-proxy uses `Masq` (NAT).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FwdMethod {
    #[default]
    Masq,
    Local,
    Tunnel,
    DirectRoute,
    Bypass,
}

impl From<FwdMethod> for u32 {
    fn from(m: FwdMethod) -> u32 {
        match m {
            FwdMethod::Masq => IP_VS_CONN_F_MASQ,
            FwdMethod::Local => IP_VS_CONN_F_LOCALNODE,
            FwdMethod::Tunnel => IP_VS_CONN_F_TUNNEL,
            FwdMethod::DirectRoute => IP_VS_CONN_F_DROUTE,
            FwdMethod::Bypass => IP_VS_CONN_F_BYPASS,
        }
    }
}

impl TryFrom<u32> for FwdMethod {
    type Error = AttrError;

    fn try_from(v: u32) -> Result<Self, AttrError> {
        Ok(match v & IP_VS_CONN_F_FWD_MASK {
            IP_VS_CONN_F_MASQ => FwdMethod::Masq,
            IP_VS_CONN_F_LOCALNODE => FwdMethod::Local,
            IP_VS_CONN_F_TUNNEL => FwdMethod::Tunnel,
            IP_VS_CONN_F_DROUTE => FwdMethod::DirectRoute,
            IP_VS_CONN_F_BYPASS => FwdMethod::Bypass,
            _ => return Err(AttrError::UnknownFwdMethod(v)),
        })
    }
}

/// A real server behind a virtual service. The connection counters and stats are what the
/// kernel reports; requests ignore them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealServer {
    pub addr: Ipv4Addr,
    pub port: u16,
    pub weight: u32,
    pub fwd_method: FwdMethod,
    /// Upper connection threshold; 0 means none.
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub persistent_conns: u32,
    pub stats: Option<Stats>,
}

impl RealServer {
    /// A masqueraded real server with `weight` and no thresholds.
    pub fn new(addr: Ipv4Addr, port: u16, weight: u32) -> Self {
        Self {
            addr,
            port,
            weight,
            fwd_method: FwdMethod::Masq,
            upper_threshold: 0,
            lower_threshold: 0,
            active_conns: 0,
            inactive_conns: 0,
            persistent_conns: 0,
            stats: None,
        }
    }

    /// Attributes naming the destination alone, enough to delete it.
    pub fn key_attrs(&self) -> Vec<DestAttr> {
        vec![
            DestAttr::AddrFamily(AF_INET),
            DestAttr::Addr(InetAddr::from(self.addr)),
            DestAttr::Port(self.port),
        ]
    }

    /// The full attribute list of an add or update, in ipvsadm's order. The kernel needs
    /// forwarding method, weight and both thresholds; the tunnel fields are sent as zero
    /// (unused with masquerading) as ipvsadm does.
    pub fn to_attrs(&self) -> Vec<DestAttr> {
        let mut attrs = self.key_attrs();
        attrs.extend([
            DestAttr::FwdMethod(self.fwd_method.into()),
            DestAttr::Weight(self.weight),
            DestAttr::TunType(0),
            DestAttr::TunPort(0),
            DestAttr::TunFlags(0),
            DestAttr::UThresh(self.upper_threshold),
            DestAttr::LThresh(self.lower_threshold),
        ]);
        attrs
    }

    /// Reads a destination the kernel reported. Fails on IPv6 destinations.
    pub fn from_attrs(attrs: &[DestAttr]) -> Result<Self, AttrError> {
        let mut rs = RealServer::new(Ipv4Addr::UNSPECIFIED, 0, 0);
        let (mut addr, mut port, mut fwd, mut af) = (None, None, None, AF_INET);
        let (mut stats, mut stats64) = (None, None);
        for attr in attrs {
            match attr {
                DestAttr::Addr(v) => addr = Some(*v),
                DestAttr::Port(v) => port = Some(*v),
                DestAttr::FwdMethod(v) => fwd = Some(*v),
                DestAttr::Weight(v) => rs.weight = *v,
                DestAttr::UThresh(v) => rs.upper_threshold = *v,
                DestAttr::LThresh(v) => rs.lower_threshold = *v,
                DestAttr::ActiveConns(v) => rs.active_conns = *v,
                DestAttr::InactConns(v) => rs.inactive_conns = *v,
                DestAttr::PersistConns(v) => rs.persistent_conns = *v,
                DestAttr::AddrFamily(v) => af = *v,
                DestAttr::Stats(v) => stats = Some(Stats::from(v.as_slice())),
                DestAttr::Stats64(v) => stats64 = Some(Stats::from(v.as_slice())),
                _ => {}
            }
        }
        if af != AF_INET {
            return Err(AttrError::UnsupportedFamily(af));
        }
        rs.addr = addr.ok_or(AttrError::Missing("IPVS_DEST_ATTR_ADDR"))?.v4();
        rs.port = port.ok_or(AttrError::Missing("IPVS_DEST_ATTR_PORT"))?;
        rs.fwd_method = fwd
            .ok_or(AttrError::Missing("IPVS_DEST_ATTR_FWD_METHOD"))?
            .try_into()?;
        rs.stats = stats64.or(stats);
        Ok(rs)
    }
}

impl fmt::Display for RealServer {
    /// `10.244.1.2:8443`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.addr, self.port)
    }
}
