//! Test support shipped with the library (feature `test-apiserver`) so that integration
//! tests and benchmarks can share it. Not part of the proxy itself.

pub mod apiserver;
pub mod controlplane;
pub mod netns;
pub mod objects;
pub mod scale;
pub mod stopwatch;

pub use apiserver::{NetnsApiServer, RequestRecord, Resource, TestApiServer};
