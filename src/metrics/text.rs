//! Exposition formats: prometheus-client writes OpenMetrics; Prometheus text 0.0.4 (what
//! kube-proxy serves and what scrapers get unless they ask for OpenMetrics) differs only
//! in counters' names in `# HELP`/`# TYPE`, `# UNIT` lines and the `# EOF` trailer.

/// What `/metrics` answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`, the default.
    Prometheus,
    /// `application/openmetrics-text; version=1.0.0`, when the `Accept` header lists it.
    OpenMetrics,
}

impl Format {
    /// From a request's `Accept` header.
    pub fn negotiate(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Prometheus,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// OpenMetrics text → Prometheus text 0.0.4.
pub fn to_prometheus(open_metrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in open_metrics.lines() {
        if let Some(name) = line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.strip_suffix(" counter"))
        {
            counters.insert(name.to_string());
        }
    }
    let mut out = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| line.strip_prefix(prefix).map(|rest| (prefix, rest)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let tail = if tail == "unknown" { "untyped" } else { tail };
                if counters.contains(name) {
                    out.push_str(&format!("{prefix}{name}_total {tail}\n"));
                } else {
                    out.push_str(&format!("{prefix}{name} {tail}\n"));
                }
            }
            None => {
                // Counters' creation timestamps are OpenMetrics only.
                let sample = line.split(['{', ' ']).next().unwrap_or("");
                if sample
                    .strip_suffix("_created")
                    .is_some_and(|base| counters.contains(base))
                {
                    continue;
                }
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_with_total_and_the_trailer_goes() {
        let om = "# HELP a_changes Cumulative changes.\n# TYPE a_changes counter\na_changes_total 3\na_changes_created 1.5\n# HELP b Gauge.\n# TYPE b gauge\n# UNIT b seconds\nb{x=\"1\"} 2\n# EOF\n";
        assert_eq!(
            to_prometheus(om),
            "# HELP a_changes_total Cumulative changes.\n# TYPE a_changes_total counter\na_changes_total 3\n# HELP b Gauge.\n# TYPE b gauge\nb{x=\"1\"} 2\n"
        );
    }

    #[test]
    fn accept_header_picks_the_format() {
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4;q=0.5,*/*;q=0.1")),
            Format::Prometheus
        );
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
    }
}
