//! Wiring: from a [`Config`] to running sources, HTTP servers and the sync loop.

use anyhow::{Context, Result, bail};
use tokio::sync::mpsc;
use tracing::info;

use crate::backend::Backend;
use crate::backend::iptables::compile::{CompileOptions, compile};
use crate::backend::iptables::restore::CommandRunner;
use crate::backend::iptables::{self, IptablesBackend};
use crate::config::{Config, ProxyMode};
use crate::metrics::Metrics;
use crate::model::{Change, ProxyState};
use crate::source::manifests;
use crate::sync::{Periods, SyncLoop};

/// Events buffered between the sources and the sync loop.
const CHANGE_QUEUE: usize = 4096;

pub fn compile_options(config: &Config) -> CompileOptions {
    CompileOptions {
        masquerade_all: config.iptables.masquerade_all,
        masquerade_bit: config.iptables.masquerade_bit,
        cluster_cidr: config.cluster_cidr,
        nodeport_addresses: config.nodeport_addresses.clone(),
    }
}

/// `--cleanup`: removes kproxy's rules and exits.
pub fn cleanup() -> Result<()> {
    let removed = iptables::cleanup(&mut CommandRunner::default()).context("removing iptables rules")?;
    info!(removed, "removed kproxy's iptables chains and jumps");
    Ok(())
}

/// `--dry-run`: prints the iptables-restore input of a full sync of the manifests.
pub fn dry_run(config: &Config, metrics: &Metrics) -> Result<String> {
    let Some(dir) = &config.manifests else {
        bail!("--dry-run needs --manifests");
    };
    let snapshot = manifests::load_dir(dir, metrics)?;
    let mut state = ProxyState::new(config.node_name());
    for change in snapshot.into_changes() {
        state.apply(change);
    }
    Ok(compile(&state, &compile_options(config)).to_restore_input())
}

fn backend(config: &Config, metrics: &Metrics) -> Result<Box<dyn Backend>> {
    match config.mode {
        ProxyMode::Iptables => Ok(Box::new(IptablesBackend::new(
            compile_options(config),
            CommandRunner::default(),
            metrics.clone(),
        ))),
        ProxyMode::Ipvs => bail!("--proxy-mode=ipvs is not available yet"),
    }
}

/// Runs kproxy until a signal or, with `--once`, until the first sync.
pub async fn run(config: Config) -> Result<()> {
    let metrics = Metrics::new();
    let backend = backend(&config, &metrics)?;
    let (tx, rx) = mpsc::channel::<Change>(CHANGE_QUEUE);
    let Some(dir) = config.manifests.clone() else {
        bail!("no source: give --manifests DIR");
    };
    let source_metrics = metrics.clone();
    let source = tokio::spawn(async move { manifests::run(dir, tx, source_metrics).await });

    let periods = Periods {
        min_sync: config.min_sync_period(),
        sync: config.sync_period(),
    };
    let state = ProxyState::new(config.node_name());
    let sync = SyncLoop::new(state, backend, periods, metrics, (), 1);
    tokio::select! {
        result = sync.run(rx, config.once) => result.map_err(Into::into),
        result = source => match result {
            Ok(Ok(())) => bail!("the manifest source stopped"),
            Ok(Err(e)) => Err(e).context("manifest source"),
            Err(e) => Err(e).context("manifest source panicked"),
        },
        () = shutdown_signal() => {
            info!("stopping; rules stay in place until the next kproxy replaces them");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
