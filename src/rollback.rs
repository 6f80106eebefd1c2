//! `rollbackOnFailure`, stated once for every target.
//!
//! When a change the run made fails, and the user asked for it, the target puts back what ran
//! before (captured in its plan) and waits for it like for any change. The run still fails,
//! since the new version did not deploy; the error, the summary and the timeline say how the
//! rollback went, in the same words for every target.
//!
//! When: a failed start or a job that fell over while settling is rolled back by every target;
//! a timeout or an unanswered platform only where the target declares it safe (a long-running
//! operation that may still be under way must not get a second one on top). A cancelled run is
//! never rolled back: someone who cancels wants the task to stop. A target with nothing to go
//! back to (a new deployment, a jar it cannot restore) says why and skips.

use crate::error::{Error, ErrorKind};
use crate::report::Recorder;

/// When a target rolls back, besides a failed start (always).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// The platform did not reach the wanted state in time.
    pub on_timeout: bool,
    /// The platform could not be read or refused a request while the change was under way.
    pub on_unanswered: bool,
}

impl Rules {
    pub const ALWAYS: Rules = Rules {
        on_timeout: true,
        on_unanswered: true,
    };
    /// Only when the platform said the change failed.
    pub const ON_FAILURE_ONLY: Rules = Rules {
        on_timeout: false,
        on_unanswered: false,
    };
}

/// Whether to roll back after `failure`, given whether the user asked for it.
pub fn wanted(asked: bool, rules: Rules, failure: &Error) -> bool {
    asked
        && match failure.kind {
            ErrorKind::Deployment => true,
            ErrorKind::Timeout => rules.on_timeout,
            ErrorKind::Platform | ErrorKind::Network => rules.on_unanswered,
            ErrorKind::Input | ErrorKind::Io | ErrorKind::Canceled => false,
        }
}

/// How a rollback went.
#[derive(Debug)]
pub enum Outcome {
    /// Back to the previous version; the text says what runs now.
    Done(String),
    /// The rollback was tried and failed too.
    Failed(Error),
    /// There was nothing to roll back to, or it could not be done; the text says why.
    Skipped(String),
}

/// Opens the `rollback` step (call before the target's rollback work).
pub fn begin(rec: &mut Recorder) {
    rec.begin("rollback");
    rec.timeline("rollback started");
}

/// The run's final error after a rollback, with the step, the summary's Rollback section and
/// the timeline written. `subject` names what needs attention when both versions failed.
pub fn conclude(rec: &mut Recorder, failure: Error, outcome: Outcome, subject: &str) -> Error {
    let first = failure.message.clone();
    let mut details: Vec<String> = vec![format!("attempt 1 (this run's change): {first}")];
    details.extend(failure.details.iter().map(|d| format!("  {d}")));
    let (message, hint) = match outcome {
        Outcome::Done(text) => {
            rec.pass();
            rec.timeline("rollback done");
            rec.summary
                .heading(4, "Rollback")
                .paragraph(&format!("✅ rolled back: {text}"));
            details.push(format!("attempt 2 (rollback): {text}"));
            (format!("{first}; rolled back: {text}"), failure.hint)
        }
        Outcome::Failed(e) => {
            rec.fail(&e);
            rec.timeline("rollback failed");
            rec.summary
                .heading(4, "Rollback")
                .paragraph(&format!("❌ the rollback failed too: {}", e.message));
            details.push(format!("attempt 2 (rollback): {}", e.message));
            details.extend(e.details.iter().map(|d| format!("  {d}")));
            (
                format!("{first}; the rollback failed too: {}", e.message),
                Some(format!(
                    "{subject} needs attention: neither the new nor the previous version is running"
                )),
            )
        }
        Outcome::Skipped(why) => {
            rec.skip("rollback", &why);
            rec.warn(&format!("rollback skipped: {why}"));
            rec.summary
                .heading(4, "Rollback")
                .paragraph(&format!("⏭️ rollback skipped: {why}"));
            details.push(format!("rollback skipped: {why}"));
            (format!("{first}; rollback skipped ({why})"), failure.hint)
        }
    };
    Error {
        kind: failure.kind,
        message,
        hint,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_starts_roll_back_everywhere_timeouts_only_where_declared() {
        let failed = Error::deployment("the job failed");
        let late = Error::timeout("not RUNNING in time");
        let unread = Error::network("no answer");
        assert!(wanted(true, Rules::ON_FAILURE_ONLY, &failed));
        assert!(!wanted(true, Rules::ON_FAILURE_ONLY, &late));
        assert!(!wanted(true, Rules::ON_FAILURE_ONLY, &unread));
        assert!(wanted(true, Rules::ALWAYS, &late));
        assert!(wanted(true, Rules::ALWAYS, &unread));
        assert!(!wanted(false, Rules::ALWAYS, &failed), "only when asked");
        let cancelled = Error::new(ErrorKind::Canceled, "cancelled");
        assert!(
            !wanted(true, Rules::ALWAYS, &cancelled),
            "never after a cancel"
        );
        assert!(!wanted(true, Rules::ALWAYS, &Error::input("x", "bad")));
    }
}
