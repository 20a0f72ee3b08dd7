//! The proxy mode under test. Both twins run the same mode; each mode says how its rules
//! are dumped and normalised for comparison. iptables mode only, for now:
//! docs/kube-proxy-differences.md says why nftables (kproxy's is being written) and IPVS
//! (kube-proxy's needs the VM's kernel) are not here yet; adding a mode is a variant here
//! (its flag, its dump, its normaliser) and a test function in main.rs.

use crate::rules::{self, Ruleset};
use crate::support::netns::Netns;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Iptables,
}

impl Mode {
    /// `--proxy-mode`.
    pub fn flag(self) -> &'static str {
        match self {
            Mode::Iptables => "iptables",
        }
    }

    /// The rules the proxy wrote into `node`, as text.
    pub fn dump(self, node: &Netns) -> String {
        match self {
            Mode::Iptables => node.iptables_save(&[]),
        }
    }

    /// The dump, normalised for comparison.
    pub fn normalise(self, dump: &str) -> Ruleset {
        match self {
            Mode::Iptables => rules::normalise_iptables(dump),
        }
    }
}
