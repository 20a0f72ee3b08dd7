//! kproxy: a Kubernetes service proxy. See docs/architecture.md for the map of this crate.

pub mod backend;
pub mod config;
pub mod metrics;
pub mod model;
pub mod source;

/// Test support (feature `test-apiserver`, on for this crate's tests and benches).
#[cfg(feature = "test-apiserver")]
pub mod testing;
