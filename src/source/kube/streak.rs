//! Logging of watch failures once per streak, not once per retry: the first failure (or a
//! different one) warns, repeats of the same failure go to debug, and the first success
//! afterwards says the watch recovered. The retries themselves are kube-runtime's backoff.

use kube::runtime::watcher;

/// Failures of one watch since it last worked.
#[derive(Debug)]
pub struct ErrorStreak {
    kind: &'static str,
    failures: u32,
    last: Option<String>,
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
        Self {
            kind,
            failures: 0,
            last: None,
        }
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
        let message = err.to_string();
        if self.last.as_deref() == Some(&message) {
            tracing::debug!(
                kind,
                failures = self.failures,
                "{kind} watch still failing: {message}"
            );
            return Logged::Debug;
        }
        tracing::warn!(
            kind,
            "{kind} watch failed, retrying with backoff: {message}"
        );
        self.last = Some(message);
        Logged::Warn
    }

    /// Returns whether this ended a streak of failures.
    pub fn succeeded(&mut self) -> bool {
        if self.failures == 0 {
            return false;
        }
        let kind = self.kind;
        tracing::info!(kind, failures = self.failures, "{kind} watch recovered");
        self.failures = 0;
        self.last = None;
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
    fn warns_once_per_streak_of_identical_failures() {
        let mut s = ErrorStreak::new("Service");
        assert!(!s.succeeded());
        assert_eq!(s.failed(&status(503, "unavailable")), Logged::Warn);
        assert_eq!(s.failed(&status(503, "unavailable")), Logged::Debug);
        assert_eq!(s.failed(&status(500, "broken")), Logged::Warn);
        assert_eq!(s.failed(&status(500, "broken")), Logged::Debug);
        assert!(s.succeeded());
        assert!(!s.succeeded());
        assert_eq!(s.failed(&status(500, "broken")), Logged::Warn);
    }

    #[test]
    fn gone_is_a_relist_not_a_failure() {
        let mut s = ErrorStreak::new("Service");
        assert_eq!(s.failed(&status(410, "too old")), Logged::Relist);
        assert!(!s.succeeded());
    }
}
