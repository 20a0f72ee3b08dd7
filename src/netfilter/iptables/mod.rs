//! iptables through `iptables-restore` / `iptables-save`, for both proxy modes: chains in
//! the text `iptables-save` prints ([`ruleset`]), the chains and jumps both modes write
//! ([`chains`]), the pure difference between desired and kernel chains ([`plan`]), the
//! runner that feeds the tools ([`runner`]), the streamed read-back of what the kernel holds
//! ([`read_back`]), and the one write path ([`write`]). Which chains a mode owns is the
//! mode's business: the functions that read or remove chains take an `is_owned` predicate.

pub mod chains;
pub mod local_match;
pub mod plan;
pub mod read_back;
pub mod ruleset;
pub mod runner;
pub mod write;

/// iptables-save's quoting. It lives with the iptables compiler, its main user.
pub use crate::backend::iptables::compile::push_quoted;
