//! Logging of watch failures once per streak, not once per retry: the first failure warns
//! (with the error), later ones go to debug, and the first real success afterwards (an event
//! a list or watch response produced, not kube-runtime's `Init`, which comes before every
//! list attempt) says the watch recovered. The retries themselves are [`super::backoff`]'s.

use kube::runtime::watcher::{self, Event};

use super::backoff::is_real_success;

/// Failures of one watch since it last worked.
#[derive(Debug)]
pub struct ErrorStreak {
    kind: &'static str,
    failures: u32,
}

/// What [`ErrorStreak::failed`] logged, for tests.
#[derive(Debug, PartialEq, Eq)]
pub enum Logged {
    /// The resourceVersion expired: an expected relist, not a failure.
    Relist,
    Warn,
    Debug,
}

impl ErrorStreak {
    pub fn new(kind: &'static str) -> Self {
        Self { kind, failures: 0 }
    }

    pub fn failed(&mut self, err: &watcher::Error) -> Logged {
        let kind = self.kind;
        if let watcher::Error::WatchError(status) = err
            && status.code == 410
        {
            tracing::info!(
                kind,
                "{kind} watch: resourceVersion too old (410 Gone); relisting"
            );
            return Logged::Relist;
        }
        self.failures += 1;
        if self.failures > 1 {
            tracing::debug!(
                kind,
                failures = self.failures,
                "{kind} watch still failing: {err}"
            );
            return Logged::Debug;
        }
        tracing::warn!(kind, "{kind} watch failed, retrying with backoff: {err}");
        Logged::Warn
    }

    /// An event of the watch: a real success ends the streak. Returns whether it did.
    pub fn answered<K>(&mut self, event: &Event<K>) -> bool {
        is_real_success(event) && self.succeeded()
    }

    /// Returns whether this ended a streak of failures.
    pub fn succeeded(&mut self) -> bool {
        if self.failures == 0 {
            return false;
        }
        let kind = self.kind;
        tracing::info!(kind, failures = self.failures, "{kind} watch recovered");
        self.failures = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn status(code: u16, message: &str) -> watcher::Error {
        watcher::Error::WatchError(Box::new(Status::failure(message, "x").with_code(code)))
    }

    #[test]
    fn warns_once_per_streak() {
        let mut s = ErrorStreak::new("Service");
        assert!(!s.succeeded());
        assert_eq!(s.failed(&status(503, "unavailable")), Logged::Warn);
        assert_eq!(s.failed(&status(503, "unavailable")), Logged::Debug);
        assert_eq!(s.failed(&status(500, "broken")), Logged::Debug);
        assert!(s.succeeded());
        assert!(!s.succeeded());
        assert_eq!(s.failed(&status(500, "broken")), Logged::Warn);
    }

    #[test]
    fn init_before_a_list_attempt_does_not_end_the_streak() {
        let mut s = ErrorStreak::new("Service");
        s.failed(&status(500, "broken"));
        assert!(!s.answered::<()>(&Event::Init));
        assert_eq!(s.failed(&status(500, "broken")), Logged::Debug);
        assert!(!s.answered::<()>(&Event::Init));
        assert!(s.answered(&Event::InitApply(())));
        assert!(!s.answered::<()>(&Event::InitDone));
    }

    #[test]
    fn gone_is_a_relist_not_a_failure() {
        let mut s = ErrorStreak::new("Service");
        assert_eq!(s.failed(&status(410, "too old")), Logged::Relist);
        assert!(!s.succeeded());
    }
}
