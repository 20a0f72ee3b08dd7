//! How the churn bench publishes a change so that kproxy sees it. The manifest directory is
//! one way; the API-server variant implements the same trait (`kproxy::testing::apiserver`).

use std::io;

use kproxy::testing::scale::Cluster;

/// A place kproxy reads Services and EndpointSlices from, which the churn bench writes to.
pub trait ChangeSource {
    /// Short name for the report (`manifests`, `apiserver`).
    fn name(&self) -> &'static str;
    /// kproxy's arguments that point it at this source.
    fn kproxy_args(&self) -> Vec<String>;
    /// Makes the current objects of service `i` of `cluster` visible to kproxy. The change
    /// counts as made when this returns.
    fn publish(&mut self, cluster: &Cluster, i: usize) -> io::Result<()>;
}

/// A `--manifests` directory: one file per 100 services, rewritten atomically per change.
pub struct ManifestDir {
    dir: tempfile::TempDir,
}

impl ManifestDir {
    pub fn new(cluster: &Cluster) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        cluster.write_manifests(dir.path())?;
        Ok(Self { dir })
    }
}

impl ChangeSource for ManifestDir {
    fn name(&self) -> &'static str {
        "manifests"
    }

    fn kproxy_args(&self) -> Vec<String> {
        vec!["--manifests".into(), self.dir.path().display().to_string()]
    }

    fn publish(&mut self, cluster: &Cluster, i: usize) -> io::Result<()> {
        cluster.rewrite_manifest_of(self.dir.path(), i)
    }
}
