//! Why a sync failed, with the kernel client's own error as the source.

use std::io;

use thiserror::Error;

use super::ipvs::handle::IpvsError;
use super::ipvs::link::LinkError;
use crate::ipset::IpsetError;
use crate::netfilter::iptables::runner::RunnerError;

/// Why a sync failed. Every failure is retryable: the sync loop retries with a full sync.
#[derive(Debug, Error)]
pub enum SyncError {
    /// iptables-restore refused a write, or could not run.
    #[error("iptables-restore failed: {0}")]
    Restore(#[source] RunnerError),
    /// iptables-save could not read the rules back.
    #[error("reading kernel state failed: {0}")]
    Read(#[source] RunnerError),
    #[error("kernel operation failed: {0}")]
    Ipvs(#[source] IpvsError),
    /// IPVS refused operations of a partial sync: the kernel differs from what kproxy
    /// remembers. `op` is the first refused one.
    #[error("kernel operation failed: {op}: {source} ({refused} operations refused)")]
    IpvsRefused {
        op: String,
        refused: usize,
        #[source]
        source: IpvsError,
    },
    /// kube-ipvs0 or the node's addresses (rtnetlink).
    #[error("kernel operation failed: {0}")]
    Link(#[source] LinkError),
    /// Opening the ipset socket.
    #[error("kernel operation failed: ipset: {0}")]
    IpsetOpen(#[source] IpsetError),
    #[error("kernel operation failed: ipset {set}: {source}")]
    Ipset {
        set: &'static str,
        #[source]
        source: IpsetError,
    },
    #[error("kernel operation failed: setting sysctls: {0}")]
    Sysctl(#[source] io::Error),
    /// nf_tables refused a batch or could not be read (nftables mode).
    #[error("kernel operation failed: {0}")]
    Nftables(#[source] crate::nftables::client::NftError),
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn the_clients_error_is_the_source_and_stays_typed() {
        let refused = RunnerError::Failed {
            program: "iptables-restore".into(),
            line: Some(3),
            stderr: "bad rule".into(),
        };
        let e = SyncError::Restore(refused.clone());
        let source = e.source().and_then(|s| s.downcast_ref::<RunnerError>());
        assert_eq!(source, Some(&refused));
        assert_eq!(
            e.to_string(),
            "iptables-restore failed: iptables-restore failed at input line 3: bad rule"
        );
        let e = SyncError::Sysctl(io::Error::other("read-only"));
        assert!(e.source().is_some_and(|s| s.is::<io::Error>()));
    }
}
