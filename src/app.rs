//! Wiring: from a [`Config`] to running sources, HTTP servers and the sync loop.

use anyhow::{Context, Result, bail};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::backend::Backend;
use crate::backend::after_sync::WithAfterSync;
use crate::backend::cleanup::OtherModesCleanup;
use crate::backend::iptables::IptablesBackend;
use crate::backend::iptables::compile::{CompileOptions, compile};
use crate::backend::ipvs::compile::{
    CompileOptions as IpvsCompileOptions, Compiler as IpvsCompiler,
};
use crate::backend::ipvs::link::{DUMMY_DEVICE, LinkHandle};
use crate::backend::ipvs::netlink::Timeouts;
use crate::backend::ipvs::rules::RuleOptions;
use crate::backend::ipvs::{self, Handles, IpvsBackend, IpvsOptions};
use crate::config::{Config, ProxyMode};
use crate::conntrack;
use crate::health::{ProxyHealth, health_timeout};
use crate::health_check;
use crate::http::{Server, Site};
use crate::metrics::Metrics;
use crate::model::{Change, ProxyState};
use crate::netfilter::iptables::runner::CommandRunner;
use crate::source::{kube, manifests};
use crate::sync::{FirstSync, Periods, SyncLoop};

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

/// IPVS mode's options from the configuration.
pub fn ipvs_options(config: &Config) -> IpvsOptions {
    let secs = |d: std::time::Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
    IpvsOptions {
        compile: IpvsCompileOptions {
            scheduler: config.ipvs.scheduler.clone(),
            nodeport_addresses: config.nodeport_addresses.clone(),
        },
        rules: RuleOptions {
            masquerade_all: config.iptables.masquerade_all,
            masquerade_bit: config.iptables.masquerade_bit,
            cluster_cidr: config.cluster_cidr,
        },
        exclude_cidrs: config.ipvs.exclude_cidrs.clone(),
        strict_arp: config.ipvs.strict_arp,
        timeouts: Timeouts {
            tcp: secs(config.ipvs.tcp_timeout),
            tcp_fin: secs(config.ipvs.tcp_fin_timeout),
            udp: secs(config.ipvs.udp_timeout),
        },
        ..IpvsOptions::default()
    }
}

/// `--cleanup`: removes what any mode programmed (iptables chains, IPVS virtual servers
/// outside `--ipvs-exclude-cidrs`, kube-ipvs0, ipsets, nftables mode's tables) and exits.
pub fn cleanup(config: &Config) -> Result<()> {
    let cleaned = crate::backend::cleanup::cleanup(
        &mut CommandRunner::default(),
        &config.ipvs.exclude_cidrs,
    )?;
    info!(
        chains_and_jumps = cleaned.chains_and_jumps,
        virtual_servers = cleaned.virtual_servers,
        dummy_device = cleaned.dummy_device,
        sets = cleaned.sets,
        nftables_tables = cleaned.nftables_tables,
        "removed kproxy's kernel state"
    );
    Ok(())
}

/// `--dry-run`: prints what a full sync of the manifests would program: the
/// iptables-restore input, and in IPVS mode the virtual servers first, as `ipvsadm -S -n`.
pub fn dry_run(config: &Config, metrics: &Metrics) -> Result<String> {
    let Some(dir) = &config.manifests else {
        bail!("--dry-run needs --manifests");
    };
    let snapshot = manifests::load_dir(dir, metrics)?;
    let mut state = ProxyState::new(config.node_name()?);
    let services = snapshot.services.into_values().map(Change::ServiceUpdated);
    let slices = snapshot.slices.into_values().map(Change::SliceUpdated);
    for change in services.chain(slices) {
        state.apply(change);
    }
    match config.mode {
        ProxyMode::Iptables => Ok(compile(&state, &compile_options(config)).to_restore_input()),
        ProxyMode::Ipvs => {
            let options = ipvs_options(config);
            let mut compiler = IpvsCompiler::new(options.compile.clone());
            compiler.set_local_addresses(&local_addresses());
            let desired = compiler.compile_all(&state).desired;
            Ok(ipvs::listing::ipvsadm_save(&desired)
                + &ipvs::rules::ruleset(&options.rules).to_restore_input())
        }
    }
}

/// This node's addresses outside kube-ipvs0, read without changing anything; none when
/// they cannot be read (the listing then has no NodePort virtual servers).
fn local_addresses() -> Vec<std::net::Ipv4Addr> {
    let read = || -> Result<Vec<std::net::Ipv4Addr>, ipvs::link::LinkError> {
        let mut link = LinkHandle::new()?;
        let dummy = link.link_index(DUMMY_DEVICE)?;
        Ok(link
            .addresses()?
            .into_iter()
            .filter(|a| Some(a.index) != dummy)
            .map(|a| a.addr)
            .collect())
    };
    read().unwrap_or_else(|e| {
        warn!(error = %e, "cannot read the node's addresses; listing no NodePort virtual servers");
        Vec::new()
    })
}

