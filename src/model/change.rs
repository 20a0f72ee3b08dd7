use super::{EndpointSlice, NodeInfo, Service, ServiceName, SliceName};

/// One event from a source. Sources diff their own snapshots, so an `*Updated` carries the
/// whole new object and a `*Deleted` only its name.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    ServiceUpdated(Service),
    ServiceDeleted(ServiceName),
    SliceUpdated(EndpointSlice),
    SliceDeleted(SliceName),
    /// This node's own Node object (zone, addresses) changed.
    NodeUpdated(NodeInfo),
    /// The source has delivered its complete initial snapshot; syncing may begin.
    /// Sent once per source; a relist after it is delivered as ordinary updates and deletes.
    InitialSyncDone,
}
