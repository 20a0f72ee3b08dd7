//! kproxy against a real Kubernetes control plane: upstream etcd, kube-apiserver and
//! kube-controller-manager of the pinned release (docs/upstream.md), in a network namespace
//! of their own, with TLS, client certificates, service-account tokens and RBAC.
//! kproxy runs as the service account deploy/rbac.yaml grants its permissions to.
//!
//! - `api`: the API source's behaviour against the real server (initial-list gating, watch
//!   events, the API server restarted, a node cut off while objects are deleted, 410 Gone
//!   after etcd compaction), and that deploy/rbac.yaml is enough.
//! - `node`: this node's zone and addresses from its Node object.
//! - `endpointslices`: Pods made Ready by the test (acting as the kubelet), turned into
//!   EndpointSlices by the real controller, routed by kproxy; readiness flips and deletion.
//! - `kube_proxy`: upstream kube-proxy on a second node with the same topology, from the
//!   same API server (what the differential test and the side-by-side benchmark build on).
//!
//! Faults a real server cannot be made to produce on demand (held lists, refused or failing
//! watches, bookmarks on demand) stay with the in-process server (tests/api_e2e.rs,
//! tests/kube_source). Needs root and the upstream binaries (scripts/build-upstream.sh);
//! skipped without them, failed when KPROXY_REQUIRE_KERNEL=1.

#[path = "../support/mod.rs"]
mod support;

mod api;
mod cluster;
mod endpointslices;
mod kube_proxy;
mod node;
