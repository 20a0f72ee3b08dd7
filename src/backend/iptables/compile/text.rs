//! The exact spellings `iptables-save` (v1.8.9) uses for values kproxy writes, so that the
//! compiled text equals what the kernel gives back. Each was checked against the real tool
//! (see the kernel round-trip test).

use std::borrow::Cow;
use std::fmt::Write as _;

use super::numbers::AddrText;
use crate::backend::iptables::ruleset::RuleWriter;

/// Where rule text is written: a `String`, or a rule written straight into a chain's
/// buffer (the compiler's hot path: no `String` per rule).
pub trait Out {
    fn push_str(&mut self, s: &str);
    fn push(&mut self, c: char);
    /// Whether nothing is written yet (then a match needs no space before it).
    fn is_empty(&self) -> bool;
}

impl Out for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
    fn push(&mut self, c: char) {
        String::push(self, c);
    }
    fn is_empty(&self) -> bool {
        String::is_empty(self)
    }
}

impl Out for RuleWriter<'_> {
    fn push_str(&mut self, s: &str) {
        RuleWriter::push_str(self, s);
    }
    fn push(&mut self, c: char) {
        RuleWriter::push(self, c);
    }
    fn is_empty(&self) -> bool {
        RuleWriter::is_empty(self)
    }
}

/// The kernel's limit for `-m comment` (`XT_MAX_COMMENT_LEN` 256, including the NUL).
pub const MAX_COMMENT_LEN: usize = 255;

/// Appends `-m comment --comment <text>` (after a space unless `out` is empty), quoted as
/// `iptables-save` quotes it, with control characters spelled out ([`printable`]) and
/// text the kernel would refuse truncated.
pub fn push_comment(out: &mut impl Out, text: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str("-m comment --comment ");
    push_quoted_to(out, truncate(&printable(text), MAX_COMMENT_LEN));
}

/// Comment text as iptables-restore can read it and the kernel can keep it: every control
/// character (newline, carriage return, tab, NUL, DEL, the C1 range) spelled out as its Rust
/// escape (`\n`, `\t`, `\u{0}`). A raw newline would end the rule mid-way and let the rest
/// of the text (say `COMMIT`) be read as a command of its own; a NUL would cut the C string
/// short. The sources reject such names; this holds for any name that reaches the compiler.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !has_control(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn has_control(text: &str) -> bool {
    // 0xC2 leads the UTF-8 encoding of U+0080..U+00BF, which holds the C1 controls.
    let suspect = |b: u8| b < 0x20 || b == 0x7f || b == 0xc2;
    text.bytes().any(suspect) && text.chars().any(char::is_control)
}

