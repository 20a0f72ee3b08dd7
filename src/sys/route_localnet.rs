//! `net.ipv4.conf.all.route_localnet=1`, which NodePorts on 127.0.0.1 need (the kernel
//! otherwise drops a packet to a loopback address that DNAT sends elsewhere). kube-proxy's
//! iptables mode sets it at start when it serves localhost NodePorts; kproxy also puts it
//! back after each full sync, should something reset it. `/proc/sys/net` is the network
//! namespace's of the thread that opens it, so after `--netns` it is that namespace's.

use std::fs;
use std::io;
use std::path::Path;

use tracing::{info, warn};

use crate::backend::after_sync::AfterSync;
use crate::model::ProxyState;

const SETTING: &str = "net/ipv4/conf/all/route_localnet";

/// Sets it under `root` (`/proc/sys`) unless it is 1 already; returns whether it wrote.
pub fn ensure_under(root: &Path) -> io::Result<bool> {
    let path = root.join(SETTING);
    let current = fs::read_to_string(&path)?;
    if current.trim() == "1" {
        return Ok(false);
    }
    fs::write(&path, "1")?;
    Ok(true)
}

/// At start: an error stops kproxy, as it stops kube-proxy.
pub fn ensure() -> io::Result<()> {
    info!(
        "setting route_localnet=1 to allow node-ports on localhost; to change this either disable \
         iptables.localhostNodePorts (--iptables-localhost-nodeports) or set nodePortAddresses \
         (--nodeport-addresses) to filter loopback addresses"
    );
    ensure_under(Path::new("/proc/sys"))
        .map(drop)
        .map_err(|e| io::Error::new(e.kind(), format!("/proc/sys/{SETTING}: {e}")))
}

/// Puts `route_localnet` back to 1 after each full sync.
#[derive(Debug, Default)]
pub struct KeepRouteLocalnet;

impl AfterSync for KeepRouteLocalnet {
    fn after_sync(&mut self, _state: &ProxyState, full: bool) {
        if !full {
            return;
        }
        match ensure_under(Path::new("/proc/sys")) {
            Ok(true) => warn!("route_localnet was reset; set it to 1 again"),
            Ok(false) => {}
            Err(e) => warn!(error = %e, "cannot check route_localnet"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_only_when_not_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SETTING);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "0\n").unwrap();
        assert!(ensure_under(dir.path()).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "1");
        assert!(!ensure_under(dir.path()).unwrap());
        assert!(ensure_under(&dir.path().join("missing")).is_err());
    }
}
