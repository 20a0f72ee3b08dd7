//! One manifest file → the valid Services, EndpointSlices and Nodes in it. Each document (and each
//! item of a `List`) stands alone: a bad one is logged once, counted, and skipped.

use std::path::Path;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::limits;
use crate::metrics::Metrics;
use crate::model;
use crate::source::convert::{self, DEFAULT_NAMESPACE};

/// The objects kproxy uses from one file, in file order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FileObjects {
    pub services: Vec<model::Service>,
    pub slices: Vec<model::EndpointSlice>,
    /// Every named `v1 Node`; the directory keeps only this node's.
    pub nodes: Vec<model::NodeInfo>,
}

/// Where a document came from, for log lines: `dir/web.yaml:14` plus `items[3]` in a List.
struct Origin<'a> {
    path: &'a Path,
    line: usize,
    item: Option<usize>,
}

impl std::fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.display().to_string();
        write!(f, "{}:{}", path.escape_debug(), self.line)?;
        if let Some(i) = self.item {
            write!(f, ": items[{i}]")?;
        }
        Ok(())
    }
}

/// Parses a file's bytes; `.json` files hold one JSON document, others are (multi-document) YAML.
/// A UTF-8 byte-order mark, as some Windows editors write it, is skipped (kubectl skips it).
/// Each document is held to [`limits`] before it is parsed.
pub fn parse_file(path: &Path, bytes: &[u8], metrics: &Metrics) -> FileObjects {
    let mut out = FileObjects::default();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let is_json = path.extension().is_some_and(|e| e == "json");
    if is_json {
        let origin = Origin {
            path,
            line: 1,
            item: None,
        };
        if let Some(excess) = std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| limits::check(text).err())
        {
            too_costly(&origin, &excess, metrics);
            return out;
        }
        let doc = serde_json::from_slice::<serde_json::Value>(bytes)
            .map_err(|e| e.to_string())
            .and_then(|json| serde_yaml::to_value(json).map_err(|e| e.to_string()));
        match doc {
            Ok(doc) => handle(&origin, doc, None, metrics, &mut out),
            Err(e) => reject(
                &origin,
                "File",
                "invalid_json",
                &format!("invalid JSON: {e}"),
                metrics,
            ),
        }
        return out;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let origin = Origin {
                path,
                line: 1,
                item: None,
            };
            reject(
                &origin,
                "File",
                "invalid_yaml",
                &format!("not UTF-8: {e}"),
                metrics,
            );
            return out;
        }
    };
    for (line, chunk) in split_documents(text) {
        let origin = Origin {
            path,
            line,
            item: None,
        };
        // Each chunk is parsed alone (a bad document never hides the others) and its
        // error locations are moved to the file's lines. Padding each chunk with the lines
        // before it instead made loading quadratic in the number of documents (10 s for
        // a 20,000-document file).
        if let Err(excess) = limits::check(chunk) {
            too_costly(&origin, &excess, metrics);
            continue;
        }
        match serde_yaml::from_str::<Value>(chunk) {
            Ok(doc) => handle(&origin, doc, Some(chunk), metrics, &mut out),
            Err(e) => reject(
                &origin,
                "File",
                "invalid_yaml",
                &format!("invalid YAML: {}", in_file(&e, line)),
                metrics,
            ),
        }
    }
    out
}

/// The one line and count for a document [`limits`] refuses.
fn too_costly(origin: &Origin, excess: &limits::Excess, metrics: &Metrics) {
    let message = format!("not parsed: {excess}");
    reject(origin, "File", excess.reason(), &message, metrics);
}

/// A parse error of a chunk that starts at line `first_line` of its file, with its
/// location given as a line of the file.
fn in_file(err: &serde_yaml::Error, first_line: usize) -> String {
    let text = err.to_string();
    match err.location() {
        Some(loc) => text.replace(
            &format!("at line {} column {}", loc.line(), loc.column()),
            &format!(
                "at line {} column {}",
                loc.line() + first_line - 1,
                loc.column()
            ),
        ),
        None => text,
    }
}

/// Splits multi-document YAML at `---` lines; returns each document with its first line
/// (1-based). Text after `---` on the marker line belongs to the document it opens.
pub fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let (mut start, mut start_line) = (0, 1);
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let is_marker = line
            .strip_prefix("---")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\n', '\r']));
        if is_marker {
            docs.push((start_line, &text[start..offset]));
            start = offset + 3;
            start_line = i + 1;
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start..]));
    docs.retain(|(_, d)| !is_blank(d));
    docs
}

/// Whether a chunk has nothing but whitespace and comments.
fn is_blank(doc: &str) -> bool {
    doc.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#')
    })
}

