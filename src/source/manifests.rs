//! `--manifests DIR`: Services and EndpointSlices from YAML/JSON files, so kproxy runs
//! without an API server (demos, tests, benchmarks, static setups), and this node's zone,
//! addresses and pod CIDRs from a `v1 Node` named after it.
//!
//! Every `*.yaml`, `*.yml` and `*.json` file directly in DIR is read (hidden and backup
//! files are not). A file may hold several YAML documents and `List`s; `v1` Services and
//! `discovery.k8s.io/v1` EndpointSlices are used, and the `v1` Node whose name is this node's
//! (others are ignored); other kinds are ignored. Objects without a
//! namespace are in `default`. A bad document or object is skipped with one warning naming
//! the file, line and object, and counted in `kproxy_rejected_objects_total`; it never hides
//! the rest of its file. An object defined in two files comes from the file that sorts last.

mod dir;
mod documents;
mod limits;
#[cfg(test)]
mod tests;
mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use crate::metrics::Metrics;
use crate::model::{self, ServiceName, SliceName};

pub use dir::is_manifest_name;
pub use watch::run;

/// Everything a manifest directory holds, after validation; the objects are shared with
/// the directory cache, not copied.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub services: HashMap<ServiceName, Arc<model::Service>>,
    pub slices: HashMap<SliceName, Arc<model::EndpointSlice>>,
    /// This node's Node object, if the directory has one.
    pub node: Option<model::NodeInfo>,
}

/// Why the manifest source stopped. Bad files are never an error (they are skipped); only
/// a directory that cannot be read at start-up is.
#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("cannot read manifest directory {dir}: {source}")]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("manifest directory scan panicked: {0}")]
    ScanPanicked(#[source] tokio::task::JoinError),
}

/// Reads DIR once (the complete snapshot), with the Node named `node_name`.
pub fn load_dir(dir: &Path, node_name: &str, metrics: &Metrics) -> Result<Snapshot, ManifestError> {
    let mut state = dir::DirState::new(dir.to_path_buf(), node_name);
    state
        .rescan(metrics)
        .map_err(|source| ManifestError::ReadDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    Ok(state.snapshot())
}
