//! Pure decisions over a `VvpDeployment` as the cluster shows it (its status and its events):
//! has the operator taken up this change, has the deployment reached the wanted state, did it
//! hold, and what explains a failure. No I/O: the probe reads, `crate::wait` keeps the clock.
//!
//! Neither generation reports `observedGeneration`, so "taken up" is read from what each one
//! does report. 2.x mirrors Ververica Platform's deployment into `status`
//! (`customResourceStatus`, `deploymentStatus`, `deploymentSystemMetadata`): the change has
//! reached the platform once the deployment's own `resourceVersion` has moved past the one the
//! resource showed when it was applied; until then a RUNNING is the previous version's. 3.x
//! reports conditions (`Consistent`, `Healthy`) and events: the change is taken up when
//! `Consistent` names this generation, or the operator's "projected deployment config" (or
//! "created deployment") event is about this version of the resource; a state change then
//! counts only once the status was written after that event.

use serde_json::Value;

use super::resource::Generation;
use crate::targets::ververica::spec::{get, get_str};
use crate::wait::{Hold, Verdict};

/// One core/v1 event of the resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `Normal` or `Warning`.
    pub(crate) kind: String,
    pub(crate) reason: String,
    pub(crate) message: String,
    /// The event's own resourceVersion (0 when it is not a number).
    pub(crate) rv: u64,
    /// `involvedObject.resourceVersion`: the version of the resource the event is about.
    pub(crate) object_rv: Option<u64>,
    /// How many times it happened (`count`; a repeat updates the event instead of adding one).
    pub(crate) count: u64,
}

pub(crate) fn num(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

impl Event {
    pub fn of(e: &Value) -> Event {
        let s = |p: &str| {
            e.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        Event {
            kind: s("/type"),
            reason: s("/reason"),
            message: s("/message"),
            rv: num(e.pointer("/metadata/resourceVersion")).unwrap_or(0),
            object_rv: num(e.pointer("/involvedObject/resourceVersion")),
            count: num(e.get("count")).unwrap_or(1),
        }
    }

    pub(crate) fn line(&self) -> String {
        format!("{} {}: {}", self.kind, self.reason, self.message)
    }

    /// The 3.x operator's word that it sent a version of the resource to the platform.
    fn projects(&self) -> bool {
        matches!(
            self.reason.as_str(),
            "DeploymentConfigProjected" | "DeploymentCreated"
        ) || self
            .message
            .starts_with("Kubernetes operator projected deployment config")
            || self
                .message
                .starts_with("Kubernetes operator created deployment")
    }

    /// Ververica Platform's word that a transition finished (its events, mirrored by 3.x).
    fn completes(&self) -> bool {
        matches!(
            self.reason.as_str(),
            "STATE_TRANSITION_IS_COMPLETED" | "JOB_SUCCESSFULLY_STARTED"
        )
    }
}

/// A status condition (3.x).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Condition {
    status: String,
    reason: String,
    message: String,
    observed_generation: Option<u64>,
}

/// What the decisions look at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    pub(super) exists: bool,
    pub(super) generation: u64,
    /// The resource's resourceVersion.
    pub(super) rv: u64,
    /// 2.x: SYNCING or IDLING.
    pub(super) syncing: Option<String>,
    /// 2.x: the platform deployment's resourceVersion, as mirrored.
    pub(super) vvp_rv: Option<u64>,
    /// The deployment's state: 2.x `statusState`; 3.x the `Healthy` reason when it names one.
    pub(super) state: Option<String>,
    /// 2.x: the deployment's desired state as the platform holds it.
    pub(super) observed_spec_state: Option<String>,
    pub(super) job_id: Option<String>,
    pub(super) deployment_id: Option<String>,
    pub(super) consistent: Option<Condition>,
    pub(super) healthy: Option<Condition>,
    pub(super) events: Vec<Event>,
}

const STATES: &[&str] = &[
    "RUNNING",
    "SUSPENDED",
    "CANCELLED",
    "TRANSITIONING",
    "FAILED",
    "FINISHED",
];

fn condition(cr: &Value, kind: &str) -> Option<Condition> {
    let c = get(cr, &["status", "conditions"])?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))?;
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    Some(Condition {
        status: s("status"),
        reason: s("reason"),
        message: s("message"),
        observed_generation: num(c.get("observedGeneration")),
    })
}