fn backend(config: &Config, metrics: &Metrics) -> Result<Box<dyn Backend>> {
    match config.mode {
        ProxyMode::Iptables => Ok(Box::new(IptablesBackend::new(
            compile_options(config),
            CommandRunner::default(),
            metrics.clone(),
        ))),
        ProxyMode::Ipvs => {
            let handles = Handles::open().context("IPVS mode needs a kernel with IPVS (ip_vs)")?;
            Ok(Box::new(IpvsBackend::new(
                ipvs_options(config),
                handles,
                CommandRunner::default(),
                metrics.clone(),
            )))
        }
    }
}

/// `backend`, followed after each sync by the health-check node port decision, which the
/// listeners (spawned here, on the node-port addresses) follow.
fn with_health_checks(
    backend: Box<dyn Backend>,
    config: &Config,
    metrics: &Metrics,
    health: &ProxyHealth,
) -> Box<dyn Backend> {
    let (publisher, checks) = health_check::channel(metrics);
    let addresses = health_check::bind_addresses(&config.nodeport_addresses, &local_addresses());
    let servers = health_check::Servers::new(addresses, health.clone());
    tokio::spawn(servers.run(checks));
    Box::new(WithAfterSync::new(backend, publisher))
}

/// Runs kproxy until a signal or, with `--once`, until the first sync (then prints
/// [`once_report`] on stdout). A signal is acted on at once, even in the middle of a sync:
/// syncs run on the blocking pool, so the caller must shut the runtime down without
/// waiting for it (`Runtime::shutdown_background`); the rules stay as the kernel has them.
pub async fn run(config: Config) -> Result<()> {
    let metrics = Metrics::new();
    crate::sys::conntrack_settings::apply(&config.effective.conntrack);
    let (tx, rx) = mpsc::channel::<Change>(CHANGE_QUEUE);
    let node_name = config.node_name()?;
    let periods = Periods {
        min_sync: config.min_sync_period(),
        sync: config.sync_period(),
    };
    let health = ProxyHealth::new(health_timeout(periods.sync)).reporting_to(&metrics);
    let backend = with_health_checks(backend(&config, &metrics)?, &config, &metrics, &health);
    let backend = Box::new(WithAfterSync::new(
        backend,
        OtherModesCleanup::new(config.mode, config.ipvs.exclude_cidrs.clone()),
    ));
    let backend = conntrack::with_conntrack_cleanup(backend, &metrics);
    let source = start_source(&config, &node_name, tx, &metrics, &health).await?;
    start_http(&config, &health, &metrics).await?;
    let state = ProxyState::new(node_name);
    let sync = SyncLoop::new(state, backend, periods, metrics, health, 1);
    let synced = async {
        if config.once {
            let first = sync.first_sync(rx).await?;
            println!("{}", once_report(&first));
            Ok(())
        } else {
            sync.run(rx, false).await.map_err(Into::into)
        }
    };
    tokio::select! {
        result = synced => result,
        result = source => match result {
            Ok(Ok(())) => bail!("the source stopped"),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e).context("the source panicked"),
        },
        () = shutdown_signal() => {
            info!("stopping; rules stay in place until the next kproxy replaces them");
            Ok(())
        }
    }
}

/// What `--once` prints on stdout: one JSON line saying what the sync did, for scripts and
/// benches (log lines are for people, and their wording may change).
pub fn once_report(first: &FirstSync) -> String {
    serde_json::json!({
        "full": first.report.full,
        "services": first.services,
        "objects_written": first.report.objects_written,
        "sync_seconds": first.elapsed.as_secs_f64(),
    })
    .to_string()
}

/// Starts the manifest directory source, or the API source when there is no directory.
/// Only the API source knows the Node object, so only it reports the node's eligibility
/// for load-balancer traffic to `/healthz`.
async fn start_source(
    config: &Config,
    node_name: &str,
    tx: mpsc::Sender<Change>,
    metrics: &Metrics,
    health: &ProxyHealth,
) -> Result<tokio::task::JoinHandle<Result<()>>> {
    let metrics = metrics.clone();
    if let Some(dir) = config.manifests.clone() {
        info!(dir = %dir.display(), "reading Services and EndpointSlices from manifests");
        return Ok(tokio::spawn(async move {
            manifests::run(dir, tx, metrics)
                .await
                .context("manifest source")
        }));
    }
    let client = kube::client(config.kubeconfig.as_deref(), config.master.as_deref())
        .await
        .context("connecting to the API server")?;
    let node_name = node_name.to_string();
    tokio::spawn(kube::record_start(client.clone(), node_name.clone()));
    let health = health.clone();
    let eligible = move |eligible| health.set_node_eligible(eligible);
    Ok(tokio::spawn(async move {
        kube::run_reporting_eligibility(client, node_name, tx, metrics, eligible)
            .await
            .context("API source")
    }))
}

/// Binds both HTTP servers before the first sync, so a bad address fails start-up.
async fn start_http(config: &Config, health: &ProxyHealth, metrics: &Metrics) -> Result<()> {
    let health_server = Server::bind(
        config.healthz_bind_address,
        Site::health(health.clone(), metrics.clone()),
    )
    .await?;
    let metrics_server =
        Server::bind(config.metrics_bind_address, Site::metrics(config, metrics)).await?;
    info!(healthz = %health_server.local_addr(), metrics = %metrics_server.local_addr(), "serving HTTP");
    tokio::spawn(health_server.run());
    tokio::spawn(metrics_server.run());
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
