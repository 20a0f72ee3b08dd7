//! Credentials, in kube-proxy's order: `--kubeconfig`, else `--master`, else the pod's
//! service account.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::KubeSourceError;

/// A client from `--kubeconfig` (with `--master`, if also given, overriding its server, as
/// client-go's `BuildConfigFromFlags` does), else from `--master` alone (no credentials),
/// else from the in-cluster service account.
pub async fn client(
    kubeconfig: Option<&Path>,
    master: Option<&str>,
) -> Result<kube::Client, KubeSourceError> {
    let master = master
        .filter(|m| !m.is_empty())
        .map(|m| {
            m.parse()
                .map_err(|e| KubeSourceError::InvalidMaster(m.to_string(), Box::new(e)))
        })
        .transpose()?;
    let config = match (kubeconfig, master) {
        (Some(path), master) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| KubeSourceError::Kubeconfig(path.to_path_buf(), e))?;
            let mut config =
                kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| KubeSourceError::Kubeconfig(path.to_path_buf(), e))?;
            if let Some(url) = master {
                config.cluster_url = url;
            }
            config
        }
        (None, Some(url)) => kube::Config::new(url),
        (None, None) => kube::Config::incluster().map_err(KubeSourceError::InCluster)?,
    };
    kube::Client::try_from(config).map_err(KubeSourceError::Client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn master_alone_is_used_as_is() {
        let c = client(None, Some("http://127.0.0.1:1")).await.unwrap();
        assert_eq!(c.default_namespace(), "default");
    }

    #[tokio::test]
    async fn bad_inputs_name_what_is_wrong() {
        let Err(err) = client(None, Some("http://[bad")).await else {
            panic!("a bad URL was accepted");
        };
        assert!(err.to_string().contains("http://[bad"), "{err}");
        let missing = Path::new("/nonexistent/kubeconfig");
        let Err(err) = client(Some(missing), None).await else {
            panic!("a missing kubeconfig was accepted");
        };
        assert!(err.to_string().contains("/nonexistent/kubeconfig"), "{err}");
    }

    #[tokio::test]
    async fn master_overrides_the_kubeconfig_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\n\
             users:\n- name: u\n  user: {}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
             current-context: x\n",
        )
        .unwrap();
        assert!(client(Some(&path), None).await.is_ok());
        assert!(
            client(Some(&path), Some("http://127.0.0.1:2"))
                .await
                .is_ok()
        );
    }
}
