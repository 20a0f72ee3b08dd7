//! kproxy: a Kubernetes service proxy. See docs/architecture.md for the map of this crate.
#![forbid(unsafe_code)]

pub mod app;
pub mod backend;
pub mod config;
pub mod conntrack;
pub mod health;
pub mod health_check;
pub mod http;
pub mod ipset;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod netfilter;
pub mod netlink;
pub mod nftables;
pub mod process;
pub mod source;
pub mod sync;
pub mod sys;

/// Test support (feature `testing`, on for this crate's tests and benches).
#[cfg(feature = "testing")]
pub mod testing;
