//! Whether a unit test can have a throwaway namespace ([`crate::testing::netns::Netns`],
//! deleted on drop, also when the test fails). Tests skip, with a message, when not root or
//! iptables is missing.

use std::process::Command;

use crate::testing::netns::Netns;

/// A fresh namespace, or `None` (after saying why) when this machine cannot provide one.
pub fn create(test: &str) -> Option<Netns> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP {test}: needs root for a network namespace");
        return None;
    }
    let have = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("iptables-restore") || !have("iptables-save") {
        eprintln!("SKIP {test}: iptables-restore/iptables-save not installed");
        return None;
    }
    Some(Netns::new("iptables-unit"))
}
