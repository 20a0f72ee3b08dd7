//! The control plane's keys and certificates, made with the `openssl` command (ECDSA P-256,
//! valid for two days): a CA, the API server's serving certificate, a client certificate
//! per identity, and the service-account signing key.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A certificate and its private key, as PEM files.
#[derive(Clone, Debug)]
pub struct CertKey {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertKey {
    fn at(dir: &Path, name: &str) -> Self {
        Self {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        }
    }
}

pub struct Pki {
    dir: PathBuf,
    pub ca: CertKey,
    pub apiserver: CertKey,
    /// The service-account token signing key and its public half.
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
}

impl Pki {
    /// A new CA in `dir`, a serving certificate for the API server at `ips` (and the names
    /// in-cluster clients use), and the service-account key pair.
    pub fn create(dir: &Path, ips: &[Ipv4Addr]) -> Self {
        let ca = CertKey::at(dir, "ca");
        new_key(&ca.key);
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-sha256",
            "-days",
            "2",
            "-subj",
            "/CN=kproxy-test-ca",
            "-key",
            path(&ca.key),
            "-out",
            path(&ca.cert),
        ]);
        let pki = Self {
            dir: dir.to_path_buf(),
            apiserver: CertKey::at(dir, "apiserver"),
            sa_key: dir.join("sa.key"),
            sa_pub: dir.join("sa.pub"),
            ca,
        };
        let mut names: Vec<String> = ips.iter().map(|ip| format!("IP:{ip}")).collect();
        names.extend(
            [
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "localhost",
            ]
            .map(|n| format!("DNS:{n}")),
        );
        pki.sign(
            &pki.apiserver,
            "/CN=kube-apiserver",
            &format!(
                "subjectAltName={}\nextendedKeyUsage=serverAuth",
                names.join(",")
            ),
        );
        new_key(&pki.sa_key);
        openssl(&[
            "pkey",
            "-in",
            path(&pki.sa_key),
            "-pubout",
            "-out",
            path(&pki.sa_pub),
        ]);
        pki
    }

    /// A client certificate for user `user` in the groups `groups` (the API server takes the
    /// common name as the user and each organisation as a group).
    pub fn client(&self, user: &str, groups: &[&str]) -> CertKey {
        let file_name: String = user
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let pair = CertKey::at(&self.dir, &format!("client-{file_name}"));
        let subject: String = groups
            .iter()
            .map(|g| format!("/O={g}"))
            .chain([format!("/CN={user}")])
            .collect();
        self.sign(&pair, &subject, "extendedKeyUsage=clientAuth");
        pair
    }

    fn sign(&self, pair: &CertKey, subject: &str, extensions: &str) {
        new_key(&pair.key);
        let csr = pair.cert.with_extension("csr");
        let ext = pair.cert.with_extension("ext");
        std::fs::write(&ext, format!("{extensions}\n")).expect("writing the extensions file");
        openssl(&[
            "req",
            "-new",
            "-subj",
            subject,
            "-key",
            path(&pair.key),
            "-out",
            path(&csr),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-sha256",
            "-days",
            "2",
            "-in",
            path(&csr),
            "-CA",
            path(&self.ca.cert),
            "-CAkey",
            path(&self.ca.key),
            "-CAcreateserial",
            "-extfile",
            path(&ext),
            "-out",
            path(&pair.cert),
        ]);
    }
}

fn new_key(out: &Path) {
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        path(out),
    ]);
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running openssl (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
