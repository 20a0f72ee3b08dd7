//! The differential run: publish, wait, compare rules and probes, step by step; then one
//! report of what differed, known (with its docs anchor) or not.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use crate::bed::Bed;
use crate::corpus::{self, ServiceSpec};
use crate::edits;
use crate::known;
use crate::mode::Mode;
use crate::plan;
use crate::probe::Outcome;
use crate::rules::{self, RuleDiff};
use crate::runner::{self, ProbeResult};

fn setting(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{var}={v:?}: not a number"))
        })
        .unwrap_or(default)
}

/// What a whole run found.
#[derive(Default)]
struct Findings {
    /// Known difference id → how many rules or probes it covered.
    known: BTreeMap<&'static str, usize>,
    unknown_rules: Vec<(usize, RuleDiff)>,
    unknown_probes: Vec<(usize, String)>,
    /// Outcome kind → count, over both twins' agreeing probes.
    kinds: BTreeMap<String, usize>,
    /// Probes that agreed only on a recheck.
    flakes: usize,
    probes: usize,
}

pub fn run(mode: Mode) {
    let services = setting("KPROXY_DIFF_SERVICES", 40);
    let steps = setting("KPROXY_DIFF_STEPS", 3);
    let Some(bed) = Bed::start(mode) else {
        return;
    };
    let mut corpus = corpus::generate(services);
    let mut before: Vec<ServiceSpec> = corpus
        .iter()
        .map(|s| ServiceSpec {
            present: false,
            ..s.clone()
        })
        .collect();
    let mut findings = Findings::default();
    for step in 0..=steps {
        let started = Instant::now();
        if step > 0 {
            let edits = edits::edit(&mut corpus, step);
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for (_, e) in &edits {
                *counts.entry(format!("{e:?}")).or_default() += 1;
            }
            eprintln!("step {step}: edits {counts:?}");
        }
        let published = SystemTime::now();
        bed.publish(&before, &corpus, step);
        bed.wait_for_step(step, published);
        let synced = started.elapsed();
        compare_rules(&bed, step, &mut findings);
        let probes = plan::probes(&before, &corpus);
        let results = runner::run(&bed, &probes, known::probe_is_known);
        judge_probes(step, &results, &corpus, &mut findings);
        eprintln!(
            "step {step}: {} services present, {} probes; published and synced in {synced:.1?}, \
             compared in {:.1?}",
            corpus.iter().filter(|s| s.present).count(),
            probes.len(),
            started.elapsed() - synced
        );
        before = corpus.clone();
    }
    finish(&bed, findings);
}

fn compare_rules(bed: &Bed, step: usize, findings: &mut Findings) {
    let dumps = bed.twins.each_ref().map(|t| bed.mode.dump(&t.topo.node));
    let mut theirs = String::new();
    for line in dumps[0].lines() {
        let mut line = line.to_string();
        for id in known::rewrite(&mut line) {
            *findings.known.entry(id).or_default() += 1;
        }
        theirs.push_str(&line);
        theirs.push('\n');
    }
    let sets = [bed.mode.normalise(&theirs), bed.mode.normalise(&dumps[1])];
    let diffs = rules::diff([&sets[0], &sets[1]]);
    let mut unknown = 0;
    for d in diffs {
        match known::known_rule(&d) {
            Some(k) => *findings.known.entry(k.id).or_default() += 1,
            None => {
                unknown += 1;
                findings.unknown_rules.push((step, d));
            }
        }
    }
    if unknown > 0 {
        keep_dumps(step, &dumps);
    }
}

/// Writes both dumps where a failed run's reader finds them.
fn keep_dumps(step: usize, dumps: &[String; 2]) {
    let dir = std::env::temp_dir().join(format!("kproxy-differential-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    for (who, dump) in ["kube-proxy", "kproxy"].iter().zip(dumps) {
        let _ = std::fs::write(dir.join(format!("step{step}-{who}.rules")), dump);
    }
    eprintln!("step {step}: rule dumps in {}", dir.display());
}

fn judge_probes(
    step: usize,
    results: &[ProbeResult],
    corpus: &[ServiceSpec],
    findings: &mut Findings,
) {
    findings.probes += results.len();
    for r in results {
        if r.agrees() {
            findings.flakes += usize::from(r.rechecks > 0);
            *findings.kinds.entry(kind(&r.outcomes[0])).or_default() += 1;
            continue;
        }
        match known::known_probe(&r.key) {
            Some(k) => *findings.known.entry(k.id).or_default() += 1,
            None => {
                let service = r.key.port.split(':').next().unwrap_or_default();
                let spec = corpus
                    .iter()
                    .find(|s| s.name == service)
                    .map(ServiceSpec::describe)
                    .unwrap_or_default();
                findings.unknown_probes.push((
                    step,
                    format!(
                        "{}: kube-proxy {}, kproxy {} (after {} rechecks)\n      {spec}",
                        r.key, r.outcomes[0], r.outcomes[1], r.rechecks
                    ),
                ));
            }
        }
    }
}

/// `answered (cluster IP)` and so on, for the histogram.
fn kind(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Answered {
            sticky: Some(_), ..
        } => "answered, affinity".into(),
        Outcome::Answered { backends, .. } => format!("answered by {}", backends.len()),
        Outcome::Refused => "refused".into(),
        Outcome::Unreachable(_) => "unreachable".into(),
        Outcome::Dropped => "dropped".into(),
        Outcome::Filtered => "filtered".into(),
        Outcome::Mixed(_) => "mixed".into(),
    }
}

fn finish(bed: &Bed, f: Findings) {
    eprintln!(
        "{} probes; agreeing outcomes: {:?}; {} agreed only on a recheck",
        f.probes, f.kinds, f.flakes
    );
    eprintln!(
        "known differences (docs/kube-proxy-differences.md): {:?}",
        f.known
    );
    // The test must be able to fail: the corpus reaches every kind of outcome.
    for kind in [
        "answered by 1",
        "answered by 2",
        "answered, affinity",
        "refused",
        "dropped",
    ] {
        assert!(
            f.kinds.contains_key(kind),
            "no probe was {kind}: the corpus or the probes are broken ({:?})",
            f.kinds
        );
    }
    if f.unknown_rules.is_empty() && f.unknown_probes.is_empty() {
        return;
    }
    let mut text = String::new();
    for (step, d) in f.unknown_rules.iter().take(80) {
        text.push_str(&format!("  step {step}: {d}\n"));
    }
    for (step, p) in f.unknown_probes.iter().take(80) {
        text.push_str(&format!("  step {step}: {p}\n"));
    }
    for twin in &bed.twins {
        twin.assert_running();
    }
    panic!(
        "{} rule differences and {} probe differences not explained in \
         docs/kube-proxy-differences.md (the first 80 of each):\n{text}",
        f.unknown_rules.len(),
        f.unknown_probes.len()
    );
}
