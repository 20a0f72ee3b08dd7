//! Restarts under load: kproxy stopped (SIGTERM and kill -9, alternately) and started again
//! while a client opens a connection to a service every 50 ms and one long-lived
//! connection stays open. No connection fails, the long one survives, and no restart
//! rewrites a chain.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::node::{WAIT, WEB_IP, topology, wait_for_web, web_answers, write_web};
use super::{figure, scale};
use crate::support::echo::{OpenConnection, addr};
use crate::support::kproxy::{eventually, start_on_node};
use crate::support::metrics::wait_for_syncs;
use crate::support::netns::netns_available;

#[test]
fn restarts_under_client_load_fail_no_connection_and_keep_the_long_one() {
    if !netns_available(&[]) {
        return;
    }
    let restarts = scale(4, 20);
    let topo = topology();
    let dir = tempfile::tempdir().unwrap();
    write_web(dir.path());
    let start = || start_on_node(&topo.node, dir.path(), &["--proxy-mode=iptables"]);
    let mut kproxy = start();
    wait_for_syncs(&topo.node, "the first sync", WAIT, |s| s.full >= 1);
    let client = &topo.pods[1].ns;
    wait_for_web(client);
    let mut long = OpenConnection::open(client, addr(WEB_IP, 80));

    let stop = AtomicBool::new(false);
    let attempts = AtomicU32::new(0);
    // Connections tried so far, once at least `more` were tried since `since`.
    let tried = |since: u32, more: u32| {
        eventually(WAIT, "the client's connections", || {
            let n = attempts.load(Ordering::Relaxed);
            (n >= since + more).then_some(n)
        })
    };
    let failed = std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            let mut failed = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let next = Instant::now() + Duration::from_millis(50);
                failed += u32::from(!web_answers(client));
                attempts.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            failed
        });
        for i in 0..restarts {
            if i % 2 == 0 {
                kproxy.terminate();
                eventually(WAIT, "kproxy to exit after SIGTERM", || kproxy.exited());
            }
            drop(kproxy); // kill -9, when still running
            // Connections while no kproxy runs.
            let down = tried(attempts.load(Ordering::Relaxed), 2);
            kproxy = start();
            let synced =
                wait_for_syncs(&topo.node, "the restarted kproxy's first sync", WAIT, |s| {
                    s.full >= 1
                });
            assert_eq!(synced.full_written, 0, "restart {i} rewrote chains");
            assert!(
                long.ping(),
                "the long-lived connection broke at restart {i}"
            );
            // And while the new one runs.
            tried(down, 2);
        }
        stop.store(true, Ordering::Relaxed);
        load.join().expect("the client")
    });
    let attempts = attempts.load(Ordering::Relaxed);
    assert_eq!(failed, 0, "{failed} of {attempts} connections failed");
    assert!(long.ping(), "the long-lived connection broke");
    figure(&format!(
        "{restarts} restarts (SIGTERM and kill -9 alternately) under a connection every 50 ms: \
         {failed} of {attempts} connections failed, the long-lived connection survived, no \
         restart rewrote a chain"
    ));
}