impl Observation {
    pub fn of(cr: Option<&Value>, events: &[Value]) -> Observation {
        let Some(cr) = cr else {
            return Observation::default();
        };
        let st = |p: &[&str]| get_str(cr, p).map(str::to_owned);
        let healthy = condition(cr, "Healthy");
        let state = st(&["status", "customResourceStatus", "statusState"])
            .or_else(|| st(&["status", "deploymentStatus", "state"]))
            .or_else(|| {
                healthy
                    .as_ref()
                    .map(|h| h.reason.clone())
                    .filter(|r| STATES.contains(&r.as_str()))
            });
        Observation {
            exists: true,
            generation: num(cr.pointer("/metadata/generation")).unwrap_or(0),
            rv: num(cr.pointer("/metadata/resourceVersion")).unwrap_or(0),
            syncing: st(&["status", "customResourceStatus", "customResourceState"]),
            vvp_rv: num(cr.pointer("/status/deploymentSystemMetadata/resourceVersion")),
            state,
            observed_spec_state: st(&["status", "customResourceStatus", "observedSpecState"]),
            job_id: st(&["status", "deploymentStatus", "running", "jobId"]),
            deployment_id: st(&["status", "customResourceStatus", "deploymentId"])
                .or_else(|| st(&["status", "deploymentId"])),
            consistent: condition(cr, "Consistent"),
            healthy,
            events: events.iter().map(Event::of).collect(),
        }
    }

    /// One line for the wait's progress.
    pub fn describe(&self, generation: Generation) -> String {
        if !self.exists {
            return "not found".into();
        }
        let state = match (&self.state, &self.job_id) {
            (Some(s), Some(j)) if s == "RUNNING" => format!("RUNNING (job {j})"),
            (Some(s), _) => s.clone(),
            (None, _) => "no status yet".into(),
        };
        match generation {
            Generation::V2 => match &self.syncing {
                Some(s) => format!("{state}, {s}"),
                None => state,
            },
            Generation::V3 => {
                let c = |n: &str, c: &Option<Condition>| {
                    c.as_ref()
                        .map(|c| format!("{n}={}", c.status))
                        .unwrap_or_else(|| format!("{n}=?"))
                };
                format!(
                    "{state} ({}, {})",
                    c("Consistent", &self.consistent),
                    c("Healthy", &self.healthy)
                )
            }
        }
    }
}

/// A change this run applied, and what it should lead to.
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// The change touches the deployment (not only, say, `initFields` or labels): the operator
    /// has something to send to the platform.
    pub(super) reaches_platform: bool,
    /// The platform has to move (a new job, or another state): 3.x then waits for a status
    /// written after the change was taken up.
    pub(super) transition: bool,
    /// The running job is to be replaced; `job_before` is the job that ran before.
    pub(super) new_job: bool,
    pub(super) job_before: Option<String>,
    /// `metadata.generation` and `resourceVersion` of the resource as applied, and (2.x) the
    /// platform deployment's resourceVersion the resource showed then.
    pub(super) generation: u64,
    pub(super) rv: u64,
    pub(super) vvp_rv_before: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct Expect {
    pub(super) generation: Generation,
    /// RUNNING, SUSPENDED or CANCELLED.
    pub(super) target: String,
    /// `None`: nothing was applied; what the resource shows now is the answer.
    pub(super) change: Option<Change>,
}

const IDLING: &str = "the resource's syncing is off (customResourceState IDLING): the operator does not send it to Ververica Platform; turn CR syncing on for the deployment in the Ververica Platform web UI";

/// A warning about the resource after the change, before the operator took it up: the
/// operator could not act on it.
fn early_warning(obs: &Observation, c: &Change) -> Option<String> {
    obs.events
        .iter()
        .rev()
        .find(|e| e.kind == "Warning" && e.rv > c.rv)
        .map(|e| format!("the operator reports {}: {}", e.reason, e.message))
}

