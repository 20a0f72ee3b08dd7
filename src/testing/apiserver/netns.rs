//! The test API server listening inside a named network namespace, so that kproxy run
//! with `--netns NAME` reaches it at 127.0.0.1 of that namespace. Shared by the API
//! end-to-end tests and the churn bench.
//!
//! A socket belongs to the namespace it was created in, whichever thread uses it later. A
//! dedicated thread enters the namespace and runs a current-thread tokio runtime, whose
//! `block_on` binds the server's listener (in that thread, so in that namespace) and then
//! drives it. The caller talks to the server through its handle, in memory.

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::thread::JoinHandle;

use nix::sched::{CloneFlags, setns};
use tokio::sync::oneshot;

use super::TestApiServer;
use crate::sys::netns;

pub struct NetnsApiServer {
    server: Option<TestApiServer>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl NetnsApiServer {
    /// Starts a server on 127.0.0.1 (free port) inside the existing namespace `name`
    /// (as `ip netns` names them). Fails if the namespace cannot be entered.
    pub fn start(name: &str) -> io::Result<Self> {
        let path = netns::path(name);
        let (started_tx, started_rx) = std::sync::mpsc::channel::<io::Result<TestApiServer>>();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let entered = File::open(&path)
                .and_then(|file| setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from));
            if let Err(e) = entered {
                let msg = format!("entering {}: {e}", path.display());
                let _ = started_tx.send(Err(io::Error::new(e.kind(), msg)));
                return;
            }
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = started_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let server = TestApiServer::start().await;
                let ok = server.is_ok();
                if started_tx.send(server).is_err() || !ok {
                    return;
                }
                // Serve until the handle is dropped.
                let _ = stopped.await;
            });
        });
        let server = started_rx.recv().map_err(|_| {
            io::Error::other("the test API server thread ended before starting the server")
        })??;
        Ok(Self {
            server: Some(server),
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Deref for NetnsApiServer {
    type Target = TestApiServer;
    fn deref(&self) -> &TestApiServer {
        self.server.as_ref().expect("present until dropped")
    }
}

impl Drop for NetnsApiServer {
    fn drop(&mut self) {
        // The server first (it ends its watches), then the runtime serving it.
        drop(self.server.take());
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_namespace_is_an_error_naming_it() {
        let err = NetnsApiServer::start("kproxy-no-such-namespace-for-this-test")
            .err()
            .expect("no such namespace");
        assert!(
            err.to_string()
                .contains("/run/netns/kproxy-no-such-namespace-for-this-test"),
            "{err}"
        );
    }
}
