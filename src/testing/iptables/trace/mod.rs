//! A packet tracer over parsed iptables tables, in the spirit of kube-proxy's packet-flow
//! tests: where does a new connection from `src` to `dst:dport` end up, and is it
//! masqueraded? It follows every branch of `-m statistic` to collect all possible
//! endpoints, and refuses (with an error) any match, target or jump it does not understand,
//! so the compiler cannot grow rules that the tests silently misread.
//!
//! The path: nat `PREROUTING` (or nat `OUTPUT` when the source is the node itself), the DNAT
//! it chose, then filter `OUTPUT` / `INPUT` / `FORWARD`, then nat `POSTROUTING` (masquerade).

use std::cmp::Ordering;
use std::net::{Ipv4Addr, SocketAddrV4};

use thiserror::Error;

use super::parse::{Match, Opt, ParsedChain, Rule, Tables, Target, is_standard_target};

mod matches;
mod values;

use crate::model::Protocol;
use values::{apply_mark, parse_dnat};

/// A new connection's first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    pub src: Ipv4Addr,
    pub proto: Protocol,
    pub dst: Ipv4Addr,
    pub dport: u16,
}

/// Why a trace could not be completed. Every variant names where it happened.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TraceError {
    #[error("{table}/{chain}: jump to undefined chain {target}")]
    UndefinedChain {
        table: String,
        chain: String,
        target: String,
    },
    #[error("{table}/{chain}: `{rule}`: {reason}")]
    Unsupported {
        table: String,
        chain: String,
        rule: String,
        reason: String,
    },
    #[error("{table}: chain {chain} is missing")]
    MissingChain { table: String, chain: String },
    #[error("{table}/{chain}: jumps nest deeper than {MAX_DEPTH} (a loop?)")]
    TooDeep { table: String, chain: String },
}

const MAX_DEPTH: usize = 64;

/// One possible fate of the packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathOutcome {
    /// `ip:port` the packet is delivered to, or `DROP` / `REJECT`.
    pub output: String,
    pub masquerade: bool,
    /// `table/chain: rule` for each rule whose target was taken, in order.
    pub rules: Vec<String>,
}

/// Every possible fate, summarised as kube-proxy's packet-flow tests state them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// Distinct outputs sorted (addresses numerically) and joined: `10.180.0.1:80, 10.180.0.2:80`.
    pub output: String,
    /// Whether any path is masqueraded.
    pub masquerade: bool,
    pub paths: Vec<PathOutcome>,
}

/// Traces packets through `tables` as seen by a node that owns `local_ips` (and 127/8).
pub struct Tracer<'a> {
    tables: &'a Tables,
    local: Vec<Ipv4Addr>,
    /// `-m recent` entries: (list name, address) already recorded.
    recent: Vec<(String, Ipv4Addr)>,
    /// The interface packets from elsewhere than the node arrive on (`-i`); `None`: one
    /// no `-i` rule names.
    in_interface: Option<String>,
}

#[derive(Clone, Debug)]
struct State {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dport: u16,
    proto: Protocol,
    mark: u32,
    /// `None` for packets the node sends (no input interface).
    in_interface: Option<String>,
    dnat: bool,
    masquerade: bool,
    rules: Vec<String>,
}

/// How a traversal of one chain ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Exit {
    /// Fell off the end or hit RETURN.
    Continue,
    Accept,
    Drop,
    Reject,
    Dnat(Ipv4Addr, Option<u16>),
    Masquerade,
}

/// Whether a rule's matches hold for a packet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    No,
    Yes,
    /// Random (`-m statistic`): both outcomes are possible.
    Both,
}

struct Place<'r> {
    table: &'r str,
    chain: &'r str,
    rule: &'r Rule,
}

impl Place<'_> {
    fn unsupported(&self, reason: impl Into<String>) -> TraceError {
        TraceError::Unsupported {
            table: self.table.to_string(),
            chain: self.chain.to_string(),
            rule: self.rule.text.clone(),
            reason: reason.into(),
        }
    }
}

impl<'a> Tracer<'a> {
    pub fn new(tables: &'a Tables, local_ips: &[Ipv4Addr]) -> Self {
        Self {
            tables,
            local: local_ips.to_vec(),
            recent: Vec::new(),
            in_interface: None,
        }
    }

    /// Packets not from the node arrive on `interface` (for `-i` matches).
    pub fn arriving_on(mut self, interface: &str) -> Self {
        self.in_interface = Some(interface.to_string());
        self
    }

