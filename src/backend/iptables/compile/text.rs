//! The exact spellings `iptables-save` (v1.8.9) uses for values kproxy writes, so that the
//! compiled text equals what the kernel gives back. Each was checked against the real tool
//! (see the kernel round-trip test).

use std::fmt::Write as _;

use super::numbers::AddrText;

/// The kernel's limit for `-m comment` (`XT_MAX_COMMENT_LEN` 256, including the NUL).
pub const MAX_COMMENT_LEN: usize = 255;

/// Appends `-m comment --comment <text>` (after a space unless `out` is empty), quoted as
/// `iptables-save` quotes it, truncating text the kernel would refuse.
pub fn push_comment(out: &mut String, text: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str("-m comment --comment ");
    push_quoted(out, truncate(text, MAX_COMMENT_LEN));
}

/// Appends a comment made of `name` between `prefix` and `suffix`, without building the
/// joined text first when it fits (the common case).
pub fn push_comment3(out: &mut String, prefix: &str, name: &str, suffix: &str) {
    if prefix.len() + name.len() + suffix.len() > MAX_COMMENT_LEN {
        let joined = format!("{prefix}{name}{suffix}");
        push_comment(out, &joined);
        return;
    }
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str("-m comment --comment ");
    let plain = |s: &str| s.bytes().all(is_plain);
    let empty = prefix.is_empty() && name.is_empty() && suffix.is_empty();
    if !empty && plain(prefix) && plain(name) && plain(suffix) {
        out.push_str(prefix);
        out.push_str(name);
        out.push_str(suffix);
        return;
    }
    out.push('"');
    push_escaped(out, prefix);
    push_escaped(out, name);
    push_escaped(out, suffix);
    out.push('"');
}

/// `xtables_save_string`: bare when non-empty and made only of `[A-Za-z0-9_-]`, otherwise
/// double-quoted with `"`, `\` and `'` backslash-escaped.
pub fn push_quoted(out: &mut String, text: &str) {
    if !text.is_empty() && text.bytes().all(is_plain) {
        out.push_str(text);
        return;
    }
    out.push('"');
    push_escaped(out, text);
    out.push('"');
}

fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Appends `-m comment --comment "<name> -> <ip:port>"`, kube-proxy's comment on the rules
/// that pick an endpoint, without formatting the address into a string first.
pub fn push_endpoint_comment(out: &mut String, name: &str, addr: &AddrText) {
    if name.len() + 4 + addr.as_bytes().len() > MAX_COMMENT_LEN {
        let mut text = String::new();
        addr.push_to(&mut text);
        push_comment3(out, name, " -> ", &text);
        return;
    }
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str("-m comment --comment \"");
    push_escaped(out, name);
    out.push_str(" -> ");
    addr.push_to(out);
    out.push('"');
}

fn push_escaped(out: &mut String, mut text: &str) {
    let special = |b: u8| matches!(b, b'"' | b'\\' | b'\'');
    while let Some(i) = text.bytes().position(special) {
        out.push_str(&text[..i]);
        out.push('\\');
        out.push_str(&text[i..=i]);
        text = &text[i + 1..];
    }
    out.push_str(text);
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `-m statistic --probability` as `iptables-save` prints 1/`n`: the kernel keeps
/// `lround(p * 2^31)`, and iptables-save prints that value over 2^31 with `%.11f`.
/// Computed exactly in integers (glibc rounds the decimal half-to-even), so the text is
/// the same on every platform.
pub fn probability(n: u32) -> String {
    let n = u64::from(n.max(1));
    let scale: u64 = 1 << 31;
    // lround(2^31 / n): round half away from zero.
    let stored = (2 * scale + n) / (2 * n);
    // stored / 2^31 to 11 decimals, rounded half to even.
    let num = u128::from(stored) * 100_000_000_000;
    let den = u128::from(scale);
    let mut q = num / den;
    let rem = num % den;
    if rem * 2 > den || (rem * 2 == den && q % 2 == 1) {
        q += 1;
    }
    let mut out = String::with_capacity(13);
    let _ = write!(out, "{}.{:011}", q / 100_000_000_000, q % 100_000_000_000);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_as_iptables_save_prints_them() {
        // Each value read back from iptables-save v1.8.9 after restoring 1/n.
        assert_eq!(probability(1), "1.00000000000");
        assert_eq!(probability(2), "0.50000000000");
        assert_eq!(probability(3), "0.33333333349");
        assert_eq!(probability(10), "0.10000000009");
        assert_eq!(probability(4096), "0.00024414062");
    }

    #[test]
    fn quoting_follows_xtables_save_string() {
        let q = |s: &str| {
            let mut out = String::new();
            push_quoted(&mut out, s);
            out
        };
        assert_eq!(q("masq"), "masq");
        assert_eq!(q("ab-_9Z"), "ab-_9Z");
        assert_eq!(q("a.b"), "\"a.b\"");
        assert_eq!(q("ns/svc:http"), "\"ns/svc:http\"");
        assert_eq!(q("a b"), "\"a b\"");
        assert_eq!(q("a\"b"), "\"a\\\"b\"");
        assert_eq!(q("a'b"), "\"a\\'b\"");
        assert_eq!(q("a\\b"), "\"a\\\\b\"");
        assert_eq!(q(""), "\"\"");
    }

    #[test]
    fn endpoint_comment_equals_comment_of_joined_text() {
        let addr = AddrText::new("10.180.0.1".parse().unwrap(), 80);
        for name in ["ns/svc:http", "a'b", &"x".repeat(250)] {
            let mut a = String::from("-s 1.2.3.4/32");
            push_endpoint_comment(&mut a, name, &addr);
            let mut b = String::from("-s 1.2.3.4/32");
            push_comment(&mut b, &format!("{name} -> 10.180.0.1:80"));
            assert_eq!(a, b);
        }
    }

    #[test]
    fn comment3_equals_comment_of_joined_text() {
        for (p, n, s) in [
            ("", "ns/svc:http", " cluster IP"),
            ("", "plain", ""),
            ("pod traffic for ", "a'b", " external destinations"),
            ("", &"x".repeat(300), " y"),
        ] {
            let mut a = String::new();
            push_comment3(&mut a, p, n, s);
            let mut b = String::new();
            push_comment(&mut b, &format!("{p}{n}{s}"));
            assert_eq!(a, b);
        }
    }
}
