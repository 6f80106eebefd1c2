//! Pure decisions over what Ververica Platform reports: has the deployment reached the state we
//! asked for, did it fail, or do we keep waiting; did it stay up while settling; is a savepoint
//! done. No I/O here: what is read lives in `probe.rs`, the loop and its clock in `crate::wait`.

use std::time::Duration;

use serde_json::Value;

use super::spec::get_str;

/// The part of a Deployment the decisions look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// `status.state`: RUNNING, SUSPENDED, CANCELLED, TRANSITIONING, FAILED, FINISHED.
    pub state: String,
    /// `status.running.jobId`, present while a job runs.
    pub job_id: Option<String>,
    /// `spec.state`, the desired state as the platform holds it now.
    pub desired: Option<String>,
}

impl Observation {
    pub fn of(deployment: &Value) -> Self {
        Observation {
            state: get_str(deployment, &["status", "state"])
                .unwrap_or("UNKNOWN")
                .to_owned(),
            job_id: get_str(deployment, &["status", "running", "jobId"]).map(str::to_owned),
            desired: get_str(deployment, &["spec", "state"]).map(str::to_owned),
        }
    }

    /// Same state and same job: nothing observable happened between the two.
    pub fn same_as(&self, other: &Observation) -> bool {
        self.state == other.state && self.job_id == other.job_id
    }

    pub fn describe(&self) -> String {
        match &self.job_id {
            Some(j) if self.state == "RUNNING" => format!("RUNNING (job {j})"),
            _ => self.state.clone(),
        }
    }
}

/// What a wait is for.
#[derive(Clone, Debug)]
pub struct Expect {
    /// RUNNING, SUSPENDED or CANCELLED.
    pub target: String,
    /// The observation from before our change. While the platform still shows exactly this, it
    /// has not acted on the change yet, so it is not an answer (a FAILED from before a fix, or
    /// the old job still RUNNING before an upgrade).
    pub baseline: Option<Observation>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Reached,
    Failed(String),
    Waiting(String),
}

/// Build the expectation for a change. `new_job` is true when the change should replace the
/// running job (an upgrade); then even a RUNNING from before is not the answer.
pub fn expectation(before: Option<&Observation>, target: &str, new_job: bool) -> Expect {
    let baseline = before.filter(|b| b.state != target || new_job).cloned();
    Expect {
        target: target.to_owned(),
        baseline,
    }
}