    /// Records that `-m recent --set --name <list>` already saw `addr` (session affinity).
    pub fn with_recent(mut self, list: &str, addr: Ipv4Addr) -> Self {
        self.recent.push((list.to_string(), addr));
        self
    }

    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback() || self.local.contains(&ip)
    }

    pub fn trace(&self, packet: Packet) -> Result<Trace, TraceError> {
        let start = State {
            src: packet.src,
            dst: packet.dst,
            dport: packet.dport,
            proto: packet.proto,
            mark: 0,
            in_interface: None,
            dnat: false,
            masquerade: false,
            rules: Vec::new(),
        };
        let from_node = self.is_local(packet.src);
        let mut start = start;
        if !from_node {
            start.in_interface = Some(self.in_interface.clone().unwrap_or_else(|| "eth0".into()));
        }
        let mut paths = Vec::new();
        let nat_entry = if from_node { "OUTPUT" } else { "PREROUTING" };
        for (mut st, exit) in self.run_builtin("nat", nat_entry, start)? {
            match exit {
                Exit::Dnat(ip, port) => {
                    st.dst = ip;
                    st.dport = port.unwrap_or(st.dport);
                    st.dnat = true;
                }
                Exit::Drop => {
                    paths.push(outcome(st, "DROP"));
                    continue;
                }
                _ => {}
            }
            let filter_entry = match (from_node, self.is_local(st.dst)) {
                (true, _) => "OUTPUT",
                (false, true) => "INPUT",
                (false, false) => "FORWARD",
            };
            for (st, exit) in self.run_builtin("filter", filter_entry, st)? {
                match exit {
                    Exit::Drop => paths.push(outcome(st, "DROP")),
                    Exit::Reject => paths.push(outcome(st, "REJECT")),
                    _ if self.is_local(st.dst) => {
                        let to = format!("{}:{}", st.dst, st.dport);
                        paths.push(outcome(st, &to));
                    }
                    _ => {
                        for (mut st, exit) in self.run_builtin("nat", "POSTROUTING", st)? {
                            st.masquerade |= exit == Exit::Masquerade;
                            let to = format!("{}:{}", st.dst, st.dport);
                            paths.push(outcome(st, &to));
                        }
                    }
                }
            }
        }
        Ok(summarise(paths))
    }

    /// Runs a built-in chain and applies its policy to what falls off its end. A table
    /// that is absent (not restored at all) lets everything through.
    fn run_builtin(
        &self,
        table: &str,
        chain: &str,
        st: State,
    ) -> Result<Vec<(State, Exit)>, TraceError> {
        let Some(parsed) = self.tables.table(table) else {
            return Ok(vec![(st, Exit::Continue)]);
        };
        let Some(builtin) = parsed.chains.get(chain) else {
            return Err(TraceError::MissingChain {
                table: table.to_string(),
                chain: chain.to_string(),
            });
        };
        let policy = match builtin.policy.as_deref() {
            Some("DROP") => Exit::Drop,
            _ => Exit::Accept,
        };
        Ok(self
            .run_chain(table, builtin, st, 0)?
            .into_iter()
            .map(|(st, exit)| match exit {
                Exit::Continue => (st, policy.clone()),
                other => (st, other),
            })
            .collect())
    }

    fn run_chain(
        &self,
        table: &str,
        chain: &ParsedChain,
        st: State,
        depth: usize,
    ) -> Result<Vec<(State, Exit)>, TraceError> {
        if depth > MAX_DEPTH {
            return Err(TraceError::TooDeep {
                table: table.to_string(),
                chain: chain.name.clone(),
            });
        }
        let mut done = Vec::new();
        // (index of the next rule to evaluate, packet state) still to walk.
        let mut pending = vec![(0usize, st)];
        while let Some((start, mut st)) = pending.pop() {
            let mut i = start;
            loop {
                let Some(rule) = chain.rules.get(i) else {
                    done.push((st, Exit::Continue));
                    break;
                };
                let place = Place {
                    table,
                    chain: &chain.name,
                    rule,
                };
                match self.eval_rule(&place, &st)? {
                    Verdict::No => {
                        i += 1;
                        continue;
                    }
                    Verdict::Both => pending.push((i + 1, st.clone())),
                    Verdict::Yes => {}
                }
                let Some(target) = &rule.target else {
                    i += 1;
                    continue;
                };
                st.rules
                    .push(format!("{table}/{}: {}", chain.name, rule.text));
                match self.apply_target(&place, target, &mut st)? {
                    Step::Next => i += 1,
                    Step::Exit(exit) => {
                        done.push((st, exit));
                        break;
                    }
                    Step::Jump(sub) => {
                        for (sub_st, exit) in self.run_chain(table, sub, st, depth + 1)? {
                            match exit {
                                // -g does not come back: the current chain ends too.
                                Exit::Continue if target.goto => {
                                    done.push((sub_st, Exit::Continue))
                                }
                                Exit::Continue => pending.push((i + 1, sub_st)),
                                other => done.push((sub_st, other)),
                            }
                        }
                        break;
                    }
                }
            }
        }
        Ok(done)
    }

    fn apply_target<'t>(
        &'t self,
        place: &Place,
        target: &Target,
        st: &mut State,
    ) -> Result<Step<'t>, TraceError> {
        let only_opts = |allowed: &[&str]| -> Result<(), TraceError> {
            match target
                .options
                .iter()
                .find(|o| !allowed.contains(&o.name.as_str()) || o.negated)
            {
                Some(o) => Err(place.unsupported(format!("{} option {}", target.name, o.name))),
                None => Ok(()),
            }
        };
        let step = match target.name.as_str() {
            "ACCEPT" => Step::Exit(Exit::Accept),
            "DROP" => Step::Exit(Exit::Drop),
            "RETURN" => Step::Exit(Exit::Continue),
            "REJECT" => {
                only_opts(&["--reject-with"])?;
                Step::Exit(Exit::Reject)
            }
            "MASQUERADE" => {
                only_opts(&["--random-fully", "--random"])?;
                if place.table != "nat" {
                    return Err(place.unsupported("MASQUERADE outside nat"));
                }
                Step::Exit(Exit::Masquerade)
            }
            "DNAT" => {
                only_opts(&["--to-destination"])?;
                let to = target
                    .options
                    .iter()
                    .find_map(|o| o.value())
                    .ok_or_else(|| place.unsupported("DNAT without --to-destination"))?;
                let (ip, port) =
                    parse_dnat(to).ok_or_else(|| place.unsupported(format!("DNAT to {to:?}")))?;
                Step::Exit(Exit::Dnat(ip, port))
            }
            "MARK" => {
                for opt in &target.options {
                    st.mark = apply_mark(st.mark, opt)
                        .ok_or_else(|| place.unsupported(format!("MARK {}", opt.name)))?;
                }
                Step::Next
            }
            name => match self.tables.chain(place.table, name) {
                Some(sub) => {
                    if !target.options.is_empty() {
                        return Err(place.unsupported("options on a jump to a chain"));
                    }
                    Step::Jump(sub)
                }
                None if is_standard_target(name) => {
                    return Err(place.unsupported(format!("target {name}")));
                }
                None => {
                    return Err(TraceError::UndefinedChain {
                        table: place.table.to_string(),
                        chain: place.chain.to_string(),
                        target: name.to_string(),
                    });
                }
            },
        };
        Ok(step)
    }

    fn eval_rule(&self, place: &Place, st: &State) -> Result<Verdict, TraceError> {
        let mut verdict = Verdict::Yes;
        for m in &place.rule.matches {
            for opt in &m.options {
                let v = self.eval_option(place, m, opt, st)?;
                match (v, opt.negated) {
                    (Verdict::Both, _) => verdict = Verdict::Both,
                    (Verdict::Yes, true) | (Verdict::No, false) => return Ok(Verdict::No),
                    _ => {}
                }
            }
        }
        Ok(verdict)
    }
}

enum Step<'t> {
    Next,
    Exit(Exit),
    Jump(&'t ParsedChain),
}

fn outcome(st: State, output: &str) -> PathOutcome {
    PathOutcome {
        output: output.to_string(),
        masquerade: st.masquerade,
        rules: st.rules,
    }
}

fn summarise(mut paths: Vec<PathOutcome>) -> Trace {
    paths.sort_by(|a, b| output_order(&a.output, &b.output));
    let mut outputs: Vec<&str> = paths.iter().map(|p| p.output.as_str()).collect();
    outputs.dedup();
    Trace {
        output: outputs.join(", "),
        masquerade: paths.iter().any(|p| p.masquerade),
        paths,
    }
}

/// Addresses numerically, then words.
fn output_order(a: &str, b: &str) -> Ordering {
    match (a.parse::<SocketAddrV4>(), b.parse::<SocketAddrV4>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}