/// Appends a comment made of `name` between `prefix` and `suffix`, without building the
/// joined text first when it fits and holds no control character (the common case).
pub fn push_comment3(out: &mut impl Out, prefix: &str, name: &str, suffix: &str) {
    let too_long = prefix.len() + name.len() + suffix.len() > MAX_COMMENT_LEN;
    if too_long || [prefix, name, suffix].into_iter().any(has_control) {
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
    push_quoted_to(out, text);
}

/// [`push_quoted`] into any [`Out`].
fn push_quoted_to(out: &mut impl Out, text: &str) {
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

/// A service port's name (`ns/name:port`), escaped once for the many comments that quote it.
pub struct CommentName<'a> {
    /// The name with control characters spelled out ([`printable`]).
    raw: Cow<'a, str>,
    escaped: Cow<'a, str>,
    plain: bool,
}

impl<'a> CommentName<'a> {
    pub fn new(name: &'a str) -> Self {
        let raw = printable(name);
        let escaped = if raw.bytes().any(needs_escape) {
            let mut s = String::with_capacity(raw.len() + 4);
            push_escaped(&mut s, &raw);
            Cow::Owned(s)
        } else {
            raw.clone()
        };
        Self {
            plain: raw.bytes().all(is_plain),
            raw,
            escaped,
        }
    }

    /// Appends `-m comment --comment <prefix><name><suffix>`, exactly as [`push_comment3`]
    /// would. `prefix` and `suffix` are kproxy's own words: they need no escaping.
    pub fn push(&self, out: &mut impl Out, prefix: &str, suffix: &str) {
        let fits = prefix.len() + self.raw.len() + suffix.len() <= MAX_COMMENT_LEN;
        let bare = self.plain && prefix.bytes().all(is_plain) && suffix.bytes().all(is_plain);
        if !fits || bare || self.raw.is_empty() {
            push_comment3(out, prefix, &self.raw, suffix);
            return;
        }
        debug_assert!(!prefix.bytes().chain(suffix.bytes()).any(needs_escape));
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("-m comment --comment \"");
        out.push_str(prefix);
        out.push_str(&self.escaped);
        out.push_str(suffix);
        out.push('"');
    }

    /// Appends `-m comment --comment "<name> -> <ip:port>"`, kube-proxy's comment on the
    /// rules that pick an endpoint (always quoted: it holds spaces).
    pub fn push_endpoint(&self, out: &mut impl Out, addr: &AddrText) {
        if self.raw.len() + 4 + addr.as_bytes().len() > MAX_COMMENT_LEN {
            push_comment3(out, &self.raw, " -> ", addr.as_str());
            return;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("-m comment --comment \"");
        out.push_str(&self.escaped);
        out.push_str(" -> ");
        addr.push_to(out);
        out.push('"');
    }
}

fn needs_escape(b: u8) -> bool {
    matches!(b, b'"' | b'\\' | b'\'')
}

fn push_escaped(out: &mut impl Out, mut text: &str) {
    while let Some(i) = text.bytes().position(needs_escape) {
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
    fn comment_name_equals_comment_of_joined_text() {
        let addr = AddrText::new("10.180.0.1".parse().unwrap(), 80);
        let long = "x".repeat(250);
        for name in [
            "ns/svc:http",
            "a'b",
            "plain",
            "",
            &long,
            "q\"/\\",
            "x\ny",
            "\t",
            "é\0",
        ] {
            let cn = CommentName::new(name);
            for start in ["", "-s 1.2.3.4/32"] {
                let mut a = String::from(start);
                cn.push_endpoint(&mut a, &addr);
                let mut b = String::from(start);
                push_comment(&mut b, &format!("{name} -> 10.180.0.1:80"));
                assert_eq!(a, b, "{name:?}");
                for (prefix, suffix) in [
                    ("", ""),
                    ("pod traffic for ", " external destinations"),
                    ("", " cluster IP"),
                ] {
                    let mut a = String::from(start);
                    cn.push(&mut a, prefix, suffix);
                    let mut b = String::from(start);
                    push_comment(&mut b, &format!("{prefix}{name}{suffix}"));
                    assert_eq!(a, b, "{prefix:?} {name:?} {suffix:?}");
                }
            }
        }
    }

    #[test]
    fn control_characters_are_spelled_out() {
        let c = |s: &str| {
            let mut out = String::new();
            push_comment(&mut out, s);
            out
        };
        assert_eq!(
            c("demo/web\nCOMMIT:http"),
            r#"-m comment --comment "demo/web\\nCOMMIT:http""#
        );
        assert_eq!(
            c("a\tb\0c\u{7f}\u{85}"),
            r#"-m comment --comment "a\\tb\\u{0}c\\u{7f}\\u{85}""#
        );
        assert_eq!(c("wéb ünï"), "-m comment --comment \"wéb ünï\"");
        assert!(matches!(printable("demo/web:http"), Cow::Borrowed(_)));
        assert!(matches!(printable("wéb\u{a0}"), Cow::Borrowed(_)));
        // A long name full of control characters still fits the kernel's limit.
        let long = "\n".repeat(200);
        let out = c(&long);
        assert!(!out.contains('\n'));
        assert!(out.len() < MAX_COMMENT_LEN * 2 + 30, "{}", out.len());
    }

    #[test]
    fn comment3_equals_comment_of_joined_text() {
        for (p, n, s) in [
            ("", "ns/svc:http", " cluster IP"),
            ("", "plain", ""),
            ("pod traffic for ", "a'b", " external destinations"),
            ("", &"x".repeat(300), " y"),
            ("", "web\nCOMMIT", " cluster IP"),
            ("pod traffic for ", "\u{0}", ""),
        ] {
            let mut a = String::new();
            push_comment3(&mut a, p, n, s);
            let mut b = String::new();
            push_comment(&mut b, &format!("{p}{n}{s}"));
            assert_eq!(a, b);
        }
    }
}
