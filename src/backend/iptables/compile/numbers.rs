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
pub fn push_u32(out: &mut String, n: u32) {
    let (digits, start) = decimal(n);
    push_ascii(out, &digits[start..]);
}

/// The decimal digits of `n`, right-aligned: `digits[start..]`.
fn decimal(mut n: u32) -> ([u8; 10], usize) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return (digits, i);
        }
    }
}

/// Appends ASCII bytes (digits, dots, base32) without re-validating them as UTF-8.
pub fn push_ascii(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len());
    for &b in bytes {
        debug_assert!(b.is_ascii());
        out.push(char::from(b));
    }
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
        let (digits, start) = decimal(n);
        for &d in &digits[start..] {
            self.put(d);
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// Appends the text to `out`.
    pub fn push_to(&self, out: &mut String) {
        push_ascii(out, self.as_bytes());
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
        let text = |a: AddrText| {
            let mut s = String::new();
            a.push_to(&mut s);
            s
        };
        assert_eq!(text(AddrText::new(longest, 65535)), "255.255.255.255:65535");
        assert_eq!(text(AddrText::new(Ipv4Addr::UNSPECIFIED, 0)), "0.0.0.0:0");
        for n in [0, 7, 10, 65535, 4_294_967_295] {
            let mut s = String::new();
            push_u32(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }
}
