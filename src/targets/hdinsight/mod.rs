//! Flink jobs on HDInsight on AKS through Azure Resource Manager.
//!
//! Our actions map onto the service's job actions: deploy is NEW for a job the cluster does not
//! list, else UPDATE (STATELESS_UPDATE with `upgradeStrategy: STATELESS`); suspend is STOP,
//! resume START, savepoint SAVEPOINT, listSavepoints LIST_SAVEPOINT, cancel CANCEL, delete DELETE.
//! Each action is one runJob long-running operation; the outcome is read from the job list
//! (`actionResult`, `status`, `jobOutput`, `lastSavePoint`).

pub mod client;
pub mod config;
pub mod judge;
mod probe;

use crate::health::Signal;
use std::time::{Duration, Instant};

use serde_json::Value;

use self::client::Arm;
pub use self::config::HdiConfig;
use self::judge as model;
use self::judge::{ClusterJob, JobAction, JobDefinition, Verdict};
use self::probe::Seen;
use super::{Context, Needs, Plan, Registration, Target};
use crate::azure::auth::AzureTokens;
use crate::azure::blob::JarUriScheme;
use crate::config::{Action, RunSettings};
use crate::error::{Error, Result};
use crate::http::Http;
use crate::pipeline::inputs as i;
use crate::report::{cell, Recorder};
use crate::rollback::Outcome;
use crate::wait::{self, End, Hold, Wait};

/// What the platform tells about a started job's health (`crate::health`).
const HEALTH: crate::health::Support = crate::health::Support {
    restarts: Signal::Unseen(
        "HDInsight on AKS reports a job's status and last action only, no restart count",
    ),
    checkpoints: Signal::Unseen(
        "HDInsight on AKS reports a job's status and last action only, no checkpoint statistics",
    ),
};

pub const REGISTRATION: Registration =
    Registration::of::<HdiConfig>("hdinsight", Action::ON_JOBS, HEALTH).with_notice(RETIRED);

/// The target with its configuration.
pub type HdInsight = super::Configured<HdiConfig>;

/// What the target's code reads while it plans and applies.
pub type Cfg<'a> = super::Settings<'a, HdiConfig>;

#[async_trait::async_trait(?Send)]
impl Target for HdInsight {
    fn needs(&self) -> Needs {
        Needs {
            // The cluster reads jars from its ADLS Gen2 storage.
            jar_scheme: JarUriScheme::Abfs,
            jar_md5_in_plan: false,
            blob_prefix: "artifacts/namespaces/default".into(),
            credentials: vec![],
            // Not after a timeout: the action may still be running on the cluster, and a
            // second one would collide with it (a re-run waits for it instead).
            rollback: crate::rollback::Rules::ON_FAILURE_ONLY,
        }
    }

    async fn plan(&self, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
        plan(self, cx).await
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// What the plan decided to send.
#[derive(Clone, Debug)]
enum Op {
    Send {
        action: JobAction,
        body: Value,
    },
    /// Nothing to send; the text says why.
    Nothing(String),
}

/// The first line of every HDInsight run.
pub const RETIRED: &str = "Microsoft retired HDInsight on AKS on 2025-01-31: its clusters were stopped and removed, and its API descriptions withdrawn. This target works only with clusters that still answer. Move the job to Ververica Platform (target: ververica) or to a Flink cluster of your own, e.g. on AKS with the Apache Flink Kubernetes Operator (target: flink); Microsoft points to Microsoft Fabric or an equivalent Azure service.";

fn arm<'c>(
    http: &'c Http,
    azure: Option<&'c AzureTokens>,
    rec: &Recorder,
    h: &'c HdiConfig,
) -> Result<Arm<'c>> {
    let tokens = azure
        .ok_or_else(|| Error::input(i::AZURE_SUBSCRIPTION, "is required for target `hdinsight`"))?;
    Ok(Arm::new(http, tokens, rec.masker(), h))
}

/// The job definition from the inputs, checked before anything is sent.
fn definition(cfg: Cfg<'_>, jar_uri: Option<&str>) -> Result<JobDefinition> {
    let mut def = JobDefinition::default();
    if let Some(uri) = jar_uri {
        let (dir, name) = model::split_jar_uri(uri).map_err(|e| {
            // Not display_url: in abfs://container@account the user-info part is the container.
            let shown = uri.split(['?', '#']).next().unwrap_or_default();
            Error::input(i::JAR_URI, format!("`{shown}` {e}"))
        })?;
        def.jar_directory = Some(dir);
        def.jar_name = Some(name);
    }
    def.entry_class = cfg.job.entry_class.clone();
    if let Some(args) = &cfg.job.main_args {
        def.args = Some(model::args_string(args).map_err(|e| Error::input(i::MAIN_ARGS, e))?);
    }
    def.flink_configuration = cfg.job.flink_configuration.clone();
    if let Some(p) = cfg.job.parallelism {
        def.flink_configuration
            .insert("parallelism".into(), p.to_string());
    }
    if let Some(d) = &cfg.job.savepoint_directory {
        def.flink_configuration
            .insert("savepoint.directory".into(), d.clone());
    }
    Ok(def)
}

