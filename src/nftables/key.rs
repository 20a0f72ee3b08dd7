//! Set keys and map values as the kernel compares them: network-order fields, each padded to
//! a 4-byte register slot in a concatenation (`ip daddr . meta l4proto . th dport` is 12 bytes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Builds the bytes of a key or value field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Key {
    bytes: Vec<u8>,
    fields: usize,
    /// Length of the only field before padding (a lone 1- or 2-byte field is not padded).
    first_len: usize,
}

impl Key {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a raw field, padded to 4 bytes.
    pub fn field(mut self, bytes: &[u8]) -> Self {
        if self.fields == 0 {
            self.first_len = bytes.len();
        }
        self.fields += 1;
        self.bytes.extend_from_slice(bytes);
        self.bytes.resize(self.bytes.len().div_ceil(4) * 4, 0);
        self
    }

    pub fn ipv4(self, addr: Ipv4Addr) -> Self {
        self.field(&addr.octets())
    }

    pub fn ipv6(self, addr: Ipv6Addr) -> Self {
        self.field(&addr.octets())
    }

    pub fn ip(self, addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => self.ipv4(a),
            IpAddr::V6(a) => self.ipv6(a),
        }
    }

    /// An IP protocol number (`inet_proto`: tcp = 6, udp = 17, sctp = 132).
    pub fn proto(self, proto: u8) -> Self {
        self.field(&[proto])
    }

    /// A transport port (`inet_service`), network order.
    pub fn port(self, port: u16) -> Self {
        self.field(&port.to_be_bytes())
    }

    /// A host-order 32-bit number (a mark, a `numgen` result).
    pub fn u32_host(self, value: u32) -> Self {
        self.field(&value.to_ne_bytes())
    }

    /// The key's bytes; a key of one short field keeps its natural length.
    pub fn into_bytes(mut self) -> Vec<u8> {
        if self.fields == 1 {
            self.bytes.truncate(self.first_len);
        }
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenation_pads_each_field() {
        // `10.96.0.10 . tcp . 80`, as in the service-ips element nft sent.
        let key = Key::new()
            .ipv4(Ipv4Addr::new(10, 96, 0, 10))
            .proto(6)
            .port(80)
            .into_bytes();
        assert_eq!(key, [10, 96, 0, 10, 6, 0, 0, 0, 0, 80, 0, 0]);
    }

    #[test]
    fn a_lone_short_field_is_not_padded() {
        assert_eq!(Key::new().port(53).into_bytes(), [0, 53]);
        assert_eq!(Key::new().u32_host(1).into_bytes(), 1u32.to_ne_bytes());
    }
}
