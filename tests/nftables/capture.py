#!/usr/bin/env python3
"""Capture the nf_tables netlink bytes that `nft` (Debian's nftables 1.0.6) and the kernel
exchange, in a throwaway network namespace, and write them out as the byte fixtures of
src/nftables/fixtures.rs.

    tests/nftables/capture.py --summary   # every message of every command, one line each
    tests/nftables/capture.py > src/nftables/fixtures.rs

Needs root, `nft`, `strace` and `ip`. Each command in COMMANDS runs under
`strace -e write=all -e read=all`, whose hex dumps of every sendmsg/sendto/recvmsg are the
exact bytes on the socket; they are split into netlink messages, and the FIXTURES table picks
one message (or a whole sendmsg, for batch framing) per fixture. The namespace accumulates
state: later commands see the objects earlier ones created. Nothing runs in the root
namespace; the namespace is deleted on exit.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile

NS = f"kproxy-nftcap-{os.getpid()}"

# The ruleset is built one command at a time so that each netlink message has a known origin.
# Names and values follow kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go).
COMMANDS = [
    "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }",
    "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority dstnat ; policy accept ; }",
    "add chain ip kube-proxy filter-forward { type filter hook forward priority -110 ; policy accept ; }",
    "add chain ip kube-proxy services",
    "add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80",
    "add chain ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80",
    "add chain ip kube-proxy endpoint-XGJ2WDZG-ns1/svc1/tcp/p80__10.180.0.2/80",
    "add chain ip kube-proxy mark-for-masquerade",
    "add chain ip kube-proxy masquerading",
    "add chain ip kube-proxy reject-chain",
    "add chain ip kube-proxy firewall-check",
    "add set ip kube-proxy cluster-ips { type ipv4_addr ; comment \"Active ClusterIPs\" ; }",
    "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }",
    "add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; }",
    "add set ip kube-proxy firewall-src { type ipv4_addr ; flags interval ; }",
    "add set ip kube-proxy affinity-5OJB2KTY { type ipv4_addr ; flags dynamic,timeout ; timeout 3h ; }",
    "add map ip kube-proxy service-dnat { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service ; }",
    "add element ip kube-proxy cluster-ips { 10.96.0.1 }",
    "add element ip kube-proxy service-ips { 10.96.0.10 . tcp . 80 comment \"ns1/svc1:p80\" : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }",
    "add element ip kube-proxy service-nodeports { tcp . 30080 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }",
    "add element ip kube-proxy firewall-src { 10.0.0.0/8, 192.168.1.1 }",
    "add element ip kube-proxy affinity-5OJB2KTY { 10.0.1.1 timeout 1h }",
    "add element ip kube-proxy service-dnat { 10.96.0.10 . tcp . 80 : 10.180.0.1 . 8080 }",
    "add rule ip kube-proxy nat-prerouting jump services",
    "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips",
    "add rule ip kube-proxy services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
    "add rule ip kube-proxy filter-forward ct state new jump firewall-check",
    "add rule ip kube-proxy filter-forward ct state invalid drop",
    "add rule ip kube-proxy filter-forward counter accept",
    "add rule ip kube-proxy mark-for-masquerade meta mark set meta mark or 0x4000",
    "add rule ip kube-proxy masquerading meta mark and 0x4000 == 0 return",
    "add rule ip kube-proxy masquerading meta mark set meta mark xor 0x4000",
    "add rule ip kube-proxy masquerading masquerade fully-random",
    "add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip saddr @affinity-5OJB2KTY goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80",
    "add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 , 1 : goto endpoint-XGJ2WDZG-ns1/svc1/tcp/p80__10.180.0.2/80 }",
    "add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 ip saddr 10.180.0.1 jump mark-for-masquerade comment \"hairpin\"",
    "add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 update @affinity-5OJB2KTY { ip saddr }",
    "add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 meta l4proto tcp dnat to 10.180.0.1:80",
    "add rule ip kube-proxy services dnat to ip daddr . meta l4proto . th dport map @service-dnat",
    "add rule ip kube-proxy masquerading snat to 192.168.0.1",
    "add rule ip kube-proxy reject-chain reject",
    "add rule ip kube-proxy reject-chain reject with tcp reset",
    "insert rule ip kube-proxy services position {handle services:ip daddr} counter",
    "list table ip kube-proxy",
    "create element ip kube-proxy cluster-ips { 10.96.0.1 }",
    "delete element ip kube-proxy cluster-ips { 10.96.0.1 }",
    "delete rule ip kube-proxy services handle {handle services:counter}",
    "flush chain ip kube-proxy reject-chain",
    "delete chain ip kube-proxy reject-chain",
    "delete set ip kube-proxy cluster-ips",
    "add table ip6 kube-proxy",
    "add chain ip6 kube-proxy nat-output { type nat hook output priority -100 ; policy accept ; }",
    "add set ip6 kube-proxy cluster-ips { type ipv6_addr ; }",
    "add element ip6 kube-proxy cluster-ips { fd00:10:96::1 }",
    "add rule ip6 kube-proxy nat-output meta l4proto tcp dnat to [fd00:10:180::1]:80",
    "add rule ip6 kube-proxy nat-output reject",
    "delete table ip6 kube-proxy",
]

# name, command (a COMMANDS entry), direction, selector, description.
# Selector: "TYPE" (first message of that type), "TYPE#n" (n-th, from 0), or "sendmsg" (the
# whole batch sendmsg: begin, messages, end).
C = COMMANDS
FIXTURES = [
    ("GETGEN_REQUEST", C[0], "send", "GETGEN", "request: NFT_MSG_GETGEN"),
    ("GETGEN_REPLY", C[0], "recv", "NEWGEN", "kernel reply: NFT_MSG_NEWGEN (generation id, pid, process name)"),
    ("BATCH_NEW_TABLE", C[0], "send", "sendmsg", "the whole sendmsg: batch begin, NFT_MSG_NEWTABLE, batch end"),
    ("NEW_TABLE", C[0], "send", "NEWTABLE", "request: NFT_MSG_NEWTABLE with a comment"),
    ("NEW_CHAIN_NAT_PREROUTING", C[1], "send", "NEWCHAIN", "request: NFT_MSG_NEWCHAIN, base chain"),
    ("NEW_CHAIN_FILTER_FORWARD", C[2], "send", "NEWCHAIN", "request: NFT_MSG_NEWCHAIN, base chain, negative priority"),
    ("NEW_CHAIN_REGULAR", C[3], "send", "NEWCHAIN", "request: NFT_MSG_NEWCHAIN, regular chain"),
    ("NEW_SET_CLUSTER_IPS", C[11], "send", "NEWSET", "request: NFT_MSG_NEWSET, ipv4_addr set with a comment"),
    ("NEW_MAP_SERVICE_IPS", C[12], "send", "NEWSET", "request: NFT_MSG_NEWSET, concatenated key, verdict map"),
    ("NEW_SET_INTERVAL", C[14], "send", "NEWSET", "request: NFT_MSG_NEWSET, interval set"),
    ("NEW_SET_TIMEOUT", C[15], "send", "NEWSET", "request: NFT_MSG_NEWSET, dynamic set with a timeout"),
    ("NEW_MAP_CONCAT_DATA", C[16], "send", "NEWSET", "request: NFT_MSG_NEWSET, map with concatenated data"),
    ("NEW_ELEM_ADDR", C[17], "send", "NEWSETELEM", "request: NFT_MSG_NEWSETELEM, one ipv4_addr"),
    ("NEW_ELEM_VERDICT", C[18], "send", "NEWSETELEM", "request: NFT_MSG_NEWSETELEM, concatenated key, goto verdict, comment"),
    ("NEW_ELEM_NODEPORT", C[19], "send", "NEWSETELEM", "request: NFT_MSG_NEWSETELEM, inet_proto . inet_service key"),
    ("NEW_ELEM_INTERVAL", C[20], "send", "NEWSETELEM", "request: NFT_MSG_NEWSETELEM, intervals"),
    ("NEW_ELEM_TIMEOUT", C[21], "send", "NEWSETELEM", "request: NFT_MSG_NEWSETELEM, element timeout"),
    ("NEW_ELEM_CONCAT_DATA", C[22], "send", "NEWSETELEM", "request: NFT_MSG_NEWSETELEM, concatenated data"),
    ("RULE_JUMP", C[23], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, immediate jump"),
    ("RULE_VMAP", C[24], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, payload, meta, lookup into a verdict map"),
    ("RULE_FIB_NODEPORTS", C[25], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, fib, bitwise, cmp neq, vmap"),
    ("RULE_CT_STATE", C[26], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, ct state, bitwise, cmp, jump"),
    ("RULE_CT_INVALID_DROP", C[27], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, ct state invalid, drop"),
    ("RULE_COUNTER_ACCEPT", C[28], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, counter, accept"),
    ("RULE_MARK_OR", C[29], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, meta mark set with bitwise or"),
    ("RULE_MARK_RETURN", C[30], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, bitwise and, cmp eq, return"),
    ("RULE_MARK_XOR", C[31], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, meta mark set with bitwise xor"),
    ("RULE_MASQUERADE", C[32], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, masquerade fully-random"),
    ("RULE_AFFINITY_LOOKUP", C[33], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, set lookup, goto"),
    ("BATCH_NUMGEN_ANON_VMAP", C[34], "send", "sendmsg", "the whole sendmsg: anonymous verdict map (NEWSET, NEWSETELEM) and a numgen rule looking it up by set id"),
    ("RULE_HAIRPIN_COMMENT", C[35], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, cmp on ip saddr, jump, rule comment"),
    ("RULE_DYNSET", C[36], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, dynset update"),
    ("RULE_DNAT", C[37], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, immediate address and port, dnat"),
    ("RULE_DNAT_MAP", C[38], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, dnat to a concatenated map lookup"),
    ("RULE_SNAT", C[39], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, snat"),
    ("RULE_REJECT", C[40], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, reject (icmp port-unreachable)"),
    ("RULE_REJECT_TCP_RESET", C[41], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, reject with tcp reset"),
    ("RULE_INSERT_POSITION", C[42], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, insert at a position"),
    ("DUMP_TABLES_REQUEST", C[43], "send", "GETTABLE", "request: NFT_MSG_GETTABLE dump"),
    ("DUMP_TABLE_REPLY", C[43], "recv", "NEWTABLE", "kernel dump reply: NFT_MSG_NEWTABLE"),
    ("DUMP_CHAIN_BASE_REPLY", C[43], "recv", "NEWCHAIN", "kernel dump reply: NFT_MSG_NEWCHAIN, base chain"),
    ("DUMP_CHAIN_REGULAR_REPLY", C[43], "recv", "NEWCHAIN#2", "kernel dump reply: NFT_MSG_NEWCHAIN, regular chain"),
    ("DUMP_SET_REPLY", C[43], "recv", "NEWSET", "kernel dump reply: NFT_MSG_NEWSET"),
    ("DUMP_MAP_REPLY", C[43], "recv", "NEWSET#1", "kernel dump reply: NFT_MSG_NEWSET, verdict map"),
    ("DUMP_ELEMS_REQUEST", C[43], "send", "GETSETELEM", "request: NFT_MSG_GETSETELEM dump of one set"),
    ("DUMP_ELEMS_REPLY", C[43], "recv", "NEWSETELEM", "kernel dump reply: NFT_MSG_NEWSETELEM"),
    ("DUMP_ELEMS_VERDICT_REPLY", C[43], "recv", "NEWSETELEM#2", "kernel dump reply: NFT_MSG_NEWSETELEM, verdict map"),
    ("DUMP_RULE_REPLY", C[43], "recv", "NEWRULE#1", "kernel dump reply: NFT_MSG_NEWRULE"),
    ("DUMP_DONE", C[43], "recv", "DONE", "kernel: NLMSG_DONE ending a dump"),
    ("CREATE_ELEM_EXISTS", C[44], "send", "NEWSETELEM", "request: NFT_MSG_NEWSETELEM with NLM_F_EXCL"),
    ("ERROR_EEXIST", C[44], "recv", "ERROR", "kernel: NLMSG_ERROR EEXIST with extended ack"),
    ("DEL_ELEM", C[45], "send", "DELSETELEM", "request: NFT_MSG_DELSETELEM"),
    ("DEL_RULE_HANDLE", C[46], "send", "DELRULE", "request: NFT_MSG_DELRULE by handle"),
    ("FLUSH_CHAIN", C[47], "send", "DELRULE", "request: NFT_MSG_DELRULE of a whole chain"),
    ("DEL_CHAIN", C[48], "send", "DELCHAIN", "request: NFT_MSG_DELCHAIN"),
    ("DEL_SET", C[49], "send", "DELSET", "request: NFT_MSG_DELSET"),
    ("NEW_TABLE_IP6", C[50], "send", "NEWTABLE", "request: NFT_MSG_NEWTABLE, ip6"),
    ("NEW_CHAIN_IP6_NAT_OUTPUT", C[51], "send", "NEWCHAIN", "request: NFT_MSG_NEWCHAIN, ip6 base chain"),
    ("NEW_SET_IP6", C[52], "send", "NEWSET", "request: NFT_MSG_NEWSET, ipv6_addr set"),
    ("NEW_ELEM_IP6", C[53], "send", "NEWSETELEM", "request: NFT_MSG_NEWSETELEM, one ipv6_addr"),
    ("RULE_DNAT_IP6", C[54], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, ip6 dnat"),
    ("RULE_REJECT_IP6", C[55], "send", "NEWRULE", "request: NFT_MSG_NEWRULE, ip6 reject (icmpv6 port-unreachable)"),
    ("DEL_TABLE_IP6", C[56], "send", "DELTABLE", "request: NFT_MSG_DELTABLE"),
]

NFT_MSGS = ["NEWTABLE", "GETTABLE", "DELTABLE", "NEWCHAIN", "GETCHAIN", "DELCHAIN", "NEWRULE",
            "GETRULE", "DELRULE", "NEWSET", "GETSET", "DELSET", "NEWSETELEM", "GETSETELEM",
            "DELSETELEM", "NEWGEN", "GETGEN", "TRACE", "NEWOBJ", "GETOBJ", "DELOBJ",
            "GETOBJ_RESET", "NEWFLOWTABLE", "GETFLOWTABLE", "DELFLOWTABLE"]
SYSCALL = re.compile(r"^(?:\[pid +\d+\] )?(sendmsg|sendto|recvmsg|recvfrom)\(")
HEXLINE = re.compile(r"^ \| [0-9a-f]{5}  ((?:[0-9a-f]{2} {1,2})+)")


def type_name(t):
    if t == 2:
        return "ERROR"
    if t == 3:
        return "DONE"
    if t == 0x10:
        return "BATCH_BEGIN"
    if t == 0x11:
        return "BATCH_END"
    if t >> 8 == 10 and (t & 0xff) < len(NFT_MSGS):
        return NFT_MSGS[t & 0xff]
    return hex(t)


def split(data):
    out, pos = [], 0
    while pos + 16 <= len(data):
        ln, ty = struct.unpack_from("<IH", data, pos)
        out.append((type_name(ty), data[pos:pos + ln]))
        pos += (ln + 3) & ~3
    return out


def resolve(command):
    """Replaces `{handle CHAIN:PREFIX}` with the handle of the first rule of CHAIN whose text starts
    with PREFIX (handles are only known once the rules exist)."""
    def handle(m):
        out = subprocess.run(["ip", "netns", "exec", NS, "nft", "-a", "list", "chain", "ip",
                              "kube-proxy", m.group(1)], capture_output=True, text=True,
                             check=True).stdout
        rule = next(l for l in out.splitlines() if l.strip().startswith(m.group(2)))
        return rule.rsplit("# handle ", 1)[1].strip()
    return re.sub(r"\{handle ([^:}]+):([^}]+)\}", handle, command)


def run(command):
    """Runs one nft command under strace; returns [(direction, bytes)] per syscall."""
    command = resolve(command)
    with tempfile.NamedTemporaryFile("w", suffix=".nft") as f:
        f.write(command + "\n")
        f.flush()
        p = subprocess.run(["ip", "netns", "exec", NS, "strace", "-s", "65536",
                            "-e", "trace=sendmsg,sendto,recvmsg,recvfrom",
                            "-e", "write=all", "-e", "read=all", "nft", "-f", f.name],
                           capture_output=True, text=True)
    calls = []
    for line in p.stderr.splitlines():
        m = SYSCALL.match(line)
        if m:
            calls.append([("send" if m.group(1).startswith("send") else "recv"), m.group(1), b""])
            continue
        h = HEXLINE.match(line)
        if h and calls:
            calls[-1][2] += bytes.fromhex(h.group(1).replace(" ", ""))
    return [(d, s, b) for d, s, b in calls if b]


def pick(calls, direction, selector):
    if selector == "sendmsg":
        return next(b for d, s, b in calls if s == "sendmsg")
    name, _, nth = selector.partition("#")
    found = [m for d, _, b in calls if d == direction for n, m in split(b) if n == name]
    return found[int(nth or 0)]


def rust(name, command, desc, data):
    lines = [f"/// `nft {command}`, {desc} ({len(data)} bytes).",
             f"pub const {name}: &[u8] = &["]
    for i in range(0, len(data), 16):
        lines.append("    " + " ".join(f"0x{b:02x}," for b in data[i:i + 16]))
    lines.append("];")
    return "\n".join(lines)


def main():
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        captured = {c: run(c) for c in COMMANDS}
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=True)
    if "--summary" in sys.argv:
        for c in COMMANDS:
            print("===", c)
            for d, s, b in captured[c]:
                print(" ", d, s, " ".join(f"{n}({len(m)})" for n, m in split(b)))
        return
    kernel = os.uname().release
    print("//! Real nf_tables netlink messages, byte for byte, captured by `tests/nftables/capture.py`:")
    print("//! Debian's nftables 1.0.6 (`nft -f` of one command each) under `strace -e write=all")
    print(f"//! -e read=all` in a fresh network namespace of kernel {kernel}. Each is one whole netlink")
    print("//! message (`nlmsghdr` + `nfgenmsg` + attributes) unless it says it is a whole sendmsg.")
    print("//! Sequence numbers, port ids and handles are those of the capture; `{handle CHAIN:TEXT}` in a")
    print("//! command stands for the handle of the rule of CHAIN starting with TEXT.")
    for name, command, direction, selector, desc in FIXTURES:
        print()
        print(rust(name, command, desc, pick(captured[command], direction, selector)))


main()
