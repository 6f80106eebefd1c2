//! Pure decisions over a `FlinkDeployment` or `FlinkSessionJob` as the cluster shows it (its
//! status and its events): has the operator taken up this run's change, has the job come up and
//! stayed up, and what explains a failure. No I/O: the probe reads, `crate::wait` keeps the clock.
//!
//! The operator's status is only an answer once it is about the generation this run applied:
//! `status.observedGeneration` reaches it when the operator records the spec it reconciles, and
//! `reconciliationStatus.state` leaves `UPGRADING` when that spec is deployed. Until then a
//! `STABLE`/`RUNNING` status is the previous generation's (the operator keeps the old job running
//! while an upgrade waits for a savepoint or a running job). Then `lifecycleState` `STABLE` (the
//! operator saw the job running with this spec), the job `RUNNING` and, on operator 1.15, the
//! `Running` condition `True`. `FAILED`, `ROLLING_BACK`/`ROLLED_BACK` (the operator's own
//! rollback: the generation is recorded, yet the previous spec runs), a JobManager in `ERROR`,
//! and a job that keeps restarting (a restarting job stays `STABLE`) are failures.
//!
//! One case never records a generation: a resource created with `job.state: suspended`. Operator
//! 1.15 returns before recording anything (FLINK-39243): the status stays `CREATED`, reconciliation
//! `UPGRADING`, no `observedGeneration`. Suspended and nothing deployed is what was asked, so that
//! is the answer for a suspended resource the operator has seen.

use serde_json::Value;

use super::resource::Kind;
use crate::health::Since;
use crate::targets::ververica::spec::get_str;
use crate::targets::vvp_operator::judge::{num, Event};
use crate::wait::{Hold, Verdict};

/// A job that restarts this often after the change keeps restarting (unless `healthMaxRestarts`
/// allows more).
pub const RESTARTS: u64 = 3;

/// Warnings by which the operator refuses or fails a change before it records it.
const REFUSALS: &[&str] = &[
    "ValidationError",
    "UpgradeFailed",
    "SavepointError",
    "CleanupFailed",
    "RestartUnhealthyJob",
];

/// The `Running` condition (operator 1.15, FlinkDeployment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Condition {
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// A savepoint the operator recorded (`jobStatus.savepointInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Savepoint {
    pub location: String,
    pub time_ms: Option<u64>,
    pub trigger_type: Option<String>,
    pub nonce: Option<u64>,
}

impl Savepoint {
    fn of(v: &Value) -> Option<Savepoint> {
        Some(Savepoint {
            location: v.get("location")?.as_str()?.to_owned(),
            time_ms: num(v.get("timeStamp")),
            trigger_type: v
                .get("triggerType")
                .and_then(Value::as_str)
                .map(str::to_owned),
            nonce: num(v.get("triggerNonce")),
        })
    }
}

/// What the decisions look at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    pub exists: bool,
    pub generation: u64,
    pub rv: u64,
    pub observed_generation: Option<u64>,
    pub lifecycle: Option<String>,
    /// `reconciliationStatus.state`: DEPLOYED, UPGRADING, ROLLING_BACK, ROLLED_BACK.
    pub reconciliation: Option<String>,
    pub job_state: Option<String>,
    pub job_id: Option<String>,
    /// `jobManagerDeploymentStatus` (FlinkDeployment).
    pub jm: Option<String>,
    /// `status.error`: its message (the JSON's `message`, or the text), with the reason.
    pub error: Option<String>,
    pub running: Option<Condition>,
    pub last_savepoint: Option<Savepoint>,
    pub savepoint_history: Vec<Savepoint>,
    /// A manual savepoint in flight: its trigger id.
    pub savepoint_trigger: Option<String>,
    pub upgrade_savepoint: Option<String>,
    pub events: Vec<Event>,
}