/// Dispatches one parsed document on its apiVersion and kind. `source` is the document's
/// text (starting at `origin.line`), re-parsed only to get a field path into the error
/// when typed parsing fails.
fn handle(
    origin: &Origin,
    doc: Value,
    source: Option<&str>,
    metrics: &Metrics,
    out: &mut FileObjects,
) {
    if doc.is_null() {
        return;
    }
    let Value::Mapping(map) = &doc else {
        reject(
            origin,
            "File",
            "invalid_document",
            "document is not an object",
            metrics,
        );
        return;
    };
    let text = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    match (api_version, kind) {
        (_, "") => reject(
            origin,
            "File",
            "invalid_document",
            "document has no kind",
            metrics,
        ),
        ("v1", "List" | "ServiceList" | "NodeList")
        | ("discovery.k8s.io/v1", "EndpointSliceList")
            if origin.item.is_none() =>
        {
            // API list responses (ServiceList, EndpointSliceList) leave the items' type out.
            let item_type = match kind {
                "ServiceList" => Some(("v1", "Service")),
                "NodeList" => Some(("v1", "Node")),
                "EndpointSliceList" => Some(("discovery.k8s.io/v1", "EndpointSlice")),
                _ => None,
            };
            match map.get("items") {
                Some(Value::Sequence(_)) | None | Some(Value::Null) => {}
                Some(_) => {
                    reject(
                        origin,
                        "File",
                        "invalid_document",
                        "items is not a list",
                        metrics,
                    );
                    return;
                }
            }
            // Taken out of the document, not copied: a `kubectl get -o yaml` dump is one
            // List holding every object.
            let items = match doc {
                Value::Mapping(mut map) => match map.remove("items") {
                    Some(Value::Sequence(items)) => items,
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            for (i, mut item) in items.into_iter().enumerate() {
                if let (Some((v, k)), Value::Mapping(m)) = (item_type, &mut item) {
                    m.entry("apiVersion".into()).or_insert_with(|| v.into());
                    m.entry("kind".into()).or_insert_with(|| k.into());
                }
                let origin = Origin {
                    item: Some(i),
                    ..*origin
                };
                handle(&origin, item, None, metrics, out);
            }
        }
        ("v1", "Service") => {
            let svc = typed::<core::Service>(origin, &doc, source, "Service", metrics);
            if let Some(svc) = svc {
                let mut dropped = Vec::new();
                let converted = convert::service(&svc, &mut dropped);
                report_left_out(origin, "Service", &doc, &dropped, metrics);
                match converted {
                    Ok(Some(s)) => out.services.push(s),
                    Ok(None) => {}
                    Err(e) => reject_object(origin, "Service", &doc, &e, metrics),
                }
            }
        }
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            let slice =
                typed::<discovery::EndpointSlice>(origin, &doc, source, "EndpointSlice", metrics);
            if let Some(slice) = slice {
                let mut dropped = Vec::new();
                let converted = convert::endpoint_slice(&slice, &mut dropped);
                report_left_out(origin, "EndpointSlice", &doc, &dropped, metrics);
                match converted {
                    Ok(Some(s)) => out.slices.push(s),
                    Ok(None) => {}
                    Err(e) => reject_object(origin, "EndpointSlice", &doc, &e, metrics),
                }
            }
        }
        ("v1", "Node") => {
            if let Some(node) = typed::<core::Node>(origin, &doc, source, "Node", metrics) {
                match node.metadata.name.as_deref().filter(|n| !n.is_empty()) {
                    Some(name) => out.nodes.push(convert::node_info(name, &node)),
                    None => {
                        let e = convert::ObjectError::MissingName;
                        reject_object(origin, "Node", &doc, &e, metrics);
                    }
                }
            }
        }
        (version, kind @ ("Service" | "EndpointSlice" | "Node")) => {
            let want = if kind == "EndpointSlice" {
                "discovery.k8s.io/v1"
            } else {
                "v1"
            };
            let reason = format!("apiVersion {version:?} is not supported (use {want})");
            reject(
                origin,
                kind,
                "unsupported_api_version",
                &describe(kind, &doc, &reason),
                metrics,
            );
        }
        (version, kind) => {
            tracing::debug!(origin = %origin, api_version = version, kind, "ignoring manifest of another kind");
        }
    }
}

/// Reads a document into its k8s-openapi type.
fn typed<T: DeserializeOwned>(
    origin: &Origin,
    doc: &Value,
    source: Option<&str>,
    kind: &str,
    metrics: &Metrics,
) -> Option<T> {
    // Deserialized from a borrowed value: no copy of the document.
    match T::deserialize(doc) {
        Ok(obj) => Some(obj),
        Err(e) => {
            // Value errors carry no field path; parsing the text again gives one.
            let detail = source
                .and_then(|s| serde_yaml::from_str::<T>(s).err())
                .map_or_else(|| e.to_string(), |e| in_file(&e, origin.line));
            reject(
                origin,
                kind,
                "invalid_object",
                &describe(kind, doc, &detail),
                metrics,
            );
            None
        }
    }
}

/// Logs and counts each value left out of an otherwise valid object.
fn report_left_out(
    origin: &Origin,
    kind: &str,
    doc: &Value,
    dropped: &[convert::ObjectError],
    metrics: &Metrics,
) {
    for e in dropped {
        let message = describe(kind, doc, &format!("left out {e}"));
        reject(origin, kind, e.reason(), &message, metrics);
    }
}

fn reject_object(
    origin: &Origin,
    kind: &str,
    doc: &Value,
    err: &convert::ObjectError,
    metrics: &Metrics,
) {
    reject(
        origin,
        kind,
        err.reason(),
        &describe(kind, doc, &err.to_string()),
        metrics,
    );
}

/// `Service demo/web: <reason>`, with the namespace defaulted as conversion does, and
/// control characters and quotes in the name escaped: one object, one log line.
fn describe(kind: &str, doc: &Value, reason: &str) -> String {
    let meta = doc.get("metadata");
    let field = |k| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
    match field("name") {
        Some(name) => {
            let ns = field("namespace")
                .filter(|n| !n.is_empty())
                .unwrap_or(DEFAULT_NAMESPACE);
            format!(
                "{kind} {}/{}: {reason}",
                ns.escape_debug(),
                name.escape_debug()
            )
        }
        None => format!("{kind}: {reason}"),
    }
}

/// The one log line and the one count for a skipped document or object.
fn reject(origin: &Origin, kind: &str, reason: &str, message: &str, metrics: &Metrics) {
    tracing::warn!(reason, "skipping manifest {origin}: {message}");
    metrics.reject(kind, reason);
}
