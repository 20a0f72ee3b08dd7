//! The manifest directory as last read: a per-file cache of parsed objects, so a rescan
//! re-reads only files whose (mtime, size, inode) changed, and an index of which files
//! define each object, so a change costs work in proportion to what changed, not to the
//! size of the directory.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::Metadata;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Snapshot;
use super::documents::{FileObjects, parse_file};
use crate::metrics::Metrics;
use crate::model::{EndpointSlice, NodeInfo, Service, ServiceName, SliceName};

/// Files modified this recently may be modified again without their mtime moving (file
/// timestamps come from a clock that ticks every few milliseconds), so their content is
/// compared on the next scan too, as git does for "racily clean" index entries.
const RACY_WINDOW: Duration = Duration::from_millis(100);

/// An object's identity across files.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKey {
    Service(ServiceName),
    Slice(SliceName),
    /// This node's Node object.
    Node,
}

/// What identifies one version of a file without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileKey {
    mtime: SystemTime,
    /// Changes with chmod too, so a file made readable again is retried.
    ctime: (i64, i64),
    size: u64,
    dev: u64,
    inode: u64,
}

impl FileKey {
    fn of(meta: &Metadata) -> Self {
        Self {
            mtime: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            size: meta.len(),
            dev: meta.dev(),
            inode: meta.ino(),
        }
    }
}

#[derive(Debug, Default)]
struct CachedFile {
    key: Option<FileKey>,
    /// `None` when the file could not be read.
    content_hash: Option<u64>,
    /// Modified within [`RACY_WINDOW`] of the scan that read it: compare content next time.
    racy: bool,
    /// Shared with the snapshots and changes made from them.
    services: HashMap<ServiceName, Arc<Service>>,
    slices: HashMap<SliceName, Arc<EndpointSlice>>,
    /// The Node named after this node, if the file defines it.
    node: Option<NodeInfo>,
}

impl CachedFile {
    fn keys(&self) -> impl Iterator<Item = ObjectKey> + '_ {
        let services = self.services.keys().cloned().map(ObjectKey::Service);
        let slices = self.slices.keys().cloned().map(ObjectKey::Slice);
        let node = self.node.is_some().then_some(ObjectKey::Node);
        services.chain(slices).chain(node)
    }
}

#[derive(Debug)]
pub struct DirState {
    dir: PathBuf,
    /// This node's name: the one `v1 Node` of the directory kproxy reads.
    node_name: String,
    /// Keyed by a shared path: [`Self::owners`] names the same allocation for every object.
    files: BTreeMap<Arc<Path>, CachedFile>,
    /// The files defining each object, sorted; the last one wins. A sorted `Vec`, not a
    /// `BTreeSet`: nearly every object has one owner, and a set's node is ~300 bytes.
    owners: HashMap<ObjectKey, Vec<Arc<Path>>>,
    /// Manifest names whose file could not be looked at (a symlink loop) at the last full
    /// scan: logged when they first fail, not on every rescan.
    unlistable: std::collections::HashSet<PathBuf>,
}

impl DirState {
    pub fn new(dir: PathBuf, node_name: &str) -> Self {
        Self {
            dir,
            node_name: node_name.to_string(),
            files: BTreeMap::new(),
            owners: HashMap::new(),
            unlistable: std::collections::HashSet::new(),
        }
    }

    /// Brings the whole cache up to date with the directory; returns the objects that may
    /// have changed. Fails only when the directory cannot be listed.
    pub fn rescan(&mut self, metrics: &Metrics) -> io::Result<BTreeSet<ObjectKey>> {
        let now = SystemTime::now();
        let (listed, failed) = list(&self.dir)?;
        let mut unlistable = std::collections::HashSet::new();
        for (path, e) in failed {
            if !self.unlistable.contains(&path) {
                tracing::warn!("skipping manifest {}: {e}", path.display());
                metrics.reject("File", "unreadable");
            }
            unlistable.insert(path);
        }
        self.unlistable = unlistable;
        let mut affected = BTreeSet::new();
        let gone: Vec<Arc<Path>> = {
            let present: std::collections::HashSet<&Path> =
                listed.iter().map(|(p, _)| p.as_path()).collect();
            self.files
                .keys()
                .filter(|p| !present.contains(&***p))
                .cloned()
                .collect()
        };
        for path in gone {
            self.forget(&path, &mut affected);
        }
        for (path, meta) in listed {
            self.refresh(path, &meta, now, metrics, &mut affected);
        }
        Ok(affected)
    }

