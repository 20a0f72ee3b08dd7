//! Probes: new connections (TCP) or requests (UDP) from a source namespace to an address,
//! sampled on both twins until their outcomes can be compared.
//!
//! One request ("shot") is made by a worker thread that enters the source's namespace
//! (`setns`) just before opening its socket; sockets stay in the namespace they were
//! opened in, so one thread can alternate between the twins. TCP sockets are closed with
//! a reset (no TIME_WAIT), UDP sockets are connected (so an ICMP port unreachable reads
//! as "refused", as a REJECT rule means).

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sched::{CloneFlags, setns};

/// What one request got.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shot {
    /// The backend that answered and the client address it saw.
    Reply(String, Ipv4Addr),
    Refused,
    /// An ICMP error other than port unreachable (e.g. host unreachable).
    Unreachable(String),
    /// No answer within the timeout.
    Timeout,
    /// The sending host's own rules dropped or rejected it (`send` fails with EPERM):
    /// UDP from the node to a service without endpoints.
    Filtered,
    Other(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

/// Enters the network namespace `ns` on the calling thread (a worker the caller owns).
pub fn enter(ns: &File) {
    setns(ns, CloneFlags::CLONE_NEWNET).expect("entering a probe source's namespace");
}

/// Requests made so far (for the report).
pub static SHOTS: AtomicUsize = AtomicUsize::new(0);

/// One request from the namespace `ns` to `dst`.
pub fn shot(ns: &File, proto: Proto, dst: SocketAddrV4, timeout: Duration) -> Shot {
    SHOTS.fetch_add(1, Ordering::Relaxed);
    enter(ns);
    match proto {
        Proto::Tcp => tcp(dst, timeout),
        Proto::Udp => udp(dst, timeout),
    }
}

fn classify(e: &std::io::Error) -> Shot {
    match e.kind() {
        ErrorKind::ConnectionRefused => Shot::Refused,
        ErrorKind::TimedOut | ErrorKind::WouldBlock => Shot::Timeout,
        ErrorKind::PermissionDenied => Shot::Filtered,
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            Shot::Unreachable(e.kind().to_string())
        }
        _ => Shot::Other(e.to_string()),
    }
}

fn parse(buf: &[u8]) -> Shot {
    let text = String::from_utf8_lossy(buf);
    let mut words = text.split_whitespace();
    match (words.next(), words.next().and_then(|w| w.parse().ok())) {
        (Some(backend), Some(seen)) => Shot::Reply(backend.to_string(), seen),
        _ => Shot::Other(format!("unexpected reply {text:?}")),
    }
}

/// How long a connected TCP probe waits for the echo server's greeting.
const GREETING: Duration = Duration::from_secs(3);

fn tcp(dst: SocketAddrV4, timeout: Duration) -> Shot {
    let conn = match TcpStream::connect_timeout(&SocketAddr::V4(dst), timeout) {
        Ok(conn) => conn,
        Err(e) => return classify(&e),
    };
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = nix::sys::socket::setsockopt(&conn, nix::sys::socket::sockopt::Linger, &linger);
    // A connected socket has passed the rules; only a loaded machine delays the greeting.
    let _ = conn.set_read_timeout(Some(timeout.max(GREETING)));
    let mut buf = [0u8; 128];
    match (&conn).read(&mut buf) {
        Ok(0) => Shot::Other("closed without a greeting".into()),
        Ok(n) => parse(&buf[..n]),
        Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            Shot::Other("connected, no greeting".into())
        }
        Err(e) => Shot::Other(format!("connected, then {e}")),
    }
}

fn udp(dst: SocketAddrV4, timeout: Duration) -> Shot {
    let socket = UdpSocket::bind("0.0.0.0:0").expect("a UDP socket");
    if let Err(e) = socket.connect(dst) {
        return classify(&e);
    }
    socket
        .set_read_timeout(Some(timeout))
        .expect("read timeout");
    if let Err(e) = socket.send(b"probe") {
        return classify(&e);
    }
    let mut buf = [0u8; 128];
    match socket.recv(&mut buf) {
        Ok(n) => parse(&buf[..n]),
        Err(e) => classify(&e),
    }
}

/// Forgets every ClientIP affinity in the namespace `node` (the `recent` lists of
/// `--name KUBE-SEP-…`), so the next connection picks a backend afresh.
pub fn forget_affinity(node: &File) {
    enter(node);
    let Ok(lists) = std::fs::read_dir("/proc/thread-self/net/xt_recent") else {
        return;
    };
    for list in lists.flatten() {
        let _ = std::fs::write(list.path(), "/\n");
    }
}

/// What a probe's requests got, taken together.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Every request was answered: by these backends, each seeing this client address.
    /// `sticky` (ClientIP affinity only): whether repeated requests stayed on one backend.
    Answered {
        backends: BTreeSet<(String, Ipv4Addr)>,
        sticky: Option<bool>,
    },
    Refused,
    Unreachable(String),
    Dropped,
    /// Dropped or rejected by the sending host's own rules.
    Filtered,
    /// Different kinds of result.
    Mixed(BTreeSet<Shot>),
}

