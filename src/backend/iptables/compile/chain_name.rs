//! Per-service chain names kept inline: a full compile names ~10⁵ endpoint chains, and the
//! name is written straight into the chain's buffer, so it needs no allocation of its own.

use crate::backend::iptables::names::hash16;

/// `prefix` + 16 base32 hash characters (at most 25 bytes: iptables allows 28), or empty.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ChainName {
    buf: [u8; 28],
    len: u8,
}

impl ChainName {
    /// No chain: the chain is not created (and then never referenced).
    pub const NONE: Self = Self {
        buf: [0; 28],
        len: 0,
    };

    /// `prefix` followed by `hash` (kube-proxy's naming, see
    /// [`crate::backend::iptables::names::service_chain`]).
    pub fn new(prefix: &str, hash: &[u8; 16]) -> Self {
        let mut name = Self::NONE;
        let len = prefix.len() + hash.len();
        assert!(len <= name.buf.len(), "chain prefixes are short");
        name.buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
        name.buf[prefix.len()..len].copy_from_slice(hash);
        name.len = len as u8;
        name
    }

    /// [`ChainName::new`] with the hash of `parts`.
    pub fn hashed(prefix: &str, parts: &[&[u8]]) -> Self {
        Self::new(prefix, &hash16(parts))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).expect("prefix and base32")
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::iptables::names::chain_name;

    #[test]
    fn equals_the_allocated_name() {
        let hash = hash16(&[b"ns/svc:http", b"tcp"]);
        assert_eq!(
            ChainName::new("KUBE-SVC-", &hash).as_str(),
            chain_name("KUBE-SVC-", &hash)
        );
        assert_eq!(
            ChainName::hashed("KUBE-SEP-", &[b"ns/svc:http", b"tcp", b"10.0.0.1:80"]).as_str(),
            chain_name(
                "KUBE-SEP-",
                &hash16(&[b"ns/svc:http", b"tcp", b"10.0.0.1:80"])
            )
        );
        assert!(ChainName::NONE.is_empty());
        assert_eq!(ChainName::NONE.as_str(), "");
    }
}
