//! Logging set-up from kube-proxy's flags: `--v` (klog verbosity) onto tracing levels,
//! `--vmodule` onto per-module levels, `--logging-format=json` as one JSON object per line
//! with kube-proxy's keys (`ts` in milliseconds since the epoch, `caller`, `msg`, `v`, `err`,
//! then the event's fields). A non-empty `RUST_LOG` overrides the levels; an empty one is
//! ignored, so errors are never silenced by accident.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LogFormat, LogSettings};

/// klog verbosity → the most verbose tracing level shown: 0 info, 1-3 debug, 4+ trace.
pub fn level(verbosity: u32) -> Level {
    match verbosity {
        0 => Level::INFO,
        1..=3 => Level::DEBUG,
        _ => Level::TRACE,
    }
}

/// The filter directives: `RUST_LOG` when it is set and not blank, else `--v` and
/// `--vmodule` (patterns with wildcards cannot name a module and are skipped).
pub fn directives(settings: &LogSettings, rust_log: Option<&str>) -> String {
    if let Some(env) = rust_log.filter(|s| !s.trim().is_empty()) {
        return env.to_string();
    }
    let mut out = vec![level(settings.verbosity).to_string().to_lowercase()];
    for (pattern, v) in &settings.vmodule {
        if pattern.contains(['*', '?']) || pattern.is_empty() {
            continue;
        }
        let module = pattern.trim_end_matches(".rs").replace('/', "::");
        out.push(format!(
            "kproxy::{module}={}",
            level(*v).to_string().to_lowercase()
        ));
    }
    out.join(",")
}

/// Installs the global subscriber.
pub fn init(settings: &LogSettings) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = EnvFilter::try_new(directives(settings, rust_log.as_deref()))
        .unwrap_or_else(|_| EnvFilter::new(directives(settings, None)));
    // A write that fails (a closed stderr pipe) drops the line: reporting it would write to
    // the same closed stderr with `eprintln!`, which panics.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .log_internal_errors(false);
    // Split: errors to stderr, the rest to stdout (component-base's split-stream option).
    let split = std::io::stderr
        .with_max_level(Level::ERROR)
        .or_else(std::io::stdout);
    match (settings.format, settings.split_stream) {
        (LogFormat::Json, true) => builder.event_format(KubeJson).with_writer(split).init(),
        (LogFormat::Json, false) => builder
            .event_format(KubeJson)
            .with_writer(std::io::stderr)
            .init(),
        (LogFormat::Text, true) => builder.with_writer(split).init(),
        (LogFormat::Text, false) => builder.with_writer(std::io::stderr).init(),
    }
}

/// component-base's JSON format (logs/json: zap with keys ts, caller, msg, v, err).
#[derive(Clone, Copy, Debug, Default)]
pub struct KubeJson;

impl<S, N> FormatEvent<S, N> for KubeJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writeln!(writer, "{}", json_line(event, now_millis()))
    }
}

fn now_millis() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// One event as kube-proxy's JSON line. Errors carry no `v` and put an `error` field
/// under `err`; other levels carry the lowest `--v` that shows them.
pub fn json_line(event: &Event<'_>, ts_millis: f64) -> String {
    let meta = event.metadata();
    let mut fields = Fields::default();
    event.record(&mut fields);
    let mut obj = serde_json::Map::new();
    obj.insert("ts".into(), ts_millis.into());
    if let (Some(file), Some(line)) = (meta.file(), meta.line()) {
        obj.insert("caller".into(), format!("{file}:{line}").into());
    }
    obj.insert("msg".into(), fields.message.unwrap_or_default().into());
    let level = *meta.level();
    if level != Level::ERROR {
        let v = match level {
            Level::TRACE => 4,
            Level::DEBUG => 1,
            _ => 0,
        };
        obj.insert("v".into(), v.into());
    }
    for (k, v) in fields.values {
        let key = if level == Level::ERROR && k == "error" {
            "err".to_string()
        } else {
            k
        };
        obj.insert(key, v);
    }
    serde_json::Value::Object(obj).to_string()
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    values: Vec<(String, serde_json::Value)>,
}

impl Fields {
    fn put(&mut self, field: &tracing::field::Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.values.push((field.name().to_string(), value));
        }
    }
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_error(
        &mut self,
        field: &tracing::field::Field,
        value: &(dyn std::error::Error + 'static),
    ) {
        self.put(field, value.to_string().into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn klog_levels_map_onto_tracing_levels() {
        assert_eq!(level(0), Level::INFO);
        assert_eq!(level(2), Level::DEBUG);
        assert_eq!(level(4), Level::TRACE);
        let s = LogSettings {
            verbosity: 2,
            vmodule: vec![("sync".into(), 5), ("*proxy*".into(), 3)],
            ..LogSettings::default()
        };
        assert_eq!(directives(&s, None), "debug,kproxy::sync=trace");
        assert_eq!(directives(&s, Some("warn")), "warn");
    }

    #[test]
    fn an_empty_rust_log_does_not_silence_errors() {
        let s = LogSettings::default();
        for empty in [Some(""), Some("  "), None] {
            assert_eq!(directives(&s, empty), "info", "{empty:?}");
        }
    }

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_parse_and_use_kube_proxys_keys() {
        let buf = Buffer::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(KubeJson)
            .with_max_level(Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(services = 3, node = "n1", "synced");
            tracing::debug!("detail");
            let e = std::io::Error::other("boom");
            tracing::error!(error = %e, "sync failed");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["msg"], "synced");
        assert_eq!(lines[0]["v"], 0);
        assert_eq!(lines[0]["services"], 3);
        assert_eq!(lines[0]["node"], "n1");
        assert!(lines[0]["ts"].as_f64().unwrap() > 1.6e12, "milliseconds");
        assert!(lines[0]["caller"].as_str().unwrap().contains("logging.rs:"));
        assert_eq!(lines[1]["v"], 1);
        assert_eq!(lines[2]["msg"], "sync failed");
        assert_eq!(lines[2]["err"], "boom");
        assert!(lines[2].get("v").is_none(), "{}", lines[2]);
    }
}
