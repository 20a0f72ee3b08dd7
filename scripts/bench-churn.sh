#!/usr/bin/env bash
# Event-to-kernel latency under churn (benches/churn.rs), as root: kproxy with 10k services
# from a manifest directory in a throwaway network namespace, then 20 endpoint changes a
# second for 60 s. Quick run: KPROXY_CHURN_DURATION=10s scripts/bench-churn.sh
# Other settings: KPROXY_CHURN_SERVICES, KPROXY_CHURN_RATE, KPROXY_CHURN_MIN_SYNC_PERIOD,
# KPROXY_CHURN_SYNC_PERIOD, KPROXY_CHURN_POLL, KPROXY_BENCH_IPTABLES=nft|legacy.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench churn "$@"
