//! IPVS mode's part of `--cleanup` ([`crate::backend::cleanup`], which first removes the
//! iptables chains of every mode): IPVS virtual servers outside `--ipvs-exclude-cidrs`,
//! kube-ipvs0, and the sets. IPVS is skipped when the kernel lacks it, so this also serves
//! nodes that only ever ran iptables mode.

use ipnet::Ipv4Net;
use thiserror::Error;
use tracing::info;

use super::handle::{IpvsError, IpvsHandle};
use super::link::{DUMMY_DEVICE, LinkError, LinkHandle};
use super::sets::IpvsSet;
use crate::ipset::{IpsetError, IpsetHandle, KernelError};

#[derive(Debug, Error)]
pub enum CleanupError {
    #[error("removing IPVS virtual servers: {0}")]
    Ipvs(#[from] IpvsError),
    #[error("removing {DUMMY_DEVICE}: {0}")]
    Link(#[from] LinkError),
    #[error("removing ipsets: {0}")]
    Ipset(#[from] IpsetError),
}

/// What was removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub virtual_servers: usize,
    pub dummy_device: bool,
    pub sets: usize,
}

/// Removes IPVS mode's kernel state, after its iptables rules (which reference the sets)
/// are gone.
pub fn remove_kernel_state(exclude: &[Ipv4Net]) -> Result<Cleaned, CleanupError> {
    let mut cleaned = Cleaned::default();
    match IpvsHandle::new() {
        Ok(mut ipvs) => {
            for svc in ipvs.services()? {
                if !exclude.iter().any(|n| n.contains(&svc.addr)) {
                    ipvs.delete_service(&svc.key())?;
                    cleaned.virtual_servers += 1;
                }
            }
        }
        Err(IpvsError::Unavailable) => info!("no IPVS in this kernel; nothing to remove there"),
        Err(e) => return Err(e.into()),
    }
    let mut link = LinkHandle::new()?;
    if let Some(index) = link.link_index(DUMMY_DEVICE)? {
        link.delete_link(index)?;
        cleaned.dummy_device = true;
    }
    let mut ipset = IpsetHandle::new()?;
    for name in IpvsSet::names() {
        match ipset.destroy(name) {
            Ok(()) => cleaned.sets += 1,
            Err(e) if e.kernel_error() == Some(KernelError::NoSuchSet) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(cleaned)
}
