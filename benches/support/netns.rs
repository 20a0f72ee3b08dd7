//! The check that a kernel bench can make network namespaces. The namespaces themselves are
//! `kproxy::testing::netns::Netns::for_bench` (`kpb-<pid>-<n>-<role>`).

use std::process::Command;

/// Exits the bench with a message when it cannot make namespaces (not root, tools missing).
pub fn require_kernel(tools: &[&str]) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("this bench needs root, to create network namespaces");
        std::process::exit(2);
    }
    for tool in tools.iter().chain(&["ip"]) {
        let found = Command::new(tool).arg("--version").output().is_ok()
            || Command::new(tool).arg("-V").output().is_ok();
        if !found {
            eprintln!("this bench needs {tool} installed");
            std::process::exit(2);
        }
    }
}
