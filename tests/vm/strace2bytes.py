#!/usr/bin/env python3
"""Turn `strace -xx -s 65535 -e trace=sendmsg,recvmsg` output of netlink traffic back into
the exact bytes sent and received, one hex line per syscall, under the `=== command` headers
that tests/vm/capture-ipvsadm.sh prints. strace decodes the nlmsghdr (and NLMSG_ERROR /
NLMSG_DONE bodies) and prints the rest as \\xNN escapes; this re-encodes the decoded parts.
Used to produce the byte fixtures in src/backend/ipvs/netlink/fixtures.rs."""
import re
import struct
import sys

FLAGS = {"NLM_F_REQUEST": 1, "NLM_F_MULTI": 2, "NLM_F_ACK": 4, "NLM_F_ECHO": 8,
         "NLM_F_CAPPED": 0x100, "NLM_F_ACK_TLVS": 0x200, "NLM_F_DUMP": 0x300}
TYPES = {"NLMSG_NOOP": 1, "NLMSG_ERROR": 2, "NLMSG_DONE": 3}
ERRNO = {"EPERM": 1, "ENOENT": 2, "ESRCH": 3, "EEXIST": 17, "EINVAL": 22, "ERANGE": 34,
         "EOPNOTSUPP": 95, "EAFNOSUPPORT": 97}
HDR = re.compile(r'\{nlmsg_len=(\d+), nlmsg_type=([^,/ ]+)(?: /\*[^*]*\*/)?, nlmsg_flags=([^,]+), '
                 r'nlmsg_seq=(\d+), nlmsg_pid=(-?\d+)\}')
HEX = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')


def num(tok, table):
    return table[tok] if tok in table else int(tok, 0)


def flags(s):
    return sum(num(t, FLAGS) for t in s.split("|"))


def header(m):
    ln, ty, fl, seq, pid = m.groups()
    return struct.pack("<IHHIi", int(ln), num(ty, TYPES), flags(fl), int(seq), int(pid))


def unhex(s):
    return bytes(int(h, 16) for h in s.split("\\x")[1:])


def messages(s):
    """Re-encode every netlink message found in one syscall's iov_base text."""
    out, pos = b"", 0
    while True:
        m = HDR.search(s, pos)
        if not m:
            return out
        out += header(m)
        rest = s[m.end():]
        err = re.match(r', \{error=(-?[A-Z0-9]+|0), msg=', rest)
        if err:  # NLMSG_ERROR: errno, then the (maybe capped) request
            code = err.group(1)
            code = 0 if code == "0" else -ERRNO[code.lstrip("-")]
            out += struct.pack("<i", code)
            inner = HDR.search(s, m.end())
            out += header(inner)
            after = s[inner.end():]
            h = re.match(r', ' + HEX.pattern, after)
            if h:
                out += unhex(h.group(1))
                pos = inner.end() + h.end()
            else:
                pos = inner.end()
            continue
        h = re.match(r', ' + HEX.pattern, rest)
        if h:
            out += unhex(h.group(1))
            pos = m.end() + h.end()
            continue
        d = re.match(r', (-?\d+)\]', rest)  # NLMSG_DONE carries an int
        if d:
            out += struct.pack("<i", int(d.group(1)))
            pos = m.end() + d.end()
            continue
        pos = m.end()


for line in sys.stdin:
    line = line.rstrip("\n")
    if line.startswith("==="):
        print(line)
    elif line.startswith(("sendmsg(", "recvmsg(")) and "MSG_PEEK" not in line:
        data = messages(line.split("iov_base=", 1)[1])
        ret = int(line.rsplit("= ", 1)[1].split()[0])
        assert len(data) == ret, (len(data), ret, line[:200])
        print(("send " if line.startswith("send") else "recv ") + data.hex())
