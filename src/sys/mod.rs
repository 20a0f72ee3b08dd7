//! Small kernel helpers shared by the backends.

pub mod conntrack_settings;
pub mod netns;
pub mod route_localnet;
