//! Timing for criterion's `iter_custom`, shared by the compile benches: each iteration does
//! untimed work (applying a change, freeing the result) around the part that is measured.

use std::time::{Duration, Instant};

/// Adds up the time spent inside [`Stopwatch::time`].
#[derive(Debug, Default)]
pub struct Stopwatch {
    total: Duration,
}

impl Stopwatch {
    /// Runs `f`, counting its time.
    pub fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let value = f();
        self.total += started.elapsed();
        value
    }
}

/// Runs `each` `iters` times; returns the time spent inside its [`Stopwatch::time`] calls.
pub fn timed_iterations(iters: u64, mut each: impl FnMut(&mut Stopwatch)) -> Duration {
    let mut watch = Stopwatch::default();
    for _ in 0..iters {
        each(&mut watch);
    }
    watch.total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_the_timed_part() {
        let total = timed_iterations(3, |watch| {
            std::thread::sleep(Duration::from_millis(20));
            watch.time(|| std::thread::sleep(Duration::from_millis(1)));
        });
        assert!(total >= Duration::from_millis(3), "{total:?}");
        assert!(total < Duration::from_millis(60), "{total:?}");
    }
}
