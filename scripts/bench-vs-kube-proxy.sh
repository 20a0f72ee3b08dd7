#!/usr/bin/env bash
# kproxy and upstream kube-proxy in one run (benches/vs_kube_proxy/), as root: one real
# control plane holding 1k, then 5k, then 10k Services × 10 endpoints; at each size each
# proxy in turn on a fresh node namespace: start to first sync, single endpoint changes,
# 20 changes a second for 60 s, peak RSS, CPU seconds. About 25 minutes on 2 cores.
# Quick run: KPROXY_BENCH_SIZES=1k KPROXY_CHURN_DURATION=10s scripts/bench-vs-kube-proxy.sh
# Other settings: KPROXY_VS_PROXIES (order, kproxy,kube-proxy), KPROXY_CHURN_RATE,
# KPROXY_VS_SINGLES, KPROXY_CHURN_POLL. Results: target/bench-results/vs-kube-proxy-iptables.*
set -euo pipefail
cd "$(dirname "$0")/.."
KPROXY_UPSTREAM_BIN=$(scripts/build-upstream.sh)
export KPROXY_UPSTREAM_BIN
exec cargo bench --bench vs_kube_proxy "$@"