/// `status.error` in one line: `Type: message [reason]`, or the text when it is not JSON.
fn error_line(raw: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(raw) else {
        return raw.lines().next().unwrap_or_default().to_owned();
    };
    let ty = v
        .get("type")
        .and_then(Value::as_str)
        .map(|t| t.rsplit('.').next().unwrap_or(t));
    let msg = v.get("message").and_then(Value::as_str).unwrap_or(raw);
    let msg = msg.lines().next().unwrap_or_default();
    let reason = v
        .pointer("/additionalMetadata/reason")
        .and_then(Value::as_str)
        .map(|r| format!(" [{r}]"))
        .unwrap_or_default();
    match ty {
        Some(t) => format!("{t}: {msg}{reason}"),
        None => format!("{msg}{reason}"),
    }
}

impl Observation {
    pub fn of(cr: Option<&Value>, events: &[Value]) -> Observation {
        let Some(cr) = cr else {
            return Observation::default();
        };
        let st = |p: &[&str]| get_str(cr, p).map(str::to_owned);
        let sp = cr.pointer("/status/jobStatus/savepointInfo");
        let running = cr
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some("Running"))
            })
            .map(|c| {
                let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                Condition {
                    status: s("status"),
                    reason: s("reason"),
                    message: s("message"),
                }
            });
        Observation {
            exists: true,
            generation: num(cr.pointer("/metadata/generation")).unwrap_or(0),
            rv: num(cr.pointer("/metadata/resourceVersion")).unwrap_or(0),
            observed_generation: num(cr.pointer("/status/observedGeneration")),
            lifecycle: st(&["status", "lifecycleState"]),
            reconciliation: st(&["status", "reconciliationStatus", "state"]),
            job_state: st(&["status", "jobStatus", "state"]),
            job_id: st(&["status", "jobStatus", "jobId"]),
            jm: st(&["status", "jobManagerDeploymentStatus"]),
            error: st(&["status", "error"])
                .filter(|e| !e.is_empty())
                .map(|e| error_line(&e)),
            running,
            last_savepoint: sp
                .and_then(|s| s.get("lastSavepoint"))
                .and_then(Savepoint::of),
            savepoint_history: sp
                .and_then(|s| s.get("savepointHistory"))
                .and_then(Value::as_array)
                .map(|h| h.iter().filter_map(Savepoint::of).collect())
                .unwrap_or_default(),
            savepoint_trigger: sp
                .and_then(|s| s.get("triggerId"))
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            upgrade_savepoint: st(&["status", "jobStatus", "upgradeSavepointPath"]),
            events: events.iter().map(Event::of).collect(),
        }
    }

    /// One line for the wait's progress: `STABLE, job RUNNING, generation 2/2`.
    pub fn describe(&self) -> String {
        if !self.exists {
            return "not found".into();
        }
        let Some(l) = &self.lifecycle else {
            return format!(
                "no status yet (generation {}; the operator has not written one)",
                self.generation
            );
        };
        let mut s = l.clone();
        if let Some(j) = &self.job_state {
            s.push_str(&format!(", job {j}"));
        }
        if let Some(jm) = self.jm.as_deref().filter(|j| *j != "READY") {
            s.push_str(&format!(", JobManager {jm}"));
        }
        let seen = self
            .observed_generation
            .map(|g| g.to_string())
            .unwrap_or_else(|| "none".into());
        s.push_str(&format!(
            ", observed generation {seen} of {}",
            self.generation
        ));
        s
    }

    /// Restarts reported since the event resourceVersion `since` (the job's status changes to
    /// RESTARTING, each repeat counted).
    pub fn restarts_since(&self, since: u64) -> u64 {
        self.events
            .iter()
            .filter(|e| {
                e.rv > since
                    && e.reason == "JobStatusChanged"
                    && e.message.trim_end().ends_with("to RESTARTING")
            })
            .map(|e| e.count.max(1))
            .sum()
    }
}

/// What the resource should come to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// The job running (a session cluster: its JobManager ready).
    Running,
    /// The job suspended (`job.state: suspended`).
    Suspended,
}

