//! Runs a step's probes on both twins, in parallel but bounded: a fixed number of worker
//! threads share the list. Affinity probes first check stickiness (nothing resets
//! affinities meanwhile), then every probe samples its backends. Probes whose twins
//! disagree are run again with a longer timeout, so that a slow answer on a loaded
//! machine does not pass for a dropped packet.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::bed::Bed;
use crate::plan::ProbeKey;
use crate::probe::{Outcome, SHOTS, Side, Target, compare, stickiness};

/// Probe threads: most of a thread's time is spent waiting for a dropped packet's timeout.
const WORKERS: usize = 64;
/// The first round's timeout: replies on these links take well under a millisecond.
const FAST: Duration = Duration::from_millis(250);
/// The rechecks' timeouts.
const SLOW: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(4)];
/// The node's index in a twin's sources.
const NODE: usize = 1;

pub struct ProbeResult {
    pub key: ProbeKey,
    /// kube-proxy's twin first, then kproxy's.
    pub outcomes: [Outcome; 2],
    /// Rechecks it took to agree (or the number done, when they never did).
    pub rechecks: usize,
}

impl ProbeResult {
    pub fn agrees(&self) -> bool {
        self.outcomes[0] == self.outcomes[1]
    }
}

/// Every probe's outcome on both twins. Disagreements are checked again unless `known`
/// (a documented difference).
pub fn run(
    bed: &Bed,
    probes: &[(ProbeKey, Target)],
    known: impl Fn(&ProbeKey) -> bool,
) -> Vec<ProbeResult> {
    let mut results: Vec<ProbeResult> = round(bed, probes, FAST)
        .into_iter()
        .zip(probes)
        .map(|(outcomes, (key, _))| ProbeResult {
            key: key.clone(),
            outcomes,
            rechecks: 0,
        })
        .collect();
    for timeout in SLOW {
        let again: Vec<usize> = (0..results.len())
            .filter(|&i| !results[i].agrees() && !known(&results[i].key))
            .collect();
        if again.is_empty() {
            break;
        }
        let subset: Vec<(ProbeKey, Target)> = again.iter().map(|&i| probes[i].clone()).collect();
        for (i, outcomes) in again.into_iter().zip(round(bed, &subset, timeout)) {
            results[i].outcomes = outcomes;
            results[i].rechecks += 1;
        }
    }
    results
}

/// One round over `probes`: stickiness of the affinity probes, then every probe.
fn round(bed: &Bed, probes: &[(ProbeKey, Target)], timeout: Duration) -> Vec<[Outcome; 2]> {
    let started = std::time::Instant::now();
    let shots = SHOTS.load(Ordering::Relaxed);
    let sides = |t: &Target| {
        bed.twins.each_ref().map(|twin| Side {
            source: &twin.sources[t.source],
            node: &twin.sources[NODE],
        })
    };
    // Affinity is per service port and client address: probes that share them run one
    // after the other, or two of them might pick different backends at the same moment.
    let mut groups: BTreeMap<(&str, usize), Vec<usize>> = BTreeMap::new();
    for (i, (key, t)) in probes.iter().enumerate() {
        if t.affinity {
            groups.entry((&key.port, t.source)).or_default().push(i);
        }
    }
    let groups: Vec<Vec<usize>> = groups.into_values().collect();
    let mut sticky: Vec<Option<[Option<bool>; 2]>> = vec![None; probes.len()];
    for (group, found) in groups.iter().zip(parallel(&groups, |group| {
        group
            .iter()
            .map(|&i| stickiness(&probes[i].1, &sides(&probes[i].1), timeout))
            .collect::<Vec<_>>()
    })) {
        for (&i, s) in group.iter().zip(found) {
            sticky[i] = Some(s);
        }
    }
    let outcomes = parallel(probes, |(_, t)| compare(t, &sides(t), timeout));
    eprintln!(
        "  {} probes ({timeout:?} timeout): {} requests in {:.1?}",
        probes.len(),
        SHOTS.load(Ordering::Relaxed) - shots,
        started.elapsed()
    );
    outcomes
        .into_iter()
        .zip(sticky)
        .map(|(mut pair, sticky)| {
            if let Some(sticky) = sticky {
                for (outcome, s) in pair.iter_mut().zip(sticky) {
                    outcome.set_sticky(s);
                }
            }
            pair
        })
        .collect()
}

/// `f` of every item, on [`WORKERS`] threads, in the items' order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS.min(items.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return mine;
                        };
                        mine.push((i, f(item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a probe worker panicked"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}
