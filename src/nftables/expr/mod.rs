//! Rule expressions (`NFTA_EXPR_NAME` + `NFTA_EXPR_DATA`): the instructions of the kernel's
//! small register machine. Loads (`payload`, `meta`, `ct`, `numgen`, `fib`) write registers;
//! `cmp` and `lookup` test them; `immediate`, `nat`, `reject`, `dynset` act.
//!
//! Each expression emits its attributes in the order `nft` does; decoding takes any order
//! (kernel dumps differ) and skips attributes kproxy does not model. An expression of an
//! unknown name decodes as [`Expr::Other`] with its raw data.

mod bitwise;
mod cmp;
mod counter;
mod ct;
mod dynset;
mod fib;
mod immediate;
mod limit;
mod lookup;
mod meta;
mod nat;
mod numgen;
mod payload;
mod reject;

use netlink_packet_core::{DecodeError, ErrorContext};

pub use bitwise::{Bitwise, BitwiseOp};
pub use cmp::{Cmp, CmpOp};
pub use counter::Counter;
pub use ct::{Ct, CtKey, ct_state};
pub use dynset::{Dynset, DynsetOp};
pub use fib::{Fib, fib_flags, fib_result};
pub use immediate::Immediate;
pub use limit::Limit;
pub use lookup::{LOOKUP_F_INV, Lookup};
pub use meta::{Meta, MetaKey};
pub use nat::{Masq, Nat, NatType, nat_flags};
pub use numgen::{Numgen, NumgenType};
pub use payload::{Payload, PayloadBase};
pub use reject::{Reject, RejectType};

use super::attr::{Attr, parse_nested, str_of};

const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;

/// A register: `VERDICT` (0), the four 16-byte registers `R1`..`R4`, or one of sixteen
/// 4-byte registers `r32(0..16)` that alias them (nft puts concatenations there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(pub u32);

impl Reg {
    pub const VERDICT: Reg = Reg(0);
    pub const R1: Reg = Reg(1);
    pub const R2: Reg = Reg(2);
    pub const R3: Reg = Reg(3);
    pub const R4: Reg = Reg(4);

    /// `NFT_REG32_00 + n`: the n-th 4-byte register (n < 16).
    pub const fn r32(n: u32) -> Reg {
        Reg(8 + n)
    }

    pub(crate) fn parse(v: &[u8], what: &'static str) -> Result<Reg, DecodeError> {
        super::attr::u32_of(v, what).map(Reg)
    }
}

/// The data of one expression kind: its name and attributes.
pub(crate) trait ExprData: Sized {
    const NAME: &'static str;
    fn attrs(&self) -> Vec<Attr<'_>>;
    fn parse(payload: &[u8]) -> Result<Self, DecodeError>;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    Payload(Payload),
    Meta(Meta),
    Cmp(Cmp),
    Lookup(Lookup),
    Immediate(Immediate),
    Counter(Counter),
    Ct(Ct),
    Nat(Nat),
    Masq(Masq),
    Bitwise(Bitwise),
    Numgen(Numgen),
    Fib(Fib),
    Reject(Reject),
    Dynset(Dynset),
    Limit(Limit),
    /// An expression kproxy does not model (`log`, `quota`, …): its name and raw data.
    Other {
        name: String,
        data: Vec<u8>,
    },
}

macro_rules! each_kind {
    ($self:expr, $e:ident => $body:expr, $other:pat => $other_body:expr) => {
        match $self {
            Expr::Payload($e) => $body,
            Expr::Meta($e) => $body,
            Expr::Cmp($e) => $body,
            Expr::Lookup($e) => $body,
            Expr::Immediate($e) => $body,
            Expr::Counter($e) => $body,
            Expr::Ct($e) => $body,
            Expr::Nat($e) => $body,
            Expr::Masq($e) => $body,
            Expr::Bitwise($e) => $body,
            Expr::Numgen($e) => $body,
            Expr::Fib($e) => $body,
            Expr::Reject($e) => $body,
            Expr::Dynset($e) => $body,
            Expr::Limit($e) => $body,
            $other => $other_body,
        }
    };
}

fn name_of<T: ExprData>(_: &T) -> &'static str {
    T::NAME
}

impl Expr {
    /// The expression's kernel name (`payload`, `cmp`, …).
    pub fn name(&self) -> &str {
        each_kind!(self, e => name_of(e), Expr::Other { name, .. } => name)
    }

    /// The list entry of this expression inside `NFTA_RULE_EXPRESSIONS`.
    pub(crate) fn attr(&self) -> Attr<'_> {
        let data = each_kind!(self, e => Attr::Nested(NFTA_EXPR_DATA, e.attrs()),
            Expr::Other { data, .. } => Attr::RawNested(NFTA_EXPR_DATA, data));
        Attr::Nested(
            NFTA_LIST_ELEM,
            vec![Attr::Str(NFTA_EXPR_NAME, self.name()), data],
        )
    }

    pub(crate) fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let (mut name, mut data): (Option<String>, &[u8]) = (None, &[]);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_EXPR_NAME => name = Some(str_of(v, "NFTA_EXPR_NAME")?),
                NFTA_EXPR_DATA => data = v,
                _ => {}
            }
        }
        let name = name.ok_or_else(|| super::attr::missing("NFTA_EXPR_NAME"))?;
        fn p<T: ExprData>(data: &[u8], wrap: fn(T) -> Expr) -> Result<Expr, DecodeError> {
            T::parse(data)
                .map(wrap)
                .with_context(|| format!("invalid {} expression", T::NAME))
        }
        match name.as_str() {
            Payload::NAME => p(data, Expr::Payload),
            Meta::NAME => p(data, Expr::Meta),
            Cmp::NAME => p(data, Expr::Cmp),
            Lookup::NAME => p(data, Expr::Lookup),
            Immediate::NAME => p(data, Expr::Immediate),
            Counter::NAME => p(data, Expr::Counter),
            Ct::NAME => p(data, Expr::Ct),
            Nat::NAME => p(data, Expr::Nat),
            Masq::NAME => p(data, Expr::Masq),
            Bitwise::NAME => p(data, Expr::Bitwise),
            Numgen::NAME => p(data, Expr::Numgen),
            Fib::NAME => p(data, Expr::Fib),
            Reject::NAME => p(data, Expr::Reject),
            Dynset::NAME => p(data, Expr::Dynset),
            Limit::NAME => p(data, Expr::Limit),
            _ => Ok(Expr::Other {
                name,
                data: data.to_vec(),
            }),
        }
    }
}

/// Parses the entries of `NFTA_RULE_EXPRESSIONS`.
pub(crate) fn parse_list(payload: &[u8]) -> Result<Vec<Expr>, DecodeError> {
    parse_nested(payload)?
        .into_iter()
        .map(|(_, v)| Expr::parse(v))
        .collect()
}

macro_rules! impl_from {
    ($($t:ident),*) => {$(
        impl From<$t> for Expr {
            fn from(e: $t) -> Expr {
                Expr::$t(e)
            }
        }
    )*};
}

impl_from!(
    Payload, Meta, Cmp, Lookup, Immediate, Counter, Ct, Nat, Masq, Bitwise, Numgen, Fib, Reject,
    Dynset, Limit
);