impl Outcome {
    pub fn of(shots: &[Shot], sticky: Option<bool>) -> Self {
        let kinds: BTreeSet<Shot> = shots.iter().cloned().collect();
        let replies: BTreeSet<(String, Ipv4Addr)> = shots
            .iter()
            .filter_map(|s| match s {
                Shot::Reply(b, seen) => Some((b.clone(), *seen)),
                _ => None,
            })
            .collect();
        if shots.iter().all(|s| matches!(s, Shot::Reply(..))) {
            return Outcome::Answered {
                backends: replies,
                sticky,
            };
        }
        match kinds.iter().next() {
            Some(only) if kinds.len() == 1 => match only {
                Shot::Refused => Outcome::Refused,
                Shot::Timeout => Outcome::Dropped,
                Shot::Filtered => Outcome::Filtered,
                Shot::Unreachable(why) => Outcome::Unreachable(why.clone()),
                _ => Outcome::Mixed(kinds),
            },
            _ => Outcome::Mixed(kinds),
        }
    }

    /// Records whether the backend stayed the same (see [`stickiness`]).
    pub fn set_sticky(&mut self, value: Option<bool>) {
        if let Outcome::Answered { sticky, .. } = self {
            *sticky = value;
        }
    }

    /// How many backends answered.
    pub fn backends(&self) -> usize {
        match self {
            Outcome::Answered { backends, .. } => backends.len(),
            _ => 0,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Answered { backends, sticky } => {
                let list: Vec<String> = backends.iter().map(|(b, s)| format!("{b}←{s}")).collect();
                write!(f, "answered by {}", list.join(" "))?;
                match sticky {
                    Some(true) => write!(f, " (sticky)"),
                    Some(false) => write!(f, " (NOT sticky)"),
                    None => Ok(()),
                }
            }
            Outcome::Refused => write!(f, "refused"),
            Outcome::Unreachable(why) => write!(f, "unreachable ({why})"),
            Outcome::Dropped => write!(f, "dropped"),
            Outcome::Filtered => write!(f, "filtered on the sending host"),
            Outcome::Mixed(shots) => write!(f, "mixed {shots:?}"),
        }
    }
}

/// Where a probe goes, as both twins see it (the same addresses on both).
#[derive(Clone, Debug)]
pub struct Target {
    pub proto: Proto,
    pub dst: SocketAddrV4,
    /// Index into each twin's `sources` (pod-0, node, client).
    pub source: usize,
    /// At most this many backends can answer (the service's distinct endpoint pods).
    pub max_backends: usize,
    /// The service has ClientIP affinity.
    pub affinity: bool,
}

/// One side of a probe: the source namespace and the node (for affinity resets).
pub struct Side<'a> {
    pub source: &'a File,
    pub node: &'a File,
}

/// How many requests settle a probe whose sides agree: enough that a backend of `n`
/// equally likely ones is missed on both sides with negligible probability.
fn budget(n: usize) -> usize {
    match n {
        0 => 2,
        1 => 3,
        n => (n as f64 * (1000.0 * n as f64).ln()).ceil() as usize,
    }
}

/// The most requests per side before two different outcomes count as a difference.
const HARD_CAP: usize = 80;

/// Whether three requests in a row (nothing reset) stayed on one backend, per side; `None`
/// where they were not all answered. Run before any probe resets affinities.
pub fn stickiness(target: &Target, sides: &[Side; 2], timeout: Duration) -> [Option<bool>; 2] {
    [&sides[0], &sides[1]].map(|side| {
        let shots: Vec<Shot> = (0..3)
            .map(|_| shot(side.source, target.proto, target.dst, timeout))
            .collect();
        let answered = shots.iter().all(|s| matches!(s, Shot::Reply(..)));
        let backends: BTreeSet<&Shot> = shots.iter().collect();
        answered.then_some(backends.len() == 1)
    })
}

/// Samples `target` on both sides until they agree with enough requests, or until it is
/// clear they differ. For affinity probes each request follows a reset of the node's
/// affinities, so that the backends can be seen ([`stickiness`] checks the affinity).
pub fn compare(target: &Target, sides: &[Side; 2], timeout: Duration) -> [Outcome; 2] {
    let mut shots: [Vec<Shot>; 2] = [Vec::new(), Vec::new()];
    let budget = budget(target.max_backends);
    loop {
        for (k, side) in sides.iter().enumerate() {
            if target.affinity {
                forget_affinity(side.node);
            }
            shots[k].push(shot(side.source, target.proto, target.dst, timeout));
        }
        let outcomes = [Outcome::of(&shots[0], None), Outcome::of(&shots[1], None)];
        let n = shots[0].len();
        let settled = outcomes[0] == outcomes[1]
            && match &outcomes[0] {
                Outcome::Answered { .. } => {
                    outcomes[0].backends() >= target.max_backends || n >= budget
                }
                _ => n >= 2,
            };
        // Only sets of backends need many requests to tell apart.
        let both_answered = outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Answered { .. }));
        let clearly_different = !both_answered && n >= 4;
        if settled || clearly_different || n >= HARD_CAP {
            return outcomes;
        }
    }
}
