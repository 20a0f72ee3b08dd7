//! Test support shipped with the library (feature `testing`) so that unit tests,
//! integration tests and benchmarks share it. Not part of the proxy: the release binary is
//! built without the feature, so none of this is in it.

pub mod apiserver;
pub mod controlplane;
pub mod ipset;
pub mod iptables;
pub mod ipvs;
pub mod kernel;
pub mod netns;
pub mod objects;
pub mod scale;
pub mod stopwatch;

pub use apiserver::{NetnsApiServer, RequestRecord, Resource, TestApiServer};
