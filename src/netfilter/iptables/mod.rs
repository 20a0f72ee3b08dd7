//! iptables through `iptables-restore` / `iptables-save`, for both proxy modes: chains in
//! the text `iptables-save` prints ([`ruleset`]), the pure difference between desired and
//! kernel chains ([`plan`]), the runner that feeds the tools ([`runner`]), and the streamed
//! read-back of what the kernel holds ([`read_back`]). Which chains a mode owns is the
//! mode's business: the functions that read or remove chains take an `is_owned` predicate.

pub mod plan;
pub mod read_back;
pub mod ruleset;
pub mod runner;
