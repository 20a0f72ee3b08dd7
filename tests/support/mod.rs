//! Shared pieces of the kernel tests. Each test binary uses some of them.
#![allow(dead_code)]

pub mod conntrack;
pub mod e2e;
pub mod echo;
pub mod fake_restore;
pub mod http_get;
pub mod kproxy;
pub mod manifests;
pub mod metrics;
pub mod netns;
pub mod topology;