/// What a wait expects.
#[derive(Clone, Debug)]
pub struct Expect {
    pub kind: Kind,
    /// A FlinkDeployment without a job.
    pub session_cluster: bool,
    pub goal: Goal,
    /// `metadata.generation` of the resource as this run applied it (or found it).
    pub generation: u64,
    /// Events with a resourceVersion above this came after the change.
    pub since_rv: u64,
    /// `healthMaxRestarts`: the restarts the settle window lets pass are not "keeps restarting"
    /// while the wait for the goal runs either.
    pub max_restarts: u64,
}

impl Expect {
    pub fn goal_name(&self) -> &'static str {
        match (self.goal, self.session_cluster) {
            (Goal::Suspended, _) => "SUSPENDED",
            (Goal::Running, true) => "STABLE (JobManager ready)",
            (Goal::Running, false) => "STABLE with the job RUNNING",
        }
    }
}

/// The operator has reconciled this generation (recorded it and left UPGRADING).
pub fn taken_up(obs: &Observation, expect: &Expect) -> bool {
    obs.observed_generation
        .is_some_and(|g| g >= expect.generation)
        && !matches!(obs.reconciliation.as_deref(), Some("UPGRADING") | None)
}

fn with_error(what: String, obs: &Observation) -> String {
    match &obs.error {
        Some(e) if !what.contains(e.as_str()) => format!("{what}: {e}"),
        _ => what,
    }
}

/// A warning since the change by which the operator refused or failed it.
fn refusal(obs: &Observation, expect: &Expect) -> Option<String> {
    obs.events
        .iter()
        .rev()
        .find(|e| {
            e.kind == "Warning" && e.rv > expect.since_rv && REFUSALS.contains(&e.reason.as_str())
        })
        .map(|e| format!("the operator reports {}: {}", e.reason, e.message))
}

/// Nothing deployed and suspended, as a resource created suspended stays on operator 1.15.
fn suspended_before_first_deploy(obs: &Observation) -> bool {
    obs.lifecycle.as_deref() == Some("CREATED") && obs.error.is_none()
}

/// Reached, failed, or keep waiting.
pub fn decide(obs: &Observation, expect: &Expect) -> Verdict {
    if !obs.exists {
        return Verdict::Failed(format!(
            "the {} disappeared while waiting (someone deleted it during the run)",
            expect.kind.name()
        ));
    }
    if expect.goal == Goal::Suspended && suspended_before_first_deploy(obs) {
        return Verdict::Done;
    }
    let recorded = obs
        .observed_generation
        .is_some_and(|g| g >= expect.generation);
    if recorded
        && matches!(
            obs.reconciliation.as_deref(),
            Some("ROLLING_BACK" | "ROLLED_BACK")
        )
    {
        return Verdict::Failed(with_error(format!(
            "the operator rolled generation {} back to the last stable spec ({}): this run's change is not running",
            expect.generation,
            obs.reconciliation.as_deref().unwrap_or_default()
        ), obs));
    }
    if !taken_up(obs, expect) {
        return match refusal(obs, expect) {
            Some(w) => Verdict::Failed(w),
            None => Verdict::Pending,
        };
    }
    if let Some(why) = broken(obs) {
        return Verdict::Failed(why);
    }
    let restarts = obs.restarts_since(expect.since_rv);
    if restarts >= RESTARTS.max(expect.max_restarts + 1) {
        return Verdict::Failed(with_error(
            format!("the job keeps restarting ({restarts} restarts since the change)"),
            obs,
        ));
    }
    if reached(obs, expect) {
        Verdict::Done
    } else {
        Verdict::Pending
    }
}

