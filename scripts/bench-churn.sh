#!/usr/bin/env bash
# Event-to-kernel latency under churn (benches/churn.rs), as root: kproxy with 10k services
# in a throwaway network namespace, then 20 endpoint changes a second for 60 s.
# Quick run: KPROXY_CHURN_DURATION=10s scripts/bench-churn.sh
# KPROXY_CHURN_SOURCE=manifests (default: a --manifests directory) or apiserver (the
# in-process test API server, through --kubeconfig and watch events).
# Other settings: KPROXY_CHURN_SERVICES, KPROXY_CHURN_RATE, KPROXY_CHURN_MIN_SYNC_PERIOD,
# KPROXY_CHURN_SYNC_PERIOD, KPROXY_CHURN_POLL, KPROXY_BENCH_IPTABLES=nft|legacy.
set -euo pipefail
case "${KPROXY_CHURN_SOURCE:-manifests}" in
  manifests | apiserver) ;;
  *) echo "KPROXY_CHURN_SOURCE must be manifests or apiserver" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
exec cargo bench --bench churn "$@"
