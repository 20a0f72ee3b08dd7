//! The values inside rules, read as the kernel modules read them.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::Opt;

pub(super) fn parse_net(s: &str) -> Option<Ipv4Net> {
    s.parse::<Ipv4Net>()
        .ok()
        .or_else(|| s.parse::<Ipv4Addr>().ok().map(Ipv4Net::from))
}

pub(super) fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once(':') {
        Some((lo, hi)) => Some((lo.parse().ok()?, hi.parse().ok()?)),
        None => {
            let p = s.parse().ok()?;
            Some((p, p))
        }
    }
}

pub(super) fn parse_dnat(s: &str) -> Option<(Ipv4Addr, Option<u16>)> {
    match s.split_once(':') {
        Some((ip, port)) => Some((ip.parse().ok()?, Some(port.parse().ok()?))),
        None => Some((s.parse().ok()?, None)),
    }
}

fn parse_u32(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `value[/mask]`; a missing mask is all ones.
pub(super) fn parse_mark(s: &str) -> Option<(u32, u32)> {
    match s.split_once('/') {
        Some((v, m)) => Some((parse_u32(v)?, parse_u32(m)?)),
        None => Some((parse_u32(s)?, u32::MAX)),
    }
}

/// The MARK target's options, as xt_MARK applies them.
pub(super) fn apply_mark(mark: u32, opt: &Opt) -> Option<u32> {
    let (v, m) = parse_mark(opt.value()?)?;
    Some(match opt.name.as_str() {
        "--set-xmark" => (mark & !m) ^ v,
        "--set-mark" => (mark & !m) | v,
        "--or-mark" => mark | v,
        "--xor-mark" => mark ^ v,
        "--and-mark" => mark & v,
        _ => return None,
    })
}
