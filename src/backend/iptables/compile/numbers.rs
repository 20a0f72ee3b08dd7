//! Decimal formatting for the hot path: `write!` with `Ipv4Addr`'s `Display` costs several
//! times more than pushing the digits, and a full compile formats ~10⁶ numbers.

use std::net::Ipv4Addr;

/// Appends `ip` in dotted-quad form.
pub fn push_ip(out: &mut String, ip: Ipv4Addr) {
    let [a, b, c, d] = ip.octets();
    push_u32(out, a.into());
    out.push('.');
    push_u32(out, b.into());
    out.push('.');
    push_u32(out, c.into());
    out.push('.');
    push_u32(out, d.into());
}

/// Appends `n` in decimal.
pub fn push_u32(out: &mut String, mut n: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[i..]).expect("digits are ASCII"));
}

/// `ip:port` (at most 21 bytes) kept inline, so naming an endpoint allocates nothing.
#[derive(Clone, Copy)]
pub struct AddrText {
    buf: [u8; 21],
    len: u8,
}

impl AddrText {
    pub fn new(ip: Ipv4Addr, port: u16) -> Self {
        let mut text = Self {
            buf: [0; 21],
            len: 0,
        };
        let [a, b, c, d] = ip.octets();
        for (i, octet) in [a, b, c, d].into_iter().enumerate() {
            if i > 0 {
                text.put(b'.');
            }
            text.put_u32(octet.into());
        }
        text.put(b':');
        text.put_u32(port.into());
        text
    }

    fn put(&mut self, b: u8) {
        self.buf[usize::from(self.len)] = b;
        self.len += 1;
    }

    fn put_u32(&mut self, n: u32) {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        let mut n = n;
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[i..] {
            self.put(d);
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).expect("digits, dots and a colon")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_display() {
        for ip in ["0.0.0.0", "255.255.255.255", "10.180.0.1", "1.22.133.4"] {
            let ip: Ipv4Addr = ip.parse().unwrap();
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
        let longest: Ipv4Addr = "255.255.255.255".parse().unwrap();
        assert_eq!(AddrText::new(longest, 65535).as_str(), "255.255.255.255:65535");
        assert_eq!(AddrText::new(Ipv4Addr::UNSPECIFIED, 0).as_str(), "0.0.0.0:0");
        for n in [0, 7, 10, 65535, 4_294_967_295] {
            let mut s = String::new();
            push_u32(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }
}
