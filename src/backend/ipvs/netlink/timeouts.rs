//! IPVS connection timeouts (`ipvsadm --set tcp tcpfin udp`), global per network namespace.

use super::message::IpvsAttr;

/// Timeouts in seconds. In a request, 0 leaves that timeout unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// Established TCP connections.
    pub tcp: u32,
    /// TCP connections after a FIN.
    pub tcp_fin: u32,
    pub udp: u32,
}

impl Timeouts {
    /// The attributes of a `SetConfig` request, in ipvsadm's order.
    pub fn to_attrs(&self) -> Vec<IpvsAttr> {
        vec![
            IpvsAttr::TimeoutTcp(self.tcp),
            IpvsAttr::TimeoutTcpFin(self.tcp_fin),
            IpvsAttr::TimeoutUdp(self.udp),
        ]
    }

    /// Reads a `GetConfig` reply; absent timeouts read as 0.
    pub fn from_attrs(attrs: &[IpvsAttr]) -> Self {
        let mut t = Timeouts::default();
        for attr in attrs {
            match attr {
                IpvsAttr::TimeoutTcp(v) => t.tcp = *v,
                IpvsAttr::TimeoutTcpFin(v) => t.tcp_fin = *v,
                IpvsAttr::TimeoutUdp(v) => t.udp = *v,
                _ => {}
            }
        }
        t
    }
}