/// The action for our action and the job as listed (pure; the plan's core).
fn decide(
    cfg: Cfg<'_>,
    job_name: &str,
    before: Option<&ClusterJob>,
    def: &JobDefinition,
    save_point_name: Option<&str>,
    cluster: &str,
) -> Result<Op> {
    let action = match cfg.action {
        Action::Deploy | Action::Validate => match before {
            None => {
                if def.jar_name.is_none() {
                    return Err(Error::input(
                        i::JAR_URI,
                        format!("job `{job_name}` does not exist on HDInsight cluster {cluster}, and a new job needs a jar"),
                    )
                    .with_hint("give jarUri (abfs://… in the cluster's storage), or artifactPath with storageAccount and containerName to upload it"));
                }
                if def.entry_class.is_none() {
                    return Err(Error::input(
                        i::ENTRY_CLASS,
                        format!("is required to submit the new job `{job_name}` to HDInsight cluster {cluster}"),
                    )
                    .with_hint("the fully qualified main class, e.g. com.example.MyJob"));
                }
                JobAction::New
            }
            Some(_) => match cfg.job.upgrade_strategy.as_deref() {
                Some("STATELESS") => JobAction::StatelessUpdate,
                Some("NONE") => {
                    return Ok(Op::Nothing(format!(
                        "job `{job_name}` exists and upgradeStrategy is NONE: it is left as it is"
                    )))
                }
                _ => JobAction::Update,
            },
        },
        Action::Suspend => JobAction::Stop,
        Action::Resume => JobAction::Start,
        Action::Savepoint => JobAction::Savepoint,
        Action::ListSavepoints => JobAction::ListSavepoint,
        Action::Cancel => JobAction::Cancel,
        Action::Delete => JobAction::Delete,
        Action::RenderCustomResource => unreachable!("rejected by the configuration"),
    };
    if let Some(why) = model::already_done(action, before) {
        return Ok(Op::Nothing(why));
    }
    if before.is_none() && action != JobAction::New {
        return Err(Error::platform(format!(
            "job `{job_name}` is not listed on HDInsight cluster {cluster}; {} needs an existing job",
            action.as_str()
        ))
        .with_hint("check jobName (job names are lower case), or deploy the job first"));
    }
    Ok(Op::Send {
        action,
        body: model::request_body(action, job_name, def, save_point_name),
    })
}

fn describe(job: &ClusterJob) -> String {
    let p = &job.properties;
    let mut parts = vec![];
    if !job.status().is_empty() {
        parts.push(format!("status {}", job.status()));
    }
    if let Some(a) = &p.action {
        parts.push(format!("last action {a} {}", job.action_result()));
    }
    if let Some(j) = job.jar() {
        parts.push(format!("jar {j}"));
    }
    parts.join(", ")
}

/// What `plan` decided about one job.
struct JobPlan {
    name: String,
    /// The job as listed before any change.
    before: Option<ClusterJob>,
    definition: JobDefinition,
    save_point_name: Option<String>,
    jar_uri: Option<String>,
    op: Op,
}

struct HdiPlan {
    target: HdInsight,
    run: RunSettings,
    /// The jobs the cluster lists, when no `jobName` was given (only `validate` allows that).
    listed: Vec<String>,
    job: Option<JobPlan>,
}

/// The jar must be in the cluster's storage: a local one only with an upload to Blob Storage.
fn check_artifact(cx: &Context<'_>) -> Result<()> {
    if cx.artifact.local.is_some() && cx.artifact.jar_uri.is_none() {
        return Err(Error::input(
            i::STORAGE_ACCOUNT,
            "is required to deploy the local artifactPath to HDInsight on AKS: the cluster reads jars from its storage, so the jar has to be uploaded there first",
        )
        .with_hint("set storageAccount and containerName (the cluster's storage account, reached as abfs://), or give jarUri for a jar that is already there"));
    }
    Ok(())
}

/// Show the request a plan would send, in the log and the summary.
fn show_request(rec: &mut Recorder, op: &Op) {
    if let Op::Send { action, body } = op {
        let text = serde_json::to_string_pretty(body).unwrap_or_default();
        let title = format!("runJob {} request body", action.as_str());
        rec.group(&title, &text);
        rec.summary.details(&title, "json", &text);
    }
}

