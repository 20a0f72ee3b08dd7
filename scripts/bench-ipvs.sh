#!/usr/bin/env bash
# bench-ipvs.sh - run kproxy's IPVS end-to-end benchmark (benches/ipvs_sync_e2e.rs) inside a
# VM, since the build machine's kernel has no IPVS. Builds the bench with `cargo bench
# --no-run` (release, with the kproxy binary it runs for the peak-RSS measurement), boots
# Debian's kernel once (tests/vm/ipvs-vm.sh run --hostroot: the host's binaries, ipvsadm,
# ipset, ip and iptables run unchanged), and collects the results from a shared directory
# (the guest's /tmp is a fresh tmpfs).
#
#   scripts/bench-ipvs.sh                   1k, 5k and 10k services × 10 endpoints
#   KPROXY_BENCH_SIZES=1k scripts/bench-ipvs.sh
#
# Env: OUT (results directory, default $CARGO_TARGET_DIR/bench-results, else
#      target/bench-results), KPROXY_BENCH_* (passed to the bench, see its header),
#      MEM (guest MiB, default 2048), TIMEOUT (seconds, default 5400), and ipvs-vm.sh's.
# Output: $OUT/ipvs_sync_e2e.md (the tables of docs/benchmarks-ipvs.md) and .json.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vm=$root/tests/vm/ipvs-vm.sh
# 10k services × 10 endpoints: kproxy's state plus the kernel's 150k real servers, and the
# manifests of the --once run on the guest's tmpfs.
export MEM=${MEM:-2048}
export TIMEOUT=${TIMEOUT:-5400}
target=${CARGO_TARGET_DIR:-$root/target}
out=${OUT:-$target/bench-results}
mkdir -p "$out"
out=$(cd "$out" && pwd)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }
t0=$(now)

"$vm" setup
"$vm" build

t=$(now)
json=$(cd "$root" && cargo bench --no-run --message-format=json --bench ipvs_sync_e2e)
artifact() { # kind: the last executable cargo reported for targets of that kind
  printf '%s\n' "$json" | grep "\"kind\":\[\"$1\"\]" | grep -o '"executable":"[^"]*"' |
    cut -d'"' -f4 | tail -n1
}
exe=$(artifact bench) bin=$(artifact bin)
[ -n "$exe" ] && [ -n "$bin" ] || { echo "[bench-ipvs] cargo built no bench or kproxy executable" >&2; exit 1; }
echo "[bench-ipvs] built $exe and $bin ($(since "$t"))" >&2
# A target directory shared by several worktrees holds whichever build came last: run copies
# of this checkout's, from the results directory (which the guest sees read-write).
mkdir -p "$out/bin"
cp "$exe" "$out/bin/ipvs_sync_e2e"
cp "$bin" "$out/bin/kproxy"
exe=$out/bin/ipvs_sync_e2e

# The bench's settings travel into the guest on its command line.
envs=("KPROXY_BENCH_OUT=$out" "KPROXY_BIN=$out/bin/kproxy")
while IFS='=' read -r name value; do
  envs+=("$name=$value")
done < <(env | grep '^KPROXY_BENCH_' | grep -v '^KPROXY_BENCH_OUT=' || true)
cmd="$(printf '%q ' env "${envs[@]}" RUST_BACKTRACE=1 "$exe" --bench)"
rm -f "$out/ipvs_sync_e2e.md" "$out/ipvs_sync_e2e.json"
rc=0
IVM_CWD=$root "$vm" run --hostroot --share "$out" -- "$cmd" || rc=$?
echo "[bench-ipvs] guest exit $rc, total $(since "$t0")" >&2
if [ -f "$out/ipvs_sync_e2e.md" ]; then
  echo "[bench-ipvs] results: $out/ipvs_sync_e2e.md and .json" >&2
fi
exit "$rc"
