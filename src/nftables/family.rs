//! The address family of a table (`nfgenmsg.nfgen_family`, `NFPROTO_*`).

/// Which packets a table sees: kproxy uses `Ip` and `Ip6` (kube-proxy's two tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Family {
    #[default]
    Unspec,
    Inet,
    Ip,
    Arp,
    Netdev,
    Bridge,
    Ip6,
    Other(u8),
}

impl From<Family> for u8 {
    fn from(f: Family) -> u8 {
        match f {
            Family::Unspec => 0,
            Family::Inet => 1,
            Family::Ip => 2,
            Family::Arp => 3,
            Family::Netdev => 5,
            Family::Bridge => 7,
            Family::Ip6 => 10,
            Family::Other(v) => v,
        }
    }
}

impl From<u8> for Family {
    fn from(v: u8) -> Family {
        match v {
            0 => Family::Unspec,
            1 => Family::Inet,
            2 => Family::Ip,
            3 => Family::Arp,
            5 => Family::Netdev,
            7 => Family::Bridge,
            10 => Family::Ip6,
            v => Family::Other(v),
        }
    }
}

impl Family {
    /// The keyword `nft` uses for this family (`ip`, `ip6`, `inet`, …).
    pub fn keyword(self) -> &'static str {
        match self {
            Family::Unspec => "unspec",
            Family::Inet => "inet",
            Family::Ip => "ip",
            Family::Arp => "arp",
            Family::Netdev => "netdev",
            Family::Bridge => "bridge",
            Family::Ip6 => "ip6",
            Family::Other(_) => "unknown",
        }
    }
}
