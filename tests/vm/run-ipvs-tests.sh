#!/usr/bin/env bash
# run-ipvs-tests.sh - run kproxy's IPVS integration tests in a kernel that has IPVS.
#
# The build machine's kernel has no IPVS, so the tests listed below skip there. In the VM
# they must run: the guest command sets KPROXY_REQUIRE_KERNEL=1 and KPROXY_REQUIRE_IPVS=1,
# so a test that finds no IPVS (or no root, no ipvsadm …) fails. This script
# prepares the VM (tests/vm/ipvs-vm.sh setup + build, cached), builds the test binaries with
# `cargo test --no-run`, and boots ONE VM per test binary, which runs the binary unchanged
# (host / shared read-only) with --test-threads=1. It prints the binaries' output (with
# cargo's "test result:" lines) and fails when any binary fails or the guest dies.
#
#   tests/vm/run-ipvs-tests.sh                 all IPVS test binaries
#   tests/vm/run-ipvs-tests.sh ipvs_netlink    only these (names of tests/*.rs)
#   tests/vm/run-ipvs-tests.sh ipvs_netlink -- timeouts     extra args go to the test binary
# Env: KPROXY_TEST_TIMEOUT_SCALE (default 4: the tests' poll deadlines, for a TCG guest),
# CARGO_TARGET_DIR, and ipvs-vm.sh's (WORK, MEM, TIMEOUT, ...).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# ipvs_e2e runs the kproxy binary, pods with echo servers and ipvsadm in the guest.
export MEM=${MEM:-1024}
root=$(cd "$here/../.." && pwd)
# Test targets that need IPVS. Add new ones here.
DEFAULT_TESTS="ipvs_netlink ipvs_e2e conntrack_e2e leftovers_e2e"

tests=() extra=()
while [ $# -gt 0 ]; do
  case "$1" in --) shift; extra=("$@"); break;; *) tests+=("$1"); shift;; esac
done
[ ${#tests[@]} -gt 0 ] || read -r -a tests <<<"$DEFAULT_TESTS"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }
t0=$(now)

"$here/ipvs-vm.sh" setup
"$here/ipvs-vm.sh" build

args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done
t=$(now)
# The JSON stream names each test executable; --no-run builds without running. Tests that
# run the kproxy binary make cargo build it too: keep the artifacts of test targets only.
json=$(cd "$root" && cargo test --no-run --message-format=json "${args[@]}")
mapfile -t exes < <(printf '%s\n' "$json" | grep '"kind":\["test"\]' |
  grep -o '"executable":"[^"]*"' | cut -d'"' -f4)
echo "[run-ipvs-tests] built ${#exes[@]} test binaries ($(since "$t"))" >&2
[ ${#exes[@]} -eq ${#tests[@]} ] || { echo "[run-ipvs-tests] expected ${#tests[@]} binaries" >&2; exit 1; }

# The guest sees the host's / read-only, but with fresh /tmp and /run: a checkout under
# those (CI's clones may live in /tmp) is shared explicitly, read-write, at its own path.
share=()
case "$root/" in
  /tmp/*|/run/*) share=(--share "$root") ;;
esac
for exe in "${exes[@]}"; do
  case "$exe" in
    "$root"/*) ;;
    /tmp/*|/run/*) echo "[run-ipvs-tests] $exe is under /tmp or /run outside the checkout; the VM cannot see it (unset CARGO_TARGET_DIR)" >&2; exit 1 ;;
  esac
done

failed=()
for exe in "${exes[@]}"; do
  name=$(basename "$exe")
  t=$(now)
  echo "[run-ipvs-tests] ==> $name (one VM)" >&2
  cmd="RUST_BACKTRACE=1 KPROXY_TEST_TIMEOUT_SCALE=${KPROXY_TEST_TIMEOUT_SCALE:-4} KPROXY_REQUIRE_KERNEL=1 KPROXY_REQUIRE_IPVS=1 $(printf '%q ' "$exe" --test-threads=1 "${extra[@]}")"
  rc=0
  IVM_CWD=$root "$here/ipvs-vm.sh" run --hostroot "${share[@]}" -- "$cmd" || rc=$?
  echo "[run-ipvs-tests] <== $name: exit $rc, $(since "$t") (boot + tests + poweroff)" >&2
  [ $rc -eq 0 ] || failed+=("$name")
done
echo "[run-ipvs-tests] total $(since "$t0"); failed: ${failed[*]:-none}" >&2
[ ${#failed[@]} -eq 0 ]
