//! The in-process test API server, listening inside a network namespace, so that kproxy
//! run with `--netns NODE` reaches it at 127.0.0.1 of that namespace.
//!
//! A socket belongs to the namespace it was created in, whichever thread uses it later. A
//! dedicated thread enters the namespace and runs a current-thread tokio runtime, whose
//! `block_on` binds the server's listener (in that thread, so in that namespace) and then
//! drives it. The test talks to the server through its handle, in memory.

use std::ops::Deref;
use std::thread::JoinHandle;

use kproxy::testing::{RequestRecord, Resource, TestApiServer};
use tokio::sync::oneshot;

use crate::support::netns::Netns;

pub struct NetnsApiServer {
    server: Option<TestApiServer>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl NetnsApiServer {
    /// Starts a server on 127.0.0.1 (free port) inside `ns`.
    pub fn start(ns: &Netns) -> Self {
        let name = ns.name.clone();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            // This thread only; never given back to the test.
            let ns = Netns { name };
            ns.enter_current_thread();
            std::mem::forget(ns);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime for the test API server");
            runtime.block_on(async move {
                let server = TestApiServer::start()
                    .await
                    .expect("bind the test API server");
                started_tx.send(server).expect("the test is waiting");
                // Serve until the handle is dropped.
                let _ = stopped.await;
            });
        });
        let server = started_rx
            .recv()
            .expect("the test API server thread failed to start");
        Self {
            server: Some(server),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Requests for one kind of object, oldest first.
    pub fn requests_for(&self, resource: Resource) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(|r| r.resource() == Some(resource))
            .collect()
    }

    /// List (not watch) requests for one kind of object.
    pub fn lists_of(&self, resource: Resource) -> usize {
        self.requests_for(resource)
            .iter()
            .filter(|r| !r.is_watch())
            .count()
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
