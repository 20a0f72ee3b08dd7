//! The IPVS client: the only code in IPVS mode that talks to IPVS. It resolves the `IPVS`
//! generic netlink family, sends the requests built by `netlink` over the shared blocking
//! [`Connection`] (which waits for each ACK, errno or multi-part dump) and counts the
//! requests, so a sync can report exactly the netlink operations a change needed.

mod error;

use std::fmt::Debug;

use netlink_packet_core::{Emitable, NLM_F_ACK, NLM_F_DUMP, ParseableParametrized};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use netlink_sys::protocols::NETLINK_GENERIC;
use nix::errno::Errno;

pub use error::{IpvsError, Operation, Target};

use super::netlink::{IpvsAttr, IpvsMessage, RealServer, ServiceKey, Timeouts, VirtualService};
use crate::netlink::{Connection, NetlinkError};

/// IPVS version and connection table size, from `IPVS_CMD_GET_INFO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpvsInfo {
    /// `major << 16 | minor << 8 | patch`, e.g. `0x010201`.
    pub version: u32,
    pub conn_tab_size: u32,
}

/// A generic netlink socket talking to the kernel's IPVS family in the network namespace
/// the socket was opened in.
pub struct IpvsHandle {
    connection: Connection,
    family_id: u16,
    operations: u64,
}

impl IpvsHandle {
    /// Opens a socket in the caller's network namespace and resolves the IPVS family.
    /// Fails with `Unavailable` when the kernel has no IPVS (module not loaded, or built
    /// without it).
    pub fn new() -> Result<Self, IpvsError> {
        let connection = Connection::open(NETLINK_GENERIC).map_err(IpvsError::Socket)?;
        let mut handle = Self {
            connection,
            family_id: 0,
            operations: 0,
        };
        handle.family_id = handle.resolve_family()?;
        Ok(handle)
    }

    /// The family id the kernel assigned to IPVS (dynamic, typically 0x20-ish).
    pub fn family_id(&self) -> u16 {
        self.family_id
    }

    /// IPVS requests sent so far (family resolution not included).
    pub fn operations(&self) -> u64 {
        self.operations
    }

    /// Every IPv4 address/port service. Services kproxy never creates (IPv6, fwmark) are
    /// left out.
    pub fn services(&mut self) -> Result<Vec<VirtualService>, IpvsError> {
        let op = (Operation::ListServices, Target::Nothing);
        let replies = self.dump(op, IpvsMessage::get_services())?;
        Ok(replies
            .iter()
            .filter_map(|m| m.service())
            .filter_map(|attrs| match VirtualService::from_attrs(attrs) {
                Ok(svc) => Some(svc),
                Err(e) => {
                    tracing::debug!(error = %e, "ignoring an IPVS service kproxy does not manage");
                    None
                }
            })
            .collect())
    }

    /// The destinations of `svc` with their connection counters. A service that does not
    /// exist has none (the kernel answers such a dump with an empty list).
    pub fn destinations(&mut self, svc: &ServiceKey) -> Result<Vec<RealServer>, IpvsError> {
        let op = (Operation::ListDestinations, Target::Service(*svc));
        let replies = self.dump(op, IpvsMessage::get_dests(svc))?;
        Ok(replies
            .iter()
            .filter_map(|m| m.dest())
            .filter_map(|attrs| match RealServer::from_attrs(attrs) {
                Ok(rs) => Some(rs),
                Err(e) => {
                    tracing::debug!(service = %svc, error = %e, "ignoring an IPVS destination");
                    None
                }
            })
            .collect())
    }

    pub fn add_service(&mut self, svc: &VirtualService) -> Result<(), IpvsError> {
        let op = (Operation::AddService, Target::Service(svc.key()));
        self.execute(op, IpvsMessage::new_service(svc)).map(drop)
    }

    /// Sets the scheduler, persistence and flags of an existing service.
    pub fn update_service(&mut self, svc: &VirtualService) -> Result<(), IpvsError> {
        let op = (Operation::UpdateService, Target::Service(svc.key()));
        self.execute(op, IpvsMessage::set_service(svc)).map(drop)
    }

    /// Deletes a service with all its destinations.
    pub fn delete_service(&mut self, svc: &ServiceKey) -> Result<(), IpvsError> {
        let op = (Operation::DeleteService, Target::Service(*svc));
        self.execute(op, IpvsMessage::del_service(svc)).map(drop)
    }

    pub fn add_destination(&mut self, svc: &ServiceKey, rs: &RealServer) -> Result<(), IpvsError> {
        let op = (Operation::AddDestination, dest_target(svc, rs));
        self.execute(op, IpvsMessage::new_dest(svc, rs)).map(drop)
    }

