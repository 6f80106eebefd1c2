//! The Apache Flink Kubernetes Operator: a `FlinkDeployment` (application or session cluster) or
//! a `FlinkSessionJob` from a spec file, applied to a cluster (server-side apply, this task as
//! field manager), and waited on through the resource's own status and events until the operator
//! has reconciled this run's generation and the job is STABLE and RUNNING, then watched for the
//! settle window.
//!
//! [`resource`] reads the spec file typed by the operator's CRD schema and checks the result;
//! `plan` reads the resource in the cluster and sends the change as a dry run, so the API
//! server's own checks fail the run before anything is written, and `validate` shows the
//! server's diff. `apply` writes, waits ([`judge`] says when the status is about this change),
//! settles, and on request re-applies the resource captured in the plan. `suspend`, `resume`,
//! `cancel` and `savepoint` apply the resource as it is in the cluster with `spec.job.state`,
//! `upgradeMode` or `savepointTriggerNonce` changed ([`actions`]); `listSavepoints` reads the
//! status; `delete` deletes and waits until the operator's finalizer is done.

pub mod actions;
pub mod config;
pub mod deploy;
pub mod judge;
pub mod probe;
pub mod resource;

use std::time::Duration;

pub use self::config::OperatorConfig;
use self::judge::{Expect, Goal, Observation};
use super::{Context, Needs, Plan, Registration, Target};
use crate::azure::blob::JarUriScheme;
use crate::config::Action;
use crate::error::{Error, Result};
use crate::pipeline::inputs as i;
use crate::report::Recorder;
use crate::targets::operator::subject;
use crate::targets::vvp_operator::client::Crs;
use crate::wait::End;

/// What the operator tells about a started job's health (`crate::health`).
const HEALTH: crate::health::Support = crate::health::Support {
    restarts: crate::health::Signal::Counted(
        "the resource's events (the job's status changes to RESTARTING)",
    ),
    checkpoints: crate::health::Signal::Unseen(
        "the FlinkDeployment's status has no checkpoint counts (operator 1.15 keeps them in the JobManager)",
    ),
};

pub const REGISTRATION: Registration =
    Registration::of::<OperatorConfig>("flinkOperator", Action::ON_JOBS, HEALTH);

/// The target with its configuration.
pub type Operator = super::Configured<OperatorConfig>;

#[async_trait::async_trait(?Send)]
impl Target for Operator {
    fn cluster(&self) -> Option<&crate::kube::ClusterConfig> {
        self.cfg.cluster.as_ref()
    }

    fn needs(&self) -> Needs {
        Needs {
            // The operator downloads a FlinkSessionJob's jar itself and, in 1.15, only over
            // https unless its own configuration allows more; a FlinkDeployment's JobManager
            // fetches an https jar with Flink's artifact fetcher. wasbs:// would need Azure
            // file system plugins and keys in the cluster; https needs neither. The URL carries
            // no SAS token: it would be readable by everyone who can read the resource.
            jar_scheme: JarUriScheme::Https,
            jar_md5_in_plan: false,
            blob_prefix: "flink-operator".into(),
            credentials: vec![],
            // Re-applying the previous resource is declarative: safe after a timeout too.
            rollback: crate::rollback::Rules::ALWAYS,
        }
    }

    async fn plan(&self, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
        match cx.run.action {
            Action::Deploy | Action::Validate => deploy::plan(self, cx).await,
            Action::Delete => actions::plan_delete(self, cx).await,
            Action::ListSavepoints => actions::plan_list(self, cx).await,
            _ => actions::plan_change(self, cx).await,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The signed-in cluster, which the configuration asks for on every action that reads it.
fn cluster<'c>(cx: &Context<'c>) -> Result<&'c crate::kube::Cluster> {
    crate::targets::operator::cluster(cx, "target flinkOperator works on a resource in a cluster")
}

/// The outputs a reached state gives.
fn outputs(rec: &mut Recorder, obs: &Observation) {
    if let Some(s) = &obs.lifecycle {
        rec.output("state", s);
    }
    if let Some(j) = &obs.job_id {
        rec.output("jobId", j);
        rec.fact("Job", j);
    }
}

/// One wait on the resource: what it waits for, and how long.
pub struct Watch<'a> {
    pub crs: &'a Crs<'a>,
    pub expect: Expect,
    pub timeout: Duration,
    pub settle: Duration,
    /// Restarts the job may make (`healthMaxRestarts`).
    pub max_restarts: u64,
    /// `Started` when this run applied a change: the job it waits for is the change's, and
    /// its restarts count from the change, also those before it was first seen RUNNING (the
    /// health gate's rule for a job the run started). `FirstReading` when nothing was sent.
    pub since: crate::health::Since,
}

