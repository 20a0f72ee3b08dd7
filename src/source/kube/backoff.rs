//! How long a watch waits before retrying after an error: client-go's reflector backoff
//! (800 ms, doubling, jitter factor 1.0, capped at 30 s), reset only by a real success.
//!
//! kube-runtime's own `default_backoff` resets on every `Ok` item, and its watcher emits
//! `Ok(Event::Init)` before every list attempt, so against a failing server it never grew
//! past the first step (a retry every ~1.2 s). Here `Init` is not a success: only an event
//! that a list or watch response produced ([`is_real_success`]) resets the delay.

use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt, stream};
use kube::runtime::watcher::{self, Event};

/// client-go's reflector: `NewExponentialBackoffManager(800ms, 30s, 2m, 2.0, 1.0, …)`.
const INITIAL: Duration = Duration::from_millis(800);
const FACTOR: u32 = 2;
/// The longest wait, jitter included, so a watch resumes within it once the server is back.
pub const CAP: Duration = Duration::from_secs(30);
/// client-go's `wait.Jitter(d, 1.0)`: a delay `d` becomes a uniform pick in `[d, 2d)`.
const JITTER: f64 = 1.0;

/// The delay sequence of one watch. Pure: the jitter comes from a seeded generator.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The un-jittered delay the next failure waits.
    base: Duration,
    jitter: f64,
    rng: u64,
}

impl Backoff {
    /// client-go's policy with jitter drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            base: INITIAL,
            jitter: JITTER,
            rng: seed,
        }
    }

    /// Seeded from the clock, so that many nodes do not retry in step.
    pub fn from_clock() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self::new(nanos)
    }

    /// The wait after one more failure.
    pub fn failed(&mut self) -> Duration {
        let base = self.base;
        self.base = (base * FACTOR).min(CAP);
        base.mul_f64(1.0 + self.jitter * self.unit()).min(CAP)
    }

    /// A real success: the next failure starts the sequence again.
    pub fn succeeded(&mut self) {
        self.base = INITIAL;
    }

    /// A uniform pick in `[0, 1)` (splitmix64).
    fn unit(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Whether a watcher event shows that the server answered: any event but `Init`, which
/// kube-runtime emits before it even sends the list request.
pub fn is_real_success<K>(event: &Event<K>) -> bool {
    !matches!(event, Event::Init)
}

/// `stream` (a kube-runtime watcher), not polled again for [`Backoff::failed`]'s delay
/// after each error, the delay reset by each real success.
pub fn with_backoff<K, S>(stream: S, backoff: Backoff) -> impl Stream<Item = S::Item> + Send
where
    K: Send + 'static,
    S: Stream<Item = watcher::Result<Event<K>>> + Send + 'static,
{
    let stream: Pin<Box<S>> = Box::pin(stream);
    stream::unfold(
        (stream, backoff, None::<Duration>),
        |(mut stream, mut backoff, wait)| async move {
            if let Some(wait) = wait {
                tokio::time::sleep(wait).await;
            }
            let item = stream.next().await?;
            let wait = match &item {
                Err(_) => Some(backoff.failed()),
                Ok(event) => {
                    if is_real_success(event) {
                        backoff.succeeded();
                    }
                    None
                }
            };
            Some((item, (stream, backoff, wait)))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn without_jitter_the_delay_doubles_from_800ms_to_the_30s_cap() {
        let mut b = Backoff {
            jitter: 0.0,
            ..Backoff::new(0)
        };
        let delays: Vec<_> = (0..8).map(|_| b.failed()).collect();
        let secs = Duration::from_secs;
        assert_eq!(
            delays,
            [
                ms(800),
                ms(1600),
                ms(3200),
                ms(6400),
                ms(12800),
                ms(25600),
                secs(30),
                secs(30)
            ]
        );
    }

    #[test]
    fn jitter_stays_within_one_step_and_the_cap() {
        for seed in 0..200 {
            let mut b = Backoff::new(seed);
            let mut base = INITIAL;
            for _ in 0..10 {
                let d = b.failed();
                assert!(d >= base && d < base * 2 && d <= CAP, "{d:?} for {base:?}");
                base = (base * 2).min(CAP);
            }
        }
    }

    #[test]
    fn jitter_varies_with_the_seed_and_repeats_with_it() {
        let first = |seed| Backoff::new(seed).failed();
        assert_eq!(first(7), first(7));
        let picks: std::collections::BTreeSet<_> = (0..20).map(first).collect();
        assert!(picks.len() > 10, "{picks:?}");
    }

    #[test]
    fn a_success_starts_the_sequence_again() {
        let mut b = Backoff::new(1);
        for _ in 0..6 {
            b.failed();
        }
        b.succeeded();
        assert!(b.failed() < ms(1600));
    }

    #[test]
    fn init_is_not_a_success_but_list_and_watch_events_are() {
        assert!(!is_real_success::<()>(&Event::Init));
        for event in [Event::InitApply(()), Event::InitDone, Event::Apply(())] {
            assert!(is_real_success(&event));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_stream_waits_after_errors_and_init_does_not_reset_the_wait() {
        let items: Vec<watcher::Result<Event<()>>> = vec![
            Ok(Event::Init),
            Err(watcher::Error::NoResourceVersion),
            Ok(Event::Init),
            Err(watcher::Error::NoResourceVersion),
            Ok(Event::Init),
            Ok(Event::InitDone),
            Err(watcher::Error::NoResourceVersion),
            Ok(Event::Init),
        ];
        let no_jitter = Backoff {
            jitter: 0.0,
            ..Backoff::new(0)
        };
        let start = tokio::time::Instant::now();
        let mut s = std::pin::pin!(with_backoff(stream::iter(items), no_jitter));
        let mut at = Vec::new();
        while s.next().await.is_some() {
            at.push(start.elapsed());
        }
        // Waits 0.8 s, then 1.6 s (Init reset nothing), then 0.8 s again after InitDone.
        assert_eq!(
            at,
            [
                ms(0),
                ms(0),
                ms(800),
                ms(800),
                ms(2400),
                ms(2400),
                ms(2400),
                ms(3200)
            ]
        );
    }
}
