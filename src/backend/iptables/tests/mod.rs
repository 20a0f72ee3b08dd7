//! Tests of the compiler, the parser and the tracer together: golden rulesets, packet flows
//! over the compiled rules, incremental compiles, and round trips through a real kernel.

mod arbitrary;
mod dispatch_order;
mod fixtures;
mod flows;
mod golden;
mod incremental;
mod kernel;
mod local_flows;
mod netns;
mod traffic_flows;
mod view_agreement;
