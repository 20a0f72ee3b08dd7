//! Comparable forms of kernel objects, so a read-back can be compared with what a sync
//! sent. The kernel assigns some fields (handles, use counts, counters, a rule's
//! position) and reports defaults explicitly that a request may leave out (nat ranges,
//! zero flags); `normalized` clears the first kind and writes the second one way, so that
//! `sent.normalized() == dumped.normalized()` exactly when the kernel holds what was sent.

use super::expr::{BitwiseOp, Counter, Expr, nat_flags};
use super::{Chain, DataType, Element, Rule, Set, SetDesc, Table};

impl Table {
    pub fn normalized(&self) -> Table {
        Table {
            handle: None,
            use_count: None,
            owner: None,
            flags: self.flags.filter(|f| *f != 0),
            ..self.clone()
        }
    }
}

impl Chain {
    pub fn normalized(&self) -> Chain {
        Chain {
            handle: None,
            use_count: None,
            id: None,
            // The kernel marks base chains; the hook says as much.
            flags: self
                .flags
                .map(|f| f & !super::CHAIN_F_BASE)
                .filter(|f| *f != 0),
            ..self.clone()
        }
    }
}

/// The size the kernel gives a dynamic set created without one (`65535`, seen on 6.18).
const DYNAMIC_SET_DEFAULT_SIZE: u32 = 65535;

impl Set {
    pub fn normalized(&self) -> Set {
        let verdict_map = self.data_type == Some(DataType::VERDICT);
        let default_desc = |d: &SetDesc| {
            let default_size =
                self.has_flag(super::set_flags::EVAL) && d.size == Some(DYNAMIC_SET_DEFAULT_SIZE);
            d.concat.is_empty() && (d.size.is_none() || default_size)
        };
        Set {
            handle: None,
            id: None,
            flags: self.flags.filter(|f| *f != 0),
            // The kernel reports a verdict's size (16), `nft` sends 0.
            data_len: if verdict_map { None } else { self.data_len },
            // The kernel reports a description for sets created without one: empty, or
            // with its default size for a dynamic set.
            desc: self.desc.clone().filter(|d| !default_desc(d)),
            ..self.clone()
        }
    }
}

impl Element {
    /// Without the time left before expiry (it changes by the second).
    pub fn normalized(&self) -> Element {
        Element {
            expiration_ms: None,
            flags: self.flags.filter(|f| *f != 0),
            ..self.clone()
        }
    }
}

impl Rule {
    pub fn normalized(&self) -> Rule {
        Rule {
            handle: None,
            position: None,
            id: None,
            position_id: None,
            exprs: self.exprs.iter().map(Expr::normalized).collect(),
            ..self.clone()
        }
    }
}

impl Expr {
    pub fn normalized(&self) -> Expr {
        let mut e = self.clone();
        match &mut e {
            Expr::Counter(c) => *c = Counter::default(),
            Expr::Lookup(l) => l.flags = l.flags.filter(|f| *f != 0),
            Expr::Dynset(d) => {
                d.flags = d.flags.filter(|f| *f != 0);
                d.timeout_ms = d.timeout_ms.filter(|t| *t != 0);
            }
            Expr::Bitwise(b) if b.op.is_none() => b.op = Some(BitwiseOp::Bool),
            Expr::Masq(m) => m.flags = m.flags.filter(|f| *f != 0),
            Expr::Nat(n) => {
                // The kernel fills a missing maximum with the minimum and sets the flags
                // that the registers imply.
                if n.reg_addr_max == n.reg_addr_min {
                    n.reg_addr_max = None;
                }
                if n.reg_proto_max == n.reg_proto_min {
                    n.reg_proto_max = None;
                }
                let mut flags = n.flags.unwrap_or(0);
                if n.reg_addr_min.is_some() {
                    flags &= !nat_flags::MAP_IPS;
                }
                if n.reg_proto_min.is_some() {
                    flags &= !nat_flags::PROTO_SPECIFIED;
                }
                n.flags = Some(flags).filter(|f| *f != 0);
            }
            _ => {}
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::super::NftMessage;
    use super::super::fixtures::{DUMP_RULE_REPLY, RULE_CT_STATE};
    use super::super::tests::message;

    #[test]
    fn a_dumped_rule_normalizes_to_the_rule_nft_sent() {
        let (NftMessage::NewRule(sent), NftMessage::NewRule(dumped)) =
            (message(RULE_CT_STATE), message(DUMP_RULE_REPLY))
        else {
            panic!("not rules")
        };
        assert_ne!(sent, dumped, "handle and bitwise op differ");
        assert_eq!(sent.normalized(), dumped.normalized());
    }
}
