//! Pure data: what the sources say about Services and EndpointSlices, merged and
//! validated, with the set of services that changed since the last sync.
//!
//! Nothing here does I/O or knows a k8s-openapi type; backends read it, sources feed it
//! through [`Change`] events.

mod build;
mod change;
mod endpoint;
mod select;
mod service;
mod state;

pub use change::Change;
pub use endpoint::{Conditions, Endpoint, EndpointPort, EndpointSlice, ServiceEndpoint, SliceName};
pub use select::{EndpointSelection, select_endpoints};
pub use service::{Protocol, Service, ServiceName, ServicePort, ServicePortName, TrafficPolicy};
pub use state::{NodeInfo, PendingChanges, ProxyState};
