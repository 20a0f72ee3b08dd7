#!/usr/bin/env bash
# Regenerates src/conntrack/fixtures.rs: runs the real `conntrack` tool (conntrack-tools)
# under strace inside a throwaway network namespace and turns the hex dumps of its netlink
# traffic into Rust byte arrays. The entries are made with `conntrack -I`, so every tuple
# is known. Needs root, conntrack, strace, iproute2 and python3.
# Usage: scripts/capture-conntrack-fixtures.sh > src/conntrack/fixtures.rs
set -euo pipefail
ns="kproxy-conntrack-capture-$$"
dir=$(mktemp -d)
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$dir"' EXIT
ip netns add "$ns"
ct() { ip netns exec "$ns" conntrack "$@" >/dev/null 2>&1; }
n=0
cap() { # cap ARGS...: one conntrack command, its strace log in $dir/NN.txt
  n=$((n + 1))
  f=$(printf '%s/%02d.txt' "$dir" "$n")
  echo "# conntrack $*" > "$f"
  # -D opens a second socket (fd 4) for the deletes.
  ip netns exec "$ns" strace -qq -e trace=sendto,recvmsg -e write=3,4 -e read=3,4 conntrack "$@" >> "$f" 2>&1 || true
}
# A pod's DNS query DNATed from the cluster IP 10.96.0.10:53 to the endpoint 10.244.1.5:5353.
ct -I -p udp -s 10.244.1.2 -d 10.96.0.10 --sport 40000 --dport 53 \
  --reply-src 10.244.1.5 --reply-dst 10.244.1.2 --reply-port-src 5353 --reply-port-dst 40000 -t 120
# The same in conntrack zone 7.
ct -I -w 7 -p udp -s 10.244.1.3 -d 10.96.0.10 --sport 40000 --dport 53 \
  --reply-src 10.244.1.5 --reply-dst 10.244.1.3 --reply-port-src 5353 --reply-port-dst 40000 -t 120
# SCTP to 10.96.0.11:9000 DNATed to 10.244.1.6:9000.
ct -I -p sctp -s 10.244.1.2 -d 10.96.0.11 --sport 40000 --dport 9000 --orig-vtag 1 --reply-vtag 2 \
  --reply-src 10.244.1.6 --reply-dst 10.244.1.2 --reply-port-src 9000 --reply-port-dst 40000 -t 120 --state ESTABLISHED
# TCP, which the reconciler leaves alone.
ct -I -p tcp -s 10.244.1.2 -d 10.96.0.12 --sport 40000 --dport 80 \
  --reply-src 10.244.1.7 --reply-dst 10.244.1.2 --reply-port-src 8080 --reply-port-dst 40000 -t 120 --state ESTABLISHED
# IPv6 UDP.
ct -I -p udp -s fd00::2 -d fd00:96::10 --sport 40000 --dport 53 \
  --reply-src fd00::5 --reply-dst fd00::2 --reply-port-src 5353 --reply-port-dst 40000 -t 120
cap -L -f ipv4                                                                    # 01
cap -L -f ipv6
cap -G -p udp -s 10.244.1.2 -d 10.96.0.10 --sport 40001 --dport 53
cap -D -p udp -s 10.244.1.2 -d 10.96.0.10 --sport 40000 --dport 53
cap -D -w 7 -p udp -s 10.244.1.3 -d 10.96.0.10 --sport 40000 --dport 53          # 05
python3 - "$dir" <<'PY'
import sys
d = sys.argv[1]
def blocks(n):
    lines = open(f"{d}/{n}.txt").read().splitlines()
    out = []
    for l in lines[1:]:
        if l.startswith(('sendto(', 'recvmsg(')):
            out.append(bytearray())
        elif l.startswith(' | ') and out:
            out[-1] += bytes.fromhex(l[10:58].replace(' ', ''))
    return out
spec = [
 ("DUMP_IPV4_REQUEST", "01", [0], "`conntrack -L -f ipv4`: a dump of the IPv4 table"),
 ("DUMP_IPV4_REPLY", "01", None, "the kernel's dump for DUMP_IPV4_REQUEST (one recvmsg each, joined here): the UDP entry 10.244.1.2:40000 -> 10.96.0.10:53 answered by 10.244.1.5:5353, the TCP and SCTP entries, the UDP entry in zone 7, then NLMSG_DONE"),
 ("DUMP_IPV6_REQUEST", "02", [0], "`conntrack -L -f ipv6`"),
 ("DUMP_IPV6_REPLY", "02", None, "the kernel's dump for DUMP_IPV6_REQUEST: the UDP entry [fd00::2]:40000 -> [fd00:96::10]:53 answered by [fd00::5]:5353, then NLMSG_DONE"),
 ("GET_MISSING_REQUEST", "03", [0], "`conntrack -G -p udp -s 10.244.1.2 -d 10.96.0.10 --sport 40001 --dport 53`: one entry by its original tuple (the attributes a delete by tuple carries)"),
 ("GET_MISSING_REPLY", "03", [1], "the kernel's reply to GET_MISSING_REQUEST: -ENOENT with the request echoed"),
 ("DELETE_UDP", "04", [2], "`conntrack -D -p udp -s 10.244.1.2 -d 10.96.0.10 --sport 40000 --dport 53`: the delete it sends for the entry the dump found (the dumped attributes sent back)"),
 ("DELETE_UDP_ACK", "04", [3], "the kernel's ACK of DELETE_UDP"),
 ("DELETE_ZONE", "05", [2], "`conntrack -D -w 7 -p udp -s 10.244.1.3 ...`: the delete of the zone-7 entry"),
]
print("//! Netlink messages captured from the real `conntrack` tool (conntrack-tools v1.4.7)")
print("//! talking to kernel 6.18 inside a throwaway network namespace, with")
print("//! `ip netns exec NS strace -e trace=sendto,recvmsg -e write=3,4 -e read=3,4 conntrack ...`;")
print("//! the entries were made with `conntrack -I`. `scripts/capture-conntrack-fixtures.sh`")
print("//! repeats the capture. Each constant names the command.")
for name, n, idx, doc in spec:
    bs = blocks(n)
    if idx is None:  # every recvmsg after the request
        idx = list(range(1, len(bs)))
    data = bytearray()
    for i in idx:
        data += bs[i]
    print()
    print(f"/// {doc}.")
    print(f"pub(crate) const {name}: &[u8] = &[")
    for o in range(0, len(data), 16):
        print("    " + " ".join(f"0x{b:02x}," for b in data[o:o + 16]))
    print("];")
PY
