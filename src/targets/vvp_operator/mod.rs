//! Ververica Platform's Kubernetes operator: the deployment as a `VvpDeployment` resource,
//! applied to a cluster (server-side apply, this task as field manager), and waited on through
//! the resource's own status and events until the operator has taken up this version, the
//! deployment reached the wanted state and held it for the settle window.
//!
//! The deployment is rendered exactly as the Ververica target renders it (spec file, inputs,
//! jar URI); [`resource`] turns it into the 2.x or 3.x resource and checks it against that
//! generation's schema. `plan` reads the resource in the cluster and sends the change as a dry
//! run, so the API server's own checks (schema, admission webhook, permissions, conflicts with
//! other managers) fail the run before anything is written, and `validate` shows the server's
//! diff. `apply` writes, waits, settles, and on request re-applies the resource captured in the
//! plan. `delete` deletes the resource and waits until it is gone.

pub mod client;
pub mod config;
pub mod deploy;
pub mod judge;
pub mod probe;
pub mod resource;

use crate::health::Signal;
use serde_json::Value;

use self::client::Crs;
pub use self::config::OperatorConfig;
use self::judge::{Expect, Observation};
use super::{Context, Needs, Plan, Registration, Target};
use crate::azure::blob::JarUriScheme;
use crate::config::Action;
use crate::error::{Error, Result};
use crate::pipeline::inputs as i;
use crate::report::Recorder;

/// What the platform tells about a started job's health (`crate::health`).
const HEALTH: crate::health::Support = crate::health::Support {
    restarts: Signal::Unseen("the VvpDeployment's status mirrors the deployment, not its job: a restart inside Flink is not shown (a replaced job is)"),
    checkpoints: Signal::Unseen("the VvpDeployment's status has no checkpoint statistics, and neither has Ververica Platform's API"),
};

pub const REGISTRATION: Registration = Registration::of::<OperatorConfig>(
    "ververicaOperator",
    &[Action::Deploy, Action::Delete, Action::Validate],
    HEALTH,
);

/// The target with its configuration.
pub type Operator = super::Configured<OperatorConfig>;

/// What the target's code reads while it plans and applies.
pub type Cfg<'a> = super::Settings<'a, OperatorConfig>;

#[async_trait::async_trait(?Send)]
impl Target for Operator {
    fn cluster(&self) -> Option<&crate::kube::ClusterConfig> {
        self.cfg.cluster.as_ref()
    }

    fn needs(&self) -> Needs {
        // The operator hands the jar URI to Ververica Platform, which reads `wasbs://` in
        // Universal Blob Storage's layout; the operator has its own token (apikeySecretName).
        let blob_prefix = format!("artifacts/namespaces/{}", self.cfg.vvp.namespace);
        Needs {
            jar_scheme: JarUriScheme::Wasbs,
            // Rendered as the Ververica target renders it: the jar URI names the content.
            jar_md5_in_plan: true,
            blob_prefix,
            credentials: vec![],
            // Re-applying the previous resource is declarative: safe after a timeout too.
            rollback: crate::rollback::Rules::ALWAYS,
        }
    }

    async fn plan(&self, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
        match cx.run.action {
            Action::Delete => plan_delete(self, cx).await,
            _ => deploy::plan(self, cx).await,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The signed-in cluster, which the configuration asks for on every action that writes.
fn cluster<'c>(cx: &Context<'c>) -> Result<&'c crate::kube::Cluster> {
    crate::targets::operator::cluster(
        cx,
        "target ververicaOperator applies the VvpDeployment to a cluster",
    )
}

/// The resource in words.
fn subject(crs: &Crs<'_>) -> String {
    crate::targets::operator::subject(crs)
}

/// The outputs a reached state gives.
fn outputs(rec: &mut Recorder, obs: &Observation) {
    if let Some(s) = &obs.state {
        rec.output("state", s);
    }
    if let Some(id) = &obs.deployment_id {
        rec.output("deploymentId", id);
        rec.fact("Ververica Platform deployment", id);
    }
    if let Some(j) = &obs.job_id {
        rec.output("jobId", j);
        rec.fact("Job", j);
    }
}

/// One wait on the resource: what it waits for, and where the events of this change begin.
pub struct Watch<'a> {
    pub cfg: Cfg<'a>,
    pub crs: &'a Crs<'a>,
    pub expect: Expect,
    /// The resourceVersion of the resource as applied: events after it belong to the change.
    pub since_rv: u64,
}

