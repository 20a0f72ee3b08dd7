//! component-base's logging flags, as kube-proxy registers them (logs/api/v1 `addFlags`).

use std::time::Duration;

use clap::{ArgAction, Args};

use crate::config::duration;

/// `--logging-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with kube-proxy's keys (ts, caller, msg, v, err).
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "{other:?} is not a log format (permitted: json, text)"
            )),
        }
    }
}

#[derive(Clone, Debug, Args)]
pub struct LogArgs {
    /// Log verbosity, klog-style: 0 = info, 1-3 = debug, 4+ = trace. A non-empty
    /// RUST_LOG overrides it.
    #[arg(short = 'v', long = "v", default_value_t = 0, value_name = "LEVEL")]
    pub verbosity: u32,

    /// Comma-separated 'module=N' settings: verbosity N for one kproxy module (e.g.
    /// 'sync=4,manifests=2'). Patterns with '*' or '?' are accepted and ignored.
    #[arg(long, value_name = "PATTERN=N,...", value_parser = check_vmodule)]
    pub vmodule: Option<String>,

    /// The log format: 'text' or 'json' (one JSON object per line, kube-proxy's keys).
    #[arg(long, default_value = "text", value_name = "FORMAT")]
    pub logging_format: LogFormat,

    /// kube-proxy's log flush interval. kproxy writes each line at once, so it has no
    /// effect.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = duration::parse)]
    pub log_flush_frequency: Duration,

    /// In text format, write errors to stderr and other lines to stdout (default: all to
    /// stderr).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_name = "BOOL")]
    pub log_text_split_stream: bool,

    /// Accepted for kube-proxy compatibility; kproxy does not buffer info lines.
    #[arg(long, default_value = "0", value_name = "QUANTITY")]
    pub log_text_info_buffer_size: String,

    /// In JSON format, write errors to stderr and other lines to stdout.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_name = "BOOL")]
    pub log_json_split_stream: bool,

    /// Accepted for kube-proxy compatibility; kproxy does not buffer info lines.
    #[arg(long, default_value = "0", value_name = "QUANTITY")]
    pub log_json_info_buffer_size: String,
}

/// `pattern=N` pairs of a `--vmodule` value.
pub fn parse_vmodule(s: &str) -> Result<Vec<(String, u32)>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|item| {
            let (pattern, level) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not pattern=N"))?;
            let level = level
                .trim()
                .parse()
                .map_err(|_| format!("{item:?}: {level:?} is not a verbosity level"))?;
            Ok((pattern.trim().to_string(), level))
        })
        .collect()
}

fn check_vmodule(s: &str) -> Result<String, String> {
    parse_vmodule(s).map(|_| s.to_string())
}
