#!/usr/bin/env bash
# Regenerates src/ipset/fixtures.rs: runs the real `ipset` tool under strace inside a
# throwaway network namespace and turns the hex dumps of its netlink traffic into Rust
# byte arrays. Needs root, ipset, strace, iproute2 and python3.
# Usage: scripts/capture-ipset-fixtures.sh > src/ipset/fixtures.rs
set -euo pipefail
ns="kproxy-ipset-capture-$$"
dir=$(mktemp -d)
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$dir"' EXIT
ip netns add "$ns"
n=0
cap() { # cap ARGS...: one ipset command, its strace log in $dir/NN.txt
  n=$((n + 1))
  f=$(printf '%s/%02d.txt' "$dir" "$n")
  echo "# ipset $*" > "$f"
  ip netns exec "$ns" strace -qq -e trace=sendto,recvmsg -e write=3 -e read=3 ipset "$@" >> "$f" 2>&1 < "${STDIN:-/dev/null}" || true
}
cap create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 # 01
cap create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
cap create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
cap create ips hash:ip family inet
cap create nets hash:net family inet                                             # 05
cap add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
cap add KUBE-CLUSTER-IP 10.96.0.10,udp:53
cap add KUBE-CLUSTER-IP 10.96.0.11,sctp:9000
cap add KUBE-LOOP-BACK 10.244.1.5,tcp:8080,10.244.1.5
cap add KUBE-NODE-PORT-TCP 30080                                                 # 10
cap add ips 192.168.1.1
cap add nets 10.0.0.0/8
cap add nets 10.1.2.3/32
cap del KUBE-CLUSTER-IP 10.96.0.11,sctp:9000
cap test KUBE-CLUSTER-IP 10.96.0.1,tcp:443                                       # 15
cap test KUBE-CLUSTER-IP 10.96.0.1,tcp:444
cap add -exist KUBE-CLUSTER-IP 10.96.0.1,tcp:443
cap add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
cap list KUBE-CLUSTER-IP
cap list -n                                                                      # 20
cap list
cap create tmp hash:ip,port family inet
cap swap KUBE-CLUSTER-IP tmp
cap flush tmp
cap destroy tmp                                                                  # 25
cap destroy nosuch
cap save
printf 'add KUBE-CLUSTER-IP 10.96.0.20,tcp:80\nadd KUBE-CLUSTER-IP 10.96.0.21,udp:53\n' > "$dir/r1"
ip netns exec "$ns" ipset swap KUBE-CLUSTER-IP tmp 2>/dev/null || true
STDIN="$dir/r1" cap restore                                                      # 28
ip netns exec "$ns" ipset create bp bitmap:port range 0-1000
printf 'add bp 10\nadd bp 20\nadd bp 2000\nadd bp 30\n' > "$dir/r2"
STDIN="$dir/r2" cap restore                                                      # 29
cap create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536
cap add KUBE-LOAD-BALANCER-SOURCE-CIDR 5.6.7.8,tcp:80,203.0.113.0/24             # 31
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
 ("PROTOCOL_REQUEST", "01", [0], "the first request of every ipset command (here `ipset create KUBE-CLUSTER-IP ...`)"),
 ("PROTOCOL_REPLY", "01", [1], "the kernel's reply to PROTOCOL_REQUEST: protocol 7, minimum 6"),
 ("TYPE_HASH_IP_PORT_REQUEST", "01", [2], "`ipset create KUBE-CLUSTER-IP hash:ip,port ...` asking for the type's revisions"),
 ("TYPE_HASH_IP_PORT_REPLY", "01", [3], "the kernel's reply: hash:ip,port revisions 0..=7"),
 ("CREATE_HASH_IP_PORT", "01", [4], "`ipset create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536`"),
 ("ACK_CREATE", "01", [5], "the kernel's ACK of CREATE_HASH_IP_PORT"),
 ("CREATE_HASH_IP_PORT_IP", "02", [4], "`ipset create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536`"),
 ("CREATE_BITMAP_PORT", "03", [4], "`ipset create KUBE-NODE-PORT-TCP bitmap:port range 0-65535`"),
 ("CREATE_HASH_IP", "04", [4], "`ipset create ips hash:ip family inet`"),
 ("CREATE_HASH_NET", "05", [4], "`ipset create nets hash:net family inet`"),
 ("ADD_IP_PORT_TCP", "06", [4], "`ipset add KUBE-CLUSTER-IP 10.96.0.1,tcp:443`"),
 ("ADD_IP_PORT_UDP", "07", [4], "`ipset add KUBE-CLUSTER-IP 10.96.0.10,udp:53`"),
 ("ADD_IP_PORT_IP", "09", [4], "`ipset add KUBE-LOOP-BACK 10.244.1.5,tcp:8080,10.244.1.5`"),
 ("ADD_PORT", "10", [4], "`ipset add KUBE-NODE-PORT-TCP 30080`"),
 ("ADD_IP", "11", [4], "`ipset add ips 192.168.1.1`"),
 ("ADD_NET", "12", [4], "`ipset add nets 10.0.0.0/8`"),
 ("DEL_IP_PORT_SCTP", "14", [4], "`ipset del KUBE-CLUSTER-IP 10.96.0.11,sctp:9000`"),
 ("TEST_IP_PORT", "15", [4], "`ipset test KUBE-CLUSTER-IP 10.96.0.1,tcp:443`"),
 ("TEST_MEMBER_ACK", "15", [5], "the kernel's ACK to TEST_IP_PORT: the entry is in the set"),
 ("TEST_NOT_MEMBER_REPLY", "16", [5], "the kernel's reply to `ipset test KUBE-CLUSTER-IP 10.96.0.1,tcp:444`: -IPSET_ERR_EXIST"),
 ("ADD_EXIST", "17", [4], "`ipset add -exist KUBE-CLUSTER-IP 10.96.0.1,tcp:443`"),
 ("ADD_DUPLICATE_REPLY", "18", [5], "the kernel's reply to `ipset add KUBE-CLUSTER-IP 10.96.0.1,tcp:443` when it is present: -IPSET_ERR_EXIST"),
 ("LIST_REQUEST", "19", [2], "`ipset list KUBE-CLUSTER-IP`"),
 ("LIST_REPLY", "19", [3], "the kernel's dump for LIST_REQUEST: header and the entries 10.96.0.1,tcp:443 and 10.96.0.10,udp:53"),
 ("LIST_DONE", "19", [4], "the NLMSG_DONE closing the dump of LIST_REQUEST"),
 ("LIST_NAMES_REQUEST", "20", [2], "`ipset list -n`"),
 ("LIST_NAMES_REPLY", "20", [3, 4, 5, 6, 7, 8], "the kernel's dump for `ipset list -n` (five sets, then NLMSG_DONE; one recvmsg each, joined here)"),
 ("LIST_ALL_REPLY", "21", [3, 4, 5, 6, 7, 8], "the kernel's dump for `ipset list` of the five sets above (one recvmsg each, joined here)"),
 ("SWAP", "23", [2], "`ipset swap KUBE-CLUSTER-IP tmp`"),
 ("FLUSH", "24", [2], "`ipset flush tmp`"),
 ("DESTROY", "25", [2], "`ipset destroy tmp`"),
 ("DESTROY_MISSING_REPLY", "26", [3], "the kernel's reply to `ipset destroy nosuch`: -ENOENT"),
 ("RESTORE_ADD_BATCH", "28", [-2], "`ipset restore` of `add KUBE-CLUSTER-IP 10.96.0.20,tcp:80` and `add KUBE-CLUSTER-IP 10.96.0.21,udp:53`: one ADT batch"),
 ("CREATE_HASH_IP_PORT_NET", "30", [4], "`ipset create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536`"),
 ("ADD_IP_PORT_NET", "31", [4], "`ipset add KUBE-LOAD-BALANCER-SOURCE-CIDR 5.6.7.8,tcp:80,203.0.113.0/24`"),
 ("RESTORE_OUT_OF_RANGE_REPLY", "29", [-1], "the kernel's reply to `ipset restore` of `add bp 10/20/2000/30` into `bp bitmap:port range 0-1000`: -4352 (IPSET_ERR_BITMAP_RANGE) with the batch echoed and its LINENO set to 3"),
]
print("//! Netlink messages captured from the real `ipset` tool (v7.17, protocol 7) talking to")
print("//! kernel 6.18 inside a throwaway network namespace, with")
print("//! `ip netns exec NS strace -e trace=sendto,recvmsg -e write=3 -e read=3 ipset ...`;")
print("//! `scripts/capture-ipset-fixtures.sh` repeats the capture. Each constant names the command.")
for name, n, idx, doc in spec:
    bs = blocks(n)
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