    /// Re-checks only these files of the directory (named by inotify events); names that
    /// are not manifest names are skipped.
    pub fn rescan_paths(
        &mut self,
        paths: impl IntoIterator<Item = PathBuf>,
        metrics: &Metrics,
    ) -> BTreeSet<ObjectKey> {
        let now = SystemTime::now();
        let mut affected = BTreeSet::new();
        for path in paths {
            // By name only: the watcher may spell the directory differently.
            let Some(name) = path
                .file_name()
                .filter(|n| is_manifest_name(&n.to_string_lossy()))
            else {
                continue;
            };
            let path = self.dir.join(name);
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => {
                    self.refresh(path, &meta, now, metrics, &mut affected)
                }
                Ok(_) => self.forget(&path, &mut affected),
                Err(e) if e.kind() == io::ErrorKind::NotFound => self.forget(&path, &mut affected),
                // Left as it was; the periodic rescan reports it.
                Err(e) => tracing::debug!("cannot stat manifest {}: {e}", path.display()),
            }
        }
        affected
    }

    /// The service as its winning file defines it.
    pub fn service(&self, name: &ServiceName) -> Option<&Arc<Service>> {
        let path = self.owners.get(&ObjectKey::Service(name.clone()))?.last()?;
        self.files.get(path)?.services.get(name)
    }

    /// The slice as its winning file defines it.
    pub fn slice(&self, name: &SliceName) -> Option<&Arc<EndpointSlice>> {
        let path = self.owners.get(&ObjectKey::Slice(name.clone()))?.last()?;
        self.files.get(path)?.slices.get(name)
    }

    /// This node's Node object as its winning file defines it.
    pub fn node(&self) -> Option<&NodeInfo> {
        let path = self.owners.get(&ObjectKey::Node)?.last()?;
        self.files.get(path)?.node.as_ref()
    }

    /// Every object, each from its winning file (shared, not copied).
    pub fn snapshot(&self) -> Snapshot {
        let mut snap = Snapshot {
            node: self.node().cloned(),
            ..Snapshot::default()
        };
        for key in self.owners.keys() {
            match key {
                ObjectKey::Service(name) => {
                    if let Some(s) = self.service(name) {
                        snap.services.insert(name.clone(), s.clone());
                    }
                }
                ObjectKey::Slice(name) => {
                    if let Some(s) = self.slice(name) {
                        snap.slices.insert(name.clone(), s.clone());
                    }
                }
                ObjectKey::Node => {}
            }
        }
        snap
    }

    /// Re-reads one file if its key changed (or it was racy) and its content did too.
    fn refresh(
        &mut self,
        path: PathBuf,
        meta: &Metadata,
        now: SystemTime,
        metrics: &Metrics,
        affected: &mut BTreeSet<ObjectKey>,
    ) {
        let key = FileKey::of(meta);
        let cached = self.files.get(path.as_path());
        if cached.is_some_and(|c| c.key == Some(key) && !c.racy) {
            return;
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            // Deleted between listing and reading.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return self.forget(&path, affected),
            Err(e) => {
                if cached.is_none_or(|c| c.key != Some(key)) {
                    tracing::warn!("skipping manifest {}: {e}", path.display());
                    metrics.reject("File", "unreadable");
                }
                let unreadable = CachedFile {
                    key: Some(key),
                    ..CachedFile::default()
                };
                return self.replace(path, unreadable, affected);
            }
        };
        let content_hash = Some(hash(&bytes));
        let racy = now
            .duration_since(key.mtime)
            .map_or(true, |age| age < RACY_WINDOW);
        if let Some(c) = self.files.get_mut(path.as_path())
            && c.content_hash == content_hash
        {
            c.key = Some(key);
            c.racy = racy;
            return;
        }
        let objects = parse_file(&path, &bytes, metrics);
        let node = this_node(&path, &objects.nodes, &self.node_name);
        let (services, slices) = index(&path, objects);
        let file = CachedFile {
            key: Some(key),
            content_hash,
            racy,
            services,
            slices,
            node,
        };
        self.replace(path, file, affected);
    }

    fn forget(&mut self, path: &Path, affected: &mut BTreeSet<ObjectKey>) {
        if let Some(old) = self.files.remove(path) {
            for key in old.keys() {
                self.disown(&key, path);
                affected.insert(key);
            }
        }
    }

    /// Installs a file's new content and updates the owner index.
    fn replace(&mut self, path: PathBuf, file: CachedFile, affected: &mut BTreeSet<ObjectKey>) {
        if let Some(old) = self.files.remove(path.as_path()) {
            for key in old.keys() {
                self.disown(&key, &path);
                affected.insert(key);
            }
        }
        let path: Arc<Path> = path.into();
        for key in file.keys() {
            let owners = self.owners.entry(key.clone()).or_default();
            if let Err(at) = owners.binary_search(&path) {
                owners.insert(at, path.clone());
            }
            if owners.len() > 1 {
                let winner = owners.last().expect("not empty");
                let others: Vec<_> = owners
                    .iter()
                    .filter(|p| *p != winner)
                    .map(|p| p.display().to_string())
                    .collect();
                tracing::warn!(
                    "{} is defined in more than one file; using the one in {} (last in sorted order), not {}",
                    describe(&key),
                    winner.display(),
                    others.join(", ")
                );
            }
            affected.insert(key);
        }
        self.files.insert(path, file);
    }

    fn disown(&mut self, key: &ObjectKey, path: &Path) {
        if let Some(owners) = self.owners.get_mut(key) {
            if let Ok(at) = owners.binary_search_by(|p| (**p).cmp(path)) {
                owners.remove(at);
            }
            if owners.is_empty() {
                self.owners.remove(key);
            }
        }
    }
}

