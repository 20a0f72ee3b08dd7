//! kproxy: a Kubernetes service proxy. See docs/architecture.md for the map of this crate.
#![forbid(unsafe_code)]

pub mod backend;
pub mod config;
pub mod ipset;
pub mod metrics;
pub mod model;
pub mod source;
pub mod sync;
pub mod sys;
