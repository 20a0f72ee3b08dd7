#!/usr/bin/env bash
# Runs every kproxy test on a fresh Debian machine (as root): unit tests, the iptables
# tests in throwaway network namespaces, and the IPVS tests inside a qemu VM.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --vm
# A kernel test that cannot run here (not root, a tool missing) fails instead of skipping
# (kproxy::testing::kernel). IPVS tests still skip on the host, whose kernel has no IPVS:
# the VM run below requires IPVS for them.
export KPROXY_REQUIRE_KERNEL=1
cargo test --lib --bins --tests 2>&1
if [ -x tests/vm/run-ipvs-tests.sh ]; then
  tests/vm/run-ipvs-tests.sh
fi
