//! Tiny TCP and UDP servers that answer with their name and the client address they saw,
//! so a test knows which backend it reached and whether it was masqueraded.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::netns::Netns;

/// Echo servers of one pod; stopped when dropped.
pub struct EchoServer {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl EchoServer {
    /// Serves TCP and UDP on `port` in `ns`, answering `"<name> <client-ip>\n"`. TCP
    /// connections stay open and answer `pong` to each line, for long-lived connection tests.
    pub fn start(ns: &Netns, name: &str, ip: Ipv4Addr, port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let addr = SocketAddrV4::new(ip, port);
        let (tcp, udp) = ns.run_in(move || {
            let tcp = TcpListener::bind(addr).expect("bind tcp");
            tcp.set_nonblocking(true).unwrap();
            let udp = UdpSocket::bind(addr).expect("bind udp");
            udp.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            (tcp, udp)
        });
        let mut threads = Vec::new();
        let (n, s) = (name.to_string(), stop.clone());
        threads.push(std::thread::spawn(move || serve_tcp(tcp, &n, &s)));
        let (n, s) = (name.to_string(), stop.clone());
        threads.push(std::thread::spawn(move || serve_udp(udp, &n, &s)));
        Self { stop, threads }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve_tcp(listener: TcpListener, name: &str, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((mut conn, peer)) => {
                let _ = conn.set_nonblocking(false);
                let greeting = format!("{name} {}\n", peer.ip());
                let _ = conn.write_all(greeting.as_bytes());
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                    let mut line = String::new();
                    while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                        let _ = conn.write_all(b"pong\n");
                        line.clear();
                    }
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve_udp(socket: UdpSocket, name: &str, stop: &AtomicBool) {
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::SeqCst) {
        if let Ok((_, peer)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(format!("{name} {}\n", peer.ip()).as_bytes(), peer);
        }
    }
}

/// `ip:port` as a socket address.
pub fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

/// What a client got back: the backend's name and the source address the backend saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub backend: String,
    pub seen_client: Ipv4Addr,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Reply(Reply),
    Refused,
    /// No answer in time (dropped, or nothing listening).
    Timeout,
    Other(String),
}

fn parse_reply(text: &str) -> Outcome {
    let mut words = text.split_whitespace();
    match (words.next(), words.next().and_then(|w| w.parse().ok())) {
        (Some(backend), Some(seen_client)) => Outcome::Reply(Reply {
            backend: backend.to_string(),
            seen_client,
        }),
        _ => Outcome::Other(format!("unexpected reply {text:?}")),
    }
}

/// One TCP connection from inside `ns`; returns the greeting.
pub fn tcp_request(ns: &Netns, dst: SocketAddr) -> Outcome {
    ns.run_in(
        move || match TcpStream::connect_timeout(&dst, Duration::from_secs(2)) {
            Ok(mut conn) => {
                conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut buf = [0u8; 128];
                match conn.read(&mut buf) {
                    Ok(n) => parse_reply(&String::from_utf8_lossy(&buf[..n])),
                    Err(e) => Outcome::Other(e.to_string()),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Outcome::Refused,
            Err(e)
                if e.kind() == std::io::ErrorKind::TimedOut
                    || e.kind() == std::io::ErrorKind::WouldBlock =>
            {
                Outcome::Timeout
            }
            Err(e) => Outcome::Other(e.to_string()),
        },
    )
}

/// One UDP request from inside `ns`.
pub fn udp_request(ns: &Netns, dst: SocketAddr) -> Outcome {
    ns.run_in(move || {
        let socket = UdpSocket::bind("0.0.0.0:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        socket.send_to(b"hello", dst).expect("send");
        let mut buf = [0u8; 128];
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => parse_reply(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Outcome::Refused,
            Err(_) => Outcome::Timeout,
        }
    })
}

/// An open TCP connection made from inside `ns`, for tests of established connections.
pub struct OpenConnection {
    pub greeting: Reply,
    conn: TcpStream,
}

impl OpenConnection {
    pub fn open(ns: &Netns, dst: SocketAddr) -> Self {
        let conn = ns.run_in(move || {
            TcpStream::connect_timeout(&dst, super::metrics::scaled(Duration::from_secs(2)))
                .expect("connect")
        });
        conn.set_read_timeout(Some(super::metrics::scaled(Duration::from_secs(2))))
            .unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).expect("greeting");
        let Outcome::Reply(greeting) = parse_reply(&line) else {
            panic!("bad greeting {line:?}")
        };
        Self { greeting, conn }
    }

    /// Closes the connection with a RST (SO_LINGER 0) instead of a FIN, so that neither end
    /// (nor IPVS, which keeps a closed connection 2 minutes in TIME_WAIT) lingers on it.
    pub fn reset(self) {
        let linger = nix::libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        nix::sys::socket::setsockopt(&self.conn, nix::sys::socket::sockopt::Linger, &linger)
            .expect("SO_LINGER");
    }

    /// Whether the connection still carries traffic both ways.
    pub fn ping(&mut self) -> bool {
        if self.conn.write_all(b"ping\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 5];
        self.conn.read_exact(&mut buf).is_ok() && &buf == b"pong\n"
    }
}

/// Backends reached by `n` new connections, with the client address each one saw.
pub fn backends(ns: &Netns, dst: SocketAddr, n: usize, udp: bool) -> Vec<(String, Ipv4Addr)> {
    (0..n)
        .map(|_| {
            let outcome = if udp {
                udp_request(ns, dst)
            } else {
                tcp_request(ns, dst)
            };
            match outcome {
                Outcome::Reply(r) => (r.backend, r.seen_client),
                other => panic!("request to {dst} failed: {other:?}"),
            }
        })
        .collect()
}

/// The backends' names, without repeats.
pub fn names(replies: &[(String, Ipv4Addr)]) -> BTreeSet<String> {
    replies.iter().map(|(b, _)| b.clone()).collect()
}
