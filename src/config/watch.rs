//! kube-proxy exits when its `--config` file changes, so that the kubelet restarts it with
//! the new settings; kproxy does the same. The file's directory is watched (a ConfigMap
//! volume updates by swapping a symlink, not by writing the file), each event compares
//! the content with what was loaded, and a slow poll covers missed events.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

/// How often the content is compared when no event came.
const POLL: Duration = Duration::from_secs(10);

/// A future that completes once the content of `path` differs from its content now.
pub fn changed(path: &Path) -> std::io::Result<impl Future<Output = ()> + use<>> {
    let path = path.to_path_buf();
    let original = std::fs::read(&path)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |_event| {
        let _ = tx.send(());
    })
    .map_err(std::io::Error::other)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(std::io::Error::other)?;
    Ok(async move {
        let _watcher = watcher;
        loop {
            // An event or the poll interval, whichever first; then compare.
            let _ = tokio::time::timeout(POLL, rx.recv()).await;
            match std::fs::read(&path) {
                Ok(now) if now == original => {}
                // Changed, or gone (a ConfigMap mid-swap reads again on the next turn).
                Ok(_) => return,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_rewrite_completes_the_future_a_touch_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.conf");
        std::fs::write(&file, "mode: iptables\n").unwrap();
        let changed = changed(&file).unwrap();
        tokio::pin!(changed);
        // Same content written again: not a change.
        std::fs::write(&file, "mode: iptables\n").unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut changed)
                .await
                .is_err()
        );
        // A ConfigMap-style update: a new file renamed over the old one.
        let tmp = dir.path().join("..tmp");
        std::fs::write(&tmp, "mode: ipvs\n").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        tokio::time::timeout(Duration::from_secs(20), changed)
            .await
            .expect("the change was seen");
    }
}
