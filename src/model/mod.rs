//! Pure data: what the sources say about Services and EndpointSlices, merged and
//! validated, with the set of services that changed since the last sync; and, once for
//! every backend, who gets each service port's traffic ([`PortView`]) and the reuse of
//! compiled output while a service stays the same ([`ServiceCache`]).
//!
//! Nothing here does I/O or knows a k8s-openapi type; backends read it, sources feed it
//! through [`Change`] events.

mod build;
mod cache;
mod change;
mod claims;
mod endpoint;
mod local_traffic;
mod service;
mod state;
mod view;

pub use cache::ServiceCache;
pub use change::Change;
pub use claims::{Refusal, Rejection};
pub use endpoint::{
    Conditions, Endpoint, EndpointPort, EndpointSlice, Hint, ServiceEndpoint, SliceName,
};
pub use local_traffic::{DetectLocalMode, LocalTraffic};
pub use service::{
    HealthCheckNodePort, Protocol, Service, ServiceName, ServicePort, ServicePortName,
    TrafficPolicy, is_kproxy_annotation,
};
pub use state::{NodeInfo, PendingChanges, ProxyState};
pub use view::{PortView, ServiceSnapshot, VirtualAddresses};
