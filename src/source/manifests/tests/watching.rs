//! [`run`](crate::source::manifests::run) against a real directory and real inotify.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::time::timeout;

use super::{WEB, service_yaml, write};
use crate::metrics::Metrics;
use crate::model::{Change, ServiceName, SliceName};
use crate::source::manifests::run;

/// How long a test waits for an expected change before failing.
const DEADLINE: Duration = Duration::from_secs(10);

pub(super) struct Running {
    rx: mpsc::Receiver<Change>,
    task: tokio::task::JoinHandle<()>,
    metrics: Metrics,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the source on `dir` and returns the initial changes up to `InitialSyncDone`.
pub(super) async fn start(dir: &Path) -> (Running, Vec<Change>) {
    let (tx, rx) = mpsc::channel(1024);
    let metrics = Metrics::new();
    let task = tokio::spawn({
        let (dir, metrics) = (dir.to_path_buf(), metrics.clone());
        async move {
            run(dir, super::NODE.into(), tx, metrics)
                .await
                .expect("manifest source failed")
        }
    });
    let mut running = Running { rx, task, metrics };
    let initial = running.until(|c| *c == Change::InitialSyncDone).await;
    (running, initial)
}

impl Running {
    /// Receives changes until one matches `done`; returns all of them, the match last.
    pub(super) async fn until(&mut self, done: impl Fn(&Change) -> bool) -> Vec<Change> {
        let mut seen = Vec::new();
        let wait = async {
            while let Some(change) = self.rx.recv().await {
                let last = done(&change);
                seen.push(change);
                if last {
                    return;
                }
            }
            panic!("manifest source stopped");
        };
        if timeout(DEADLINE, wait).await.is_err() {
            panic!("no expected change within {DEADLINE:?}; got {seen:#?}");
        }
        seen
    }

    /// Asserts that nothing more arrives for a while (used after the expected changes, so
    /// it only confirms there are no extra ones).
    pub(super) async fn assert_quiet(&mut self) {
        if let Ok(Some(c)) = timeout(Duration::from_millis(300), self.rx.recv()).await {
            panic!("unexpected change {c:#?}");
        }
    }
}

fn svc(name: &str) -> ServiceName {
    ServiceName::new("demo", name)
}

fn updated_port(c: &Change, name: &str, port: u16) -> bool {
    matches!(c, Change::ServiceUpdated(s) if s.name == svc(name) && s.ports[0].port == port)
}

#[tokio::test]
async fn initial_snapshot_then_initial_sync_done() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "web.yaml", WEB);
    write(
        tmp.path(),
        "db.yaml",
        &service_yaml("db", "10.96.0.5", 5432),
    );
    let (mut running, initial) = start(tmp.path()).await;
    assert_eq!(initial.len(), 4, "{initial:#?}");
    assert!(matches!(&initial[0], Change::ServiceUpdated(s) if s.name == svc("db")));
    assert!(matches!(&initial[1], Change::ServiceUpdated(s) if s.name == svc("web")));
    assert!(
        matches!(&initial[2], Change::SliceUpdated(s) if s.name == SliceName::new("demo", "web-1"))
    );
    assert_eq!(initial[3], Change::InitialSyncDone);
    running.assert_quiet().await;
}

#[tokio::test]
async fn edits_are_sent_quickly_and_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let web = write(tmp.path(), "web.yaml", WEB);
    write(
        tmp.path(),
        "db.yaml",
        &service_yaml("db", "10.96.0.5", 5432),
    );
    let (mut running, _) = start(tmp.path()).await;

    let started = Instant::now();
    std::fs::write(&web, WEB.replace("port: 80,", "port: 81,")).unwrap();
    let changes = running.until(|c| updated_port(c, "web", 81)).await;
    let latency = started.elapsed();
    assert_eq!(
        changes.len(),
        1,
        "only the edited service changes: {changes:#?}"
    );
    // The poll fallback runs every second; this is the inotify path.
    assert!(latency < Duration::from_millis(500), "took {latency:?}");
    running.assert_quiet().await;
}

#[tokio::test]
async fn deleting_a_file_deletes_its_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let web = write(tmp.path(), "web.yaml", WEB);
    write(
        tmp.path(),
        "db.yaml",
        &service_yaml("db", "10.96.0.5", 5432),
    );
    let (mut running, _) = start(tmp.path()).await;

    std::fs::remove_file(&web).unwrap();
    let changes = running
        .until(|c| matches!(c, Change::ServiceDeleted(n) if *n == svc("web")))
        .await;
    assert_eq!(
        changes,
        vec![
            Change::SliceDeleted(SliceName::new("demo", "web-1")),
            Change::ServiceDeleted(svc("web")),
        ]
    );
    running.assert_quiet().await;
}