    /// Sets the weight, thresholds and forwarding method of an existing destination.
    pub fn update_destination(
        &mut self,
        svc: &ServiceKey,
        rs: &RealServer,
    ) -> Result<(), IpvsError> {
        let op = (Operation::UpdateDestination, dest_target(svc, rs));
        self.execute(op, IpvsMessage::set_dest(svc, rs)).map(drop)
    }

    pub fn delete_destination(
        &mut self,
        svc: &ServiceKey,
        rs: &RealServer,
    ) -> Result<(), IpvsError> {
        let op = (Operation::DeleteDestination, dest_target(svc, rs));
        self.execute(op, IpvsMessage::del_dest(svc, rs)).map(drop)
    }

    /// Deletes every service and destination of the network namespace.
    pub fn flush(&mut self) -> Result<(), IpvsError> {
        let op = (Operation::Flush, Target::Nothing);
        self.execute(op, IpvsMessage::flush()).map(drop)
    }

    pub fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        let op = (Operation::GetTimeouts, Target::Nothing);
        let replies = self.execute(op, IpvsMessage::get_config())?;
        Ok(replies
            .first()
            .map(|m| Timeouts::from_attrs(&m.nlas))
            .unwrap_or_default())
    }

    /// Sets the timeouts; a 0 field leaves that timeout unchanged.
    pub fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<(), IpvsError> {
        let op = (Operation::SetTimeouts, Target::Nothing);
        self.execute(op, IpvsMessage::set_config(timeouts))
            .map(drop)
    }

    pub fn info(&mut self) -> Result<IpvsInfo, IpvsError> {
        let op = (Operation::GetInfo, Target::Nothing);
        let mut info = IpvsInfo {
            version: 0,
            conn_tab_size: 0,
        };
        for attr in self
            .execute(op, IpvsMessage::get_info())?
            .iter()
            .flat_map(|m| &m.nlas)
        {
            match attr {
                IpvsAttr::InfoVersion(v) => info.version = *v,
                IpvsAttr::InfoConnTabSize(v) => info.conn_tab_size = *v,
                _ => {}
            }
        }
        Ok(info)
    }

    /// Sends a request and collects the data messages before its ACK.
    fn execute(
        &mut self,
        op: (Operation, Target),
        msg: IpvsMessage,
    ) -> Result<Vec<IpvsMessage>, IpvsError> {
        self.operations += 1;
        self.round_trip(op, msg, self.family_id, NLM_F_ACK)
    }

    /// Sends a dump request and collects every message up to `NLMSG_DONE`.
    fn dump(
        &mut self,
        op: (Operation, Target),
        msg: IpvsMessage,
    ) -> Result<Vec<IpvsMessage>, IpvsError> {
        self.operations += 1;
        // No NLM_F_ACK: a dump ends with NLMSG_DONE and the kernel sends no ACK after it.
        self.round_trip(op, msg, self.family_id, NLM_F_DUMP)
    }

    fn resolve_family(&mut self) -> Result<u16, IpvsError> {
        let op = (Operation::ResolveFamily, Target::Nothing);
        let request = GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(IpvsMessage::family_name().into())],
        };
        let replies = match self.round_trip(op, request, 0, NLM_F_ACK) {
            Err(IpvsError::Kernel {
                errno: Errno::ENOENT,
                ..
            }) => {
                return Err(IpvsError::Unavailable);
            }
            other => other?,
        };
        replies
            .iter()
            .flat_map(|m| &m.nlas)
            .find_map(|nla| match nla {
                GenlCtrlAttrs::FamilyId(id) => Some(*id),
                _ => None,
            })
            .ok_or(IpvsError::Unavailable)
    }

    /// Sends one request of family `F` and reads until its reply is complete.
    fn round_trip<F>(
        &mut self,
        (op, target): (Operation, Target),
        payload: F,
        family_id: u16,
        flags: u16,
    ) -> Result<Vec<F>, IpvsError>
    where
        F: GenlFamily + Emitable + ParseableParametrized<[u8], GenlHeader> + Debug,
    {
        let mut genl = GenlMessage::from_payload(payload);
        genl.set_resolved_family_id(family_id);
        match self.connection.request(genl, flags) {
            Ok(replies) => Ok(replies.into_iter().map(|m| m.payload).collect()),
            Err(NetlinkError::Io(source)) => Err(IpvsError::Io { op, target, source }),
            Err(NetlinkError::Decode(source)) => Err(IpvsError::Decode { op, target, source }),
            Err(NetlinkError::Kernel { code, .. }) => Err(IpvsError::Kernel {
                op,
                target,
                errno: Errno::from_raw(code),
            }),
        }
    }
}

fn dest_target(svc: &ServiceKey, rs: &RealServer) -> Target {
    Target::Destination(*svc, rs.addr, rs.port)
}
