#!/usr/bin/env bash
# The fault suite of issue #15 in full (as root): kill -9 in the middle of a 5,000-service
# first sync then a restart, 20 restarts under client load, the nat table flushed by hand.
# The README's test command (scripts/test-all.sh) runs the same tests at a smaller scale.
# Prints the figures docs/reliability.md records.
set -euo pipefail
cd "$(dirname "$0")/.."
export KPROXY_REQUIRE_KERNEL=1 KPROXY_FAULTS=full
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --test faults -- --nocapture --test-threads=1 2>&1 | tee "$log"
echo
echo "Figures:"
grep -o 'figure: .*' "$log" | sed 's/^figure: /- /'
