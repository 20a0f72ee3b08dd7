//! The requests kproxy sends, one constructor per operation, so that what goes on the wire
//! is decided here (and tested against ipvsadm's bytes) rather than in the socket client.

use super::cmd::IpvsCmd;
use super::message::{IpvsAttr, IpvsMessage};
use super::real_server::RealServer;
use super::timeouts::Timeouts;
use super::virtual_service::{ServiceKey, VirtualService};

impl IpvsMessage {
    /// Add a service (`ipvsadm -A`).
    pub fn new_service(svc: &VirtualService) -> Self {
        Self::new(IpvsCmd::NewService, vec![IpvsAttr::Service(svc.to_attrs())])
    }

    /// Change an existing service's scheduler, persistence or flags (`ipvsadm -E`).
    pub fn set_service(svc: &VirtualService) -> Self {
        Self::new(IpvsCmd::SetService, vec![IpvsAttr::Service(svc.to_attrs())])
    }

    /// Delete a service and its destinations (`ipvsadm -D`).
    pub fn del_service(key: &ServiceKey) -> Self {
        Self::new(IpvsCmd::DelService, vec![IpvsAttr::Service(key.to_attrs())])
    }

    /// Dump every service (sent with `NLM_F_DUMP`).
    pub fn get_services() -> Self {
        Self::new(IpvsCmd::GetService, vec![])
    }

    /// Add a destination to a service (`ipvsadm -a`).
    pub fn new_dest(svc: &ServiceKey, rs: &RealServer) -> Self {
        Self::dest_op(IpvsCmd::NewDest, svc, rs.to_attrs())
    }

    /// Change a destination's weight, thresholds or forwarding method (`ipvsadm -e`).
    pub fn set_dest(svc: &ServiceKey, rs: &RealServer) -> Self {
        Self::dest_op(IpvsCmd::SetDest, svc, rs.to_attrs())
    }

    /// Remove a destination from a service (`ipvsadm -d`).
    pub fn del_dest(svc: &ServiceKey, rs: &RealServer) -> Self {
        Self::dest_op(IpvsCmd::DelDest, svc, rs.key_attrs())
    }

    /// Dump the destinations of one service (sent with `NLM_F_DUMP`).
    pub fn get_dests(svc: &ServiceKey) -> Self {
        Self::new(IpvsCmd::GetDest, vec![IpvsAttr::Service(svc.to_attrs())])
    }

    /// Remove every service and destination of the network namespace (`ipvsadm -C`).
    pub fn flush() -> Self {
        Self::new(IpvsCmd::Flush, vec![])
    }

    /// Read the connection timeouts (`ipvsadm -L --timeout`).
    pub fn get_config() -> Self {
        Self::new(IpvsCmd::GetConfig, vec![])
    }

    /// Set the connection timeouts; a 0 leaves that one unchanged (`ipvsadm --set`).
    pub fn set_config(timeouts: &Timeouts) -> Self {
        Self::new(IpvsCmd::SetConfig, timeouts.to_attrs())
    }

    /// Read the IPVS version and connection table size.
    pub fn get_info() -> Self {
        Self::new(IpvsCmd::GetInfo, vec![])
    }

    fn dest_op(cmd: IpvsCmd, svc: &ServiceKey, dest: Vec<super::dest::DestAttr>) -> Self {
        Self::new(
            cmd,
            vec![IpvsAttr::Service(svc.to_attrs()), IpvsAttr::Dest(dest)],
        )
    }
}
