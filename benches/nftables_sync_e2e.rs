//! nftables mode on the real kernel, in throwaway network namespaces, at 1k and 10k
//! services × 10 endpoints: a cold full sync over netlink, a restart against the same
//! kernel (writes nothing), one changed endpoint, and — on the same table — `nft -f` of
//! kproxy's own `--dry-run` output into an empty namespace (the CLI floor).
//!
//! `cargo bench --bench nftables_sync_e2e` (root, `nft` installed).
//! Settings: `KPROXY_BENCH_SIZES=1k,10k`.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use kproxy::backend::Backend;
use kproxy::backend::nftables::text::nft_script;
use kproxy::backend::nftables::{NftablesBackend, Options, compile};
use kproxy::metrics::Metrics;
use kproxy::model::PendingChanges;
use kproxy::nftables::client::NftHandle;
use kproxy::testing::netns::Netns;

use support::cluster;
use support::netns::require_kernel;

fn sizes() -> Vec<usize> {
    let raw = std::env::var("KPROXY_BENCH_SIZES").unwrap_or_else(|_| "1k,10k".into());
    raw.split(',')
        .map(|s| {
            let s = s.trim();
            match s.strip_suffix('k') {
                Some(k) => k.parse::<usize>().expect("size") * 1000,
                None => s.parse().expect("size"),
            }
        })
        .collect()
}

fn options() -> Options {
    Options {
        cluster_cidr: Some(cluster::CLUSTER_CIDR.parse().expect("CIDR")),
        ..Options::default()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    require_kernel(&["nft"]);
    println!(
        "| services × 10 endpoints | kproxy cold sync | `nft -f` of the dry-run | ratio | restart (writes) | one endpoint changed |"
    );
    println!("|---|---|---|---|---|---|");
    for n in sizes() {
        let (mut cluster, mut state, _) = cluster::cluster_and_state(n);
        let ns = Netns::for_bench("nft-sync");
        let handle = ns.run_in(NftHandle::new).expect("nf_tables handle");
        let mut backend = NftablesBackend::new(options(), handle, Metrics::new());
        let started = Instant::now();
        backend
            .sync(&state, &PendingChanges::default(), true)
            .expect("cold sync");
        let cold = started.elapsed();

        let handle = ns.run_in(NftHandle::new).expect("nf_tables handle");
        let mut restarted = NftablesBackend::new(options(), handle, Metrics::new());
        let started = Instant::now();
        let report = restarted
            .sync(&state, &PendingChanges::default(), true)
            .expect("restart sync");
        let restart = started.elapsed();

        cluster::replace_endpoint(&mut cluster, &mut state, n / 2);
        let pending = state.take_pending();
        let started = Instant::now();
        restarted
            .sync(&state, &pending, false)
            .expect("partial sync");
        let one = started.elapsed();

        let script = nft_script(&compile(&state, &options()));
        let floor_ns = Netns::for_bench("nft-floor");
        let path = std::env::temp_dir().join(format!("kproxy-nft-{n}.nft"));
        std::fs::write(&path, &script).expect("write script");
        let started = Instant::now();
        let out = Command::new("ip")
            .args(["netns", "exec", &floor_ns.name, "nft", "-f"])
            .arg(&path)
            .output()
            .expect("nft -f");
        let floor = started.elapsed();
        assert!(
            out.status.success(),
            "nft -f failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::remove_file(&path);
        println!(
            "| {n} | {} | {} | {:.2}× | {} ({} messages) | {} |",
            ms(cold),
            ms(floor),
            cold.as_secs_f64() / floor.as_secs_f64(),
            ms(restart),
            report.objects_written,
            ms(one)
        );
    }
}
