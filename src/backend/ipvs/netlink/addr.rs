//! `union nf_inet_addr`: the 16-byte address field of services and destinations. An IPv4
//! address fills the first 4 bytes (network order) and the rest stays zero; the address
//! family attribute next to it says which reading applies.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use netlink_packet_core::DecodeError;

use super::constants::INET_ADDR_LEN;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InetAddr(pub [u8; INET_ADDR_LEN]);

impl InetAddr {
    /// The IPv4 reading: the first 4 bytes.
    pub fn v4(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.0[0], self.0[1], self.0[2], self.0[3])
    }

    /// The IPv6 reading: all 16 bytes.
    pub fn v6(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.0)
    }

    /// Decodes the attribute value. The kernel always sends 16 bytes; a 4-byte value (an
    /// IPv4 address alone, which the kernel also accepts) is widened.
    pub fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut bytes = [0u8; INET_ADDR_LEN];
        match payload.len() {
            4 | INET_ADDR_LEN => bytes[..payload.len()].copy_from_slice(payload),
            n => return Err(DecodeError::invalid_ip_address(n)),
        }
        Ok(Self(bytes))
    }
}

impl From<Ipv4Addr> for InetAddr {
    fn from(addr: Ipv4Addr) -> Self {
        let mut bytes = [0u8; INET_ADDR_LEN];
        bytes[..4].copy_from_slice(&addr.octets());
        Self(bytes)
    }
}

impl From<Ipv6Addr> for InetAddr {
    fn from(addr: Ipv6Addr) -> Self {
        Self(addr.octets())
    }
}

impl fmt::Debug for InetAddr {
    /// Shows the IPv4 reading when the last 12 bytes are zero, else the IPv6 one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0[4..].iter().all(|b| *b == 0) {
            write!(f, "InetAddr({})", self.v4())
        } else {
            write!(f, "InetAddr({})", self.v6())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_sits_in_the_first_four_bytes() {
        let a = InetAddr::from(Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(&a.0[..4], &[10, 96, 0, 1]);
        assert!(a.0[4..].iter().all(|b| *b == 0));
        assert_eq!(a.v4(), Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(InetAddr::parse(&[10, 96, 0, 1]).unwrap(), a);
        assert!(InetAddr::parse(&[10, 96, 0]).is_err());
    }
}