fn describe(key: &ObjectKey) -> String {
    match key {
        ObjectKey::Service(n) => format!("Service {n}"),
        ObjectKey::Slice(n) => format!("EndpointSlice {n}"),
        ObjectKey::Node => "this node's Node".to_string(),
    }
}

/// The file's Node named `node_name` (the later one if it is there twice); Nodes of other
/// names are not this node's and are left out.
fn this_node(path: &Path, nodes: &[NodeInfo], node_name: &str) -> Option<NodeInfo> {
    let ours: Vec<&NodeInfo> = nodes.iter().filter(|n| n.name == node_name).collect();
    if ours.len() > 1 {
        tracing::warn!(
            "Node {node_name} is defined twice in {}; using the later one",
            path.display()
        );
    }
    ours.last().map(|n| (*n).clone())
}

/// A file's objects by name; within one file, too, the later definition wins.
fn index(
    path: &Path,
    objects: FileObjects,
) -> (
    HashMap<ServiceName, Arc<Service>>,
    HashMap<SliceName, Arc<EndpointSlice>>,
) {
    let mut services = HashMap::with_capacity(objects.services.len());
    for s in objects.services {
        if let Some(prev) = services.insert(s.name.clone(), Arc::new(s)) {
            tracing::warn!(
                "Service {} is defined twice in {}; using the later one",
                prev.name,
                path.display()
            );
        }
    }
    let mut slices = HashMap::with_capacity(objects.slices.len());
    for s in objects.slices {
        if let Some(prev) = slices.insert(s.name.clone(), Arc::new(s)) {
            tracing::warn!(
                "EndpointSlice {} is defined twice in {}; using the later one",
                prev.name,
                path.display()
            );
        }
    }
    (services, slices)
}

/// The manifest files of `dir`, sorted by path, with their metadata (symlinks followed, so
/// ConfigMap volumes, whose files are links into a `..data` directory, work), and the
/// manifest names that could not be looked at, with why.
type Listing = (Vec<(PathBuf, Metadata)>, Vec<(PathBuf, io::Error)>);

fn list(dir: &Path) -> io::Result<Listing> {
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !is_manifest_name(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => out.push((path, meta)),
            Ok(_) => {}
            // Gone since the listing, or a dangling link: not a manifest now.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => failed.push((path, e)),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((out, failed))
}

/// `*.yaml`, `*.yml` and `*.json`, except hidden files (editors' swap files, ConfigMap
/// internals) and backup files.
pub fn is_manifest_name(name: &str) -> bool {
    if name.starts_with('.') || name.starts_with('#') || name.ends_with('~') {
        return false;
    }
    let Some((_, ext)) = name.rsplit_once('.') else {
        return false;
    };
    matches!(ext, "yaml" | "yml" | "json")
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}
