//! `kproxy`: parse the configuration, enter the network namespace, run.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = match kproxy::config::load(std::env::args_os()) {
        Ok(config) => config,
        Err(kproxy::config::ConfigError::Args(e)) => e.exit(),
        Err(e) => {
            eprintln!("kproxy: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
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
    if config.dry_run {
        return exit(
            kproxy::app::dry_run(&config, &kproxy::metrics::Metrics::new())
                .map(|input| print!("{input}")),
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the tokio runtime");
    let result = runtime.block_on(kproxy::app::run(config));
    // Without waiting for a sync still running on the blocking pool (after SIGTERM): the
    // rules stay as the kernel has them, an unfinished iptables-restore commits nothing.
    runtime.shutdown_background();
    exit(result)
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
