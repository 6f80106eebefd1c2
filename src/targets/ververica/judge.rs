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
    /// The job that ran before the change, if one did: the health gate counts its restarts
    /// from the run's first reading, a new job's from its start.
    pub ran_before: Option<String>,
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
        ran_before: before
            .filter(|b| b.state == "RUNNING")
            .and_then(|b| b.job_id.clone()),
    }
}

/// Where the health gate counts from once `reached` holds: the job the run found running
/// counts from the first reading, any other from its start.
pub fn health_since(ran_before: Option<&str>, reached: &Observation) -> crate::health::Since {
    match (ran_before, reached.job_id.as_deref()) {
        (Some(a), Some(b)) if a == b => crate::health::Since::FirstReading,
        _ => crate::health::Since::Started,
    }
}

/// The health gate's counters in a Job resource: `status.started.observedFlinkJobRestarts`,
/// the only restart count Ververica Platform gives (its API has no checkpoint statistics).
pub fn job_vitals(job: &Value) -> crate::health::Vitals {
    crate::health::Vitals {
        restarts: job
            .pointer("/status/started/observedFlinkJobRestarts")
            .and_then(Value::as_u64),
        checkpoints: None,
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

/// Event names (`EventMetadata.name`, 2.4.3) that say why something went wrong: the failure
/// itself. Every other event (a transition needed, a job being created, awaited, started) is an
/// ordinary step of the state machine.
const CAUSE_EVENTS: &[&str] = &[
    "FAILED_CREATING_A_NEW_JOB",
    "TERMINATING_A_JOB_DUE_TO_AN_UNRECOVERABLE_FAILURE",
    "RESOURCE_QUOTA_EXCEEDED",
    "REFERENCED_DEPLOYMENT_TARGET_DOES_NOT_EXIST",
    "GENERAL_FAILURE",
    "FAILED_TO_CREATE_CLUSTER_FOR_JOB",
    "MULTIPLE_NON_TERMINAL_JOBS",
    "AN_UN_RECOVERABLE_FAILURE_WHILE_TRIGGERING_A_SAVEPOINT",
    "AN_UNRECOVERABLE_FAILURE_WHILE_TAKING_A_SAVEPOINT",
    "JOB_IS_NOT_CONFIGURED_WITH_SAVEPOINT_SUPPORT",
    "COULD_NOT_FIND_A_JOB_TO_SUSPEND",
    "FAILED_TO_STOP_SESSION_CLUSTER",
    "TERMINATING_A_SESSION_CLUSTER_DUE_TO_AN_UNRECOVERABLE_FAILURE",
];

/// Event names that report the outcome of a failure (gave up, went to FAILED): they explain the
/// state, but the cause events above name the reason.
const OUTCOME_EVENTS: &[&str] = &[
    "TOO_MANY_FAILED_SUSPENSION_ATTEMPTS",
    "TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS",
    "TRANSITIONING_TO_FAILED_STATE_BECAUSE_OF_A_MISSING_JOB",
    "TRANSITIONING_TO_FAILED_STATE_BECAUSE_JOB_NOT_STARTED",
    "TRANSITIONING_TO_FAILED_STATE_BECAUSE_SAVEPOINT_FAILED_IN_FLINK",
];

/// How much an event explains a failure: 2 it names the cause, 1 it reports the failure, 0 it is
/// an ordinary step. Names the 2.4.3 description does not list count by what they say.
fn explains(name: &str) -> u8 {
    if CAUSE_EVENTS.contains(&name) {
        2
    } else if OUTCOME_EVENTS.contains(&name) || name.contains("FAIL") {
        1
    } else {
        0
    }
}

/// One line of the platform's account of a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    /// The line explains the failure (shown as an error); otherwise it is an ordinary event.
    pub explains: bool,
}

fn created(e: &Value) -> &str {
    get_str(e, &["metadata", "createdAt"]).unwrap_or("")
}

/// The items of a list, oldest first. RFC 3339 timestamps from one server in one format sort as
/// strings.
fn oldest_first(list: &Value) -> Vec<&Value> {
    let mut items: Vec<&Value> = list
        .get("items")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    items.sort_by_key(|e| created(e).to_owned());
    items
}

/// Whether `e` happened at or after our change at `since` (the server's clock).
fn since_change(e: &Value, since: Option<&str>) -> bool {
    since.is_none_or(|s| created(e) >= s)
}

/// The events worth showing for a failure: those since `since` (the server's time of our
/// change), oldest first, at most `max`; when none are that new, the last `max` overall. Only
/// failure events since the change explain it.
pub fn failure_events(events: &Value, since: Option<&str>, max: usize) -> Vec<Line> {
    let items = oldest_first(events);
    let recent: Vec<&Value> = match since {
        Some(_) => items
            .iter()
            .copied()
            .filter(|e| since_change(e, since))
            .collect(),
        None => vec![],
    };
    let chosen = if recent.is_empty() { items } else { recent };
    let skip = chosen.len().saturating_sub(max);
    chosen
        .into_iter()
        .skip(skip)
        .map(|e| {
            let name = get_str(e, &["metadata", "name"]).unwrap_or("?");
            Line {
                text: format!(
                    "event {} {name}: {}",
                    get_str(e, &["metadata", "createdAt"]).unwrap_or("?"),
                    get_str(e, &["spec", "message"]).unwrap_or("")
                ),
                explains: explains(name) > 0 && since_change(e, since),
            }
        })
        .collect()
}

/// The newest job (created since `since`, when given) that failed, with its failure.
fn failed_job<'a>(jobs: &'a Value, since: Option<&str>) -> Option<&'a Value> {
    oldest_first(jobs).into_iter().rev().find(|j| {
        since_change(j, since)
            && (get_str(j, &["status", "state"]) == Some("FAILED")
                || j.pointer("/status/failure").is_some())
    })
}