/// A failure the status shows for the generation it reconciled.
fn broken(obs: &Observation) -> Option<String> {
    if obs.lifecycle.as_deref() == Some("FAILED") || obs.job_state.as_deref() == Some("FAILED") {
        return Some(with_error("the job FAILED".into(), obs));
    }
    if obs.jm.as_deref() == Some("ERROR") {
        return Some(with_error(
            "the JobManager deployment failed (jobManagerDeploymentStatus ERROR)".into(),
            obs,
        ));
    }
    None
}

fn reached(obs: &Observation, expect: &Expect) -> bool {
    let lifecycle = obs.lifecycle.as_deref();
    match expect.goal {
        Goal::Suspended => lifecycle == Some("SUSPENDED"),
        Goal::Running if expect.session_cluster => {
            lifecycle == Some("STABLE") && obs.jm.as_deref() == Some("READY")
        }
        Goal::Running => {
            lifecycle == Some("STABLE")
                && obs.job_state.as_deref() == Some("RUNNING")
                && obs.running.as_ref().is_none_or(|c| c.status == "True")
        }
    }
}

/// Which restarts the settle window holds against the job, and how many it lets pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// `Started`: every restart since the change (the job this run started, including restarts
    /// before it was first seen RUNNING); `FirstReading`: only those after `base`.
    pub since: Since,
    /// The restarts since the change counted when the state was reached.
    pub base: u64,
    /// `healthMaxRestarts`.
    pub allowed: u64,
}

/// Did the reached state hold? `job` is the job that ran when it was reached; within the
/// allowance a restart in progress is a wobble.
pub fn settle(obs: &Observation, expect: &Expect, job: Option<&str>, a: Allowance) -> Hold {
    if !obs.exists {
        return Hold::Lost(format!(
            "the {} disappeared while it was settling",
            expect.kind.name()
        ));
    }
    if obs.generation > expect.generation {
        return Hold::Lost(format!(
            "the resource was changed meanwhile (generation {})",
            obs.generation
        ));
    }
    if let Some(why) = broken(obs) {
        return Hold::Lost(why);
    }
    if let Some(r @ ("ROLLING_BACK" | "ROLLED_BACK")) = obs.reconciliation.as_deref() {
        return Hold::Lost(format!("the operator is rolling the resource back ({r})"));
    }
    let (base, when) = match a.since {
        Since::Started => (0, "since it started"),
        Since::FirstReading => (a.base, "while settling"),
    };
    let now = obs.restarts_since(expect.since_rv).saturating_sub(base);
    if now > a.allowed {
        return Hold::Lost(with_error(
            format!("the job restarted ({now} time(s) {when})"),
            obs,
        ));
    }
    if let Some(s @ ("RESTARTING" | "FAILING")) = obs.job_state.as_deref() {
        let why = with_error(format!("the job is {s}"), obs);
        return if a.allowed > 0 {
            Hold::Wobbling(why)
        } else {
            Hold::Lost(why)
        };
    }
    if let (Some(was), Some(is)) = (job, obs.job_id.as_deref()) {
        if was != is {
            return Hold::Lost(format!("job {was} was replaced by {is}"));
        }
    }
    if reached(obs, expect) {
        Hold::Holding
    } else {
        Hold::Wobbling(obs.describe())
    }
}

/// The savepoint triggered with `nonce` is recorded: its location. `Err` when the operator
/// reports it failed.
pub fn savepoint(obs: &Observation, nonce: u64, since_rv: u64) -> Verdict {
    if !obs.exists {
        return Verdict::Failed("the resource disappeared while the savepoint was taken".into());
    }
    if obs
        .last_savepoint
        .as_ref()
        .is_some_and(|s| s.nonce == Some(nonce))
        || obs.savepoint_history.iter().any(|s| s.nonce == Some(nonce))
    {
        return Verdict::Done;
    }
    let failed = obs.events.iter().rev().find(|e| {
        e.kind == "Warning"
            && e.rv > since_rv
            && matches!(e.reason.as_str(), "SavepointError" | "SnapshotError")
    });
    match failed {
        Some(e) => Verdict::Failed(format!("the operator reports {}: {}", e.reason, e.message)),
        None => Verdict::Pending,
    }
}

