//! Attributes describing a connection-sync daemon (`IPVS_DAEMON_ATTR_*`), nested in
//! `IPVS_CMD_ATTR_DAEMON`. kproxy does not run sync daemons; these decode so that a dump
//! from a node that does is readable, and the rarer ones stay `Other`.

use netlink_packet_core::{
    DecodeError, DefaultNla, ErrorContext, Nla, NlaBuffer, NlasIterator, Parseable, emit_u16,
    emit_u16_be, emit_u32, parse_string, parse_u8, parse_u16, parse_u16_be, parse_u32,
};

use super::constants::*;

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaemonAttr {
    /// `IP_VS_STATE_MASTER` = 1, `IP_VS_STATE_BACKUP` = 2.
    State(u32),
    /// Interface the daemon multicasts on.
    McastIfn(String),
    SyncId(u32),
    SyncMaxLen(u16),
    /// Base multicast port, host order here, network order on the wire.
    McastPort(u16),
    McastTtl(u8),
    Other(DefaultNla),
}

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        use DaemonAttr::*;
        match self {
            State(_) | SyncId(_) => 4,
            McastIfn(s) => s.len() + 1,
            SyncMaxLen(_) | McastPort(_) => 2,
            McastTtl(_) => 1,
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use DaemonAttr::*;
        match self {
            State(_) => IPVS_DAEMON_ATTR_STATE,
            McastIfn(_) => IPVS_DAEMON_ATTR_MCAST_IFN,
            SyncId(_) => IPVS_DAEMON_ATTR_SYNC_ID,
            SyncMaxLen(_) => IPVS_DAEMON_ATTR_SYNC_MAXLEN,
            McastPort(_) => IPVS_DAEMON_ATTR_MCAST_PORT,
            McastTtl(_) => IPVS_DAEMON_ATTR_MCAST_TTL,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use DaemonAttr::*;
        let ok = "buffer sized by value_len";
        match self {
            State(v) | SyncId(v) => emit_u32(buf, *v).expect(ok),
            McastIfn(s) => {
                buf[..s.len()].copy_from_slice(s.as_bytes());
                buf[s.len()] = 0;
            }
            SyncMaxLen(v) => emit_u16(buf, *v).expect(ok),
            McastPort(v) => emit_u16_be(buf, *v).expect(ok),
            McastTtl(v) => buf[0] = *v,
            Other(nla) => nla.emit_value(buf),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DaemonAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        use DaemonAttr::*;
        Ok(match buf.kind() {
            IPVS_DAEMON_ATTR_STATE => {
                State(parse_u32(v).context("invalid IPVS_DAEMON_ATTR_STATE")?)
            }
            IPVS_DAEMON_ATTR_MCAST_IFN => {
                McastIfn(parse_string(v).context("invalid IPVS_DAEMON_ATTR_MCAST_IFN")?)
            }
            IPVS_DAEMON_ATTR_SYNC_ID => {
                SyncId(parse_u32(v).context("invalid IPVS_DAEMON_ATTR_SYNC_ID")?)
            }
            IPVS_DAEMON_ATTR_SYNC_MAXLEN => {
                SyncMaxLen(parse_u16(v).context("invalid IPVS_DAEMON_ATTR_SYNC_MAXLEN")?)
            }
            IPVS_DAEMON_ATTR_MCAST_PORT => {
                McastPort(parse_u16_be(v).context("invalid IPVS_DAEMON_ATTR_MCAST_PORT")?)
            }
            IPVS_DAEMON_ATTR_MCAST_TTL => {
                McastTtl(parse_u8(v).context("invalid IPVS_DAEMON_ATTR_MCAST_TTL")?)
            }
            _ => Other(DefaultNla::parse(buf).context("invalid IPVS daemon attribute")?),
        })
    }
}

/// Parses the attributes nested in `IPVS_CMD_ATTR_DAEMON`.
pub(crate) fn parse_daemon(payload: &[u8]) -> Result<Vec<DaemonAttr>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| DaemonAttr::parse(&nla)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    #[test]
    fn daemon_attributes_round_trip_with_the_port_in_network_order() {
        let attrs = vec![
            DaemonAttr::State(1),
            DaemonAttr::McastIfn("eth0".into()),
            DaemonAttr::SyncId(7),
            DaemonAttr::McastPort(8848),
            DaemonAttr::McastTtl(1),
        ];
        let mut buf = vec![0; attrs.as_slice().buffer_len()];
        attrs.as_slice().emit(&mut buf);
        // McastPort: header (6, 7) then 8848 = 0x2290 big-endian.
        let port = buf.windows(6).position(|w| w == [6, 0, 7, 0, 0x22, 0x90]);
        assert!(port.is_some(), "{buf:02x?}");
        assert_eq!(parse_daemon(&buf).unwrap(), attrs);
    }
}