/// The failure of the deployment's newest job that has one, as a line; it explains this failure
/// when the job was started since the change.
pub fn job_failure(jobs: &Value, since: Option<&str>) -> Option<Line> {
    let j = failed_job(jobs, None)?;
    Some(Line {
        text: format!(
            "job {} failed: {}",
            get_str(j, &["metadata", "id"]).unwrap_or("?"),
            failure_text(j.pointer("/status/failure"))
        ),
        explains: since_change(j, since),
    })
}

/// The first line of a text, trimmed; `None` when there is none.
pub fn first_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

/// Why a change failed, in one line, from the platform's own account: the failure of a job
/// started since the change (its message, else its reason), else the message of the newest
/// event since the change that names a cause, else of one that reports the failure.
pub fn root_cause(events: &Value, jobs: &Value, since: Option<&str>) -> Option<String> {
    if let Some(f) = failed_job(jobs, since).and_then(|j| j.pointer("/status/failure")) {
        let text = f
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| f.get("reason").and_then(Value::as_str));
        if let Some(line) = text.and_then(first_line) {
            return Some(line);
        }
    }
    let items = oldest_first(events);
    let rank = |e: &&Value| explains(get_str(e, &["metadata", "name"]).unwrap_or(""));
    let best = items
        .iter()
        .filter(|e| since_change(e, since) && rank(e) > 0)
        .max_by_key(|e| (rank(e), created(e).to_owned()))?;
    get_str(best, &["spec", "message"]).and_then(first_line)
}

/// Whether Ververica Platform itself said that namespace `ns` does not exist, in the body of a
/// 404: VVP's error body `{"message": ...}` naming the namespace (`'ns'` or `'namespaces/ns'`)
/// and saying it is not found. A 404 from an ingress or proxy that does not route the path (an
/// HTML page, a bare "Not Found", a router's JSON), or a message about something else in the
/// namespace, says nothing about the namespace.
pub fn says_namespace_missing(body: &[u8], ns: &str) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let Some(message) = v.get("message").and_then(Value::as_str) else {
        return false;
    };
    let lower = message.to_ascii_lowercase();
    let ns = ns.to_ascii_lowercase();
    let names = ["'", "\"", "`"].into_iter().flat_map(|q| {
        [
            format!("namespace {q}{ns}{q}"),
            format!("namespace {q}namespaces/{ns}{q}"),
        ]
    });
    names.into_iter().any(|name| {
        lower.match_indices(&name).any(|(at, m)| {
            let rest = lower[at + m.len()..].trim_start();
            [
                "not found",
                "was not found",
                "is not found",
                "does not exist",
                "doesn't exist",
            ]
            .iter()
            .any(|s| rest.starts_with(s))
        })
    })
}

/// A field's place for messages: `spec.template.spec.flinkConfiguration["state.backend"]`.
fn shown_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.contains(['.', '/', '"']) || seg.is_empty() {
            out.push_str(&format!("[{}]", Value::String(seg)));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

fn pointer_push(pointer: &str, key: &str) -> String {
    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// The leaves of a deployment (JSON pointer, value): objects are walked, anything else (arrays
/// included) is one leaf; an empty object has none.
fn leaves<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                leaves(x, pointer_push(&at, k), out);
            }
        }
        _ => out.push((at, v)),
    }
}

