//! `--netns NAME`: do all kernel work inside a named network namespace, the way
//! `ip netns` names them (a bind mount under /run/netns).
//!
//! A network namespace belongs to a thread, so this must run before any other thread
//! exists (before the tokio runtime starts): every thread created afterwards inherits it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, setns, unshare};
use thiserror::Error;

const NETNS_DIR: &str = "/run/netns";

#[derive(Debug, Error)]
pub enum NetnsError {
    #[error("invalid network namespace name {0:?}: use letters, digits, '-', '_' and '.'")]
    InvalidName(String),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{action} {path}: {source}")]
    Sys {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

/// Path of a named namespace, as `ip netns` keeps it.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Moves the calling thread into the named network namespace, creating it (like
/// `ip netns add`) when it does not exist. Returns whether it was created.
pub fn enter(name: &str) -> Result<bool, NetnsError> {
    let valid = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid {
        return Err(NetnsError::InvalidName(name.to_string()));
    }
    let path = path(name);
    if path.exists() {
        let file = File::open(&path).map_err(|source| NetnsError::Io {
            action: "opening",
            path: path.clone(),
            source,
        })?;
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Sys {
            action: "entering",
            path,
            source,
        })?;
        return Ok(false);
    }
    create(&path)?;
    Ok(true)
}

/// Creates a new namespace for this thread and pins it at `path` with a bind mount.
fn create(path: &Path) -> Result<(), NetnsError> {
    let io = |action, source| NetnsError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    fs::create_dir_all(NETNS_DIR).map_err(|e| io("creating the directory of", e))?;
    File::create(path).map_err(|e| io("creating", e))?;
    let sys = |action, source| NetnsError::Sys {
        action,
        path: path.to_path_buf(),
        source,
    };
    let result = unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|e| sys("creating a network namespace for", e))
        .and_then(|()| {
            mount(
                Some("/proc/thread-self/ns/net"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| sys("bind-mounting the namespace at", e))
        });
    if result.is_err() {
        let _ = fs::remove_file(path);
    }
    result
}