async fn plan(t: &HdInsight, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
    let cfg = t.settings(cx.run, cx.vars);
    let h = cfg.own;
    cx.rec.summary.paragraph(&format!("**Note:** {RETIRED}"));
    if let Some(n) = &cfg.job.job_name {
        if let Some(p) = model::job_name_problem(n) {
            return Err(Error::input(i::JOB_NAME, p));
        }
    }
    check_artifact(cx)?;
    let jar_uri = cx.artifact.jar_uri.clone();
    let definition = definition(cfg, jar_uri.as_deref())?;
    let save_point_name = cfg
        .job
        .savepoint_location
        .as_deref()
        .map(model::save_point_name);
    if save_point_name.is_some()
        && !matches!(
            cfg.action,
            Action::Resume | Action::Deploy | Action::Validate
        )
    {
        cx.rec.warn(&format!(
            "savepointLocation is used only by resume (START) and deploy (UPDATE); ignored for {}",
            cfg.action.as_str()
        ));
    }
    let arm = arm(cx.http, cx.azure, cx.rec, h)?;
    let jobs = arm.list_jobs().await?;
    let mut plan = HdiPlan {
        target: t.clone(),
        run: cx.run.clone(),
        listed: vec![],
        job: None,
    };
    let Some(name) = cfg.job.job_name.clone() else {
        plan.listed = jobs
            .iter()
            .map(|j| format!("{} ({})", j.job_name().unwrap_or("?"), j.status()))
            .collect();
        return Ok(Box::new(plan));
    };
    cx.rec
        .fact("Cluster", &format!("{}/{}", h.cluster_pool, h.cluster_name));
    cx.rec.fact("Job", &name);
    cx.rec.subject(&format!(
        "job `{name}` on HDInsight cluster `{}/{}`",
        h.cluster_pool, h.cluster_name
    ));
    let before = model::find_job(&jobs, &name).cloned();
    let cluster = arm.cluster_label();
    let op = decide(
        cfg,
        &name,
        before.as_ref(),
        &definition,
        save_point_name.as_deref(),
        &cluster,
    )?;
    show_request(cx.rec, &op);
    plan.job = Some(JobPlan {
        name,
        before,
        definition,
        save_point_name,
        jar_uri,
        op,
    });
    Ok(Box::new(plan))
}

impl HdiPlan {
    fn describe_send(&self, j: &JobPlan, action: JobAction, lines: &mut Vec<String>) {
        lines.push(format!("send runJob {}", action.as_str()));
        if let Some(b) = j.before.as_ref().filter(|b| b.in_progress()) {
            lines.push(format!(
                "first wait for the job's {} that is still in progress",
                b.properties.action.as_deref().unwrap_or("action")
            ));
        }
        lines.push(format!(
            "wait up to {}s for actionResult SUCCESS{}",
            self.run.timeout.as_secs(),
            if action.starts_job() {
                " and status RUNNING"
            } else {
                ""
            }
        ));
        if action.starts_job() && !self.run.settle.is_zero() {
            lines.push(format!(
                "then watch the job stay RUNNING for {}s",
                self.run.settle.as_secs()
            ));
        }
        if self.run.rollback_on_failure && action.is_upgrade() {
            if let Some(prev) = j.before.as_ref().and_then(ClusterJob::jar) {
                lines.push(format!(
                    "on failure, run {} again with the previous jar {prev}",
                    action.as_str()
                ));
            }
        }
    }
}

#[async_trait::async_trait(?Send)]
impl Plan for HdiPlan {
    fn describe(&self) -> Vec<String> {
        let h = &self.target.cfg;
        let mut lines = vec![format!(
            "HDInsight on AKS cluster `{}/{}` in resource group `{}` (subscription {}) via {}, API {}",
            h.cluster_pool, h.cluster_name, h.resource_group, h.subscription_id, h.arm_endpoint, h.api_version
        )];
        let Some(j) = &self.job else {
            lines.push(format!(
                "the cluster lists {} job(s){}{}",
                self.listed.len(),
                if self.listed.is_empty() { "" } else { ": " },
                self.listed.join(", ")
            ));
            lines.push("set jobName to see the request a deploy would send".into());
            return lines;
        };
        let name = &j.name;
        lines.push(match &j.before {
            Some(b) => format!("job `{name}` exists: {}", describe(b)),
            None => format!("job `{name}` does not exist yet"),
        });
        match &j.op {
            Op::Send { action, .. } => self.describe_send(j, *action, &mut lines),
            Op::Nothing(why) => lines.push(format!("nothing to send: {why}")),
        }
        lines
    }

