#!/usr/bin/env bash
# Builds the upstream binaries kproxy's tests run against (etcd, kube-apiserver,
# kube-controller-manager, kube-proxy) from the pinned module in upstream/, into
# target/upstream/<kubernetes version>/bin/. Does nothing when they are already there
# for the same upstream/go.mod and go.sum. Prints the bin directory on stdout.
# See docs/upstream.md (versions, build times, what the tests do with them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

version=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' upstream/go.mod)
[ -n "$version" ] || { echo "build-upstream: no k8s.io/kubernetes in upstream/go.mod" >&2; exit 1; }
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/upstream/$version
bin=$out/bin
stamp=$(cat upstream/go.mod upstream/go.sum | sha256sum | cut -d' ' -f1)
binaries=(etcd kube-apiserver kube-controller-manager kube-proxy)

complete() {
  [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ] || return 1
  for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || return 1; done
}

if complete; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "build-upstream: no go toolchain (scripts/install-deps.sh)" >&2; exit 1; }
echo "build-upstream: building ${binaries[*]} of kubernetes $version ($(go version))" >&2
rm -rf "$out"
tmp=$out.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
# One `go build` for all four: they share most packages, so each is compiled once.
# The version variables are what `kube-apiserver --version` and /version report.
pkg=k8s.io/component-base/version
minor=$(echo "$version" | cut -d. -f2)
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
start=$(date +%s)
(cd upstream && GOFLAGS=-mod=readonly go build -trimpath -ldflags "$ldflags" -o "$tmp/" tool)
# The etcd main package is the module root go.etcd.io/etcd/server/v3, which go names "server".
mv "$tmp/server" "$tmp/etcd"
for b in "${binaries[@]}"; do [ -x "$tmp/$b" ] || { echo "build-upstream: $b not built" >&2; exit 1; }; done
mkdir -p "$out"
mv "$tmp" "$bin"
echo "$stamp" >"$out/stamp"
echo "build-upstream: built in $(($(date +%s) - start)) s" >&2
echo "$bin"
