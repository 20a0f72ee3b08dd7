//! The command lines of kube-apiserver and kube-controller-manager in the test control
//! plane. Everything else is upstream's default.

use std::path::Path;

use super::pki::Pki;
use super::{API_IP, API_PORT, Options, SERVICE_CIDR};

/// kube-apiserver: TLS with the test CA, client certificates and service-account tokens
/// for authentication, RBAC for authorization, service accounts' requests in the audit
/// log, and no compaction of its own (tests compact etcd when they mean to).
pub fn apiserver(pki: &Pki, dir: &Path, options: &Options) -> Vec<String> {
    let p = |path: &Path| path.display().to_string();
    let mut args = vec![
        format!("--etcd-servers=http://{}", super::etcd::CLIENT),
        format!("--advertise-address={API_IP}"),
        "--bind-address=0.0.0.0".into(),
        format!("--secure-port={API_PORT}"),
        format!("--tls-cert-file={}", p(&pki.apiserver.cert)),
        format!("--tls-private-key-file={}", p(&pki.apiserver.key)),
        format!("--client-ca-file={}", p(&pki.ca.cert)),
        "--authorization-mode=RBAC".into(),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        "--service-account-issuer=https://kubernetes.default.svc".into(),
        format!("--service-account-key-file={}", p(&pki.sa_pub)),
        format!("--service-account-signing-key-file={}", p(&pki.sa_key)),
        format!("--audit-policy-file={}", p(&dir.join("audit-policy.yaml"))),
        format!("--audit-log-path={}", p(&dir.join("audit.log"))),
        "--audit-log-mode=blocking".into(),
        "--etcd-compaction-interval=0".into(),
        format!("--cert-dir={}", p(&dir.join("apiserver-certs"))),
        "--profiling=false".into(),
    ];
    if !options.uncached.is_empty() {
        let sizes: Vec<String> = options.uncached.iter().map(|r| format!("{r}#0")).collect();
        args.push(format!("--watch-cache-sizes={}", sizes.join(",")));
    }
    args
}

/// kube-controller-manager with only the controllers the tests need: EndpointSlices from
/// Pods, and each namespace's `default` service account (which Pods need to be admitted).
pub fn controller_manager(kubeconfig: &Path) -> Vec<String> {
    vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        "--controllers=endpointslice,serviceaccount".into(),
        "--leader-elect=false".into(),
        "--use-service-account-credentials=false".into(),
        "--secure-port=0".into(),
        "--profiling=false".into(),
    ]
}
