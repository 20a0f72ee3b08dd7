//! Wiring: from a [`Config`] to running sources, HTTP servers and the sync loop.

use anyhow::{Context, Result, bail};
use std::io::Write as _;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

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
use crate::backend::nftables::{self, NftablesBackend};
use crate::config::{Config, ProxyMode};
use crate::conntrack;
use crate::health::{ProxyHealth, health_timeout};
use crate::health_check;
use crate::http::{Server, Site};
use crate::metrics::Metrics;
use crate::model::{Change, ProxyState};
use crate::netfilter::iptables::runner::CommandRunner;
use crate::nftables::client::NftHandle;
use crate::source::{kube, manifests};
use crate::sync::{FirstSync, Periods, SyncLoop};

/// Events buffered between the sources and the sync loop.
const CHANGE_QUEUE: usize = 4096;

pub fn compile_options(config: &Config) -> CompileOptions {
    CompileOptions {
        masquerade_all: config.iptables.masquerade_all,
        masquerade_bit: config.iptables.masquerade_bit,
        local_traffic: config.local_traffic.clone(),
        nodeport_addresses: config.nodeport_addresses.clone(),
        node_ip: config.node_ip,
        localhost_node_ports: config.iptables.localhost_node_ports,
    }
}

/// nftables mode's options from the configuration.
pub fn nftables_options(config: &Config) -> nftables::Options {
    nftables::Options {
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
            node_ip: config.node_ip,
        },
        rules: RuleOptions {
            masquerade_all: config.iptables.masquerade_all,
            masquerade_bit: config.iptables.masquerade_bit,
            local_traffic: config.local_traffic.clone(),
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
    cleaned.log("kproxy's kernel state");
    Ok(())
}

/// `--dry-run`: prints what a full sync of the manifests would program: the
/// iptables-restore input, and in IPVS mode the virtual servers first, as `ipvsadm -S -n`.
pub fn dry_run(config: &Config, metrics: &Metrics) -> Result<String> {
    let Some(dir) = &config.manifests else {
        bail!("--dry-run needs --manifests");
    };
    let node_name = config.node_name()?;
    let snapshot = manifests::load_dir(dir, &node_name, metrics)?;
    let mut config = config.clone();
    for warning in config.resolve_node(snapshot.node.as_ref(), &local_addresses()) {
        warn!("{warning}");
    }
    let config = &config;
    let mut state = ProxyState::new(node_name);
    let node = snapshot.node.into_iter().map(Change::NodeUpdated);
    let services = snapshot.services.into_values().map(Change::ServiceUpdated);
    let slices = snapshot.slices.into_values().map(Change::SliceUpdated);
    for change in node.chain(services).chain(slices) {
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
        ProxyMode::Nftables => Ok(nftables::text::nft_script(&nftables::compile(
            &state,
            &nftables_options(config),
        ))),
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
        ProxyMode::Nftables => {
            let handle = NftHandle::new().context("nftables mode needs nf_tables")?;
            Ok(Box::new(NftablesBackend::new(
                nftables_options(config),
                handle,
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
    events: Option<&kube::NodeEvents>,
) -> Box<dyn Backend> {
    let (publisher, checks) = health_check::channel(metrics);
    let addresses = health_check::bind_addresses(&config.nodeport_addresses, &local_addresses());
    let mut servers = health_check::Servers::new(addresses, health.clone());
    if let Some(events) = events.cloned() {
        servers = servers.reporting_failures_to(Box::new(move |service, port, error| {
            let (events, service, error) = (events.clone(), service.clone(), error.to_string());
            tokio::spawn(async move {
                events
                    .health_check_failed(&service.namespace, &service.name, port, &error)
                    .await;
            });
        }));
    }
    tokio::spawn(servers.run(checks));
    Box::new(WithAfterSync::new(backend, publisher))
}

/// Runs kproxy until a signal or, with `--once`, until the first sync (then prints
/// [`once_report`] on stdout). A signal is acted on at once, even in the middle of a sync:
/// syncs run on the blocking pool, so the caller must shut the runtime down without
/// waiting for it (`Runtime::shutdown_background`); the rules stay as the kernel has them.
pub async fn run(mut config: Config) -> Result<()> {
    let metrics = Metrics::new();
    crate::sys::conntrack_settings::apply(&config.effective.conntrack);
    let (tx, rx) = mpsc::channel::<Change>(CHANGE_QUEUE);
    let node_name = config.node_name()?;
    let node = resolve_node(&mut config, &node_name).await?;
    // NodeCIDR reads the pod CIDRs once: a change restarts kproxy, as it restarts kube-proxy.
    let pinned_pod_cidrs = node
        .filter(|_| config.detect_local_mode == crate::model::DetectLocalMode::NodeCidr)
        .map(|n| n.pod_cidrs);
    let localhost = config.mode == ProxyMode::Iptables
        && crate::backend::iptables::compile::serves_localhost_node_ports(&compile_options(
            &config,
        ));
    if localhost {
        crate::sys::route_localnet::ensure().context("setting route_localnet")?;
    }
    let periods = Periods {
        min_sync: config.min_sync_period(),
        sync: config.sync_period(),
    };
    let health = ProxyHealth::new(health_timeout(periods.sync)).reporting_to(&metrics);
    let backend = backend(&config, &metrics)?;
    let (source, events) =
        start_source(&config, &node_name, tx, &metrics, &health, pinned_pod_cidrs).await?;
    let backend = with_health_checks(backend, &config, &metrics, &health, events.as_ref());
    let backend = Box::new(WithAfterSync::new(
        backend,
        OtherModesCleanup::new(config.mode, config.ipvs.exclude_cidrs.clone()),
    ));
    let backend: Box<dyn Backend> = if localhost {
        Box::new(WithAfterSync::new(
            backend,
            crate::sys::route_localnet::KeepRouteLocalnet,
        ))
    } else {
        backend
    };
    let backend = conntrack::with_conntrack_cleanup(backend, &metrics);
    start_http(&config, &health, &metrics, events.as_ref()).await?;
    let state = ProxyState::new(node_name);
    let sync = SyncLoop::new(state, backend, periods, metrics, health, 1);
    let synced = async {
        if config.once {
            let first = sync.first_sync(rx).await?;
            // Ignoring a closed stdout: `println!` would panic on it.
            let _ = writeln!(std::io::stdout(), "{}", once_report(&first));
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

/// Completes the settings that depend on this node ([`Config::resolve_node`]): with the API
/// source, from the Node object read once before the first sync (only when a setting
/// needs it); in manifest mode, from the directory's Node named after this node, if any,
/// else from the host.
async fn resolve_node(
    config: &mut Config,
    node_name: &str,
) -> Result<Option<crate::model::NodeInfo>> {
    let (wanted, pod_cidrs) = config.needs_node();
    let node = if !wanted {
        None
    } else if let Some(dir) = &config.manifests {
        manifests::load_dir(dir, node_name, &Metrics::new())?.node
    } else {
        let client = kube::client(config.kubeconfig.as_deref(), config.master.as_deref())
            .await
            .context("connecting to the API server")?;
        kube::read_at_start(client, node_name, pod_cidrs)
            .await
            .map_err(anyhow::Error::msg)?
    };
    for warning in config.resolve_node(node.as_ref(), &local_addresses()) {
        warn!("{warning}");
    }
    info!(
        local_traffic = ?config.local_traffic,
        nodeport_addresses = ?config.nodeport_addresses,
        mode = config.detect_local_mode.as_str(),
        "node settings"
    );
    Ok(node)
}

/// Passes the source's changes on until one shows this node's pod CIDRs other than
/// `pinned` (a deleted Node included): then an error, which ends kproxy so that it
/// restarts with the new ones (kube-proxy's `NodeManager.OnNodeChange` exits likewise).
async fn until_pod_cidrs_change(
    mut rx: mpsc::Receiver<Change>,
    tx: mpsc::Sender<Change>,
    pinned: Vec<ipnet::Ipv4Net>,
) -> Result<()> {
    while let Some(change) = rx.recv().await {
        if let Change::NodeUpdated(node) = &change
            && node.pod_cidrs != pinned
        {
            // Logged here: the sync loop may see its channel close first and say only that.
            let why = format!(
                "the Node's pod CIDRs changed ({pinned:?} -> {:?}); exiting so that kproxy \
                 restarts with them (--detect-local-mode NodeCIDR), as kube-proxy does",
                node.pod_cidrs
            );
            error!("{why}");
            bail!(why);
        }
        if tx.send(change).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
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
    pinned_pod_cidrs: Option<Vec<ipnet::Ipv4Net>>,
) -> Result<(
    tokio::task::JoinHandle<Result<()>>,
    Option<kube::NodeEvents>,
)> {
    let metrics = metrics.clone();
    if let Some(dir) = config.manifests.clone() {
        info!(dir = %dir.display(), "reading Services and EndpointSlices from manifests");
        let node_name = node_name.to_string();
        let source = tokio::spawn(async move {
            let Some(pinned) = pinned_pod_cidrs else {
                return manifests::run(dir, node_name, tx, metrics)
                    .await
                    .context("manifest source");
            };
            let (relay_tx, relay_rx) = mpsc::channel(CHANGE_QUEUE);
            let run = manifests::run(dir, node_name, relay_tx, metrics);
            tokio::select! {
                result = run => result.context("manifest source"),
                result = until_pod_cidrs_change(relay_rx, tx, pinned) => result,
            }
        });
        return Ok((source, None));
    }
    let client = kube::client(config.kubeconfig.as_deref(), config.master.as_deref())
        .await
        .context("connecting to the API server")?;
    let node_name = node_name.to_string();
    let events = kube::NodeEvents::new(client.clone(), node_name.clone());
    let start_warnings = start_warnings(config);
    let recorder = events.clone();
    tokio::spawn(async move { recorder.record_start(start_warnings).await });
    let health = health.clone();
    let eligible = move |eligible| health.set_node_eligible(eligible);
    let source = tokio::spawn(async move {
        let Some(pinned) = pinned_pod_cidrs else {
            return kube::run_reporting_eligibility(client, node_name, tx, metrics, eligible)
                .await
                .context("API source");
        };
        let (relay_tx, relay_rx) = mpsc::channel(CHANGE_QUEUE);
        let run = kube::run_reporting_eligibility(client, node_name, relay_tx, metrics, eligible);
        tokio::select! {
            result = run => result.context("API source"),
            result = until_pod_cidrs_change(relay_rx, tx, pinned) => result,
        }
    });
    Ok((source, Some(events)))
}

/// How long a fatal error waits for its Event to reach the API server.
const EVENT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// The start-up warnings upstream also records as Events on the Node.
fn start_warnings(config: &Config) -> Vec<(&'static str, String)> {
    let mut warnings = Vec::new();
    if config.mode_defaulted {
        warnings.push((
            "KubeProxyDefaultMode",
            "No proxy mode specified: defaulting to 'iptables'. kube-proxy's default becomes \
             'nftables' in Kubernetes 1.40; set 'mode: iptables' or '--proxy-mode iptables' \
             to keep iptables mode."
                .to_string(),
        ));
    }
    if config.mode == ProxyMode::Ipvs {
        warnings.push((
            "IPVSDeprecation",
            "The ipvs proxier is deprecated upstream (disabled by default in Kubernetes 1.40, \
             removed in 1.43). Migrate to the 'nftables' proxier instead."
                .to_string(),
        ));
    }
    warnings
}

/// How often a server that could not bind tries again (upstream's 5 s).
const BIND_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// Binds both HTTP servers before the first sync. A server that cannot bind stops start-up
/// with `--bind-address-hard-fail`; otherwise it is logged and retried every 5 s while the
/// proxy runs, as upstream. A server whose address is off (`--healthz-port=0`) is not started.
async fn start_http(
    config: &Config,
    health: &ProxyHealth,
    metrics: &Metrics,
    events: Option<&kube::NodeEvents>,
) -> Result<()> {
    let servers = [
        (
            "healthz",
            config.healthz_bind_address,
            Site::health(health.clone(), metrics.clone()),
        ),
        (
            "metrics",
            config.metrics_bind_address,
            Site::metrics(config, metrics),
        ),
    ];
    for (server, addr, site) in servers {
        let Some(addr) = addr else {
            info!(server, "server disabled (its port is 0)");
            continue;
        };
        match Server::bind(addr, site.clone()).await {
            Ok(bound) => drop(tokio::spawn(bound.run())),
            Err(e) if config.bind_address_hard_fail => {
                if let Some(events) = events {
                    let reason = match server {
                        "healthz" => "FailedToStartProxierHealthcheck",
                        _ => "FailedToStartMetricServer",
                    };
                    let published = events.warning(reason, e.to_string());
                    // The process is about to exit: the event must not hold it up for long.
                    let _ = tokio::time::timeout(EVENT_DEADLINE, published).await;
                }
                return Err(e).context("--bind-address-hard-fail is set");
            }
            Err(e) => {
                error!(error = %e, "retrying every {BIND_RETRY:?}");
                tokio::spawn(bind_until_bound(addr, site));
            }
        }
    }
    Ok(())
}

async fn bind_until_bound(addr: std::net::SocketAddr, site: Site) {
    loop {
        tokio::time::sleep(BIND_RETRY).await;
        match Server::bind(addr, site.clone()).await {
            Ok(bound) => return bound.run().await,
            Err(e) => tracing::debug!(error = %e, "still cannot bind"),
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
