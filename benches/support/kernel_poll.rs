//! Watching the kernel for changes as they are published: each published change names
//! the `KUBE-SEP-` chain that appears once it is programmed; a poller (on a thread inside
//! the node's namespace) checks for the oldest missing one and records how long each took.
//! Shared by the churn bench and the side-by-side bench against kube-proxy.

use std::collections::VecDeque;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A change to look for in the kernel.
pub struct Probe {
    pub chain: String,
    pub published: Instant,
}

/// What the poller saw.
#[derive(Default)]
pub struct Seen {
    pub latencies: Vec<Duration>,
    /// Changes whose chain never appeared within [`PROBE_TIMEOUT`].
    pub lost: usize,
    pub checks: usize,
    pub check_time: Duration,
}

/// How long one change may take to appear before it counts as lost.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Polls the kernel for each probe's chain in order: a sync programs changes in the order
/// they were made, so while the oldest is missing the newer ones are too.
pub fn poll_kernel(rx: mpsc::Receiver<Probe>, program: &str, pause: Duration) -> Seen {
    let mut seen = Seen::default();
    let mut queue: VecDeque<Probe> = VecDeque::new();
    let mut open = true;
    loop {
        open = open && drain(&rx, &mut queue);
        let Some(front) = queue.front() else {
            if !open {
                return seen;
            }
            match rx.recv_timeout(pause) {
                Ok(p) => queue.push_back(p),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => open = false,
            }
            continue;
        };
        let started = Instant::now();
        let present = chain_exists(program, &front.chain);
        let now = Instant::now();
        seen.checks += 1;
        seen.check_time += now - started;
        if present {
            seen.latencies.push(now - front.published);
            queue.pop_front();
            continue;
        }
        if now - front.published > PROBE_TIMEOUT {
            eprintln!("lost: {} never appeared", front.chain);
            seen.lost += 1;
            queue.pop_front();
            continue;
        }
        std::thread::sleep(pause);
    }
}

/// Moves every probe already sent into `queue`; returns whether more may come.
fn drain(rx: &mpsc::Receiver<Probe>, queue: &mut VecDeque<Probe>) -> bool {
    loop {
        match rx.try_recv() {
            Ok(p) => queue.push_back(p),
            Err(mpsc::TryRecvError::Empty) => return true,
            Err(mpsc::TryRecvError::Disconnected) => return false,
        }
    }
}

/// `iptables -t nat -S CHAIN` succeeds only when the chain exists.
pub fn chain_exists(program: &str, chain: &str) -> bool {
    Command::new(program)
        .args(["-w", "5", "-t", "nat", "-S", chain])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