    async fn apply(self: Box<Self>, cx: &mut Context<'_>) -> Result<()> {
        let this = *self;
        let cfg = this.target.settings(cx.run, cx.vars);
        let Some(mut j) = this.job else {
            // Only `validate` plans without a job, and it never applies.
            return Ok(());
        };
        let deadline = Instant::now() + cfg.timeout;
        let arm = arm(cx.http, cx.azure, cx.rec, cfg.own)?;
        let rec = &mut *cx.rec;
        // A job still busy with an earlier action (e.g. after a run that timed out) is waited
        // for first, then the action is decided again on what it became.
        if j.before.as_ref().is_some_and(ClusterJob::in_progress) {
            rec.begin("wait for the action in progress");
            let r = wait_idle(&arm, rec, &j.name, deadline).await;
            j.before = rec.end(r)?;
            j.op = decide(
                cfg,
                &j.name,
                j.before.as_ref(),
                &j.definition,
                j.save_point_name.as_deref(),
                &arm.cluster_label(),
            )?;
        }
        let (action, body) = match j.op.clone() {
            Op::Nothing(why) => {
                rec.skip("runJob", &why);
                rec.log(&format!("nothing to do: {why}"));
                set_outputs(rec, &j.name, j.before.as_ref(), j.jar_uri.as_deref());
                return Ok(());
            }
            Op::Send { action, body } => (action, body),
        };
        let outcome = perform(
            &arm,
            rec,
            cfg.settle,
            "",
            &j.name,
            action,
            &body,
            j.before.as_ref(),
            deadline,
        )
        .await;
        let (job, result) = match outcome {
            Ok(job) => (job, Ok(())),
            Err((job, e)) => (job, Err(e)),
        };
        let result = match result {
            Err(e)
                if cfg.action == Action::Deploy
                    && (action == JobAction::New || action.is_upgrade())
                    && crate::rollback::wanted(
                        cfg.rollback_on_failure,
                        this.target.needs().rollback,
                        &e,
                    ) =>
            {
                let outcome =
                    rollback(&arm, rec, cfg, &j.name, action, &body, j.before.as_ref()).await;
                let subject = format!(
                    "job `{}` on HDInsight cluster {}",
                    j.name,
                    arm.cluster_label()
                );
                Err(crate::rollback::conclude(rec, e, outcome, &subject))
            }
            r => r,
        };
        finish(&arm, rec, &j, action, job, result).await
    }
}

/// Outputs and the summary's job table from the job as it is now.
async fn finish(
    arm: &Arm<'_>,
    rec: &mut Recorder,
    j: &JobPlan,
    action: JobAction,
    job: Option<ClusterJob>,
    result: Result<()>,
) -> Result<()> {
    let latest = match arm.find_job(&j.name).await {
        Ok(found) if found.is_some() || action == JobAction::Delete => found,
        _ => job,
    };
    // The jar the job runs now: after a rollback that is the previous one, not the input.
    let jar = match latest.as_ref().and_then(ClusterJob::jar) {
        Some(jar) if jar.contains("://") => Some(jar),
        _ => j.jar_uri.clone(),
    };
    set_outputs(
        rec,
        &j.name,
        latest.as_ref(),
        jar.as_deref().filter(|_| action.starts_job()),
    );
    if action == JobAction::Delete && latest.is_none() && result.is_ok() {
        rec.output("state", "DELETED");
    }
    if let Some(l) = &latest {
        job_summary(rec, l);
    }
    result
}

/// Send one action and wait for its outcome; `label` prefixes the step names (for the
/// rollback). On failure the job as last seen comes back with the error, for the outputs.
#[allow(clippy::too_many_arguments)]
async fn perform(
    arm: &Arm<'_>,
    rec: &mut Recorder,
    settle_for: Duration,
    label: &str,
    name: &str,
    action: JobAction,
    body: &Value,
    before: Option<&ClusterJob>,
    deadline: Instant,
) -> std::result::Result<Option<ClusterJob>, (Option<ClusterJob>, Error)> {
    let a = action.as_str();
    rec.begin(&format!("{label}runJob {a}"));
    let r = send_and_follow(arm, rec, body, deadline).await;
    rec.end(r).map_err(|e| (before.cloned(), e))?;
    rec.timeline(&format!("{label}{a} accepted"));

    rec.begin(&format!("{label}wait for {a}"));
    let job = match wait_for(arm, rec, name, action, before, deadline).await {
        Ok(job) => {
            rec.pass();
            job
        }
        Err((job, e)) => {
            rec.fail(&e);
            rec.timeline(&format!("{label}{a} failed"));
            return Err((job, e));
        }
    };
    if let Some(j) = &job {
        report_done(rec, action, j);
    }
    rec.timeline(&match &job {
        Some(j) if !j.status().is_empty() => format!("{label}{a} SUCCESS, job {}", j.status()),
        _ => format!("{label}{a} SUCCESS"),
    });

    if action.starts_job() && !settle_for.is_zero() {
        rec.begin(&format!("{label}settle"));
        match settle(arm, rec, name, settle_for, action).await {
            Ok(()) => rec.pass(),
            Err((now, e)) => {
                rec.fail(&e);
                rec.timeline(&format!("{label}job went down while settling"));
                return Err((now.or(job), e));
            }
        }
    }
    Ok(job)
}

async fn send_and_follow(
    arm: &Arm<'_>,
    rec: &mut Recorder,
    body: &Value,
    deadline: Instant,
) -> Result<()> {
    let accepted = arm.run_job(body, deadline).await?;
    rec.log(&format!(
        "runJob answered HTTP {}{}",
        accepted.status,
        accepted
            .request_id
            .as_deref()
            .map(|id| format!(" (request id {id})"))
            .unwrap_or_default()
    ));
    let polls = arm.wait_operation(rec, &accepted, deadline).await?;
    if polls > 0 {
        rec.log(&format!(
            "the operation finished after {polls} status check(s)"
        ));
    }
    Ok(())
}

