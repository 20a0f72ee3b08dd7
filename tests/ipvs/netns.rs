//! What the IPVS tests do with a throwaway namespace (`kproxy::testing::netns`; IPVS state
//! is per namespace) besides the basics: open an IPVS handle inside it without moving the
//! test thread (a helper thread enters the namespace, opens the socket, and exits; the
//! socket stays bound to the namespace it was created in), and start background commands.

use std::process::Command;

use kproxy::backend::ipvs::handle::IpvsHandle;
pub use kproxy::testing::netns::Netns;

pub trait IpvsNetns {
    /// An IPVS handle whose socket lives in this namespace.
    fn handle(&self) -> IpvsHandle;
    /// Starts a command inside the namespace; it is killed when the guard drops.
    fn spawn(&self, args: &[&str]) -> ChildGuard;
}

impl IpvsNetns for Netns {
    fn handle(&self) -> IpvsHandle {
        self.run_in(|| IpvsHandle::new().expect("IPVS handle in the namespace"))
    }

    fn spawn(&self, args: &[&str]) -> ChildGuard {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .spawn()
            .expect("spawn in netns");
        ChildGuard(child)
    }
}

/// A background process, killed (and reaped) on drop.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
