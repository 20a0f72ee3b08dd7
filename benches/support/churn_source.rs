//! How the churn bench publishes a change so that kproxy sees it: a manifest directory, or
//! the in-process test API server (`kproxy::testing::apiserver`), which sends watch events.

use std::io;
use std::path::PathBuf;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use kproxy::testing::NetnsApiServer;
use kproxy::testing::objects;
use kproxy::testing::scale::{Cluster, NAMESPACE, NODE};

/// A place kproxy reads Services and EndpointSlices from, which the churn bench writes to.
pub trait ChangeSource {
    /// Short name for the report (`manifests`, `apiserver`).
    fn name(&self) -> &'static str;
    /// kproxy's arguments that point it at this source.
    fn kproxy_args(&self) -> Vec<String>;
    /// Makes the current objects of service `i` of `cluster` visible to kproxy. The change
    /// counts as made when this returns.
    fn publish(&mut self, cluster: &Cluster, i: usize) -> io::Result<()>;
    /// When a change counts as made, for the report ("from … to …").
    fn published_at(&self) -> &'static str;
}

/// Which source to use: `KPROXY_CHURN_SOURCE=manifests|apiserver` (default manifests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Manifests,
    ApiServer,
}

impl Kind {
    pub fn from_env() -> Result<Self, String> {
        let name = std::env::var("KPROXY_CHURN_SOURCE").unwrap_or_default();
        match name.trim() {
            "" | "manifests" => Ok(Kind::Manifests),
            "apiserver" => Ok(Kind::ApiServer),
            other => Err(format!(
                "KPROXY_CHURN_SOURCE={other:?}: expected manifests or apiserver"
            )),
        }
    }

    /// The source, holding all of `cluster`. The API server listens inside `netns`, where
    /// kproxy runs.
    pub fn open(self, cluster: &Cluster, netns: &str) -> io::Result<Box<dyn ChangeSource>> {
        Ok(match self {
            Kind::Manifests => Box::new(ManifestDir::new(cluster)?),
            Kind::ApiServer => Box::new(ApiServer::new(cluster, netns)?),
        })
    }
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

    fn published_at(&self) -> &'static str {
        "the atomic rename of the changed manifest"
    }
}

/// The test API server inside kproxy's namespace, read through `--kubeconfig`: the whole
/// cluster and this node's Node object are stored before kproxy starts, then each change
/// stores the service's changed objects, which the server sends as watch events.
pub struct ApiServer {
    server: NetnsApiServer,
    /// Holds the kubeconfig.
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    /// The objects last stored, by service, so that a change stores only what differs (as
    /// the EndpointSlice controller writes only changed slices).
    services: Vec<core::Service>,
    slices: Vec<Vec<discovery::EndpointSlice>>,
}

impl ApiServer {
    pub fn new(cluster: &Cluster, netns: &str) -> io::Result<Self> {
        let server = NetnsApiServer::start(netns)?;
        server.put_node(&objects::node(
            NODE,
            Some("zone-a"),
            &[("InternalIP", "192.168.100.1")],
        ));
        for (svc, slices) in cluster.services.iter().zip(&cluster.slices) {
            server.put_service(svc);
            for slice in slices {
                server.put_slice(slice);
            }
        }
        let dir = tempfile::tempdir()?;
        let kubeconfig = server.kubeconfig_file(dir.path())?;
        Ok(Self {
            server,
            _dir: dir,
            kubeconfig,
            services: cluster.services.clone(),
            slices: cluster.slices.clone(),
        })
    }
}

impl ChangeSource for ApiServer {
    fn name(&self) -> &'static str {
        "apiserver"
    }

    fn kproxy_args(&self) -> Vec<String> {
        vec!["--kubeconfig".into(), self.kubeconfig.display().to_string()]
    }

    fn publish(&mut self, cluster: &Cluster, i: usize) -> io::Result<()> {
        let name = |s: &discovery::EndpointSlice| s.metadata.name.clone().unwrap_or_default();
        if cluster.services[i] != self.services[i] {
            self.server.put_service(&cluster.services[i]);
            self.services[i] = cluster.services[i].clone();
        }
        let current = &cluster.slices[i];
        let stored = &mut self.slices[i];
        for old in stored.iter() {
            if !current.iter().any(|s| name(s) == name(old)) {
                self.server.delete_slice(NAMESPACE, &name(old));
            }
        }
        for slice in current {
            if !stored.contains(slice) {
                self.server.put_slice(slice);
            }
        }
        *stored = current.clone();
        Ok(())
    }

    fn published_at(&self) -> &'static str {
        "the test API server storing the changed EndpointSlice (its watch event is sent then)"
    }
}