/// The fields `now` has and `previous` has not (JSON pointers): what putting `previous` back
/// must take away. A field under one `previous` holds as a whole (an array, a string) is not
/// counted; comparing that whole covers it.
pub fn removed_fields(now: &Value, previous: &Value) -> Vec<String> {
    let (now, previous) = (super::diff::clean(now), super::diff::clean(previous));
    let mut all = vec![];
    leaves(&now, String::new(), &mut all);
    all.into_iter()
        .map(|(p, _)| p)
        .filter(|p| {
            let mut at = String::new();
            for seg in p.split('/').skip(1) {
                at = format!("{at}/{seg}");
                match previous.pointer(&at) {
                    None => return true,
                    Some(Value::Object(_)) => {}
                    Some(_) => return false,
                }
            }
            false
        })
        .collect()
}

/// A value as the messages show it.
fn shown_value(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

/// Whether a body holds a `null` anywhere (a merge patch's "delete this field").
pub fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().any(has_null),
        Value::Array(a) => a.iter().any(has_null),
        _ => false,
    }
}

/// What the platform stored that differs from what a write meant, one line per field; empty
/// when it kept the write. Every value in `body` (what was sent) must be stored as sent (scalars
/// compare by value, so `1.20` sent as a number and stored as `"1.20"` is kept); a `null` in a
/// merge patch (`merge`) means the field must be gone, elsewhere it leaves the field to the
/// platform; `removed` (JSON pointers) must be gone too. Fields the write did not mention are
/// the platform's (defaults it fills in, status, the metadata it keeps) and are not compared.
pub fn unmet(body: &Value, merge: bool, removed: &[String], stored: &Value) -> Vec<String> {
    let (body, stored) = (super::diff::clean(body), super::diff::clean(stored));
    let mut sent = vec![];
    leaves(&body, String::new(), &mut sent);
    let mut gone: Vec<String> = removed.to_vec();
    let mut out = vec![];
    for (p, v) in sent {
        if v.is_null() {
            if merge {
                gone.push(p);
            }
            continue;
        }
        match stored.pointer(&p) {
            Some(x) if super::diff::same(x, v) => {}
            Some(x) => out.push(format!(
                "`{}`: sent {}, stored {}",
                shown_path(&p),
                shown_value(v),
                shown_value(x)
            )),
            None => out.push(format!(
                "`{}`: sent {}, not stored",
                shown_path(&p),
                shown_value(v)
            )),
        }
    }
    for p in gone {
        if let Some(x) = stored.pointer(&p) {
            out.push(format!(
                "`{}`: meant to be removed, stored {}",
                shown_path(&p),
                shown_value(x)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `tests/fixtures/vvp`, by its name without `.json`.
    macro_rules! vvp {
        ($file:literal) => {
            include_str!(concat!("../../../tests/fixtures/vvp/", $file, ".json"))
        };
    }

    fn fixture(name: &str) -> Value {
        let text = match name {
            "running" => vvp!("deployment-running"),
            "running-new-job" => vvp!("deployment-running-new-job"),
            "transitioning" => vvp!("deployment-transitioning"),
            "failed" => vvp!("deployment-failed"),
            "suspended" => vvp!("deployment-suspended"),
            "cancelled" => vvp!("deployment-cancelled"),
            "finished" => vvp!("deployment-finished"),
            "events" => vvp!("events-failed"),
            "events-start" => vvp!("events-failed-start"),
            "events-target" => vvp!("events-target-missing"),
            "jobs" => vvp!("jobs-failed"),
            "sp-started" => vvp!("savepoint-started"),
            "sp-completed" => vvp!("savepoint-completed"),
            "sp-failed" => vvp!("savepoint-failed"),
            _ => panic!("no fixture {name}"),
        };
        serde_json::from_str(text).unwrap()
    }

    fn obs(name: &str) -> Observation {
        Observation::of(&fixture(name))
    }

    #[test]
    fn the_gate_counts_restarts_from_the_job_resource_and_from_the_start_of_a_new_job() {
        let job = serde_json::json!({"status": {"state": "STARTED", "started": {"observedFlinkJobRestarts": 2}}});
        assert_eq!(job_vitals(&job).restarts, Some(2));
        assert_eq!(
            job_vitals(&serde_json::json!({"status": {"state": "STARTING"}})).restarts,
            None
        );
        let before = obs("running");
        let e = expectation(Some(&before), "RUNNING", false);
        let same = before.clone();
        assert_eq!(
            health_since(e.ran_before.as_deref(), &same),
            crate::health::Since::FirstReading
        );
        let mut other = before.clone();
        other.job_id = Some("a-new-job".into());
        assert_eq!(
            health_since(e.ran_before.as_deref(), &other),
            crate::health::Since::Started
        );
        let fresh = expectation(None, "RUNNING", false);
        assert_eq!(
            health_since(fresh.ran_before.as_deref(), &same),
            crate::health::Since::Started
        );
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
        assert!(lines[0].text.contains("CREATING_A_NEW_JOB"));
        assert!(lines[1]
            .text
            .contains("TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS: Too many failed"));
        // Nothing that new: show the last ones instead of nothing, none of them as the reason.
        let lines = failure_events(&ev, Some("2030-01-01T00:00:00Z"), 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].text.contains("TOO_MANY"));
        assert!(lines.iter().all(|l| !l.explains), "{lines:?}");
        assert!(failure_events(&serde_json::json!({}), None, 5).is_empty());
    }

    #[test]
    fn the_newest_failed_job_is_reported() {
        let line = job_failure(&fixture("jobs"), Some("2020-05-15T14:20:00.000000Z")).unwrap();
        assert_eq!(line.text, "job 5f7e1c9d-3b2a-4c8e-9d0f-1a2b3c4d5e6f failed: JobFailed: java.lang.ClassNotFoundException: wikiedits.WikipediaAnalysis (at 2020-05-15T14:20:30.000000Z)");
        assert!(line.explains);
        // A failure from before the change is shown, not as this change's reason.
        let old = job_failure(&fixture("jobs"), Some("2020-05-15T14:25:00.000000Z")).unwrap();
        assert!(!old.explains);
        assert_eq!(job_failure(&serde_json::json!({"items": []}), None), None);
    }

    #[test]
    fn only_failure_events_explain_a_failure() {
        let lines = failure_events(
            &fixture("events-start"),
            Some("2020-05-15T14:20:00.000000Z"),
            20,
        );
        let names: Vec<String> = lines
            .iter()
            .map(|l| {
                l.text
                    .split(' ')
                    .nth(2)
                    .unwrap_or("")
                    .trim_end_matches(':')
                    .to_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "STATE_TRANSITION_IS_NEEDED",
                "CREATING_A_NEW_JOB",
                "AWAITING_A_JOB_TO_START",
                "FAILED_CREATING_A_NEW_JOB",
                "TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS"
            ],
            "{lines:?}"
        );
        let red: Vec<bool> = lines.iter().map(|l| l.explains).collect();
        assert_eq!(red, [false, false, false, true, true]);
    }

    #[test]
    fn the_root_cause_is_the_new_jobs_failure_else_the_failure_event() {
        let since = Some("2020-05-15T14:20:00.000000Z");
        let jobs = fixture("jobs");
        assert_eq!(
            root_cause(&fixture("events-start"), &jobs, since).as_deref(),
            Some("java.lang.ClassNotFoundException: wikiedits.WikipediaAnalysis")
        );
        // Without the job, the event that names the cause wins over the one that gives up, and
        // only its first line is taken.
        let none = serde_json::json!({"items": []});
        assert_eq!(
            root_cause(&fixture("events-start"), &none, since).as_deref(),
            Some("Job failed: java.lang.ClassNotFoundException: wikiedits.WikipediaAnalysis")
        );
        assert_eq!(
            root_cause(&fixture("events-target"), &none, since).as_deref(),
            Some("The referenced Deployment Target 'vvp-jobs' does not exist.")
        );
        // A job that failed before the change is not this change's cause; nor are older events.
        let later = Some("2020-05-15T14:25:00.000000Z");
        assert_eq!(root_cause(&fixture("events-start"), &jobs, later), None);
        // Only ordinary events: no cause.
        assert_eq!(
            root_cause(&fixture("events"), &none, since),
            Some("Too many failed job creation attempts (4). Transitioning to FAILED.".into())
        );
        let ordinary = serde_json::json!({"items": [fixture("events-target")["items"][0].clone()]});
        assert_eq!(root_cause(&ordinary, &none, since), None);
    }

    #[test]
    fn a_write_is_kept_when_what_was_sent_is_stored_and_defaults_are_the_platforms() {
        let stored = fixture("running");
        let body = serde_json::json!({
            "metadata": {"name": "vvp-pipeline-demo", "id": "other-id", "resourceVersion": 99},
            "spec": {"template": {"spec": {"parallelism": 1, "artifact": {"flinkVersion": 1.9}}}},
            "status": {"state": "FAILED"}
        });
        // Platform-owned fields are not compared, a number stored as text is the same value,
        // and fields the body leaves out are the platform's.
        assert_eq!(unmet(&body, true, &[], &stored), Vec::<String>::new());
        let changed = serde_json::json!({"spec": {"template": {"spec": {
            "parallelism": 4,
            "flinkConfiguration": {"state.backend": "rocksdb"}
        }}}});
        assert_eq!(
            unmet(&changed, true, &[], &stored),
            [
                "`spec.template.spec.parallelism`: sent 4, stored 1",
                "`spec.template.spec.flinkConfiguration[\"state.backend\"]`: sent \"rocksdb\", not stored",
            ]
        );
    }

    #[test]
    fn a_null_in_a_merge_patch_or_a_removed_field_must_be_gone() {
        let mut stored = fixture("running");
        stored["spec"]["template"]["spec"]["artifact"]["mainArgs"] = Value::Null;
        stored["metadata"]["labels"] = serde_json::json!({"team": null});
        let patch =
            serde_json::json!({"spec": {"template": {"spec": {"artifact": {"mainArgs": null}}}}});
        assert_eq!(
            unmet(&patch, true, &[], &stored),
            ["`spec.template.spec.artifact.mainArgs`: meant to be removed, stored null"]
        );
        assert!(has_null(&patch) && !has_null(&fixture("running")));
        // In a replace, null leaves the field to the platform.
        assert_eq!(unmet(&patch, false, &[], &stored), Vec::<String>::new());
        let removed = ["/metadata/labels/team".to_owned()];
        assert_eq!(
            unmet(&serde_json::json!({}), false, &removed, &stored),
            ["`metadata.labels.team`: meant to be removed, stored null"]
        );
        let mut clean = fixture("running");
        clean["metadata"]["labels"] = serde_json::json!({});
        assert_eq!(
            unmet(&serde_json::json!({}), false, &removed, &clean),
            Vec::<String>::new()
        );
    }

    #[test]
    fn putting_the_previous_spec_back_removes_what_the_change_added() {
        let previous = fixture("running");
        let mut now = previous.clone();
        now["metadata"]["labels"] = serde_json::json!({"team": "42"});
        now["spec"]["template"]["spec"]["artifact"]["mainArgs"] = serde_json::json!("--x");
        now["spec"]["template"]["spec"]["flinkConfiguration"]["a.b"] = serde_json::json!("1");
        now["spec"]["template"]["spec"]["parallelism"] = serde_json::json!(9);
        now["status"]["extra"] = serde_json::json!("owned by the platform");
        let mut gone = removed_fields(&now, &previous);
        gone.sort();
        assert_eq!(
            gone,
            [
                "/metadata/labels/team",
                "/spec/template/spec/artifact/mainArgs",
                "/spec/template/spec/flinkConfiguration/a.b"
            ]
        );
        assert_eq!(removed_fields(&previous, &previous), Vec::<String>::new());
        // A field under one the previous spec holds whole is compared as that whole.
        let whole = serde_json::json!({"spec": {"x": "text"}});
        let deeper = serde_json::json!({"spec": {"x": {"y": 1}}});
        assert_eq!(removed_fields(&deeper, &whole), Vec::<String>::new());
        assert_eq!(shown_path("/a/b~1c/d.e"), "a[\"b/c\"][\"d.e\"]");
    }

    #[test]
    fn only_the_platforms_own_answer_says_a_namespace_is_missing() {
        let says = |body: &str| says_namespace_missing(body.as_bytes(), "prod");
        assert!(says(
            r#"{"message": "Namespace 'namespaces/prod' not found"}"#
        ));
        assert!(says(r#"{"message": "Namespace 'prod' not found"}"#));
        assert!(says(r#"{"message": "namespace \"prod\" does not exist"}"#));
        // An ingress that routes only /api, a bare 404, a router's or framework's JSON.
        assert!(!says("<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>"));
        assert!(!says(""));
        assert!(!says("404 page not found"));
        assert!(!says(
            r#"{"timestamp": "2024-01-01T00:00:00Z", "status": 404, "error": "Not Found", "message": "No message available", "path": "/namespaces/v1/namespaces/prod"}"#
        ));
        assert!(!says(
            r#"{"message": "no Route matched with those values"}"#
        ));
        // Something else in the namespace, or another namespace.
        assert!(!says(
            r#"{"message": "Deployment 'x' not found in namespace 'prod'"}"#
        ));
        assert!(!says(r#"{"message": "Namespace 'production' not found"}"#));
        assert!(!says(r#"{"message": 404}"#));
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
