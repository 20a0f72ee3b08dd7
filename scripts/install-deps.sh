#!/usr/bin/env bash
# Installs the Debian packages kproxy's demo and tests need, if they are missing.
#   scripts/install-deps.sh          host tools (iptables, ipset, conntrack, iproute2, socat,
#                                    nftables: tests observe with `nft`, the product never runs it)
#   scripts/install-deps.sh --vm     plus what the IPVS VM needs (qemu, busybox, ipvsadm, ...)
set -euo pipefail
want=(iptables ipset conntrack iproute2 socat procps nftables openssl)
[ "${1:-}" = --vm ] && want+=(qemu-system-x86 busybox-static ipvsadm cpio xz-utils kmod)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing: ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