impl Watch<'_> {
    /// The headline's tail (` (root cause); events: ...`) and the account for the log.
    fn account(&self, obs: &Observation, why: &str) -> (String, Vec<String>) {
        let (cause, warnings, mut details) = judge::explain(obs, self.expect.since_rv);
        details.extend(self.crs.events_note());
        let mut tail = cause
            .filter(|c| !why.contains(c.as_str()))
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        let warnings: Vec<&String> = warnings.iter().filter(|w| !why.contains(*w)).collect();
        if !warnings.is_empty() {
            let shown: Vec<&str> = warnings.iter().map(|w| w.as_str()).collect();
            tail.push_str(&format!("; events: {}", shown.join("; ")));
        }
        (tail, details)
    }

    /// Wait for the goal; the error carries the resource's status and events.
    async fn state(&self, rec: &mut Recorder) -> Result<Observation> {
        let what = subject(self.crs);
        let goal = self.expect.goal_name();
        let end = probe::until(self.crs, rec, self.timeout, |o| {
            judge::decide(o, &self.expect)
        })
        .await?;
        match end {
            End::Reached(obs) => {
                if judge::decide(&obs, &self.expect) == crate::wait::Verdict::Done
                    && obs.observed_generation.is_none()
                    && self.expect.goal == Goal::Suspended
                {
                    rec.log("the operator records nothing for a resource that has never run and is suspended (FLINK-39243): CREATED without observedGeneration is its answer");
                }
                rec.timeline(&format!("reached {goal}"));
                Ok(obs)
            }
            End::Failed { last, why } => {
                let (tail, details) = self.account(&last, &why);
                Err(Error::deployment(format!("{what} did not reach {goal}: {why}{tail}"))
                    .with_details(details)
                    .with_hint("the status and events above are the operator's account; the job's own logs are in the JobManager's pod (kubectl logs deploy/<name>)"))
            }
            End::TimedOut { last } => {
                let obs = last.unwrap_or_default();
                let (_, details) = self.account(&obs, "");
                Err(Error::timeout(format!(
                    "{what} did not reach {goal} within {}s: {}; last: {}",
                    self.timeout.as_secs(),
                    self.stuck(&obs),
                    obs.describe()
                ))
                .with_details(details)
                .with_hint(self.timeout_hint(&obs)))
            }
        }
    }

    /// Why a wait timed out, in words: the operator never took the change up, or it did and the
    /// job did not come up in time.
    fn stuck(&self, obs: &Observation) -> String {
        let g = self.expect.generation;
        if judge::taken_up(obs, &self.expect) {
            return format!(
                "the operator reconciled generation {g}, but the job did not get there"
            );
        }
        match (obs.lifecycle.as_deref(), obs.observed_generation) {
            (None, _) => format!("the operator never wrote a status for generation {g}"),
            (_, Some(o)) if o >= g => format!(
                "the operator recorded generation {g} but has not finished deploying it (reconciliation {})",
                obs.reconciliation.as_deref().unwrap_or("?")
            ),
            (_, o) => format!(
                "the status never moved to generation {g} (status.observedGeneration is {})",
                o.map(|o| o.to_string()).unwrap_or_else(|| "absent".into())
            ),
        }
    }

    fn timeout_hint(&self, obs: &Observation) -> String {
        if judge::taken_up(obs, &self.expect) {
            return format!(
                "raise {} if the cluster is only slow (pulling the image, starting TaskManagers)",
                i::TIMEOUT_SECONDS
            );
        }
        let session = match self.expect.kind {
            resource::Kind::SessionJob => {
                ", that its session cluster's JobManager is READY (the operator waits for it)"
            }
            resource::Kind::Deployment => "",
        };
        format!(
            "check that the operator runs and watches namespace `{}` (watchNamespaces){session}; an upgrade also waits while the old job cannot be stopped the way upgradeMode says (savepoint: the job must be RUNNING)",
            self.crs.obj.namespace
        )
    }

    /// The steps `reach <goal>` and `stay RUNNING`.
    async fn reach(&self, rec: &mut Recorder) -> Result<Observation> {
        rec.begin(&format!("reach {}", self.expect.goal_name()));
        let r = self.state(rec).await;
        let obs = rec.end(r)?;
        if self.expect.goal == Goal::Running && !self.settle.is_zero() {
            rec.begin(&format!("stay RUNNING for {}s", self.settle.as_secs()));
            let r = self.hold(rec, &obs).await;
            rec.end(r)?;
        }
        Ok(obs)
    }

    async fn hold(&self, rec: &mut Recorder, reached: &Observation) -> Result<()> {
        let settle = self.settle;
        let Err((why, last)) = probe::settle(
            self.crs,
            rec,
            &self.expect,
            reached,
            (settle, self.since, self.max_restarts),
        )
        .await?
        else {
            rec.timeline(&format!("stayed RUNNING for {}s", settle.as_secs()));
            return Ok(());
        };
        let (tail, details) = self.account(&last.unwrap_or_default(), &why);
        Err(Error::deployment(format!(
            "{} reached RUNNING but did not stay up for {}s ({}): {why}{tail}",
            subject(self.crs),
            settle.as_secs(),
            i::SETTLE_SECONDS,
        ))
        .with_details(details))
    }
}