fn arm_wait(subject: &'static str, limit: Duration) -> Wait<'static> {
    Wait::new(subject, limit, client::PACE)
}

/// The error for an action the service reports as failed, with its jobOutput.
fn action_failed(
    arm: &Arm<'_>,
    rec: &mut Recorder,
    name: &str,
    action: JobAction,
    now: Option<&ClusterJob>,
    why: &str,
) -> Error {
    let output = now
        .and_then(|j| j.properties.job_output.clone())
        .filter(|o| !o.trim().is_empty());
    if let Some(o) = &output {
        for l in o.lines() {
            rec.error_line(&format!("jobOutput: {l}"));
        }
    }
    let mut e = Error::deployment(format!(
        "{} of job `{name}` on HDInsight cluster {} failed: {}",
        action.as_str(),
        arm.cluster_label(),
        first_line(why)
    ));
    if let Some(o) = output {
        e = e.with_detail(format!("jobOutput: {}", o.trim()));
    }
    if let Some(j) = now {
        e = e.with_detail(format!(
            "status: {}, actionResult: {}",
            or_dash(j.status()),
            or_dash(j.action_result())
        ));
    }
    e
}

/// Poll the job list until the service's record of our action decides.
async fn wait_for(
    arm: &Arm<'_>,
    rec: &mut Recorder,
    name: &str,
    action: JobAction,
    before: Option<&ClusterJob>,
    deadline: Instant,
) -> std::result::Result<Option<ClusterJob>, (Option<ClusterJob>, Error)> {
    let w = arm_wait(
        "the job list",
        deadline.saturating_duration_since(Instant::now()),
    );
    let mut probe = probe::job(arm, name);
    let end = wait::until(rec, &w, &mut probe, |seen, _| {
        match model::judge(action, before, seen.0.as_ref()) {
            Verdict::Done => wait::Verdict::Done,
            Verdict::Failed(why) => wait::Verdict::Failed(why),
            Verdict::Waiting(_) => wait::Verdict::Pending,
        }
    })
    .await
    .map_err(|e| (before.cloned(), e))?;
    match end {
        End::Reached(Seen(now)) => Ok(now),
        End::Failed {
            last: Seen(now),
            why,
        } => {
            let e = action_failed(arm, rec, name, action, now.as_ref(), &why);
            Err((now.or_else(|| before.cloned()), e))
        }
        End::TimedOut { last } => {
            let now = last.and_then(|s| s.0);
            let said = match model::judge(action, before, now.as_ref()) {
                Verdict::Waiting(why) => why,
                _ => "no answer".into(),
            };
            Err((
                now.or_else(|| before.cloned()),
                Error::timeout(format!(
                    "{} of job `{name}` on HDInsight cluster {} did not finish in time: {said}",
                    action.as_str(),
                    arm.cluster_label()
                ))
                .with_hint("raise timeoutSeconds; the action goes on on the cluster, and a re-run waits for it before sending anything"),
            ))
        }
    }
}

/// Wait until the job has no action IN_PROGRESS; returns the job as it then is.
async fn wait_idle(
    arm: &Arm<'_>,
    rec: &mut Recorder,
    name: &str,
    deadline: Instant,
) -> Result<Option<ClusterJob>> {
    let busy = |j: &Option<ClusterJob>| {
        j.as_ref().filter(|j| j.in_progress()).map(|j| {
            j.properties
                .action
                .clone()
                .unwrap_or_else(|| "an action".into())
        })
    };
    let first = arm.find_job(name).await?;
    let Some(doing) = busy(&first) else {
        return Ok(first);
    };
    rec.log(&format!(
        "job `{name}` has {doing} in progress; waiting for it before sending anything"
    ));
    let w = arm_wait(
        "the job list",
        deadline.saturating_duration_since(Instant::now()),
    );
    let mut probe = probe::job(arm, name);
    let end = wait::until(rec, &w, &mut probe, |seen, _| match busy(&seen.0) {
        Some(_) => wait::Verdict::Pending,
        None => wait::Verdict::Done,
    })
    .await?;
    match end {
        End::Reached(Seen(job)) | End::Failed { last: Seen(job), .. } => Ok(job),
        End::TimedOut { last } => Err(Error::timeout(format!(
            "job `{name}` on HDInsight cluster {} still has {} in progress",
            arm.cluster_label(),
            last.and_then(|s| busy(&s.0)).unwrap_or(doing)
        ))
        .with_hint("wait for the running action to finish (see the cluster's Flink jobs in the portal), then re-run")),
    }
}

/// After a start, the job has to stay up for `settle`.
async fn settle(
    arm: &Arm<'_>,
    rec: &mut Recorder,
    name: &str,
    settle: Duration,
    action: JobAction,
) -> std::result::Result<(), (Option<ClusterJob>, Error)> {
    rec.log(&format!("watching job `{name}` for {}s", settle.as_secs()));
    let w = arm_wait("the job list", settle);
    let mut probe = probe::job(arm, name);
    let held = wait::settle(rec, &w, &mut probe, |seen| {
        match model::settled(seen.0.as_ref()) {
            Ok(()) => Hold::Holding,
            Err(why) => Hold::Lost(why),
        }
    })
    .await
    .map_err(|e| (None, e))?;
    match held {
        wait::Settled::Held(_) => {
            rec.log(&format!(
                "job `{name}` stayed RUNNING for {}s",
                settle.as_secs()
            ));
            Ok(())
        }
        wait::Settled::Lost { last, why } => {
            let job = last.and_then(|s| s.0);
            let output = job
                .as_ref()
                .and_then(|j| j.properties.job_output.as_deref())
                .map(str::trim)
                .filter(|o| !o.is_empty());
            if let Some(o) = output {
                rec.error_line(&format!("jobOutput: {o}"));
            }
            let e = Error::deployment(format!(
                "job `{name}` on HDInsight cluster {} did not stay up after {}: {why}",
                arm.cluster_label(),
                action.as_str()
            ))
            .with_details(output.map(|o| format!("jobOutput: {o}")));
            Err((job, e))
        }
    }
}

/// The definition a failed request ran with: what it sent, and the job's own values for what it
/// left out (the service keeps those).
fn effective(sent: &Value, previous: &JobDefinition) -> JobDefinition {
    let p = &sent["properties"];
    let field = |k: &str, prev: &Option<String>| p[k].as_str().map(str::to_owned).or(prev.clone());
    JobDefinition {
        jar_directory: field("jobJarDirectory", &previous.jar_directory),
        jar_name: field("jarName", &previous.jar_name),
        entry_class: field("entryClass", &previous.entry_class),
        args: field("args", &previous.args),
        flink_configuration: match p["flinkConfiguration"].as_object() {
            Some(m) => m
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect(),
            None => previous.flink_configuration.clone(),
        },
    }
}

/// Run the failed upgrade again with the definition the job had before.
async fn rollback(
    arm: &Arm<'_>,
    rec: &mut Recorder,
    cfg: Cfg<'_>,
    name: &str,
    action: JobAction,
    failed_body: &Value,
    before: Option<&ClusterJob>,
) -> Outcome {
    let (true, Some(before)) = (action.is_upgrade(), before) else {
        return Outcome::Skipped(format!(
            "job `{name}` did not exist before, so there is no earlier version to go back to"
        ));
    };
    let previous = JobDefinition::of(before);
    if previous.jar_name.is_none() || effective(failed_body, &previous) == previous {
        return Outcome::Skipped(format!(
            "the failed {} ran the job's previous definition ({}); a jar replaced in storage cannot be restored from here",
            action.as_str(),
            previous.jar().unwrap_or_else(|| "jar unknown".into())
        ));
    }
    let body = model::request_body(action, name, &previous, None);
    let prev_jar = previous.jar().unwrap_or_default();
    rec.log(&format!(
        "rolling back job `{name}`: {} with the previous jar {prev_jar}",
        action.as_str()
    ));
    rec.group(
        &format!("rollback: runJob {} request body", action.as_str()),
        &serde_json::to_string_pretty(&body).unwrap_or_default(),
    );
    rec.timeline(&format!("rollback to {prev_jar}"));
    // The failed attempt's record is the baseline now, so its result is not taken for ours.
    let failed_job = arm.find_job(name).await.ok().flatten();
    // A fresh time budget: the rollback is an attempt of its own.
    let deadline = Instant::now() + cfg.timeout;
    let baseline = failed_job.as_ref().or(Some(before));
    match perform(
        arm,
        rec,
        cfg.settle,
        "rollback: ",
        name,
        action,
        &body,
        baseline,
        deadline,
    )
    .await
    {
        Ok(_) => Outcome::Done(format!(
            "{} with the previous jar {prev_jar} succeeded; the job runs the previous version",
            action.as_str()
        )),
        Err((_, e)) => {
            Outcome::Failed(e.context(format!("rollback to the previous jar {prev_jar}")))
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

fn report_done(rec: &mut Recorder, action: JobAction, job: &ClusterJob) {
    let p = &job.properties;
    rec.log(&format!(
        "{} SUCCESS: job status {}, Flink job id {}",
        action.as_str(),
        or_dash(job.status()),
        p.job_id.as_deref().unwrap_or("-")
    ));
    if let Some(o) = p.job_output.as_deref().filter(|o| !o.trim().is_empty()) {
        rec.group("jobOutput", o.trim());
    }
    if action == JobAction::ListSavepoint {
        let list = model::parse_savepoints(p.job_output.as_deref().unwrap_or(""));
        let latest = p.last_save_point.as_deref();
        let rows: Vec<Vec<String>> = list
            .iter()
            .enumerate()
            .map(|(n, s)| {
                vec![
                    (n + 1).to_string(),
                    s.clone(),
                    if Some(s.as_str()) == latest
                        || latest.is_some_and(|l| model::save_point_name(l) == *s)
                    {
                        "last savepoint".into()
                    } else {
                        String::new()
                    },
                ]
            })
            .collect();
        if rows.is_empty() {
            rec.log("no savepoints listed for the job");
        } else {
            let width = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
            let mut table = format!("{:>3}  {:width$}  note\n", "#", "savepoint");
            for r in &rows {
                table.push_str(&format!("{:>3}  {:width$}  {}\n", r[0], r[1], r[2]));
            }
            rec.group(&format!("{} savepoint(s)", rows.len()), table.trim_end());
        }
        rec.summary.heading(4, "Savepoints");
        if rows.is_empty() {
            rec.summary.paragraph("No savepoints listed.");
        } else {
            rec.summary.table(&["#", "Savepoint", ""], &rows);
        }
    }
}

fn job_summary(rec: &mut Recorder, job: &ClusterJob) {
    let p = &job.properties;
    let mut rows = vec![];
    let mut row = |k: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            rows.push(vec![k.to_owned(), cell(v)]);
        }
    };
    row("Action", p.action.as_deref());
    row("actionResult", p.action_result.as_deref());
    row("Status", p.status.as_deref());
    row("Flink job id", p.job_id.as_deref());
    row("Jar", job.jar().as_deref());
    row("Last savepoint", p.last_save_point.as_deref());
    row("jobOutput", p.job_output.as_deref());
    if !rows.is_empty() {
        rec.summary.heading(4, "HDInsight job");
        rec.summary.table(&["", ""], &rows);
    }
}

fn set_outputs(rec: &mut Recorder, name: &str, job: Option<&ClusterJob>, jar_uri: Option<&str>) {
    rec.output(
        "deploymentId",
        job.and_then(|j| j.id.as_deref()).unwrap_or(name),
    );
    rec.output("deploymentName", name);
    if let Some(j) = job {
        if let Some(id) = j.properties.job_id.as_deref().filter(|s| !s.is_empty()) {
            rec.output("jobId", id);
        }
        if !j.status().is_empty() {
            rec.output("state", j.status());
        }
        if let Some(sp) = j
            .properties
            .last_save_point
            .as_deref()
            .filter(|s| !s.is_empty())
        {
            rec.output("savepointLocation", sp);
        }
    }
    if let Some(u) = jar_uri {
        rec.output("jarUri", u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, RawInputs};
    use crate::error::ErrorKind;
    use crate::pipeline::env::AgentEnv;

    const CONN: &str = "b1a5f0c2-3d4e-4f5a-8b6c-7d8e9f0a1b2c";

    fn cfg(inputs: &[(&str, &str)]) -> Config {
        let mut pairs: Vec<(String, String)> = vec![
            ("INPUT_TARGET".into(), "hdinsight".into()),
            ("INPUT_AZURESUBSCRIPTION".into(), CONN.into()),
            ("INPUT_HDIRESOURCEGROUP".into(), "rg".into()),
            ("INPUT_HDICLUSTERPOOL".into(), "pool".into()),
            ("INPUT_HDICLUSTERNAME".into(), "cluster".into()),
            ("INPUT_JOBNAME".into(), "orders".into()),
            (
                format!("ENDPOINT_AUTH_SCHEME_{CONN}"),
                "ServicePrincipal".into(),
            ),
            (
                format!("ENDPOINT_AUTH_PARAMETER_{CONN}_TENANTID"),
                "t".into(),
            ),
            (
                format!("ENDPOINT_AUTH_PARAMETER_{CONN}_SERVICEPRINCIPALID"),
                "c".into(),
            ),
            (
                format!("ENDPOINT_AUTH_PARAMETER_{CONN}_SERVICEPRINCIPALKEY"),
                "k".into(),
            ),
            (
                format!("ENDPOINT_DATA_{CONN}_SUBSCRIPTIONID"),
                "10e32bab-26da-4cc4-a441-52b318f824e6".into(),
            ),
        ];
        pairs.extend(
            inputs
                .iter()
                .map(|(k, v)| (format!("INPUT_{}", k.to_uppercase()), v.to_string())),
        );
        Config::from_raw(&RawInputs::from_env(AgentEnv::from_pairs(pairs))).expect("config")
    }

    fn job(status: &str) -> ClusterJob {
        serde_json::from_value(serde_json::json!({"id": "/x/jobs/orders", "properties": {
            "jobType": "FlinkJob", "jobName": "orders", "jobJarDirectory": "abfs://c@a.dfs.core.windows.net/jars",
            "jarName": "orders-1.jar", "action": "NEW", "actionResult": "SUCCESS", "status": status}}))
        .unwrap()
    }

    fn sent(op: Result<Op>) -> (JobAction, Value) {
        match op.expect("decided") {
            Op::Send { action, body } => (action, body),
            Op::Nothing(why) => panic!("nothing: {why}"),
        }
    }

    /// The decision for job `orders` on cluster `p/c`.
    fn on(
        c: &Config,
        before: Option<&ClusterJob>,
        def: &JobDefinition,
        save_point: Option<&str>,
    ) -> Result<Op> {
        decide(view(c), "orders", before, def, save_point, "`p/c`")
    }

    fn view(c: &Config) -> Cfg<'_> {
        let t = c
            .target
            .as_any()
            .downcast_ref::<HdInsight>()
            .expect("an HDInsight target");
        t.settings(&c.run, &c.vars)
    }

    fn with_jar(c: &Config) -> JobDefinition {
        definition(
            view(c),
            Some("abfs://c@a.dfs.core.windows.net/jars/orders-2.jar"),
        )
        .unwrap()
    }

    #[test]
    fn deploy_is_new_update_or_stateless_update() {
        let c = cfg(&[("entryClass", "com.example.Job")]);
        let d = with_jar(&c);
        let (a, body) = sent(on(&c, None, &d, None));
        assert_eq!(a, JobAction::New);
        assert_eq!(body["properties"]["jarName"], "orders-2.jar");
        let running = job("RUNNING");
        assert_eq!(
            sent(on(&c, Some(&running), &d, Some("sp-1"))).0,
            JobAction::Update
        );
        let c = cfg(&[("upgradeStrategy", "STATELESS")]);
        assert_eq!(
            sent(on(&c, Some(&running), &with_jar(&c), None)).0,
            JobAction::StatelessUpdate
        );
        let c = cfg(&[("upgradeStrategy", "NONE")]);
        assert!(matches!(
            on(&c, Some(&running), &with_jar(&c), None),
            Ok(Op::Nothing(_))
        ));
    }

    #[test]
    fn a_new_job_needs_a_jar_and_an_entry_class() {
        let c = cfg(&[]);
        let e = on(&c, None, &JobDefinition::default(), None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Input);
        assert!(e.message.contains("`jarUri`"), "{e}");
        let e = on(&c, None, &with_jar(&c), None).unwrap_err();
        assert!(e.message.contains("`entryClass`"), "{e}");
    }

    #[test]
    fn the_other_actions_map_one_to_one() {
        let running = job("RUNNING");
        let stopped = job("STOPPED");
        for (action, before, expected) in [
            ("suspend", &running, JobAction::Stop),
            ("resume", &stopped, JobAction::Start),
            ("savepoint", &running, JobAction::Savepoint),
            ("listSavepoints", &running, JobAction::ListSavepoint),
            ("cancel", &running, JobAction::Cancel),
            ("delete", &stopped, JobAction::Delete),
        ] {
            let c = cfg(&[("action", action)]);
            let (a, body) = sent(on(&c, Some(before), &with_jar(&c), Some("sp-1")));
            assert_eq!(a, expected, "{action}");
            assert_eq!(body["properties"]["action"], expected.as_str());
        }
        let c = cfg(&[("action", "resume")]);
        let (_, body) = sent(on(
            &c,
            Some(&stopped),
            &JobDefinition::default(),
            Some("sp-1"),
        ));
        assert_eq!(body["properties"]["savePointName"], "sp-1");
    }

    #[test]
    fn actions_on_a_missing_job_fail_and_repeats_do_nothing() {
        let c = cfg(&[("action", "suspend")]);
        let e = on(&c, None, &JobDefinition::default(), None).unwrap_err();
        assert!(
            e.message
                .contains("job `orders` is not listed on HDInsight cluster `p/c`"),
            "{e}"
        );
        let stopped = job("STOPPED");
        assert!(matches!(
            on(&c, Some(&stopped), &JobDefinition::default(), None),
            Ok(Op::Nothing(_))
        ));
        let c = cfg(&[("action", "delete")]);
        assert!(matches!(
            on(&c, None, &JobDefinition::default(), None),
            Ok(Op::Nothing(_))
        ));
    }

    #[test]
    fn inputs_become_the_job_definition() {
        let c = cfg(&[
            ("mainArgs", "--env prod"),
            ("parallelism", "4"),
            ("savepointDirectory", "abfs://c@a.dfs.core.windows.net/sp"),
            (
                "flinkConfiguration",
                "parallelism: 1\nstate.backend.type: rocksdb",
            ),
        ]);
        let d = with_jar(&c);
        assert_eq!(
            d.jar_directory.as_deref(),
            Some("abfs://c@a.dfs.core.windows.net/jars")
        );
        assert_eq!(d.args.as_deref(), Some("--env prod"));
        // The parallelism input wins over the same key in flinkConfiguration.
        assert_eq!(d.flink_configuration["parallelism"], "4");
        assert_eq!(d.flink_configuration["state.backend.type"], "rocksdb");
        assert_eq!(
            d.flink_configuration["savepoint.directory"],
            "abfs://c@a.dfs.core.windows.net/sp"
        );
        let e = definition(
            view(&c),
            Some("abfs://c@a.dfs.core.windows.net/jars/x.jar?sig=1"),
        )
        .unwrap_err();
        assert!(
            e.message.contains("`jarUri`") && !e.message.contains("sig=1"),
            "{e}"
        );
    }

    #[test]
    fn rollback_compares_what_the_failed_request_really_ran() {
        let before = job("RUNNING");
        let prev = JobDefinition::of(&before);
        // No jar in the request: the service kept the job's own, so nothing older exists.
        let same =
            model::request_body(JobAction::Update, "orders", &JobDefinition::default(), None);
        assert_eq!(effective(&same, &prev), prev);
        let c = cfg(&[]);
        let newer = model::request_body(JobAction::Update, "orders", &with_jar(&c), None);
        assert_ne!(effective(&newer, &prev), prev);
    }
}
