//! Decimal formatting for the hot path: `write!` with `Ipv4Addr`'s `Display` costs several
//! times more than pushing the digits, and a full compile formats ~10⁶ numbers.

use std::net::Ipv4Addr;

use super::text::Out;

/// Appends `ip` in dotted-quad form.
pub fn push_ip(out: &mut impl Out, ip: Ipv4Addr) {
    let mut text = AddrText::empty();
    text.put_ip(ip);
    out.push_str(text.as_str());
}

/// Appends `n` in decimal.
pub fn push_u32(out: &mut impl Out, n: u32) {
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

/// Appends ASCII digits. (Checking a short slice as UTF-8 costs less than pushing its
/// bytes one `char` at a time.)
fn push_ascii(out: &mut impl Out, bytes: &[u8]) {
    out.push_str(std::str::from_utf8(bytes).expect("ASCII digits"));
}

/// The decimal text of every octet value followed by a dot, and its length with the dot:
/// the hot path formats ~10⁶ octets.
static OCTETS: [([u8; 4], u8); 256] = {
    let mut table = [([0u8; 4], 0u8); 256];
    let mut n = 0;
    while n < 256 {
        let (h, t, o) = ((n / 100) as u8, ((n / 10) % 10) as u8, (n % 10) as u8);
        table[n] = if n >= 100 {
            ([b'0' + h, b'0' + t, b'0' + o, b'.'], 4)
        } else if n >= 10 {
            ([b'0' + t, b'0' + o, b'.', 0], 3)
        } else {
            ([b'0' + o, b'.', 0, 0], 2)
        };
        n += 1;
    }
    table
};

/// `ip:port` (at most 21 bytes) kept inline, so naming an endpoint allocates nothing.
#[derive(Clone, Copy)]
pub struct AddrText {
    /// 21 bytes of text, plus slack for [`AddrText::put_ip`]'s 4-byte copies.
    buf: [u8; 24],
    len: u8,
}

impl AddrText {
    pub fn new(ip: Ipv4Addr, port: u16) -> Self {
        let mut text = Self::empty();
        text.put_ip(ip);
        text.put(b':');
        text.put_u32(port.into());
        text
    }

    fn empty() -> Self {
        Self {
            buf: [0; 24],
            len: 0,
        }
    }

    fn put_ip(&mut self, ip: Ipv4Addr) {
        // Each octet is copied with its dot as 4 bytes (the buffer has room), then the
        // length moves past what is real; the last dot is dropped.
        for octet in ip.octets() {
            let (text, len) = OCTETS[usize::from(octet)];
            let at = usize::from(self.len);
            self.buf[at..at + 4].copy_from_slice(&text);
            self.len += len;
        }
        self.len -= 1;
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

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("digits, dots and a colon")
    }

    /// Appends the text to `out`.
    pub fn push_to(&self, out: &mut impl Out) {
        out.push_str(self.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_display() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.180.0.1",
            "1.22.133.4",
            "9.99.100.199",
        ] {
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
