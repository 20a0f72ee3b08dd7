//! Shared by the bench targets. Each target uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod churn_source;
pub mod cluster;
pub mod env;
#[path = "../../tests/support/http_get.rs"]
pub mod http_get;
pub mod kernel_poll;
pub mod kproxy;
#[path = "../../tests/support/metrics.rs"]
pub mod metrics;
pub mod netns;
pub mod quiet;
pub mod report;
pub mod timing;
