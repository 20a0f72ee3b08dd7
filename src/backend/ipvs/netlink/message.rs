//! The IPVS generic netlink message: a command and its first-level attributes.

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorContext, Nla, NlaBuffer, NlasIterator, Parseable,
    ParseableParametrized, emit_u32, parse_u32,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

use super::cmd::IpvsCmd;
use super::constants::*;
use super::daemon::{DaemonAttr, parse_daemon};
use super::dest::{DestAttr, parse_dest};
use super::service::{SvcAttr, parse_service};

/// A first-level attribute (`IPVS_CMD_ATTR_*`, or `IPVS_INFO_ATTR_*` in a `SetInfo` reply).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpvsAttr {
    Service(Vec<SvcAttr>),
    Dest(Vec<DestAttr>),
    Daemon(Vec<DaemonAttr>),
    /// TCP established timeout in seconds (0 in a request: leave unchanged).
    TimeoutTcp(u32),
    TimeoutTcpFin(u32),
    TimeoutUdp(u32),
    /// `IPVS_INFO_ATTR_VERSION`, e.g. `0x010201` for 1.2.1 (only in `SetInfo`).
    InfoVersion(u32),
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE`: connection hash table size (only in `SetInfo`).
    InfoConnTabSize(u32),
    Other(DefaultNla),
}

impl Nla for IpvsAttr {
    fn value_len(&self) -> usize {
        use IpvsAttr::*;
        match self {
            Service(nlas) => nlas.as_slice().buffer_len(),
            Dest(nlas) => nlas.as_slice().buffer_len(),
            Daemon(nlas) => nlas.as_slice().buffer_len(),
            TimeoutTcp(_) | TimeoutTcpFin(_) | TimeoutUdp(_) | InfoVersion(_)
            | InfoConnTabSize(_) => 4,
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use IpvsAttr::*;
        match self {
            Service(_) => nested(IPVS_CMD_ATTR_SERVICE),
            Dest(_) => nested(IPVS_CMD_ATTR_DEST),
            Daemon(_) => nested(IPVS_CMD_ATTR_DAEMON),
            TimeoutTcp(_) => IPVS_CMD_ATTR_TIMEOUT_TCP,
            TimeoutTcpFin(_) => IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
            TimeoutUdp(_) => IPVS_CMD_ATTR_TIMEOUT_UDP,
            InfoVersion(_) => IPVS_INFO_ATTR_VERSION,
            InfoConnTabSize(_) => IPVS_INFO_ATTR_CONN_TAB_SIZE,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use IpvsAttr::*;
        match self {
            Service(nlas) => nlas.as_slice().emit(buf),
            Dest(nlas) => nlas.as_slice().emit(buf),
            Daemon(nlas) => nlas.as_slice().emit(buf),
            TimeoutTcp(v) | TimeoutTcpFin(v) | TimeoutUdp(v) | InfoVersion(v)
            | InfoConnTabSize(v) => emit_u32(buf, *v).expect("buffer sized by value_len"),
            Other(nla) => nla.emit_value(buf),
        }
    }
}

impl IpvsAttr {
    /// Decodes one first-level attribute of a message carrying `cmd`: a `SetInfo` reply
    /// reuses attribute numbers 1 and 2 for plain numbers.
    fn parse_for<T: AsRef<[u8]> + ?Sized>(
        buf: &NlaBuffer<&T>,
        cmd: IpvsCmd,
    ) -> Result<Self, DecodeError> {
        let v = buf.value();
        use IpvsAttr::*;
        if cmd == IpvsCmd::SetInfo {
            return Ok(match buf.kind() {
                IPVS_INFO_ATTR_VERSION => {
                    InfoVersion(parse_u32(v).context("invalid IPVS_INFO_ATTR_VERSION")?)
                }
                IPVS_INFO_ATTR_CONN_TAB_SIZE => {
                    InfoConnTabSize(parse_u32(v).context("invalid IPVS_INFO_ATTR_CONN_TAB_SIZE")?)
                }
                _ => Other(DefaultNla::parse(buf).context("invalid IPVS info attribute")?),
            });
        }
        Ok(match buf.kind() {
            IPVS_CMD_ATTR_SERVICE => {
                Service(parse_service(v).context("failed to parse IPVS_CMD_ATTR_SERVICE")?)
            }
            IPVS_CMD_ATTR_DEST => {
                Dest(parse_dest(v).context("failed to parse IPVS_CMD_ATTR_DEST")?)
            }
            IPVS_CMD_ATTR_DAEMON => {
                Daemon(parse_daemon(v).context("failed to parse IPVS_CMD_ATTR_DAEMON")?)
            }
            IPVS_CMD_ATTR_TIMEOUT_TCP => {
                TimeoutTcp(parse_u32(v).context("invalid IPVS_CMD_ATTR_TIMEOUT_TCP")?)
            }
            IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => {
                TimeoutTcpFin(parse_u32(v).context("invalid IPVS_CMD_ATTR_TIMEOUT_TCP_FIN")?)
            }
            IPVS_CMD_ATTR_TIMEOUT_UDP => {
                TimeoutUdp(parse_u32(v).context("invalid IPVS_CMD_ATTR_TIMEOUT_UDP")?)
            }
            _ => Other(DefaultNla::parse(buf).context("invalid IPVS attribute")?),
        })
    }
}

/// The payload of an IPVS generic netlink message. Wrap it in
/// `netlink_packet_generic::GenlMessage` (and that in `NetlinkMessage`) to send it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpvsMessage {
    pub cmd: IpvsCmd,
    pub nlas: Vec<IpvsAttr>,
}

impl IpvsMessage {
    pub fn new(cmd: IpvsCmd, nlas: Vec<IpvsAttr>) -> Self {
        Self { cmd, nlas }
    }

    /// The attributes nested in the first `IPVS_CMD_ATTR_SERVICE`, if any.
    pub fn service(&self) -> Option<&[SvcAttr]> {
        self.nlas.iter().find_map(|nla| match nla {
            IpvsAttr::Service(attrs) => Some(attrs.as_slice()),
            _ => None,
        })
    }

    /// The attributes nested in the first `IPVS_CMD_ATTR_DEST`, if any.
    pub fn dest(&self) -> Option<&[DestAttr]> {
        self.nlas.iter().find_map(|nla| match nla {
            IpvsAttr::Dest(attrs) => Some(attrs.as_slice()),
            _ => None,
        })
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd.into()
    }

    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.nlas.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        self.nlas.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let cmd = IpvsCmd::try_from(header.cmd)?;
        let nlas = NlasIterator::new(buf)
            .map(|nla| nla.and_then(|nla| IpvsAttr::parse_for(&nla, cmd)))
            .collect::<Result<Vec<_>, _>>()
            .context("failed to parse IPVS message attributes")?;
        Ok(Self { cmd, nlas })
    }
}
