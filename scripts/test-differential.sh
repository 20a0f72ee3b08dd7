#!/usr/bin/env bash
# The differential test against upstream kube-proxy with its full corpus: 200 Services
# covering every feature and policy combination kproxy implements, 8 steps of edits
# (docs/kube-proxy-differences.md). The README's test command runs the same test with a
# CI-sized corpus (40 services, 3 steps). Run as root. Extra arguments go to the test
# binary; KPROXY_DIFF_SERVICES and KPROXY_DIFF_STEPS override the size.
set -euo pipefail
cd "$(dirname "$0")/.."
KPROXY_UPSTREAM_BIN=$(scripts/build-upstream.sh)
export KPROXY_UPSTREAM_BIN
export KPROXY_REQUIRE_KERNEL=1
export KPROXY_DIFF_SERVICES=${KPROXY_DIFF_SERVICES:-200}
export KPROXY_DIFF_STEPS=${KPROXY_DIFF_STEPS:-8}
exec cargo test --test differential -- --nocapture "$@"
