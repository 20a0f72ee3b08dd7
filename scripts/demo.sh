#!/usr/bin/env bash
# kproxy's main job without a cluster: program a throwaway "node" network namespace from
# the manifests in examples/, then show the rules and requests reaching the pods.
#
#   scripts/demo.sh [--proxy-mode=iptables]     (run as root on Debian; installs what it needs)
#
# Address plan (matches examples/): node 192.168.200.1 toward an outside client
# 192.168.200.2; pods web-0..2 at 10.244.1.2-4 (TCP :8080), dns-0 at 10.244.1.5 (UDP :5353).
# Nothing is programmed in, or sent from, the root network namespace; everything is
# removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --quiet --bin kproxy
KPROXY=$PWD/target/debug/kproxy

P=kpdemo$$
NODE=$P-node CLIENT=$P-client
PODS=(web-0:10.244.1.2 web-1:10.244.1.3 web-2:10.244.1.4 dns-0:10.244.1.5)
KPROXY_PID=
cleanup() {
  [ -n "$KPROXY_PID" ] && kill "$KPROXY_PID" 2>/dev/null && wait "$KPROXY_PID" 2>/dev/null
  for ns in $(ip netns list | awk -v p="$P-" 'index($1, p) == 1 {print $1}'); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns"
  done
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

step "a node, an outside client and four pods, in network namespaces"
ip netns add "$NODE"; ip netns add "$CLIENT"
in_ns "$NODE" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0
ip -n "$NODE" link set lo up; ip -n "$CLIENT" link set lo up
ip -n "$NODE" link add kp-client type veth peer name eth0 netns "$CLIENT"
ip -n "$NODE" addr add 192.168.200.1/24 dev kp-client; ip -n "$NODE" link set kp-client up
ip -n "$CLIENT" addr add 192.168.200.2/24 dev eth0; ip -n "$CLIENT" link set eth0 up
ip -n "$CLIENT" route add default via 192.168.200.1
ip -n "$NODE" route add default via 192.168.200.2
i=0
for pod in "${PODS[@]}"; do
  name=${pod%%:*} ip=${pod#*:} ns=$P-$name
  ip netns add "$ns"; ip -n "$ns" link set lo up
  ip -n "$NODE" link add "kp-pod$i" type veth peer name eth0 netns "$ns"
  ip -n "$NODE" addr add 10.244.1.1/32 dev "kp-pod$i"; ip -n "$NODE" link set "kp-pod$i" up
  ip -n "$NODE" route add "$ip/32" dev "kp-pod$i"
  ip -n "$ns" addr add "$ip/32" dev eth0; ip -n "$ns" link set eth0 up
  ip -n "$ns" route add 10.244.1.1 dev eth0; ip -n "$ns" route add default via 10.244.1.1
  if [ "${name%-*}" = dns ]; then
    in_ns "$ns" socat UDP-RECVFROM:5353,fork SYSTEM:"read -r _; echo answer from $name" &
  else
    in_ns "$ns" socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:"echo hello from $name" &
  fi
  echo "  $name  $ip"
  i=$((i + 1))
done

step "kproxy --manifests examples/ --netns $NODE $*"
"$KPROXY" --manifests examples --netns "$NODE" --hostname-override node-1 \
  --cluster-cidr 10.244.0.0/16 --healthz-bind-address 127.0.0.1:10256 "$@" &
KPROXY_PID=$!
for _ in $(seq 100); do
  in_ns "$NODE" iptables-save -t nat 2>/dev/null | grep -q 'demo/web:http' && break
  sleep 0.1
done

step "the rules kproxy programmed (iptables-save -t nat, kproxy's chains)"
in_ns "$NODE" iptables-save -t nat | grep -E '^(:KUBE|-A KUBE|-A (PREROUTING|OUTPUT|POSTROUTING) .*KUBE)'
step "no-endpoint services are rejected in the filter table"
in_ns "$NODE" iptables-save -t filter | grep -E 'has no endpoints'

step "requests from pod web-0 to the ClusterIP 10.96.0.80:80"
for _ in 1 2 3 4 5 6; do in_ns "$P-web-0" socat -T2 - TCP:10.96.0.80:80 </dev/null; done
step "requests from the outside client to the NodePort 192.168.200.1:30080"
for _ in 1 2 3 4 5 6; do in_ns "$CLIENT" socat -T2 - TCP:192.168.200.1:30080 </dev/null; done
step "a UDP request from pod web-1 to the dns ClusterIP 10.96.0.53:53"
echo query | in_ns "$P-web-1" socat -T2 - UDP:10.96.0.53:53
step "a request to the service without endpoints (10.96.0.99:80) is refused at once"
in_ns "$P-web-0" socat -T2 - TCP:10.96.0.99:80 </dev/null 2>&1 | sed 's/^.*E /  /' || true
step "done; removing the namespaces"
