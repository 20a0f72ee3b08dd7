//! iptables test aids: a parsed model of restore/save text that applies restore input as
//! iptables-restore does ([`parse`]), a packet tracer over it ([`trace`], like kube-proxy's
//! packet-flow tests), and a stateful fake runner built on both ([`fake`]).

pub mod fake;
pub mod parse;
pub mod trace;
