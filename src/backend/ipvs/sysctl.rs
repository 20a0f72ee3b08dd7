//! The kernel settings IPVS mode needs, as kube-proxy sets them. `/proc/sys/net` shows the
//! network namespace of the thread that opens it, so this works after `--netns`.

use std::fs;
use std::io;
use std::path::Path;

/// `(path under /proc/sys, value)` pairs IPVS mode needs.
pub fn wanted(strict_arp: bool) -> Vec<(&'static str, &'static str)> {
    let mut out = vec![
        // Let netfilter see IPVS connections, so that masquerade rules apply to them.
        ("net/ipv4/vs/conntrack", "1"),
        // Drop packets of connections whose destination was deleted, so that the client
        // retries at once instead of timing out.
        ("net/ipv4/vs/expire_nodest_conn", "1"),
        // Expire persistence templates of quiesced (weight 0) destinations.
        ("net/ipv4/vs/expire_quiescent_template", "1"),
        ("net/ipv4/ip_forward", "1"),
    ];
    if strict_arp {
        // Answer ARP only for addresses of the receiving interface, and announce the best
        // local address: kube-ipvs0's service addresses stay invisible on the network.
        out.push(("net/ipv4/conf/all/arp_ignore", "1"));
        out.push(("net/ipv4/conf/all/arp_announce", "2"));
    }
    out
}

/// Sets every wanted value that differs; returns how many were written.
pub fn ensure(strict_arp: bool) -> io::Result<usize> {
    ensure_under(Path::new("/proc/sys"), &wanted(strict_arp))
}

fn ensure_under(root: &Path, settings: &[(&str, &str)]) -> io::Result<usize> {
    let mut written = 0;
    for (path, value) in settings {
        let path = root.join(path);
        let current = fs::read_to_string(&path).map_err(|e| annotate(&path, e))?;
        if current.trim() != *value {
            fs::write(&path, value).map_err(|e| annotate(&path, e))?;
            written += 1;
        }
    }
    Ok(written)
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_differing_values_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let settings = wanted(true);
        for (path, _) in &settings {
            let p = dir.path().join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "0\n").unwrap();
        }
        fs::write(dir.path().join("net/ipv4/ip_forward"), "1\n").unwrap();
        assert_eq!(ensure_under(dir.path(), &settings).unwrap(), 5);
        let arp = fs::read_to_string(dir.path().join("net/ipv4/conf/all/arp_announce")).unwrap();
        assert_eq!(arp, "2");
        assert_eq!(ensure_under(dir.path(), &settings).unwrap(), 0);
        assert_eq!(wanted(false).len(), 4);
    }

    #[test]
    fn a_missing_setting_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = ensure_under(dir.path(), &wanted(false)).unwrap_err();
        assert!(err.to_string().contains("net/ipv4/vs/conntrack"), "{err}");
    }
}
