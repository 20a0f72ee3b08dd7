#!/usr/bin/env bash
# Every benchmark of docs/benchmarks.md, as root, in the order the document lists them.
# Results land in ${CARGO_TARGET_DIR:-target}/bench-results/ (and target/criterion/).
# Quick run: KPROXY_BENCH_SIZES=1k KPROXY_CHURN_DURATION=10s scripts/bench-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench compile
cargo bench --bench sync_e2e
scripts/bench-churn.sh