/// Reached, failed, or keep waiting.
pub fn decide(obs: &Observation, expect: &Expect) -> Verdict {
    if !obs.exists {
        return Verdict::Failed(
            "the VvpDeployment disappeared while waiting (someone deleted it during the run)"
                .into(),
        );
    }
    match expect.generation {
        Generation::V2 => decide_v2(obs, expect),
        Generation::V3 => decide_v3(obs, expect),
    }
}

fn pending_change(expect: &Expect) -> Option<&Change> {
    expect.change.as_ref().filter(|c| c.reaches_platform)
}

/// 2.x: the platform's deployment has moved since the resource was applied.
fn taken_up_v2(obs: &Observation, c: &Change) -> bool {
    match (obs.vvp_rv, c.vvp_rv_before) {
        (Some(now), Some(before)) => now > before,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Whether the operator has taken up the change (true when none is pending).
pub fn taken_up(obs: &Observation, expect: &Expect) -> bool {
    match (pending_change(expect), expect.generation) {
        (None, _) => true,
        (Some(c), Generation::V2) => taken_up_v2(obs, c),
        (Some(c), Generation::V3) => taken_up_v3(obs, c).is_some(),
    }
}

fn decide_v2(obs: &Observation, expect: &Expect) -> Verdict {
    if obs.syncing.as_deref() == Some("IDLING") {
        return Verdict::Failed(IDLING.into());
    }
    if let Some(c) = pending_change(expect) {
        if !taken_up_v2(obs, c) {
            return match early_warning(obs, c) {
                Some(w) => Verdict::Failed(w),
                None => Verdict::Pending,
            };
        }
        if c.new_job && obs.job_id.is_some() && obs.job_id == c.job_before {
            return Verdict::Pending;
        }
    }
    settle_state(obs, expect)
}

/// The state itself: FAILED fails, the target is reached.
fn settle_state(obs: &Observation, expect: &Expect) -> Verdict {
    match obs.state.as_deref() {
        Some("FAILED") => {
            Verdict::Failed("Ververica Platform reports the deployment FAILED".into())
        }
        _ if obs
            .observed_spec_state
            .as_deref()
            .is_some_and(|s| s != expect.target) =>
        {
            Verdict::Pending
        }
        Some(s) if s == expect.target => Verdict::Done,
        _ => Verdict::Pending,
    }
}

/// The resourceVersion of the event that shows the operator took up the change (0 when the
/// `Consistent` condition itself names the generation).
fn taken_up_v3(obs: &Observation, c: &Change) -> Option<u64> {
    if obs.consistent.as_ref().is_some_and(|k| {
        k.status == "True" && k.observed_generation.is_some_and(|g| g >= c.generation)
    }) {
        return Some(0);
    }
    obs.events
        .iter()
        .find(|e| {
            e.projects()
                && match e.object_rv {
                    Some(o) => o >= c.rv,
                    None => e.rv > c.rv,
                }
        })
        .map(|e| e.rv)
}

fn decide_v3(obs: &Observation, expect: &Expect) -> Verdict {
    if let Some(c) = pending_change(expect) {
        let Some(at) = taken_up_v3(obs, c) else {
            return match early_warning(obs, c) {
                Some(w) => Verdict::Failed(w),
                None => Verdict::Pending,
            };
        };
        let written_after = obs.rv > at || obs.events.iter().any(|e| e.completes() && e.rv > at);
        if c.transition && at > 0 && !written_after {
            return Verdict::Pending;
        }
    }
    if obs.consistent.as_ref().is_none_or(|k| k.status != "True") {
        return Verdict::Pending;
    }
    let Some(h) = &obs.healthy else {
        return Verdict::Pending;
    };
    if h.reason == "FAILED" {
        return Verdict::Failed(format!(
            "Ververica Platform reports the deployment FAILED{}",
            if h.message.is_empty() {
                String::new()
            } else {
                format!(" ({})", h.message)
            }
        ));
    }
    let names_state = STATES.contains(&h.reason.as_str());
    if h.status == "True" && (!names_state || h.reason == expect.target) {
        Verdict::Done
    } else {
        Verdict::Pending
    }
}

/// Did the reached state hold? `job` is the job that ran when it was reached (2.x).
pub fn settle(obs: &Observation, generation: Generation, job: Option<&str>) -> Hold {
    if !obs.exists {
        return Hold::Lost("the VvpDeployment disappeared while it was settling".into());
    }
    match generation {
        Generation::V2 => {
            if obs.syncing.as_deref() == Some("IDLING") {
                return Hold::Lost(IDLING.into());
            }
            match obs.state.as_deref() {
                Some("FAILED") => Hold::Lost("the deployment fell to FAILED".into()),
                Some("RUNNING") if job.is_some() && obs.job_id.as_deref() != job => {
                    Hold::Lost(format!(
                        "job {} was replaced by {} (the job restarted)",
                        job.unwrap_or("?"),
                        obs.job_id.as_deref().unwrap_or("none")
                    ))
                }
                Some("RUNNING") => Hold::Holding,
                other => Hold::Wobbling(other.unwrap_or("unknown").to_owned()),
            }
        }
        Generation::V3 => match &obs.healthy {
            Some(h) if h.reason == "FAILED" => Hold::Lost("the deployment fell to FAILED".into()),
            Some(h) if h.status == "True" => Hold::Holding,
            Some(h) => Hold::Wobbling(format!("Healthy={} ({})", h.status, h.reason)),
            None => Hold::Wobbling("no Healthy condition".into()),
        },
    }
}

/// A failure's account: the root cause for the headline (the latest warning since the
/// change), and the resource's status and events for the log.
pub fn explain(obs: &Observation, since_rv: u64) -> (Option<String>, Vec<String>) {
    let recent: Vec<&Event> = obs.events.iter().filter(|e| e.rv > since_rv).collect();
    let cause = recent
        .iter()
        .rev()
        .find(|e| e.kind == "Warning")
        .map(|e| format!("{}: {}", e.reason, e.message));
    let mut lines = vec![];
    if let Some(s) = &obs.syncing {
        lines.push(format!("status: customResourceState {s}"));
    }
    if let Some(s) = &obs.state {
        lines.push(format!(
            "status: deployment state {s}{}",
            obs.observed_spec_state
                .as_ref()
                .map(|d| format!(" (desired {d})"))
                .unwrap_or_default()
        ));
    }
    for (n, c) in [("Consistent", &obs.consistent), ("Healthy", &obs.healthy)] {
        if let Some(c) = c {
            lines.push(format!(
                "status: condition {n}={} reason {}: {}",
                c.status, c.reason, c.message
            ));
        }
    }
    if let Some(id) = &obs.deployment_id {
        lines.push(format!("status: Ververica Platform deployment id {id}"));
    }
    lines.extend(crate::targets::operator::event_lines(&recent));
    (cause, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vvp-operator/");

    fn fixture(name: &str) -> Value {
        let bytes = std::fs::read(format!("{FIXTURES}{name}")).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn events(name: &str) -> Vec<Value> {
        fixture(name)["items"].as_array().unwrap().clone()
    }

    fn v2(change: Option<Change>) -> Expect {
        Expect {
            generation: Generation::V2,
            target: "RUNNING".into(),
            change,
        }
    }

    #[test]
    fn v2_a_running_status_from_before_the_change_is_not_the_answer() {
        let before = Observation::of(Some(&fixture("v2-running.json")), &[]);
        assert_eq!(before.vvp_rv, Some(6));
        let change = Change {
            generation: 2,
            rv: 400,
            vvp_rv_before: before.vvp_rv,
            job_before: before.job_id.clone(),
            new_job: true,
            reaches_platform: true,
            transition: true,
        };
        // The same status right after the apply: stale.
        assert_eq!(decide(&before, &v2(Some(change.clone()))), Verdict::Pending);
        assert!(!taken_up(&before, &v2(Some(change.clone()))));
        // The platform moved (its resourceVersion), but the old job still runs.
        let mut moved = fixture("v2-running.json");
        moved["status"]["deploymentSystemMetadata"]["resourceVersion"] = 8.into();
        let obs = Observation::of(Some(&moved), &[]);
        assert_eq!(decide(&obs, &v2(Some(change.clone()))), Verdict::Pending);
        moved["status"]["deploymentStatus"]["running"]["jobId"] = "new-job".into();
        let obs = Observation::of(Some(&moved), &[]);
        assert_eq!(decide(&obs, &v2(Some(change.clone()))), Verdict::Done);
        // Without a change, RUNNING is the answer.
        assert_eq!(decide(&before, &v2(None)), Verdict::Done);
    }

    #[test]
    fn v2_idling_and_failed_fail_with_the_reason() {
        let obs = Observation::of(Some(&fixture("v2-idling.json")), &[]);
        assert!(matches!(decide(&obs, &v2(None)), Verdict::Failed(w) if w.contains("IDLING")));
        let obs = Observation::of(Some(&fixture("v2-failed.json")), &[]);
        assert!(matches!(decide(&obs, &v2(None)), Verdict::Failed(w) if w.contains("FAILED")));
        assert!(matches!(
            settle(&obs, Generation::V2, Some("j")),
            Hold::Lost(_)
        ));
    }

    #[test]
    fn v2_a_warning_before_the_platform_moved_is_the_operators_refusal() {
        let obs = Observation::of(
            Some(&fixture("v2-running.json")),
            &events("v2-events-sync-failed.json"),
        );
        let change = Change {
            rv: 400,
            vvp_rv_before: obs.vvp_rv,
            reaches_platform: true,
            ..Default::default()
        };
        assert!(
            matches!(decide(&obs, &v2(Some(change))), Verdict::Failed(w) if w.contains("SyncFailed: Ververica Platform refused the change"))
        );
    }

    fn v3(change: Option<Change>) -> Expect {
        Expect {
            generation: Generation::V3,
            target: "RUNNING".into(),
            change,
        }
    }

    #[test]
    fn v3_the_change_counts_once_projected_and_the_status_written_after() {
        let cr = fixture("v3-healthy.json");
        let ev = events("v3-events-projected.json");
        let change = |rv| Change {
            generation: 3,
            rv,
            new_job: true,
            reaches_platform: true,
            transition: true,
            ..Default::default()
        };
        // Healthy from before: no projection event about version >= 520 yet.
        let obs = Observation::of(Some(&cr), &ev[..1]);
        assert_eq!(decide(&obs, &v3(Some(change(520)))), Verdict::Pending);
        // Projected (event 530 about version 520), but the status is older than that event.
        let obs = Observation::of(Some(&cr), &ev[..2]);
        assert_eq!(obs.rv, 525);
        assert_eq!(decide(&obs, &v3(Some(change(520)))), Verdict::Pending);
        // The platform's own "transition completed", mirrored after the projection.
        let obs = Observation::of(Some(&cr), &ev);
        assert_eq!(decide(&obs, &v3(Some(change(520)))), Verdict::Done);
        // A change that moves nothing is done once projected.
        let quiet = Change {
            transition: false,
            new_job: false,
            ..change(520)
        };
        let obs = Observation::of(Some(&cr), &ev[..2]);
        assert_eq!(decide(&obs, &v3(Some(quiet))), Verdict::Done);
        // A Consistent condition that names the generation is enough.
        let mut named = cr.clone();
        named["status"]["conditions"][0]["observedGeneration"] = 3.into();
        let obs = Observation::of(Some(&named), &[]);
        assert_eq!(decide(&obs, &v3(Some(change(520)))), Verdict::Done);
    }

    #[test]
    fn v3_failed_is_read_from_healthy_and_explained_by_the_warning() {
        let obs = Observation::of(
            Some(&fixture("v3-failed.json")),
            &events("v3-events-failed.json"),
        );
        assert!(matches!(decide(&obs, &v3(None)), Verdict::Failed(w) if w.contains("FAILED")));
        let (cause, lines) = explain(&obs, 0);
        assert_eq!(
            cause.as_deref(),
            Some("TOO_MANY_FAILED_JOB_CREATION_ATTEMPTS: org.apache.flink.runtime.client.JobInitializationException: Could not start the JobMaster.")
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("status: condition Healthy=False reason FAILED")),
            "{lines:#?}"
        );
        assert!(lines.iter().any(|l| l == "event: Normal DeploymentConfigProjected: Kubernetes operator projected deployment config (mode=PATCH)"), "{lines:#?}");
        assert_eq!(
            obs.describe(Generation::V3),
            "FAILED (Consistent=True, Healthy=False)"
        );
        assert!(matches!(settle(&obs, Generation::V3, None), Hold::Lost(_)));
    }
}
