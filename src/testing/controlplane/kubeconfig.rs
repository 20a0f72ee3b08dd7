//! Kubeconfig files for the control plane's identities, self-contained (certificates and
//! keys inline), as `--kubeconfig` and kube-rs read them.

use std::path::Path;

use data_encoding::BASE64;

use super::pki::CertKey;

/// How an identity proves who it is.
#[derive(Clone, Debug)]
pub enum Credential {
    /// A client certificate signed by the control plane's CA.
    Certificate(CertKey),
    /// A bearer token, such as a service account's bound token.
    Token(String),
}

/// A kubeconfig for `server` trusting the CA in `ca`, authenticating with `credential`.
pub fn render(server: &str, ca: &Path, credential: &Credential) -> String {
    let user = match credential {
        Credential::Certificate(pair) => format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            base64_file(&pair.cert),
            base64_file(&pair.key)
        ),
        Credential::Token(token) => format!("    token: {token}\n"),
    };
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: {server}
    certificate-authority-data: {}
users:
- name: test
  user:
{user}contexts:
- name: test
  context:
    cluster: test
    user: test
current-context: test
",
        base64_file(ca)
    )
}

fn base64_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    BASE64.encode(&bytes)
}
