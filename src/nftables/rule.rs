//! Rules (`NFTA_RULE_*`): a list of expressions in a chain, addressed by the handle the
//! kernel gives it. NEWRULE appends, or inserts before/after `position`; DELRULE with a
//! handle deletes one rule, without one it flushes the chain.

use netlink_packet_core::DecodeError;

use super::attr::{Attr, missing, parse_nested, push_opt, str_of, u32_of, u64_of};
use super::expr::{self, Expr};
use super::family::Family;

const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_RULE_POSITION: u16 = 6;
const NFTA_RULE_USERDATA: u16 = 7;
const NFTA_RULE_ID: u16 = 9;
const NFTA_RULE_POSITION_ID: u16 = 10;
const NFTA_RULE_CHAIN_ID: u16 = 11;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    pub family: Family,
    pub table: String,
    pub chain: String,
    pub handle: Option<u64>,
    pub exprs: Vec<Expr>,
    /// Handle of the rule to insert before (or, with `NLM_F_APPEND`, after). In a dump: the
    /// handle of the rule before this one.
    pub position: Option<u64>,
    /// Comment records (see [`super::udata`]).
    pub userdata: Option<Vec<u8>>,
    /// Batch-local id, so later rules in the batch can be positioned relative to this one.
    pub id: Option<u32>,
    pub position_id: Option<u32>,
    /// Names a chain created earlier in the same batch, instead of `chain`.
    pub chain_id: Option<u32>,
}

impl Rule {
    pub fn new(family: Family, table: impl Into<String>, chain: impl Into<String>) -> Self {
        Self {
            family,
            table: table.into(),
            chain: chain.into(),
            ..Self::default()
        }
    }

    pub fn with_exprs(mut self, exprs: Vec<Expr>) -> Self {
        self.exprs = exprs;
        self
    }

    /// Attributes in the order `nft` sends them (also the kernel's dump order).
    pub(crate) fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = vec![
            Attr::Str(NFTA_RULE_TABLE, &self.table),
            Attr::Str(NFTA_RULE_CHAIN, &self.chain),
        ];
        push_opt(&mut a, self.handle, |v| Attr::U64(NFTA_RULE_HANDLE, v));
        if !self.exprs.is_empty() {
            let exprs = self.exprs.iter().map(Expr::attr).collect();
            a.push(Attr::Nested(NFTA_RULE_EXPRESSIONS, exprs));
        }
        push_opt(&mut a, self.position, |v| Attr::U64(NFTA_RULE_POSITION, v));
        if let Some(u) = &self.userdata {
            a.push(Attr::Bytes(NFTA_RULE_USERDATA, u));
        }
        push_opt(&mut a, self.id, |v| Attr::U32(NFTA_RULE_ID, v));
        push_opt(&mut a, self.position_id, |v| {
            Attr::U32(NFTA_RULE_POSITION_ID, v)
        });
        push_opt(&mut a, self.chain_id, |v| Attr::U32(NFTA_RULE_CHAIN_ID, v));
        a
    }

    pub(crate) fn parse(family: Family, payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Rule {
            family,
            ..Rule::default()
        };
        let (mut table, mut chain) = (None, None);
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_RULE_TABLE => table = Some(str_of(v, "NFTA_RULE_TABLE")?),
                NFTA_RULE_CHAIN => chain = Some(str_of(v, "NFTA_RULE_CHAIN")?),
                NFTA_RULE_HANDLE => r.handle = Some(u64_of(v, "NFTA_RULE_HANDLE")?),
                NFTA_RULE_EXPRESSIONS => r.exprs = expr::parse_list(v)?,
                NFTA_RULE_POSITION => r.position = Some(u64_of(v, "NFTA_RULE_POSITION")?),
                NFTA_RULE_USERDATA => r.userdata = Some(v.to_vec()),
                NFTA_RULE_ID => r.id = Some(u32_of(v, "NFTA_RULE_ID")?),
                NFTA_RULE_POSITION_ID => r.position_id = Some(u32_of(v, "NFTA_RULE_POSITION_ID")?),
                NFTA_RULE_CHAIN_ID => r.chain_id = Some(u32_of(v, "NFTA_RULE_CHAIN_ID")?),
                _ => {}
            }
        }
        r.table = table.ok_or_else(|| missing("NFTA_RULE_TABLE"))?;
        r.chain = chain.unwrap_or_default();
        if r.chain.is_empty() && r.chain_id.is_none() {
            return Err(missing("NFTA_RULE_CHAIN"));
        }
        Ok(r)
    }
}
