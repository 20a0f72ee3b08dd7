//! What the compiler produces: the contents of table `ip kube-proxy` in nft's own terms
//! (chains of rules made of matches and one action, sets, elements). Two readers turn it
//! into something else: [`super::lower`] into netlink objects for the executor, and
//! [`super::text`] into `nft -f` input for `--dry-run` and the golden tests. Keeping the
//! compiler's output at this level makes the golden output read like `nft list`.

use std::net::{Ipv4Addr, SocketAddrV4};

use ipnet::Ipv4Net;

use crate::model::Protocol;
use crate::nftables::Hook;

/// One condition of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Match {
    /// `ct state new`
    CtStateNew,
    /// `ct status dnat`
    CtStatusDnat,
    /// `ip daddr @SET`
    DaddrInSet(&'static str),
    /// `ip saddr @SET`
    SaddrInSet(String),
    /// `ip daddr NET`
    Daddr(Ipv4Net),
    /// `ip saddr NET`
    Saddr(Ipv4Net),
    /// `ip saddr != NET`
    NotSaddr(Ipv4Net),
    /// `ip daddr != 127.0.0.0/8`
    DaddrNotLoopback,
    /// `fib daddr type local`
    FibDaddrLocal,
    /// `fib saddr type local`
    FibSaddrLocal,
    /// `meta mark & MASK != 0`
    MarkAny(u32),
    /// `meta l4proto PROTO`
    L4proto(Protocol),
    /// `numgen random mod N == 0`: true with probability 1/N.
    OneIn(u32),
    /// `ip saddr . ip daddr . meta l4proto . th dport @hairpin-connections`
    Hairpin,
}

/// What a rule does when all its matches hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Jump(String),
    Goto(String),
    Drop,
    /// `reject` (ICMP port unreachable).
    Reject,
    /// `ip daddr . meta l4proto . th dport vmap @MAP`
    VmapAddrProtoPort(&'static str),
    /// `meta l4proto . th dport vmap @MAP`
    VmapProtoPort(&'static str),
    /// `meta mark set meta mark | MARK`: ask for masquerading.
    SetMark(u32),
    /// `meta mark set meta mark ^ MARK masquerade fully-random`
    ClearMarkAndMasquerade(u32),
    /// `masquerade fully-random`
    Masquerade,
    /// `dnat to ADDR:PORT` (after a `meta l4proto` match, as nft requires).
    Dnat(SocketAddrV4),
    /// `update @SET { ip saddr }`
    UpdateAffinity(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NftRule {
    pub matches: Vec<Match>,
    pub action: Action,
    pub comment: Option<String>,
}

impl NftRule {
    pub fn new(matches: Vec<Match>, action: Action) -> Self {
        Self {
            matches,
            action,
            comment: None,
        }
    }

    pub fn commented(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }
}

/// Where a base chain hooks in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BaseChain {
    /// `filter` or `nat`.
    pub chain_type: &'static str,
    pub hook: Hook,
    pub priority: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChainSpec {
    pub name: String,
    pub base: Option<BaseChain>,
    pub rules: Vec<NftRule>,
}

impl ChainSpec {
    pub fn regular(name: impl Into<String>, rules: Vec<NftRule>) -> Self {
        Self {
            name: name.into(),
            base: None,
            rules,
        }
    }
}

/// The shape of a set's keys (and values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetKind {
    /// `type ipv4_addr`
    Addrs,
    /// `type ipv4_addr . inet_proto . inet_service : verdict`
    AddrProtoPortVmap,
    /// `type inet_proto . inet_service : verdict`
    ProtoPortVmap,
    /// `type ipv4_addr . ipv4_addr . inet_proto . inet_service`
    Hairpin,
    /// `type ipv4_addr; flags dynamic,timeout; timeout Ns`: client addresses kept for
    /// session affinity.
    Affinity { timeout_seconds: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SetSpec {
    pub name: String,
    pub kind: SetKind,
    pub comment: Option<&'static str>,
}

/// A set element's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ElemKey {
    Addr(Ipv4Addr),
    AddrProtoPort(Ipv4Addr, Protocol, u16),
    ProtoPort(Protocol, u16),
    /// source, destination, protocol, destination port.
    Hairpin(Ipv4Addr, Ipv4Addr, Protocol, u16),
}

/// A verdict-map element's value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ElemVerdict {
    Goto(String),
    Drop,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ElementSpec {
    pub set: &'static str,
    pub key: ElemKey,
    pub verdict: Option<ElemVerdict>,
    pub comment: Option<String>,
}

impl ElementSpec {
    pub fn key(set: &'static str, key: ElemKey) -> Self {
        Self {
            set,
            key,
            verdict: None,
            comment: None,
        }
    }

    pub fn mapped(set: &'static str, key: ElemKey, verdict: ElemVerdict) -> Self {
        Self {
            verdict: Some(verdict),
            ..Self::key(set, key)
        }
    }

    pub fn commented(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }
}

/// A part of the table: the fixed part, or what one service adds to it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Layout {
    pub sets: Vec<SetSpec>,
    pub chains: Vec<ChainSpec>,
    pub elements: Vec<ElementSpec>,
}

impl Layout {
    pub fn extend(&mut self, other: Layout) {
        self.sets.extend(other.sets);
        self.chains.extend(other.chains);
        self.elements.extend(other.elements);
    }
}

/// The protocol number the kernel matches (`meta l4proto`).
pub fn proto_number(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}