#[tokio::test]
async fn rename_over_a_file_like_editors_do() {
    let tmp = tempfile::tempdir().unwrap();
    let web = write(tmp.path(), "web.yaml", WEB);
    let (mut running, _) = start(tmp.path()).await;

    let temp = write(
        tmp.path(),
        ".web.yaml.tmp",
        &WEB.replace("port: 80,", "port: 82,"),
    );
    std::fs::rename(&temp, &web).unwrap();
    let changes = running.until(|c| updated_port(c, "web", 82)).await;
    assert_eq!(changes.len(), 1, "{changes:#?}");

    // A new file moved in from elsewhere counts as added.
    let outside = tempfile::tempdir().unwrap();
    let db = write(
        outside.path(),
        "db.yaml",
        &service_yaml("db", "10.96.0.5", 5432),
    );
    std::fs::rename(&db, tmp.path().join("db.yaml")).unwrap_or_else(|_| {
        // Different filesystems: fall back to a copy, still an "added" file.
        std::fs::copy(&db, tmp.path().join("db.yaml")).unwrap();
    });
    running.until(|c| updated_port(c, "db", 5432)).await;
    running.assert_quiet().await;
}

#[tokio::test]
async fn invalid_documents_are_skipped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut running, initial) = start(tmp.path()).await;
    assert_eq!(initial, vec![Change::InitialSyncDone]);

    let text = format!(
        "{}---\n{}",
        service_yaml("broken", "10.96.0.300", 80),
        service_yaml("fine", "10.96.0.6", 80)
    );
    write(tmp.path(), "mixed.yaml", &text);
    running.until(|c| updated_port(c, "fine", 80)).await;
    assert_eq!(running.metrics.rejected("Service", "invalid_cluster_ip"), 1);
    running.assert_quiet().await;
}

#[tokio::test]
async fn json_and_list_files_are_watched_too() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut running, _) = start(tmp.path()).await;

    write(
        tmp.path(),
        "api.json",
        r#"{"apiVersion": "v1", "kind": "List", "items": [
             {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": "api", "namespace": "demo"},
              "spec": {"clusterIP": "10.96.0.7", "ports": [{"name": "http", "port": 8443}]}}]}"#,
    );
    running.until(|c| updated_port(c, "api", 8443)).await;
    running.assert_quiet().await;
}

#[tokio::test]
async fn configmap_volume_updates_are_seen() {
    // The kubelet's atomic writer: files are links into `..data`, itself a link to a
    // timestamped directory, swapped by renaming a new link over it.
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir(d.join("..2024_01_01")).unwrap();
    write(&d.join("..2024_01_01"), "web.yaml", WEB);
    symlink("..2024_01_01", d.join("..data")).unwrap();
    symlink("..data/web.yaml", d.join("web.yaml")).unwrap();
    let (mut running, initial) = start(d).await;
    assert_eq!(initial.len(), 3, "{initial:#?}");

    std::fs::create_dir(d.join("..2024_01_02")).unwrap();
    write(
        &d.join("..2024_01_02"),
        "web.yaml",
        &WEB.replace("port: 80,", "port: 83,"),
    );
    symlink("..2024_01_02", d.join("..data_tmp")).unwrap();
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
    let started = Instant::now();
    let changes = running.until(|c| updated_port(c, "web", 83)).await;
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "took {:?}",
        started.elapsed()
    );
    running.assert_quiet().await;
}

#[tokio::test]
async fn a_missing_directory_fails_at_start() {
    let (tx, _rx) = mpsc::channel(1);
    let err = run(
        "/nonexistent/kproxy-manifests".into(),
        super::NODE.into(),
        tx,
        Metrics::new(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/kproxy-manifests"),
        "{err}"
    );
}

#[tokio::test]
async fn rapid_edits_end_in_the_last_state() {
    let tmp = tempfile::tempdir().unwrap();
    let web = write(tmp.path(), "web.yaml", WEB);
    let (mut running, _) = start(tmp.path()).await;
    // Same-size rewrites in quick succession, some inside one timestamp tick.
    for port in 10..=60u16 {
        std::fs::write(&web, WEB.replace("port: 80,", &format!("port: {port},"))).unwrap();
    }
    running.until(|c| updated_port(c, "web", 60)).await;
    running.assert_quiet().await;
}
