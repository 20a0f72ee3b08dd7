//! etcd for one control plane: its flags, and the few calls the tests make to it directly
//! (health, the current revision, compaction) through its JSON gateway over plain HTTP on
//! the control plane's loopback.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::testing::netns::Netns;

/// etcd's client port on the control plane's loopback.
pub const CLIENT: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2379));

/// The flags of a single-member etcd keeping its data in `data_dir`. Without fsync: the
/// data is thrown away with the test.
pub fn args(data_dir: &Path) -> Vec<String> {
    let client = format!("http://{CLIENT}");
    let peer = "http://127.0.0.1:2380";
    [
        "--name=default".to_string(),
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=default={peer}"),
        "--unsafe-no-fsync".to_string(),
        "--log-level=warn".to_string(),
    ]
    .to_vec()
}

/// Whether etcd in `netns` answers `/health` with `"health":"true"`.
pub fn healthy(netns: &Netns) -> bool {
    http(netns, "GET", "/health", None)
        .map(|(status, body)| status == 200 && body.contains("\"health\":\"true\""))
        .unwrap_or(false)
}

/// The store's current revision (the newest resourceVersion the API server can hand out).
pub fn revision(netns: &Netns) -> io::Result<u64> {
    // A range over a key nobody writes: the answer's header carries the revision.
    let (status, body) = http(netns, "POST", "/v3/kv/range", Some(&json!({"key": "AA=="})))?;
    let v: Value = serde_json::from_str(&body).map_err(io::Error::other)?;
    v["header"]["revision"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .filter(|_| status == 200)
        .ok_or_else(|| io::Error::other(format!("no revision in etcd's answer {status}: {body}")))
}

/// Compacts etcd's history up to its current revision: a watch from any older
/// resourceVersion that reaches etcd then fails with "compacted" (410 Gone to the client).
/// Returns the revision compacted to.
pub fn compact(netns: &Netns) -> io::Result<u64> {
    let rev = revision(netns)?;
    let body = json!({"revision": rev.to_string(), "physical": true});
    let (status, answer) = http(netns, "POST", "/v3/kv/compaction", Some(&body))?;
    if status != 200 {
        return Err(io::Error::other(format!(
            "etcd compaction: {status} {answer}"
        )));
    }
    Ok(rev)
}

/// One HTTP/1.0 request (so the answer is not chunked) from a socket opened in `netns`.
fn http(
    netns: &Netns,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> io::Result<(u16, String)> {
    let mut stream =
        netns.within(|| TcpStream::connect_timeout(&CLIENT, Duration::from_secs(2)))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {CLIENT}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP answer: {head}")))?;
    Ok((status, body.to_string()))
}
