//! `nat` (dnat/snat to addresses and ports held in registers) and `masq` (snat to the
//! outgoing interface's address).

use netlink_packet_core::DecodeError;

use super::{ExprData, Reg};
use crate::nftables::attr::{Attr, missing, parse_nested, push_opt, u32_of};
use crate::nftables::family::Family;

const NFTA_NAT_TYPE: u16 = 1;
const NFTA_NAT_FAMILY: u16 = 2;
const NFTA_NAT_REG_ADDR_MIN: u16 = 3;
const NFTA_NAT_REG_ADDR_MAX: u16 = 4;
const NFTA_NAT_REG_PROTO_MIN: u16 = 5;
const NFTA_NAT_REG_PROTO_MAX: u16 = 6;
const NFTA_NAT_FLAGS: u16 = 7;
const NFTA_MASQ_FLAGS: u16 = 1;
const NFTA_MASQ_REG_PROTO_MIN: u16 = 2;
const NFTA_MASQ_REG_PROTO_MAX: u16 = 3;

/// `NF_NAT_RANGE_*` flags.
pub mod nat_flags {
    pub const MAP_IPS: u32 = 0x1;
    /// The range has ports (`dnat to ADDR:PORT`).
    pub const PROTO_SPECIFIED: u32 = 0x2;
    pub const PROTO_RANDOM: u32 = 0x4;
    pub const PERSISTENT: u32 = 0x8;
    /// `fully-random`: the source port is chosen at random (kube-proxy's masquerade).
    pub const PROTO_RANDOM_FULLY: u32 = 0x10;
}

/// `NFT_NAT_SNAT` / `NFT_NAT_DNAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NatType {
    Snat,
    Dnat,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nat {
    pub nat_type: NatType,
    /// The address family of the address registers (`ip` or `ip6`).
    pub family: Family,
    pub reg_addr_min: Option<Reg>,
    pub reg_addr_max: Option<Reg>,
    pub reg_proto_min: Option<Reg>,
    pub reg_proto_max: Option<Reg>,
    pub flags: Option<u32>,
}

impl Nat {
    /// `dnat to ADDR` from `addr`, with `:PORT` from `port` when given.
    pub fn dnat(family: Family, addr: Reg, port: Option<Reg>) -> Self {
        Self {
            nat_type: NatType::Dnat,
            family,
            reg_addr_min: Some(addr),
            reg_addr_max: None,
            reg_proto_min: port,
            reg_proto_max: None,
            flags: port.map(|_| nat_flags::PROTO_SPECIFIED),
        }
    }
}

impl ExprData for Nat {
    const NAME: &'static str = "nat";

    fn attrs(&self) -> Vec<Attr<'_>> {
        let nat_type = match self.nat_type {
            NatType::Snat => 0,
            NatType::Dnat => 1,
        };
        let mut a = vec![
            Attr::U32(NFTA_NAT_TYPE, nat_type),
            Attr::U32(NFTA_NAT_FAMILY, u8::from(self.family).into()),
        ];
        push_opt(&mut a, self.reg_addr_min, |r| {
            Attr::U32(NFTA_NAT_REG_ADDR_MIN, r.0)
        });
        push_opt(&mut a, self.reg_addr_max, |r| {
            Attr::U32(NFTA_NAT_REG_ADDR_MAX, r.0)
        });
        push_opt(&mut a, self.reg_proto_min, |r| {
            Attr::U32(NFTA_NAT_REG_PROTO_MIN, r.0)
        });
        push_opt(&mut a, self.reg_proto_max, |r| {
            Attr::U32(NFTA_NAT_REG_PROTO_MAX, r.0)
        });
        push_opt(&mut a, self.flags, |v| Attr::U32(NFTA_NAT_FLAGS, v));
        a
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut n = Nat::dnat(Family::Unspec, Reg::VERDICT, None);
        n.reg_addr_min = None;
        let (mut nat_type, mut family) = (None, None);
        for (kind, v) in parse_nested(payload)? {
            let reg = || Reg::parse(v, "NFTA_NAT_REG_*");
            match kind {
                NFTA_NAT_TYPE => nat_type = Some(u32_of(v, "NFTA_NAT_TYPE")?),
                NFTA_NAT_FAMILY => family = Some(u32_of(v, "NFTA_NAT_FAMILY")?),
                NFTA_NAT_REG_ADDR_MIN => n.reg_addr_min = Some(reg()?),
                NFTA_NAT_REG_ADDR_MAX => n.reg_addr_max = Some(reg()?),
                NFTA_NAT_REG_PROTO_MIN => n.reg_proto_min = Some(reg()?),
                NFTA_NAT_REG_PROTO_MAX => n.reg_proto_max = Some(reg()?),
                NFTA_NAT_FLAGS => n.flags = Some(u32_of(v, "NFTA_NAT_FLAGS")?),
                _ => {}
            }
        }
        n.nat_type = match nat_type.ok_or_else(|| missing("NFTA_NAT_TYPE"))? {
            0 => NatType::Snat,
            1 => NatType::Dnat,
            t => return Err(format!("unknown nat type {t}").into()),
        };
        let family = family.ok_or_else(|| missing("NFTA_NAT_FAMILY"))?;
        n.family = Family::from(u8::try_from(family).map_err(|_| "invalid NFTA_NAT_FAMILY")?);
        Ok(n)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Masq {
    pub flags: Option<u32>,
    pub reg_proto_min: Option<Reg>,
    pub reg_proto_max: Option<Reg>,
}

impl ExprData for Masq {
    const NAME: &'static str = "masq";

    fn attrs(&self) -> Vec<Attr<'_>> {
        let mut a = Vec::new();
        push_opt(&mut a, self.flags, |v| Attr::U32(NFTA_MASQ_FLAGS, v));
        push_opt(&mut a, self.reg_proto_min, |r| {
            Attr::U32(NFTA_MASQ_REG_PROTO_MIN, r.0)
        });
        push_opt(&mut a, self.reg_proto_max, |r| {
            Attr::U32(NFTA_MASQ_REG_PROTO_MAX, r.0)
        });
        a
    }

    fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut m = Masq::default();
        for (kind, v) in parse_nested(payload)? {
            match kind {
                NFTA_MASQ_FLAGS => m.flags = Some(u32_of(v, "NFTA_MASQ_FLAGS")?),
                NFTA_MASQ_REG_PROTO_MIN => {
                    m.reg_proto_min = Some(Reg::parse(v, "NFTA_MASQ_REG_PROTO_MIN")?)
                }
                NFTA_MASQ_REG_PROTO_MAX => {
                    m.reg_proto_max = Some(Reg::parse(v, "NFTA_MASQ_REG_PROTO_MAX")?)
                }
                _ => {}
            }
        }
        Ok(m)
    }
}
