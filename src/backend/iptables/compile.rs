//! Placeholder until the compiler lands.
use std::collections::BTreeSet;

use super::ruleset::Ruleset;
use crate::model::{ProxyState, ServiceName};

#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    pub masquerade_all: bool,
    pub masquerade_bit: u8,
    pub cluster_cidr: Option<ipnet::Ipv4Net>,
    pub nodeport_addresses: Vec<ipnet::Ipv4Net>,
}

pub struct Compiler;

impl Compiler {
    pub fn new(_: CompileOptions) -> Self {
        Self
    }
    pub fn compile(&mut self, _: &ProxyState, _: &BTreeSet<ServiceName>) -> Ruleset {
        Ruleset::default()
    }
    pub fn compile_all(&mut self, _: &ProxyState) -> Ruleset {
        Ruleset::default()
    }
}

pub fn compile(state: &ProxyState, opts: &CompileOptions) -> Ruleset {
    Compiler::new(opts.clone()).compile_all(state)
}
