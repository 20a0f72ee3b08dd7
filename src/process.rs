//! Process set-up kube-proxy does at start: the OOM score adjustment, and the privileged
//! kernel settings that `--init-only` performs and exits after (for an init container;
//! the proxy can then run with CAP_NET_ADMIN only).

use std::io;
use std::path::Path;

use crate::config::{Config, ProxyMode};

/// Writes `score` to `<proc>/self/oom_score_adj` (kube-proxy's `ApplyOOMScoreAdj`).
pub fn apply_oom_score_adj(proc_root: &Path, score: i32) -> io::Result<()> {
    std::fs::write(proc_root.join("self/oom_score_adj"), score.to_string())
}

/// One kernel setting under /proc/sys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sysctl {
    /// Relative to /proc/sys, e.g. `net/ipv4/ip_forward`.
    pub path: &'static str,
    pub value: String,
}

/// The privileged set-up for this configuration, in order. Today: IPVS mode's sysctls.
/// Conntrack settings (`conntrack.*`, issue #11) join this list.
pub fn privileged_settings(config: &Config) -> Vec<Sysctl> {
    let mut out = Vec::new();
    if config.mode == ProxyMode::Ipvs {
        out.extend(
            crate::backend::ipvs::sysctl::wanted(config.ipvs.strict_arp)
                .into_iter()
                .map(|(path, value)| Sysctl {
                    path,
                    value: value.to_string(),
                }),
        );
    }
    out
}

/// Applies `settings` under `root` (normally /proc/sys): writes only values that differ;
/// returns how many were written.
pub fn apply(root: &Path, settings: &[Sysctl]) -> io::Result<usize> {
    let mut written = 0;
    for s in settings {
        let path = root.join(s.path);
        let annotate = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let current = std::fs::read_to_string(&path).map_err(annotate)?;
        if current.trim() != s.value {
            std::fs::write(&path, &s.value).map_err(annotate)?;
            written += 1;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_score_adj_is_written_where_asked() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("self")).unwrap();
        apply_oom_score_adj(root.path(), -999).unwrap();
        let written = std::fs::read_to_string(root.path().join("self/oom_score_adj")).unwrap();
        assert_eq!(written, "-999");
        // A read-only /proc is an error the caller turns into a warning.
        assert!(apply_oom_score_adj(Path::new("/nonexistent"), 0).is_err());
    }

    #[test]
    fn this_process_accepts_its_own_oom_score() {
        // Raising the score needs no privilege; write the current value back.
        let current = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap();
        let score: i32 = current.trim().parse().unwrap();
        apply_oom_score_adj(Path::new("/proc"), score).unwrap();
    }

    #[test]
    fn ipvs_mode_has_settings_iptables_mode_has_none_yet() {
        let ipvs =
            crate::config::load(["kproxy", "--proxy-mode=ipvs", "--ipvs-strict-arp"]).unwrap();
        let paths: Vec<_> = privileged_settings(&ipvs).iter().map(|s| s.path).collect();
        assert!(paths.contains(&"net/ipv4/vs/conntrack"), "{paths:?}");
        assert!(paths.contains(&"net/ipv4/conf/all/arp_ignore"), "{paths:?}");
        let iptables = crate::config::load(["kproxy"]).unwrap();
        assert!(privileged_settings(&iptables).is_empty());

        let root = tempfile::tempdir().unwrap();
        let settings = privileged_settings(&ipvs);
        for s in &settings {
            let p = root.path().join(s.path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "0\n").unwrap();
        }
        assert_eq!(apply(root.path(), &settings).unwrap(), settings.len());
        assert_eq!(
            apply(root.path(), &settings).unwrap(),
            0,
            "second run writes nothing"
        );
    }
}
