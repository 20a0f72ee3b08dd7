#!/usr/bin/env bash
# capture-ipvsadm.sh - record the netlink bytes ipvsadm and the kernel exchange, inside the
# IPVS VM, in a throwaway network namespace. Prints one `=== command` header per ipvsadm run
# and one `send|recv HEX` line per syscall. The byte fixtures of
# src/backend/ipvs/netlink/fixtures.rs were cut from this output (Debian kernel 6.1, ipvsadm 1.31).
#   tests/vm/capture-ipvsadm.sh > capture.txt
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(mktemp -d /tmp/kproxy-ipvs-capture.XXXXXX)
trap 'rm -rf "$out"' EXIT
cat >"$out/cap.sh" <<'GUEST'
set -e
ip netns add cap
trap 'ip netns del cap' EXIT
# IPVS refuses destinations whose address type it cannot resolve; with lo down the
# namespace has no local routing table and every `-a` fails with EINVAL.
ip -n cap link set lo up
st() { echo "=== $*"; ip netns exec cap strace -xx -s 65535 -e trace=sendmsg,recvmsg "$@" 2>&1 | grep -v '^+++\|^---'; }
st ipvsadm -A -t 10.96.0.1:443 -s rr
st ipvsadm -a -t 10.96.0.1:443 -r 10.244.1.2:8443 -m -w 1
st ipvsadm -e -t 10.96.0.1:443 -r 10.244.1.2:8443 -m -w 3
st ipvsadm -A -u 10.96.0.10:53 -s wrr -p 10800
st ipvsadm -a -u 10.96.0.10:53 -r 10.244.2.3:53 -m -w 2
st ipvsadm -E -u 10.96.0.10:53 -s lc
st ipvsadm -Ln
st ipvsadm --set 900 120 300
st ipvsadm -L --timeout
st ipvsadm -d -t 10.96.0.1:443 -r 10.244.1.2:8443
st ipvsadm -D -u 10.96.0.10:53
st ipvsadm -a -t 10.96.0.1:443 -r 10.244.1.2:8443 -m -w 1
st ipvsadm -a -t 10.96.0.1:443 -r 10.244.1.2:8443 -m -w 1 || true
st ipvsadm -C
GUEST
"$here/ipvs-vm.sh" run --hostroot --share "$out" -- "bash $out/cap.sh > $out/strace.txt 2>&1" >&2
python3 "$here/strace2bytes.py" <"$out/strace.txt"