/// Reached, failed, or keep waiting.
pub fn decide(obs: &Observation, expect: &Expect) -> Verdict {
    if let Some(d) = &obs.desired {
        if d != &expect.target {
            return Verdict::Failed(format!(
                "its desired state was changed to {d} while waiting for {} (another change was made concurrently)",
                expect.target
            ));
        }
    }
    if let Some(b) = &expect.baseline {
        if obs.same_as(b) {
            return Verdict::Waiting(format!(
                "Ververica Platform has not acted on the change yet (still {})",
                obs.describe()
            ));
        }
    }
    match obs.state.as_str() {
        s if s == expect.target => Verdict::Reached,
        "FAILED" => Verdict::Failed("the deployment is FAILED".into()),
        "FINISHED" if expect.target == "RUNNING" => {
            Verdict::Failed("the job FINISHED instead of running".into())
        }
        s => Verdict::Waiting(s.to_owned()),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Still RUNNING the same job.
    Holding,
    /// Left RUNNING for a moment (e.g. TRANSITIONING); must be back by the end of the window.
    Wobbling(String),
    Failed(String),
}

/// During the settle window after RUNNING: is job `job` still up?
pub fn settle(obs: &Observation, job: Option<&str>) -> Settle {
    if obs.desired.as_deref().is_some_and(|d| d != "RUNNING") {
        return Settle::Failed(format!(
            "its desired state was changed to {} while it was settling",
            obs.desired.as_deref().unwrap_or("?")
        ));
    }
    match obs.state.as_str() {
        "RUNNING" => match (job, obs.job_id.as_deref()) {
            (Some(a), Some(b)) if a != b => Settle::Failed(format!(
                "job {a} was replaced by job {b}: the job did not stay up"
            )),
            _ => Settle::Holding,
        },
        "FAILED" => Settle::Failed("the deployment fell from RUNNING to FAILED".into()),
        "FINISHED" => Settle::Failed("the job FINISHED while it should keep running".into()),
        s => Settle::Wobbling(s.to_owned()),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SavepointVerdict {
    Completed { location: Option<String> },
    Failed(String),
    Waiting(String),
}

pub fn savepoint(sp: &Value) -> SavepointVerdict {
    match get_str(sp, &["status", "state"]).unwrap_or("UNKNOWN") {
        "COMPLETED" => SavepointVerdict::Completed {
            location: get_str(sp, &["spec", "savepointLocation"]).map(str::to_owned),
        },
        "FAILED" => SavepointVerdict::Failed(failure_text(sp.pointer("/status/failure"))),
        s => SavepointVerdict::Waiting(s.to_owned()),
    }
}

/// `Failure {reason, message, failedAt}` as one line.
pub fn failure_text(f: Option<&Value>) -> String {
    let Some(f) = f else {
        return "no failure details were given".into();
    };
    let reason = f.get("reason").and_then(Value::as_str);
    let message = f.get("message").and_then(Value::as_str);
    let at = f.get("failedAt").and_then(Value::as_str);
    let mut s = match (reason, message) {
        (Some(r), Some(m)) => format!("{r}: {m}"),
        (None, Some(m)) => m.to_owned(),
        (Some(r), None) => r.to_owned(),
        (None, None) => "no failure details were given".into(),
    };
    if let Some(at) = at {
        s.push_str(&format!(" (at {at})"));
    }
    s
}

/// How long a baseline observation may stand before it is taken as the answer after all. Real
/// platforms react to a change within seconds; a change they consider a no-op never shows.
pub fn baseline_grace(timeout: Duration) -> Duration {
    (timeout / 3).min(Duration::from_secs(30))
}

/// The events worth showing for a failure: those since `since` (the server's time of our
/// change), oldest first, at most `max`; when none are that new, the last `max` overall.
pub fn failure_events(events: &Value, since: Option<&str>, max: usize) -> Vec<String> {
    let mut items: Vec<&Value> = events
        .get("items")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let created = |e: &Value| {
        get_str(e, &["metadata", "createdAt"])
            .unwrap_or("")
            .to_owned()
    };
    // RFC 3339 timestamps from one server in one format sort as strings.
    items.sort_by_key(|e| created(e));
    let recent: Vec<&Value> = match since {
        Some(s) => items
            .iter()
            .copied()
            .filter(|e| created(e).as_str() >= s)
            .collect(),
        None => vec![],
    };
    let chosen = if recent.is_empty() { items } else { recent };
    let skip = chosen.len().saturating_sub(max);
    chosen
        .into_iter()
        .skip(skip)
        .map(|e| {
            format!(
                "event {} {}: {}",
                get_str(e, &["metadata", "createdAt"]).unwrap_or("?"),
                get_str(e, &["metadata", "name"]).unwrap_or("?"),
                get_str(e, &["spec", "message"]).unwrap_or("")
            )
        })
        .collect()
}

/// The failure of the deployment's newest job that has one, as a line.
pub fn job_failure(jobs: &Value) -> Option<String> {
    let mut items: Vec<&Value> = jobs.get("items")?.as_array()?.iter().collect();
    items.sort_by_key(|j| {
        get_str(j, &["metadata", "createdAt"])
            .unwrap_or("")
            .to_owned()
    });
    items.iter().rev().find_map(|j| {
        let failed = get_str(j, &["status", "state"]) == Some("FAILED");
        let f = j.pointer("/status/failure");
        if f.is_none() && !failed {
            return None;
        }
        Some(format!(
            "job {} failed: {}",
            get_str(j, &["metadata", "id"]).unwrap_or("?"),
            failure_text(f)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let text = match name {
            "running" => include_str!("../../../tests/fixtures/vvp/deployment-running.json"),
            "running-new-job" => {
                include_str!("../../../tests/fixtures/vvp/deployment-running-new-job.json")
            }
            "transitioning" => {
                include_str!("../../../tests/fixtures/vvp/deployment-transitioning.json")
            }
            "failed" => include_str!("../../../tests/fixtures/vvp/deployment-failed.json"),
            "suspended" => include_str!("../../../tests/fixtures/vvp/deployment-suspended.json"),
            "cancelled" => include_str!("../../../tests/fixtures/vvp/deployment-cancelled.json"),
            "finished" => include_str!("../../../tests/fixtures/vvp/deployment-finished.json"),
            "events" => include_str!("../../../tests/fixtures/vvp/events-failed.json"),
            "jobs" => include_str!("../../../tests/fixtures/vvp/jobs-failed.json"),
            "sp-started" => include_str!("../../../tests/fixtures/vvp/savepoint-started.json"),
            "sp-completed" => include_str!("../../../tests/fixtures/vvp/savepoint-completed.json"),
            "sp-failed" => include_str!("../../../tests/fixtures/vvp/savepoint-failed.json"),
            _ => panic!("no fixture {name}"),
        };
        serde_json::from_str(text).unwrap()
    }

    fn obs(name: &str) -> Observation {
        Observation::of(&fixture(name))
    }

    #[test]
    fn observation_reads_state_job_and_desired_state() {
        let o = obs("running");
        assert_eq!(o.state, "RUNNING");
        assert_eq!(
            o.job_id.as_deref(),
            Some("8b0b6a56-8c52-4b0e-a5c1-2f0d6a7e9a01")
        );
        assert_eq!(o.desired.as_deref(), Some("RUNNING"));
        assert_eq!(obs("transitioning").job_id, None);
        assert_eq!(Observation::of(&serde_json::json!({})).state, "UNKNOWN");
    }

    #[test]
    fn running_without_a_pending_upgrade_is_reached_at_once() {
        let e = expectation(Some(&obs("running")), "RUNNING", false);
        assert!(e.baseline.is_none());
        assert_eq!(decide(&obs("running"), &e), Verdict::Reached);
    }

    #[test]
    fn an_upgrade_waits_for_a_new_job() {
        let before = obs("running");
        let e = expectation(Some(&before), "RUNNING", true);
        assert!(matches!(decide(&before, &e), Verdict::Waiting(w) if w.contains("not acted")));
        assert_eq!(
            decide(&obs("transitioning"), &e),
            Verdict::Waiting("TRANSITIONING".into())
        );
        assert_eq!(decide(&obs("running-new-job"), &e), Verdict::Reached);
    }

    #[test]
    fn a_failure_from_before_the_fix_is_not_the_answer() {
        let before = obs("failed");
        let e = expectation(Some(&before), "RUNNING", true);
        assert!(matches!(decide(&before, &e), Verdict::Waiting(_)));
        // Once the baseline is dropped (something else was seen, or the grace ran out), FAILED
        // is final.
        let e = expectation(None, "RUNNING", true);
        assert_eq!(
            decide(&before, &e),
            Verdict::Failed("the deployment is FAILED".into())
        );
    }

    #[test]
    fn failed_and_finished_fail_a_wait_for_running() {
        let e = expectation(None, "RUNNING", false);
        assert!(matches!(decide(&obs("failed"), &e), Verdict::Failed(_)));
        assert!(
            matches!(decide(&obs("finished"), &e), Verdict::Failed(m) if m.contains("FINISHED"))
        );
    }

    #[test]
    fn suspend_and_cancel_waits() {
        let before = obs("running");
        let mut transitioning = obs("transitioning");
        transitioning.desired = Some("SUSPENDED".into());
        let e = expectation(Some(&before), "SUSPENDED", false);
        assert!(matches!(decide(&transitioning, &e), Verdict::Waiting(_)));
        assert_eq!(decide(&obs("suspended"), &e), Verdict::Reached);
        let e = expectation(Some(&obs("suspended")), "CANCELLED", false);
        assert_eq!(decide(&obs("cancelled"), &e), Verdict::Reached);
        // Already where we want it: no baseline, reached at once.
        let e = expectation(Some(&obs("cancelled")), "CANCELLED", false);
        assert!(e.baseline.is_none());
    }

    #[test]
    fn a_concurrent_change_of_the_desired_state_fails_the_wait() {
        let e = expectation(None, "RUNNING", false);
        let v = decide(&obs("suspended"), &e);
        assert!(matches!(v, Verdict::Failed(m) if m.contains("SUSPENDED")));
    }

    #[test]
    fn settling() {
        let job = obs("running").job_id;
        assert_eq!(settle(&obs("running"), job.as_deref()), Settle::Holding);
        assert!(
            matches!(settle(&obs("failed"), job.as_deref()), Settle::Failed(m) if m.contains("FAILED"))
        );
        assert_eq!(
            settle(&obs("transitioning"), job.as_deref()),
            Settle::Wobbling("TRANSITIONING".into())
        );
        assert!(matches!(
            settle(&obs("running-new-job"), job.as_deref()),
            Settle::Failed(m) if m.contains("replaced")
        ));
        assert!(matches!(
            settle(&obs("suspended"), job.as_deref()),
            Settle::Failed(_)
        ));
    }

    #[test]
    fn savepoint_states() {
        assert_eq!(
            savepoint(&fixture("sp-started")),
            SavepointVerdict::Waiting("STARTED".into())
        );
        match savepoint(&fixture("sp-completed")) {
            SavepointVerdict::Completed { location } => {
                assert!(location.unwrap().contains("/savepoint-8b0b6a-"))
            }
            v => panic!("{v:?}"),
        }
        assert_eq!(
            savepoint(&fixture("sp-failed")),
            SavepointVerdict::Failed(
                "SavepointFailed: Checkpoint Coordinator is suspending. (at 2020-05-15T15:00:02.000000Z)"
                    .into()
            )
        );
    }

    #[test]
    fn events_since_the_change_oldest_first() {
        let ev = fixture("events");
        let lines = failure_events(&ev, Some("2020-05-15T14:20:00.000000Z"), 10);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("CREATING_A_NEW_JOB"));
        assert!(lines[1].contains("TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS: Too many failed"));
        // Nothing that new: show the last ones instead of nothing.
        let lines = failure_events(&ev, Some("2030-01-01T00:00:00Z"), 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].contains("TOO_MANY"));
        assert!(failure_events(&serde_json::json!({}), None, 5).is_empty());
    }

    #[test]
    fn the_newest_failed_job_is_reported() {
        let line = job_failure(&fixture("jobs")).unwrap();
        assert_eq!(line, "job 5f7e1c9d-3b2a-4c8e-9d0f-1a2b3c4d5e6f failed: JobFailed: java.lang.ClassNotFoundException: wikiedits.WikipediaAnalysis (at 2020-05-15T14:20:30.000000Z)");
        assert_eq!(job_failure(&serde_json::json!({"items": []})), None);
    }

    #[test]
    fn a_baseline_stands_for_a_third_of_the_timeout_at_most_30_s() {
        assert_eq!(
            baseline_grace(Duration::from_secs(600)),
            Duration::from_secs(30)
        );
        assert_eq!(
            baseline_grace(Duration::from_secs(6)),
            Duration::from_secs(2)
        );
    }
}
