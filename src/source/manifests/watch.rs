//! Keeps watching the directory: inotify events (through `notify`) name the files to
//! re-check at once, and a periodic full rescan catches whatever events missed (queue
//! overflow, network filesystems, a watch that could not be set up).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{Notify, mpsc};

use super::dir::{DirState, ObjectKey, is_manifest_name};
use super::{ManifestError, Snapshot};
use crate::metrics::Metrics;
use crate::model::{Change, EndpointSlice, NodeInfo, Service, ServiceName, SliceName};
use crate::source::snapshot::Reported;

/// Full rescan period, whether or not events arrive.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// After an event, wait until the directory has been quiet this long (an editor's write,
/// chmod and rename come as a burst) so that one rescan sees the finished state...
const SETTLE: Duration = Duration::from_millis(5);
/// ...but never longer than this, so that a file written continuously is still picked up.
const MAX_SETTLE: Duration = Duration::from_millis(50);

/// Runs until the receiver is dropped: sends the initial snapshot as `NodeUpdated` (when
/// the directory has a Node named `node_name`), `ServiceUpdated` and `SliceUpdated`, then
/// `InitialSyncDone`, then, whenever files are added,
/// edited, renamed or deleted, exactly the changes that lead to the new snapshot. Fails only
/// when DIR cannot be read at start-up; later read failures keep the last state and are
/// retried every [`POLL_INTERVAL`].
pub async fn run(
    dir: PathBuf,
    node_name: String,
    tx: mpsc::Sender<Change>,
    metrics: Metrics,
) -> Result<(), ManifestError> {
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let pending = Arc::new(Pending::default());
    // Kept alive for the loop's lifetime; dropping it stops the inotify thread.
    let _watcher = watch(&dir, pending.clone());

    let mut source = Source {
        state: DirState::new(dir.clone(), &node_name),
        reporter: Reporter::new(&node_name),
        metrics,
    };
    let (returned, initial) = in_background(source, |s| {
        s.state.rescan(&s.metrics)?;
        Ok(s.reporter.initial(s.state.snapshot()))
    })
    .await?;
    source = returned;
    let initial = initial.map_err(|e| ManifestError::ReadDir {
        dir: dir.clone(),
        source: e,
    })?;
    tracing::info!(dir = %dir.display(), objects = initial.len(), "manifest directory loaded");
    for change in initial.into_iter().chain([Change::InitialSyncDone]) {
        if tx.send(change).await.is_err() {
            return Ok(());
        }
    }

    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.tick().await;
    let mut failing = false;
    loop {
        let full = tokio::select! {
            () = pending.wake.notified() => {
                let burst = tokio::time::Instant::now();
                while burst.elapsed() < MAX_SETTLE
                    && tokio::time::timeout(SETTLE, pending.wake.notified()).await.is_ok()
                {}
                false
            }
            _ = poll.tick() => true,
            () = tx.closed() => return Ok(()),
        };
        let (paths, full) = pending.take(full);
        let (returned, result) = in_background(source, move |s| {
            let affected = if full {
                s.state.rescan(&s.metrics)?
            } else {
                s.state.rescan_paths(paths, &s.metrics)
            };
            Ok(s.reporter.apply(&s.state, affected))
        })
        .await?;
        source = returned;
        match result {
            Ok(changes) => {
                failing = false;
                for change in changes {
                    if tx.send(change).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(dir = %dir.display(), "cannot read manifest directory, keeping the last state: {e}");
                }
                failing = true;
            }
        }
    }
}

/// The loop's state, handed to a blocking thread for each rescan: reading and parsing
/// thousands of files is blocking work.
struct Source {
    state: DirState,
    reporter: Reporter,
    metrics: Metrics,
}

async fn in_background<T: Send + 'static>(
    mut source: Source,
    work: impl FnOnce(&mut Source) -> std::io::Result<T> + Send + 'static,
) -> Result<(Source, std::io::Result<T>), ManifestError> {
    tokio::task::spawn_blocking(move || {
        let result = work(&mut source);
        (source, result)
    })
    .await
    .map_err(ManifestError::ScanPanicked)
}

/// What inotify reported since the last rescan.
#[derive(Default)]
struct Pending {
    wake: Notify,
    work: Mutex<PendingWork>,
}

#[derive(Default)]
struct PendingWork {
    paths: HashSet<PathBuf>,
    full: bool,
}

impl Pending {
    fn add(&self, paths: impl IntoIterator<Item = PathBuf>, full: bool) {
        let mut work = self.work.lock().unwrap_or_else(|e| e.into_inner());
        work.paths.extend(paths);
        work.full |= full;
        drop(work);
        self.wake.notify_one();
    }

    /// Takes the paths to re-check and whether a full rescan is due.
    fn take(&self, full: bool) -> (Vec<PathBuf>, bool) {
        let mut work = self.work.lock().unwrap_or_else(|e| e.into_inner());
        let full = full || std::mem::take(&mut work.full);
        (work.paths.drain().collect(), full)
    }
}

