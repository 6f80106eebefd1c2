//! What a set of deployments does when one fails, stated once (README, docs/architecture.md):
//!
//! - `onFailure: continue` (the default): the other deployments go on; the step fails at the end.
//! - `onFailure: stop`: no deployment starts after one failed; those under way finish, with their
//!   own wait and rollback, since cutting a change midway leaves it half done.
//! - `rollbackOnFailure` rolls back each failed deployment on its own, as for one deployment.
//!   With `rollbackScope: all`, once every deployment under way has ended, each deployment this
//!   run changed that succeeded is put back to what it ran before, so the set moves together.

use crate::config::{RawInputs, RunSettings};
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::inputs as i;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    Continue,
    Stop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Deployment,
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub max_parallel: usize,
    pub on_failure: OnFailure,
    pub scope: Scope,
    pub rollback_on_failure: bool,
}

/// More at once than this only queues on the platform's side.
pub const MAX_PARALLEL: u64 = 256;

impl Policy {
    pub fn from_raw(raw: &RawInputs, run: &RunSettings) -> Result<Policy> {
        let max_parallel = raw.number(i::MAX_PARALLEL, 1, MAX_PARALLEL)?.unwrap_or(4) as usize;
        let on_failure = match raw.pick(i::ON_FAILURE)? {
            Some("stop") => OnFailure::Stop,
            _ => OnFailure::Continue,
        };
        let scope = match raw.pick(i::ROLLBACK_SCOPE)? {
            Some("all") => Scope::All,
            _ => Scope::Deployment,
        };
        if scope == Scope::All && !run.rollback_on_failure {
            return Err(Error::input(
                i::ROLLBACK_SCOPE,
                "is `all`, but rollbackOnFailure is not set: nothing would be rolled back",
            )
            .with_hint("set rollbackOnFailure: true, or leave rollbackScope at `deployment`"));
        }
        Ok(Policy {
            max_parallel,
            on_failure,
            scope,
            rollback_on_failure: run.rollback_on_failure,
        })
    }

    /// Whether another deployment may start after `failed` have failed.
    pub fn may_start(&self, failed: usize) -> bool {
        failed == 0 || self.on_failure == OnFailure::Continue
    }

    /// Why a deployment did not start, when it did not.
    pub fn not_started(&self, first_failed: &str) -> String {
        format!("not started: {first_failed} failed and onFailure is `stop`")
    }

    /// Whether the deployments that succeeded are put back, after `failed` failed.
    pub fn put_back_the_rest(&self, failed: usize) -> bool {
        failed > 0 && self.rollback_on_failure && self.scope == Scope::All
    }

    /// How many rounds of `max_parallel` deployments `n` deployments take at most.
    pub fn waves(&self, n: usize) -> u32 {
        n.div_ceil(self.max_parallel.max(1)).max(1) as u32
    }
}

/// The step's error when deployments of a set failed: how many, and each one's headline
/// (the first few in the message, all in the details). The kind is the first failure's, so a
/// set whose only failures are bad input ends as bad input.
pub fn failed(total: usize, failures: &[(String, Error)], stopped: usize) -> Error {
    // A target's error names its deployment already; a file's error may not.
    let named = |who: &str, e: &Error| match e.message.contains(who) {
        true => e.message.clone(),
        false => format!("{who}: {}", e.message),
    };
    let shown: Vec<String> = failures
        .iter()
        .take(3)
        .map(|(who, e)| named(who, e))
        .collect();
    let more = failures.len().saturating_sub(shown.len());
    let mut message = format!(
        "{} of {total} deployments failed: {}",
        failures.len(),
        shown.join("; ")
    );
    if more > 0 {
        message.push_str(&format!("; and {more} more (see the summary)"));
    }
    if stopped > 0 {
        message.push_str(&format!("; {stopped} not started (onFailure: stop)"));
    }
    let kind = failures
        .first()
        .map_or(ErrorKind::Deployment, |(_, e)| e.kind);
    let mut e = Error::new(kind, message);
    for (who, f) in failures {
        e = e.with_detail(named(who, f));
        e = e.with_details(f.details.iter().map(|d| format!("  {d}")));
    }
    if let Some(h) = failures.first().and_then(|(_, f)| f.hint.clone()) {
        e = e.with_hint(h);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(on_failure: OnFailure, scope: Scope, rollback: bool) -> Policy {
        Policy {
            max_parallel: 4,
            on_failure,
            scope,
            rollback_on_failure: rollback,
        }
    }

    #[test]
    fn continue_starts_the_rest_stop_starts_nothing_after_a_failure() {
        let go_on = policy(OnFailure::Continue, Scope::Deployment, false);
        let stop = policy(OnFailure::Stop, Scope::Deployment, false);
        assert!(go_on.may_start(0) && go_on.may_start(3));
        assert!(stop.may_start(0));
        assert!(!stop.may_start(1));
        assert!(stop
            .not_started("deployment `b`")
            .contains("onFailure is `stop`"));
    }

    #[test]
    fn only_scope_all_with_rollback_puts_back_the_deployments_that_succeeded() {
        assert!(policy(OnFailure::Continue, Scope::All, true).put_back_the_rest(1));
        assert!(!policy(OnFailure::Continue, Scope::All, true).put_back_the_rest(0));
        assert!(!policy(OnFailure::Continue, Scope::Deployment, true).put_back_the_rest(2));
        assert!(!policy(OnFailure::Stop, Scope::All, false).put_back_the_rest(2));
    }

    #[test]
    fn rounds_of_parallel_deployments() {
        let p = policy(OnFailure::Continue, Scope::Deployment, false);
        assert_eq!(p.waves(1), 1);
        assert_eq!(p.waves(4), 1);
        assert_eq!(p.waves(5), 2);
        assert_eq!(p.waves(100), 25);
    }

    #[test]
    fn the_error_counts_the_failures_and_names_each() {
        let fails: Vec<(String, Error)> = (0..5)
            .map(|n| {
                (
                    format!("deployment `d{n}`"),
                    Error::deployment(format!("boom {n}")).with_detail(format!("event {n}")),
                )
            })
            .collect();
        let e = failed(9, &fails, 2);
        assert_eq!(e.kind, ErrorKind::Deployment);
        assert!(e.message.starts_with("5 of 9 deployments failed: deployment `d0`: boom 0; deployment `d1`: boom 1; deployment `d2`: boom 2; and 2 more"), "{}", e.message);
        assert!(
            e.message.ends_with("; 2 not started (onFailure: stop)"),
            "{}",
            e.message
        );
        assert!(e.details.contains(&"deployment `d4`: boom 4".to_owned()));
        assert!(e.details.contains(&"  event 4".to_owned()));
        let bad = failed(2, &[("`a.yml`".into(), Error::input("specFile", "bad"))], 0);
        assert_eq!(bad.kind, ErrorKind::Input);
    }
}
