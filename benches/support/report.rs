//! Bench results: a table printed to stdout, and the same as markdown and JSON files under
//! `$KPROXY_BENCH_OUT` (default `<target dir>/bench-results/`).

use std::path::PathBuf;

use serde_json::{Value, json};

pub struct Report {
    name: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    records: Vec<Value>,
    notes: Vec<String>,
}

impl Report {
    /// A report written to `<name>.md` and `<name>.json`.
    pub fn new(name: &str, header: &[&str]) -> Self {
        Self {
            name: name.to_string(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            records: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a table row (one cell per header column) and its machine-readable record.
    pub fn row(&mut self, cells: Vec<String>, record: Value) {
        assert_eq!(cells.len(), self.header.len(), "one cell per column");
        self.rows.push(cells);
        self.records.push(record);
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("| {} |\n", self.header.join(" | ")));
        out.push_str(&format!("|{}\n", "---|".repeat(self.header.len())));
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        for note in &self.notes {
            out.push_str(&format!("\n{note}\n"));
        }
        out
    }

    /// Prints the table and writes the files; returns the markdown path.
    pub fn finish(&self, context: Value) -> PathBuf {
        let md = self.markdown();
        println!("\n{md}");
        let dir = out_dir();
        std::fs::create_dir_all(&dir).expect("creating the results directory");
        let md_path = dir.join(format!("{}.md", self.name));
        std::fs::write(&md_path, &md).expect("writing markdown results");
        let doc = json!({ "bench": self.name, "context": context, "results": self.records });
        let json_path = dir.join(format!("{}.json", self.name));
        std::fs::write(
            &json_path,
            serde_json::to_string_pretty(&doc).expect("JSON"),
        )
        .expect("writing JSON results");
        println!("results: {} and {}", md_path.display(), json_path.display());
        md_path
    }
}

fn out_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("KPROXY_BENCH_OUT") {
        return dir.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    PathBuf::from(target).join("bench-results")
}

/// What the numbers were taken on: cores, kernel, iptables, load at the start.
pub fn machine(iptables: &str) -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let model = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_string();
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": model,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "iptables": iptables,
        "loadavg": read("/proc/loadavg").trim(),
    })
}