/// Starts an inotify watch feeding `pending`. Without one (no inotify instances left, say)
/// the periodic rescan still works, only slower.
fn watch(dir: &Path, pending: Arc<Pending>) -> Option<notify::RecommendedWatcher> {
    let watched = dir.to_path_buf();
    let handler = move |event: notify::Result<notify::Event>| match event {
        // Opening and reading (kproxy's own rescans among them) change nothing.
        Ok(e) if matches!(e.kind, EventKind::Access(k) if k != AccessKind::Close(AccessMode::Write)) =>
            {}
        Ok(e) => {
            let mut full = e.need_rescan() || e.paths.is_empty();
            let mut paths = Vec::new();
            for path in e.paths {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                match name {
                    _ if path == watched => full = true,
                    Some(n) if is_manifest_name(&n) => paths.push(path),
                    // ConfigMap volumes swap a `..data` link: every file may have changed.
                    Some(n) if n.starts_with("..") => full = true,
                    // Temporary and unrelated files.
                    Some(_) => {}
                    None => full = true,
                }
            }
            if full || !paths.is_empty() {
                pending.add(paths, full);
            }
        }
        Err(e) => {
            tracing::debug!("manifest watch error, rescanning: {e}");
            pending.add([], true);
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(
                "cannot watch manifest directory, rescanning every {POLL_INTERVAL:?}: {e}"
            );
            return None;
        }
    };
    if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
        tracing::warn!(dir = %dir.display(), "cannot watch manifest directory, rescanning every {POLL_INTERVAL:?}: {e}");
        return None;
    }
    Some(watcher)
}

/// What was last sent downstream, to turn the directory's state into the changes that lead to it.
struct Reporter {
    services: Reported<ServiceName, Arc<Service>>,
    slices: Reported<SliceName, Arc<EndpointSlice>>,
    /// The node as last reported; starts as the bare name, as the state does.
    node: NodeInfo,
}

/// Changes grouped so that services arrive before their slices and slices go before their
/// services, each group in name order.
#[derive(Default)]
struct Batch {
    /// First: the node's zone decides the hints of the services that follow.
    node: Option<Change>,
    services: Vec<Change>,
    slices: Vec<Change>,
    slice_deletes: Vec<Change>,
    service_deletes: Vec<Change>,
}

impl Batch {
    fn into_changes(self) -> Vec<Change> {
        let mut out: Vec<Change> = self.node.into_iter().collect();
        out.extend(self.services);
        out.extend(self.slices);
        out.extend(self.slice_deletes);
        out.extend(self.service_deletes);
        out
    }
}

impl Reporter {
    fn new(node_name: &str) -> Self {
        Self {
            services: Reported::default(),
            slices: Reported::default(),
            node: bare_node(node_name),
        }
    }

    /// `NodeUpdated` when the directory's Node (or its absence: the bare name) differs
    /// from what was reported.
    fn node_change(&mut self, node: Option<&NodeInfo>) -> Option<Change> {
        let node = node.cloned().unwrap_or_else(|| bare_node(&self.node.name));
        (node != self.node).then(|| {
            self.node = node.clone();
            Change::NodeUpdated(node)
        })
    }

    /// The changes from nothing (or from what was reported) to a complete snapshot.
    fn initial(&mut self, snap: Snapshot) -> Vec<Change> {
        let node = self.node_change(snap.node.as_ref());
        let mut services = self.services.replace_all(snap.services);
        let mut slices = self.slices.replace_all(snap.slices);
        services.updated.sort_by(|a, b| a.name.cmp(&b.name));
        slices.updated.sort_by(|a, b| a.name.cmp(&b.name));
        Batch {
            node,
            services: services
                .updated
                .into_iter()
                .map(Change::ServiceUpdated)
                .collect(),
            slices: slices
                .updated
                .into_iter()
                .map(Change::SliceUpdated)
                .collect(),
            slice_deletes: slices
                .deleted
                .into_iter()
                .map(Change::SliceDeleted)
                .collect(),
            service_deletes: services
                .deleted
                .into_iter()
                .map(Change::ServiceDeleted)
                .collect(),
        }
        .into_changes()
    }

    /// The changes for objects a rescan touched; touched but unchanged objects send nothing.
    fn apply(&mut self, state: &DirState, affected: BTreeSet<ObjectKey>) -> Vec<Change> {
        let mut batch = Batch::default();
        for key in affected {
            match key {
                ObjectKey::Node => batch.node = self.node_change(state.node()),
                ObjectKey::Service(name) => match state.service(&name) {
                    Some(s) if self.services.upsert(name.clone(), s.clone()) => {
                        batch.services.push(Change::service(s.clone()));
                    }
                    Some(_) => {}
                    None if self.services.remove(&name) => {
                        batch.service_deletes.push(Change::ServiceDeleted(name))
                    }
                    None => {}
                },
                ObjectKey::Slice(name) => match state.slice(&name) {
                    Some(s) if self.slices.upsert(name.clone(), s.clone()) => {
                        batch.slices.push(Change::slice(s.clone()));
                    }
                    Some(_) => {}
                    None if self.slices.remove(&name) => {
                        batch.slice_deletes.push(Change::SliceDeleted(name))
                    }
                    None => {}
                },
            }
        }
        batch.into_changes()
    }
}

/// A node with nothing known but its name: what a removed Node object leaves.
fn bare_node(name: &str) -> NodeInfo {
    NodeInfo {
        name: name.to_string(),
        ..NodeInfo::default()
    }
}