impl Watch<'_> {
    /// The resource's status and events, and the root cause for a headline (` (cause)`,
    /// unless `why` already says it).
    fn account(&self, obs: &Observation, why: &str) -> (String, Vec<String>) {
        let (cause, mut details) = judge::explain(obs, self.since_rv);
        details.extend(self.crs.events_note());
        let cause = cause
            .filter(|c| !why.contains(c.as_str()))
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        (cause, details)
    }

    /// Wait for the target state; the error carries the resource's status and events.
    async fn state(&self, rec: &mut Recorder) -> Result<Observation> {
        let what = subject(self.crs);
        let (expect, timeout) = (&self.expect, self.cfg.timeout);
        let target = &expect.target;
        let probe = probe::CrProbe {
            crs: self.crs,
            generation: expect.generation,
        };
        match probe.until(rec, expect, timeout).await? {
            probe::WaitEnd::Reached(obs) => {
                rec.timeline(&format!("reached {target}"));
                Ok(obs)
            }
            probe::WaitEnd::Failed { obs, why } => {
                let (cause, details) = self.account(&obs, &why);
                Err(Error::deployment(format!("{what} did not reach {target}: {why}{cause}"))
                    .with_details(details)
                    .with_hint("the status and events above are the operator's and Ververica Platform's account; the job's logs are in Ververica Platform"))
            }
            probe::WaitEnd::TimedOut { last } => {
                let obs = last.unwrap_or_default();
                let (_, details) = self.account(&obs, "");
                Err(Error::timeout(format!(
                    "{what} did not reach {target} within {}s; last: {}",
                    timeout.as_secs(),
                    obs.describe(expect.generation)
                ))
                .with_details(details)
                .with_hint(self.timeout_hint(&obs)))
            }
        }
    }

    /// A late answer: the platform is slow, or the operator never took the change up.
    fn timeout_hint(&self, obs: &Observation) -> String {
        if judge::taken_up(obs, &self.expect) {
            return format!(
                "raise {} if Ververica Platform is only slow",
                i::TIMEOUT_SECONDS
            );
        }
        format!(
            "the operator has not taken up this version of the resource: check that it watches namespace `{}` (watchedNamespaces), that the secret named by apikeySecretName holds an API token (key `apikey`) with the editor role{}",
            self.crs.obj.namespace,
            if self.expect.generation == resource::Generation::V3 {
                ", and that vvpOperatorInstanceId is the operator's instanceId"
            } else {
                ""
            }
        )
    }

    /// The steps `reach <STATE>` and `stay RUNNING`.
    async fn reach(&self, rec: &mut Recorder) -> Result<Observation> {
        rec.begin(&format!("reach {}", self.expect.target));
        let r = self.state(rec).await;
        let obs = rec.end(r)?;
        let settle = self.cfg.settle;
        if self.expect.target == "RUNNING" && !settle.is_zero() {
            rec.begin(&format!("stay RUNNING for {}s", settle.as_secs()));
            let r = self.hold(rec, &obs).await;
            rec.end(r)?;
        }
        Ok(obs)
    }

    /// Watch the reached RUNNING for the settle window.
    async fn hold(&self, rec: &mut Recorder, obs: &Observation) -> Result<()> {
        let settle = self.cfg.settle;
        let job = obs.job_id.as_deref();
        let gen = self.expect.generation;
        let Err((why, last)) = probe::settle(self.crs, rec, gen, job, settle).await? else {
            rec.timeline(&format!("stayed RUNNING for {}s", settle.as_secs()));
            return Ok(());
        };
        let (cause, details) = self.account(&last.unwrap_or_default(), &why);
        Err(Error::deployment(format!(
            "{} reached RUNNING but did not stay up for {}s ({}): {why}{cause}",
            subject(self.crs),
            settle.as_secs(),
            i::SETTLE_SECONDS,
        ))
        .with_details(details))
    }
}

/// `delete`: the resource as it is, deleted in apply.
pub struct DeletePlan {
    target: Operator,
    obj: crate::kube::ObjectRef,
    current: Option<Value>,
}

async fn plan_delete(t: &Operator, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
    let c = cluster(cx)?;
    let name = t.job.deployment_name.clone().ok_or_else(|| {
        Error::input(i::DEPLOYMENT_NAME, "is required for action `delete`")
            .with_hint("the VvpDeployment's name")
    })?;
    let obj = resource::object_ref(&c.namespace, &name);
    let crs = Crs::new(c, obj.clone());
    cx.rec.subject(&subject(&crs));
    let current = crs.get().await?;
    Ok(Box::new(DeletePlan {
        target: t.clone(),
        obj,
        current,
    }))
}

#[async_trait::async_trait(?Send)]
impl Plan for DeletePlan {
    fn describe(&self) -> Vec<String> {
        let what = format!(
            "VvpDeployment `{}` in namespace `{}`",
            self.obj.name, self.obj.namespace
        );
        match &self.current {
            None => vec![format!("{what} does not exist: nothing to delete")],
            Some(cr) => {
                let obs = Observation::of(Some(cr), &[]);
                vec![
                    format!(
                        "delete {what} ({}) and wait until it is gone",
                        obs.describe(self.target.cfg.generation)
                    ),
                    "what happens to the deployment in Ververica Platform is the operator's decision".into(),
                ]
            }
        }
    }

    async fn apply(self: Box<Self>, cx: &mut Context<'_>) -> Result<()> {
        let cfg = self.target.settings(cx.run, cx.vars);
        let crs = Crs::new(cluster(cx)?, self.obj.clone());
        crate::targets::operator::delete_and_wait(
            &crs,
            cx.rec,
            (self.current.is_some(), cfg.timeout),
            "the operator removes its finalizer once Ververica Platform lets it; see the resource's events",
        )
        .await
    }
}
