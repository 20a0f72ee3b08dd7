use std::sync::Arc;

use super::{EndpointSlice, NodeInfo, Service, ServiceName, SliceName};

/// One event from a source. Sources diff their own snapshots, so an `*Updated` carries the
/// whole new object and a `*Deleted` only its name. Objects are shared (`Arc`): the source's
/// cache, what it reported and [`super::ProxyState`] all hold the same immutable copy.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    ServiceUpdated(Arc<Service>),
    ServiceDeleted(ServiceName),
    SliceUpdated(Arc<EndpointSlice>),
    SliceDeleted(SliceName),
    /// This node's own Node object (zone, addresses) changed.
    NodeUpdated(NodeInfo),
    /// The source has delivered its complete initial snapshot; syncing may begin.
    /// Sent once per source; a relist after it is delivered as ordinary updates and deletes.
    InitialSyncDone,
}

impl Change {
    /// `ServiceUpdated` from an owned or already shared service.
    pub fn service(svc: impl Into<Arc<Service>>) -> Self {
        Self::ServiceUpdated(svc.into())
    }

    /// `SliceUpdated` from an owned or already shared slice.
    pub fn slice(slice: impl Into<Arc<EndpointSlice>>) -> Self {
        Self::SliceUpdated(slice.into())
    }
}

impl From<Service> for Change {
    fn from(svc: Service) -> Self {
        Self::service(svc)
    }
}

impl From<EndpointSlice> for Change {
    fn from(slice: EndpointSlice) -> Self {
        Self::slice(slice)
    }
}
