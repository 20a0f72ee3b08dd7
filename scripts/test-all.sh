#!/usr/bin/env bash
# Runs every kproxy test on a fresh Debian machine (as root): unit tests, the iptables
# tests in throwaway network namespaces, the API tests (in-process and real control plane),
# and the IPVS tests inside a qemu VM.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --vm
# Upstream etcd, kube-apiserver, kube-controller-manager and kube-proxy for the tests against
# a real control plane (tests/real_api); built once per pin, see docs/upstream.md.
KPROXY_UPSTREAM_BIN=$(scripts/build-upstream.sh)
export KPROXY_UPSTREAM_BIN
# A kernel test that cannot run here (not root, a tool missing) fails instead of skipping
# (kproxy::testing::kernel). IPVS tests still skip on the host, whose kernel has no IPVS:
# the VM run below requires IPVS for them.
export KPROXY_REQUIRE_KERNEL=1
# Includes the fault suite's short version (tests/faults; in full: scripts/fault-suite.sh).
cargo test --lib --bins --tests 2>&1
if [ -x tests/vm/run-ipvs-tests.sh ]; then
  tests/vm/run-ipvs-tests.sh
fi
