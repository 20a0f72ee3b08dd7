//! `kproxy`: parse the configuration, set up logging and the process, enter the network
//! namespace, run. Exits (to be restarted) when the `--config` file changes, as kube-proxy.

use std::path::Path;
use std::process::ExitCode;

use kproxy::config::{Config, ConfigError};

fn main() -> ExitCode {
    let config = match kproxy::config::load(std::env::args_os()) {
        Ok(config) => config,
        Err(ConfigError::Args(e)) => e.exit(),
        Err(ConfigError::ShowVersion(text)) => {
            say(&mut std::io::stdout(), format_args!("{text}\n"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            say(&mut std::io::stderr(), format_args!("kproxy: {e}\n"));
            return ExitCode::from(2);
        }
    };
    kproxy::logging::init(&config.logging);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(path) = &config.write_config_to {
        return exit(write_config(&config, path));
    }
    // kube-proxy applies it at start and only logs a failure (a read-only /proc in an
    // unprivileged container).
    if let Some(score) = config.oom_score_adj
        && let Err(e) = kproxy::process::apply_oom_score_adj(Path::new("/proc"), score)
    {
        tracing::warn!(score, error = %e, "cannot set the OOM score adjustment");
    }
    // Before any thread exists: every thread started later inherits the namespace.
    if let Some(name) = &config.netns
        && let Err(e) = kproxy::sys::netns::enter(name)
    {
        tracing::error!(error = %e, "cannot enter the network namespace");
        return ExitCode::FAILURE;
    }
    if config.cleanup {
        return exit(kproxy::app::cleanup(&config));
    }
    if config.init_only {
        return exit(init_only(&config));
    }
    if config.dry_run {
        return exit(
            kproxy::app::dry_run(&config, &kproxy::metrics::Metrics::new())
                .map(|input| say(&mut std::io::stdout(), format_args!("{input}"))),
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the tokio runtime");
    let result = runtime.block_on(run_until_config_changes(config));
    // Without waiting for a sync still running on the blocking pool (after SIGTERM): the
    // rules stay as the kernel has them, an unfinished iptables-restore commits nothing.
    runtime.shutdown_background();
    exit(result)
}

/// Runs kproxy; with `--config`, stops with an error as soon as the file changes, so the
/// kubelet restarts the pod with the new configuration (kube-proxy's behaviour).
async fn run_until_config_changes(config: Config) -> anyhow::Result<()> {
    let Some(path) = config.config_file.clone() else {
        return kproxy::app::run(config).await;
    };
    let changed = kproxy::config::watch::changed(&path)?;
    tokio::select! {
        result = kproxy::app::run(config) => result,
        () = changed => Err(anyhow::anyhow!(
            "content of the configuration file {} was updated; exiting to be restarted with it",
            path.display()
        )),
    }
}

/// `--write-config-to`: the effective configuration as YAML, as kube-proxy writes it.
fn write_config(config: &Config, path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, config.effective.to_yaml())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    tracing::info!(file = %path.display(), "wrote configuration");
    Ok(())
}

/// `--init-only`: the privileged kernel settings, then exit.
fn init_only(config: &Config) -> anyhow::Result<()> {
    let settings = kproxy::process::privileged_settings(config);
    let written = kproxy::process::apply(Path::new("/proc/sys"), &settings)?;
    tracing::info!(
        settings = settings.len(),
        written,
        "privileged set-up done (--init-only)"
    );
    Ok(())
}

/// Writes to stdout or stderr, ignoring a closed pipe (`println!` would panic on it): the
/// exit code still tells the outcome.
fn say(out: &mut dyn std::io::Write, text: std::fmt::Arguments<'_>) {
    let _ = out.write_fmt(text).and_then(|()| out.flush());
}

fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
