//! kproxy: a Kubernetes service proxy. See docs/architecture.md for the map of this crate.

pub mod backend;
pub mod config;
pub mod health;
pub mod http;
pub mod metrics;
pub mod model;
pub mod source;