/// The savepoint recorded for `nonce`.
pub fn savepoint_of(obs: &Observation, nonce: u64) -> Option<&Savepoint> {
    obs.last_savepoint
        .iter()
        .chain(obs.savepoint_history.iter())
        .find(|s| s.nonce == Some(nonce))
}

/// A failure's account: the root cause for the headline (the status's error, else the latest
/// warning since the change), the warnings since the change, and the status and events for
/// the log.
pub fn explain(obs: &Observation, since_rv: u64) -> (Option<String>, Vec<String>, Vec<String>) {
    let recent: Vec<&Event> = obs.events.iter().filter(|e| e.rv > since_rv).collect();
    let warnings: Vec<String> = recent
        .iter()
        .filter(|e| e.kind == "Warning")
        .map(|e| format!("{}: {}", e.reason, e.message))
        .fold(vec![], |mut acc, w| {
            if !acc.contains(&w) {
                acc.push(w);
            }
            acc
        });
    let cause = obs.error.clone().or_else(|| warnings.last().cloned());
    let running = obs.running.as_ref().map(|c| {
        format!(
            "status: condition Running={} reason {}: {}",
            c.status, c.reason, c.message
        )
    });
    let mut lines: Vec<String> = [
        Some(format!("status: {}", obs.describe())),
        obs.reconciliation
            .as_ref()
            .map(|r| format!("status: reconciliationStatus.state {r}")),
        running,
        obs.error.as_ref().map(|e| format!("status: error {e}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    lines.extend(crate::targets::operator::event_lines(&recent));
    let last3 = warnings.iter().rev().take(3).rev().cloned().collect();
    (cause, last3, lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/flink-operator/"
    );

    fn fixture(name: &str) -> Value {
        let bytes = std::fs::read(format!("{FIXTURES}{name}")).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn events(name: &str) -> Vec<Value> {
        fixture(name)["items"].as_array().unwrap().clone()
    }

    fn expect(generation: u64, goal: Goal) -> Expect {
        Expect {
            kind: Kind::Deployment,
            session_cluster: false,
            goal,
            generation,
            since_rv: 100,
            max_restarts: 0,
        }
    }

    /// The stable generation-1 deployment with its status fields set as given.
    fn with(generation: u64, status: Value) -> Value {
        let mut cr = fixture("deployment-stable.json");
        cr["metadata"]["generation"] = json!(generation);
        for (k, v) in status.as_object().unwrap() {
            cr["status"][k] = v.clone();
        }
        cr
    }

    #[test]
    fn a_stable_status_of_the_previous_generation_is_not_the_answer() {
        let stable = fixture("deployment-stable.json");
        let obs = Observation::of(Some(&stable), &[]);
        assert_eq!(decide(&obs, &expect(1, Goal::Running)), Verdict::Done);
        assert_eq!(
            obs.describe(),
            "STABLE, job RUNNING, observed generation 1 of 1"
        );
        // Applied generation 2: the same status is stale.
        let cr = with(2, json!({}));
        let obs = Observation::of(Some(&cr), &[]);
        assert_eq!(decide(&obs, &expect(2, Goal::Running)), Verdict::Pending);
        // Recorded, but still upgrading (savepoint taken, new job not yet submitted).
        let cr = with(
            2,
            json!({"observedGeneration": 2, "lifecycleState": "UPGRADING", "reconciliationStatus": {"state": "UPGRADING"}, "jobStatus": {"state": "FINISHED"}}),
        );
        let obs = Observation::of(Some(&cr), &[]);
        assert!(!taken_up(&obs, &expect(2, Goal::Running)));
        assert_eq!(decide(&obs, &expect(2, Goal::Running)), Verdict::Pending);
        // Deployed, not yet running.
        let cr = with(
            2,
            json!({"observedGeneration": 2, "lifecycleState": "DEPLOYED", "jobStatus": {"state": "RECONCILING"}, "jobManagerDeploymentStatus": "DEPLOYING"}),
        );
        let obs = Observation::of(Some(&cr), &[]);
        assert_eq!(decide(&obs, &expect(2, Goal::Running)), Verdict::Pending);
        // STABLE for generation 2, but the Running condition says otherwise.
        let cr = with(
            2,
            json!({"observedGeneration": 2, "conditions": [{"type": "Running", "status": "False", "reason": "Reconciling", "message": "Job status RECONCILING"}]}),
        );
        let obs = Observation::of(Some(&cr), &[]);
        assert_eq!(decide(&obs, &expect(2, Goal::Running)), Verdict::Pending);
        let cr = with(2, json!({"observedGeneration": 2}));
        let obs = Observation::of(Some(&cr), &[]);
        assert_eq!(decide(&obs, &expect(2, Goal::Running)), Verdict::Done);
    }

    #[test]
    fn failures_name_the_root_cause() {
        let cr = fixture("deployment-failed.json");
        let ev = events("events-failed.json");
        let obs = Observation::of(Some(&cr), &ev);
        let v = decide(&obs, &expect(2, Goal::Running));
        assert_eq!(
            v,
            Verdict::Failed("the job FAILED: JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy".into())
        );
        let (cause, warnings, lines) = explain(&obs, 100);
        assert_eq!(
            cause.as_deref(),
            Some("JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy")
        );
        assert_eq!(
            warnings,
            vec!["Error: java.lang.ClassNotFoundException: com.example.Orders".to_owned()]
        );
        assert!(
            lines.contains(&"event: Normal SpecChanged: UPGRADE change(s) detected (Diff: FlinkDeploymentSpec[job.jarURI : a -> b]), starting reconciliation.".to_owned()),
            "{lines:#?}"
        );
        assert!(!lines.iter().any(|l| l.contains("old event")), "{lines:#?}");
        // The JobManager never comes up: DEPLOYED, not FAILED, in the lifecycle.
        let cr = with(
            2,
            json!({"observedGeneration": 2, "lifecycleState": "DEPLOYED", "jobManagerDeploymentStatus": "ERROR", "jobStatus": {"state": "RECONCILING"},
                   "error": "{\"type\":\"org.apache.flink.kubernetes.operator.exception.DeploymentFailedException\",\"message\":\"[flink-main-container] Back-off pulling image \\\"flink:9.9\\\"\",\"additionalMetadata\":{\"reason\":\"ImagePullBackOff\"},\"throwableList\":[]}"}),
        );
        let obs = Observation::of(Some(&cr), &[]);
        assert!(
            matches!(decide(&obs, &expect(2, Goal::Running)), Verdict::Failed(w) if w.ends_with("DeploymentFailedException: [flink-main-container] Back-off pulling image \"flink:9.9\" [ImagePullBackOff]")),
        );
        // A plain-text error is shown as it is.
        let cr = with(
            2,
            json!({"observedGeneration": 2, "lifecycleState": "FAILED", "error": "Job Not Found"}),
        );
        let obs = Observation::of(Some(&cr), &[]);
        assert_eq!(
            decide(&obs, &expect(2, Goal::Running)),
            Verdict::Failed("the job FAILED: Job Not Found".into())
        );
    }

    #[test]
    fn the_operators_rollback_and_refusals_fail_the_wait() {
        let cr = with(
            2,
            json!({"observedGeneration": 2, "lifecycleState": "ROLLED_BACK", "reconciliationStatus": {"state": "ROLLED_BACK"}}),
        );
        let obs = Observation::of(Some(&cr), &[]);
        assert!(
            matches!(decide(&obs, &expect(2, Goal::Running)), Verdict::Failed(w) if w.contains("rolled generation 2 back to the last stable spec (ROLLED_BACK)"))
        );
        let cr = with(
            2,
            json!({"observedGeneration": 2, "lifecycleState": "ROLLING_BACK", "reconciliationStatus": {"state": "ROLLING_BACK"}}),
        );
        let obs = Observation::of(Some(&cr), &[]);
        assert!(matches!(
            decide(&obs, &expect(2, Goal::Running)),
            Verdict::Failed(_)
        ));
        // Generation 2 refused by the validator: observedGeneration stays 1.
        let cr = with(2, json!({}));
        let ev = vec![
            json!({"type": "Warning", "reason": "ValidationError", "message": "Job parallelism must be larger than 0", "metadata": {"resourceVersion": "150"}}),
        ];
        let obs = Observation::of(Some(&cr), &ev);
        assert_eq!(
            decide(&obs, &expect(2, Goal::Running)),
            Verdict::Failed(
                "the operator reports ValidationError: Job parallelism must be larger than 0"
                    .into()
            )
        );
        // The same warning from before the change is not about it.
        let old = Expect {
            since_rv: 200,
            ..expect(2, Goal::Running)
        };
        assert_eq!(decide(&obs, &old), Verdict::Pending);
    }

    /// Counted from the reached state, `base` restarts seen then.
    fn seen(base: u64, allowed: u64) -> Allowance {
        Allowance {
            since: Since::FirstReading,
            base,
            allowed,
        }
    }

    #[test]
    fn a_job_the_run_started_is_held_to_its_restarts_since_the_change() {
        let cr = fixture("deployment-stable.json");
        let restart = |rv: u64| json!({"type": "Normal", "reason": "JobStatusChanged", "message": "Job status changed from RECONCILING to RESTARTING", "metadata": {"resourceVersion": rv.to_string()}});
        let e = expect(1, Goal::Running);
        let started = |allowed| Allowance {
            since: Since::Started,
            base: 1,
            allowed,
        };
        // One restart before the job was first seen RUNNING, one while settling.
        let obs = Observation::of(Some(&cr), &[restart(150), restart(170)]);
        assert!(
            matches!(settle(&obs, &e, Some("a1b2"), started(1)), Hold::Lost(w) if w == "the job restarted (2 time(s) since it started)")
        );
        assert_eq!(settle(&obs, &e, Some("a1b2"), started(2)), Hold::Holding);
        // A job found running is held only to what happens after the first reading.
        assert_eq!(settle(&obs, &e, Some("a1b2"), seen(1, 1)), Hold::Holding);
        // Restarts from before the change are not this change's.
        let obs = Observation::of(Some(&cr), &[restart(50)]);
        assert_eq!(settle(&obs, &e, Some("a1b2"), started(0)), Hold::Holding);
    }

    #[test]
    fn a_job_that_keeps_restarting_fails_and_a_restart_ends_the_settle_window() {
        let cr = fixture("deployment-stable.json");
        let restart = |rv: u64, count: u64| json!({"type": "Normal", "reason": "JobStatusChanged", "message": "Job status changed from RUNNING to RESTARTING", "count": count, "metadata": {"resourceVersion": rv.to_string()}});
        let e = expect(1, Goal::Running);
        let obs = Observation::of(Some(&cr), &[restart(150, 1)]);
        assert_eq!(decide(&obs, &e), Verdict::Done);
        assert_eq!(settle(&obs, &e, Some("a1b2"), seen(1, 0)), Hold::Holding);
        let obs = Observation::of(Some(&cr), &[restart(150, 2)]);
        assert!(
            matches!(settle(&obs, &e, Some("a1b2"), seen(1, 0)), Hold::Lost(w) if w.contains("the job restarted (1 time(s) while settling)"))
        );
        // healthMaxRestarts: 1 lets one restart pass, and a restart in progress wobble.
        assert_eq!(settle(&obs, &e, Some("a1b2"), seen(1, 1)), Hold::Holding);
        let mut busy = cr.clone();
        busy["status"]["jobStatus"]["state"] = json!("RESTARTING");
        assert!(matches!(
            settle(&Observation::of(Some(&busy), &[]), &e, Some("a1b2"), seen(0, 1)),
            Hold::Wobbling(w) if w == "the job is RESTARTING"
        ));
        let obs = Observation::of(Some(&cr), &[restart(150, 2), restart(160, 1)]);
        assert!(
            matches!(decide(&obs, &e), Verdict::Failed(w) if w.contains("keeps restarting (3 restarts"))
        );
        // healthMaxRestarts: 3 lets three restarts pass on the way to the goal, not four.
        let tolerant = Expect {
            max_restarts: 3,
            ..e.clone()
        };
        assert_eq!(decide(&obs, &tolerant), Verdict::Done);
        let obs = Observation::of(Some(&cr), &[restart(150, 2), restart(160, 2)]);
        assert!(
            matches!(decide(&obs, &tolerant), Verdict::Failed(w) if w.contains("keeps restarting (4 restarts"))
        );
        let mut r = cr.clone();
        r["status"]["jobStatus"]["state"] = json!("RESTARTING");
        let obs = Observation::of(Some(&r), &[]);
        assert!(
            matches!(settle(&obs, &e, Some("a1b2"), seen(0, 0)), Hold::Lost(w) if w == "the job is RESTARTING")
        );
        let obs = Observation::of(Some(&cr), &[]);
        assert!(
            matches!(settle(&obs, &e, Some("other"), seen(0, 0)), Hold::Lost(w) if w.contains("was replaced"))
        );
    }

    #[test]
    fn created_suspended_is_done_without_an_observed_generation() {
        // FLINK-39243: what operator 1.15 writes for a resource created suspended, forever.
        let cr = json!({"metadata": {"generation": 1, "resourceVersion": "7"},
            "status": {"lifecycleState": "CREATED", "reconciliationStatus": {"state": "UPGRADING"}, "jobManagerDeploymentStatus": "MISSING", "jobStatus": {}}});
        let obs = Observation::of(Some(&cr), &[]);
        assert_eq!(decide(&obs, &expect(1, Goal::Suspended)), Verdict::Done);
        assert_eq!(decide(&obs, &expect(1, Goal::Running)), Verdict::Pending);
        assert_eq!(
            obs.describe(),
            "CREATED, JobManager MISSING, observed generation none of 1"
        );
        // Suspended after running: SUSPENDED for this generation.
        let cr = with(
            3,
            json!({"observedGeneration": 3, "lifecycleState": "SUSPENDED", "jobStatus": {"state": "FINISHED"}}),
        );
        let obs = Observation::of(Some(&cr), &[]);
        assert_eq!(decide(&obs, &expect(3, Goal::Suspended)), Verdict::Done);
        let stale = with(3, json!({}));
        let obs = Observation::of(Some(&stale), &[]);
        assert_eq!(decide(&obs, &expect(3, Goal::Suspended)), Verdict::Pending);
    }

    #[test]
    fn savepoints_are_matched_by_their_nonce() {
        let cr = fixture("deployment-stable.json");
        let obs = Observation::of(Some(&cr), &[]);
        assert_eq!(obs.savepoint_history.len(), 2);
        assert_eq!(savepoint(&obs, 7, 100), Verdict::Done);
        assert_eq!(
            savepoint_of(&obs, 7).unwrap().location,
            "s3://flink/savepoints/orders/savepoint-7"
        );
        assert_eq!(savepoint(&obs, 8, 100), Verdict::Pending);
        let ev = vec![
            json!({"type": "Warning", "reason": "SavepointError", "message": "Savepoint failed: checkpoint coordinator is shut down", "metadata": {"resourceVersion": "150"}}),
        ];
        let obs = Observation::of(Some(&cr), &ev);
        assert!(
            matches!(savepoint(&obs, 8, 100), Verdict::Failed(w) if w.contains("checkpoint coordinator is shut down"))
        );
    }
}
