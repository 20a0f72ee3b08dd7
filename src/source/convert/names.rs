//! The API server's rules for the names kproxy reads (k8s.io/apimachinery
//! `pkg/util/validation`, applied as `pkg/apis/core/validation` and
//! `pkg/apis/discovery/validation` apply them). Names end up in rule comments, chain-name
//! hashes and log lines; holding them to these rules keeps a manifest from putting a newline,
//! a quote or a 300-character string there. Objects from the API server already pass them.

use std::fmt;

/// A rule a name broke; its `Display` says what the rule asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// `IsDNS1123Label`: namespaces, Service names (the API server's DNS-1035 rule for
    /// Service names, relaxed by KEP-5311, is stricter), Service and EndpointSlice port names.
    Dns1123Label,
    /// `IsDNS1123Subdomain`: EndpointSlice names.
    Dns1123Subdomain,
    /// `IsValidLabelValue`, and not empty: the `kubernetes.io/service-name` label.
    LabelValue,
}

/// `IsDNS1123Label`'s length limit.
pub const DNS1123_LABEL_MAX: usize = 63;
/// `IsDNS1123Subdomain`'s length limit.
pub const DNS1123_SUBDOMAIN_MAX: usize = 253;
/// `IsValidLabelValue`'s length limit.
pub const LABEL_VALUE_MAX: usize = 63;

impl fmt::Display for NameRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dns1123Label => {
                "a DNS-1123 label: at most 63 characters, lower-case letters, digits and '-', \
                 starting and ending with a letter or digit"
            }
            Self::Dns1123Subdomain => {
                "a DNS-1123 subdomain: at most 253 characters, DNS-1123 labels joined by '.'"
            }
            Self::LabelValue => {
                "a label value: 1 to 63 characters, letters, digits, '-', '_' and '.', \
                 starting and ending with a letter or digit"
            }
        })
    }
}

impl NameRule {
    /// Whether `value` follows this rule.
    pub fn allows(self, value: &str) -> bool {
        match self {
            Self::Dns1123Label => value.len() <= DNS1123_LABEL_MAX && is_label(value),
            Self::Dns1123Subdomain => {
                value.len() <= DNS1123_SUBDOMAIN_MAX && value.split('.').all(is_label)
            }
            Self::LabelValue => {
                let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
                value.len() <= LABEL_VALUE_MAX
                    && edge(value.chars().next())
                    && edge(value.chars().last())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            }
        }
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, any length.
fn is_label(value: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = value.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            alnum(first) && alnum(last) && bytes.iter().all(|b| alnum(b) || *b == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::NameRule::*;

    #[test]
    fn dns1123_labels() {
        for ok in ["a", "0", "web", "a-b", "1-2-3", "a--b", &"x".repeat(63)] {
            assert!(Dns1123Label.allows(ok), "{ok:?}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a.b",
            "a_b",
            "a/b",
            "a:b",
            "a b",
            "web\nCOMMIT",
            "tab\t",
            "nul\0",
            "ünï",
            "\"q\"",
            &"x".repeat(64),
        ] {
            assert!(!Dns1123Label.allows(bad), "{bad:?}");
        }
    }

    #[test]
    fn dns1123_subdomains() {
        let long = format!("{}.{}", "a".repeat(126), "b".repeat(126));
        for ok in ["a", "a.b", "web-abc.v1", "0.0", long.as_str()] {
            assert!(Dns1123Subdomain.allows(ok), "{ok:?}");
        }
        let too_long = format!("{long}.c");
        for bad in [
            "",
            ".",
            "a.",
            ".a",
            "a..b",
            "a.-b",
            "A.b",
            "a/b",
            too_long.as_str(),
        ] {
            assert!(!Dns1123Subdomain.allows(bad), "{bad:?}");
        }
        assert_eq!(too_long.len(), 255);
    }

    #[test]
    fn label_values() {
        for ok in ["web", "Web_1", "a.b-c", "0", &"x".repeat(63)] {
            assert!(LabelValue.allows(ok), "{ok:?}");
        }
        for bad in [
            "",
            "_a",
            "a_",
            "-",
            "a/b",
            "a b",
            "a\n",
            "é",
            &"x".repeat(64),
        ] {
            assert!(!LabelValue.allows(bad), "{bad:?}");
        }
    }
}
