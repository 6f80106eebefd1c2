//! `deploy` (and `validate`, its plan alone): read the spec file into the resource, check it,
//! read the resource in the cluster and send the change as a dry run; then apply, wait, settle,
//! and roll back on request. The actions that change one field of what is deployed (`suspend`,
//! `resume`, `cancel`, `savepoint`) are this same plan with the resource taken from the cluster.

use serde_json::{json, Value};

use super::judge::{Expect, Goal, Observation};
use super::resource::{self, Kind};
use super::{cluster, subject, Operator, Watch};
use crate::config::RunSettings;
use crate::error::{Error, Result};
use crate::kube::{applied_part, Apply, ObjectRef};
use crate::pipeline::inputs as i;
use crate::report::Recorder;
use crate::rollback::Outcome;
use crate::targets::operator as op;
use crate::targets::ververica::{diff, spec::get_str};
use crate::targets::vvp_operator::client::Crs;
use crate::targets::{Context, Plan};
use crate::wait::{End, Verdict};

/// What the cluster showed, and what the apply will change.
pub(super) struct Online {
    pub obj: ObjectRef,
    /// The resource as it was before this run (`None`: new). Kept for rollback.
    pub live: Option<Value>,
    /// The unified diff between the resource in the cluster and the server's dry run.
    pub change: Option<String>,
}

pub struct DeployPlan {
    pub(super) target: Operator,
    pub(super) run: RunSettings,
    pub(super) kind: Kind,
    pub(super) resource: Value,
    /// `None` for a `validate` without a cluster.
    pub(super) online: Option<Online>,
    /// `savepoint`: the trigger nonce the apply sets; the wait is for that savepoint.
    pub(super) savepoint_nonce: Option<u64>,
    /// What the plan says the change is, when it is not a spec file's (an action's words).
    pub(super) what: Option<String>,
}

fn api_version() -> String {
    format!("{}/{}", resource::GROUP, resource::VERSION)
}

/// The resource as applied: for the diff and for rollback.
pub(super) fn applied(kind: Kind, cr: &Value) -> Value {
    applied_part(cr, &api_version(), kind.name())
}

/// Read the spec file, lay the inputs over it and check it.
fn build(t: &Operator, cx: &mut Context<'_>, namespace: &str) -> Result<(Kind, Value)> {
    if cx.artifact.local.is_some() && !cx.artifact.to_blob {
        return Err(Error::input(
            i::ARTIFACT_PATH,
            "needs Blob Storage with target `flinkOperator`: the operator takes a jar URI and uploads nothing",
        )
        .with_hint("set storageAccount and containerName (the operator reads the blob's https URL), or give jarUri"));
    }
    let path = t
        .job
        .spec_file
        .as_deref()
        .ok_or_else(|| Error::input(i::SPEC_FILE, "is required for target `flinkOperator`"))?;
    let jar = cx.artifact.jar_uri.as_deref();
    let (kind, mut cr) = resource::read_file(&resource::Source {
        path,
        jar_uri: jar,
        namespace,
        vars: cx.vars,
    })?;
    if let Some(k) = t.cfg.kind.filter(|k| *k != kind) {
        return Err(Error::input(
            i::FLINK_RESOURCE_KIND,
            format!("is {}, but the spec file holds a {}", k.name(), kind.name()),
        )
        .with_hint("leave flinkResourceKind empty with a spec file"));
    }
    let args = t.job.main_args.as_deref();
    resource::overlay(
        kind,
        &mut cr,
        &resource::Overlay {
            name: t.job.deployment_name.as_deref(),
            namespace,
            jar_uri: jar,
            parallelism: t.job.parallelism,
            entry_class: t.job.entry_class.as_deref(),
            args,
            flink_configuration: Some(&t.job.flink_configuration),
            initial_savepoint_path: t.job.initial_savepoint_path.as_deref(),
            allow_non_restored_state: t.job.allow_non_restored_state,
            session_cluster: t.cfg.session_cluster.as_deref(),
        },
    );
    resource::check(&cr, kind, i::SPEC_FILE)?;
    let uri = get_str(&cr, &["spec", "job", "jarURI"]).unwrap_or_default();
    if kind == Kind::SessionJob && !uri.starts_with("https://") {
        cx.rec.warn(&format!("the FlinkSessionJob's jarURI is `{uri}`: operator 1.15 downloads session jobs' jars only over https unless its kubernetes.operator.user.artifacts.allowed-schemes allows more"));
    }
    cx.rec.group(kind.name(), &crate::spec::emit::to_yaml(&cr));
    Ok((kind, cr))
}

/// Read the resource in the cluster and let the server check the change (dry run).
pub(super) async fn read_cluster(
    t: &Operator,
    cx: &mut Context<'_>,
    kind: Kind,
    cr: &Value,
) -> Result<Online> {
    let c = cluster(cx)?;
    let name = get_str(cr, &["metadata", "name"]).unwrap_or_default();
    let obj = resource::object_ref(kind, &c.namespace, name);
    let crs = Crs::new(c, obj.clone());
    let live = crs.get().await?;
    let how = Apply {
        force: t.cfg.force,
        dry_run: true,
    };
    let dry = crs.apply(cr, how, i::SPEC_FILE).await?;
    let before = live
        .as_ref()
        .map(|l| applied(kind, l))
        .unwrap_or_else(|| json!({}));
    let change = diff::unified(
        &before,
        &applied(kind, &dry),
        "in the cluster",
        "after this run",
    );
    let title = format!("Server-side diff of the {} (dry run)", kind.name());
    match &change {
        Some(d) => cx.rec.group(&title, d),
        None => cx.rec.log(&format!(
            "The {} in the cluster already matches: nothing to change.",
            kind.name()
        )),
    }
    cx.rec.summary.heading(4, &format!("{} diff", kind.name()));
    match &change {
        Some(d) => {
            cx.rec.summary.details(
                "in the cluster → after this run (server-side dry run)",
                "diff",
                d,
            );
        }
        None => {
            cx.rec.summary.paragraph("No change.");
        }
    }
    Ok(Online { obj, live, change })
}

pub async fn plan(t: &Operator, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
    let namespace = cx
        .cluster
        .map(|c| c.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let (kind, cr) = build(t, cx, &namespace)?;
    let name = get_str(&cr, &["metadata", "name"]).unwrap_or_default();
    cx.rec.subject(&format!(
        "{} `{name}` in namespace `{namespace}`",
        kind.name()
    ));
    let online = match cx.cluster {
        None => None,
        Some(_) => Some(read_cluster(t, cx, kind, &cr).await?),
    };
    Ok(Box::new(DeployPlan {
        target: t.clone(),
        run: cx.run.clone(),
        kind,
        resource: cr,
        online,
        savepoint_nonce: None,
        what: None,
    }))
}

/// How the operator carries out a change of a running job, in words.
fn upgrade_words(kind: Kind, mode: &str) -> &'static str {
    match (kind, mode) {
        (_, "savepoint") => "stops the running job with a savepoint and starts the new spec from it (upgradeMode savepoint)",
        // Operator 1.15 upgrades a session job's last-state by cancelling it
        // (AbstractJobReconciler#allowLastStateCancel) and restoring the last checkpoint it
        // observed; every session job submission gets a new job id (SessionJobReconciler#deploy).
        (Kind::SessionJob, "last-state") => "cancels the running job and starts the new spec from its last checkpoint as a new job (upgradeMode last-state; a session job has no HA metadata of its own)",
        (_, "last-state") => "stops the running job, keeping its last checkpoint in HA metadata, and starts the new spec from it with the same job id (upgradeMode last-state)",
        _ => "cancels the running job and starts the new spec with empty state (upgradeMode stateless)",
    }
}

impl DeployPlan {
    fn expect(&self, written: &Value) -> Expect {
        let now = Observation::of(Some(written), &[]);
        Expect {
            kind: self.kind,
            session_cluster: resource::is_session_cluster(self.kind, written),
            goal: if resource::job_state(written) == "suspended" {
                Goal::Suspended
            } else {
                Goal::Running
            },
            generation: now.generation,
            since_rv: now.rv,
            max_restarts: u64::from(self.run.health.max_restarts),
        }
    }

    fn wait_line(&self) -> String {
        let (timeout, settle) = (self.run.timeout.as_secs(), self.run.settle.as_secs());
        if let Some(n) = self.savepoint_nonce {
            return format!(
                "wait up to {timeout}s until the operator records the savepoint of trigger nonce {n}"
            );
        }
        let e = self.expect(&self.resource);
        let watch = match (e.goal, settle) {
            (Goal::Running, s) if s > 0 => format!(", then watch it for {s}s"),
            _ => String::new(),
        };
        format!(
            "wait up to {timeout}s until the operator has reconciled this generation and the resource is {}{watch}",
            e.goal_name()
        )
    }
}

#[async_trait::async_trait(?Send)]
impl Plan for DeployPlan {
    fn describe(&self) -> Vec<String> {
        let kind = self.kind.name();
        let name = get_str(&self.resource, &["metadata", "name"]).unwrap_or("?");
        let Some(on) = &self.online else {
            return vec![format!(
                "{kind} `{name}`: checked against the operator's schema (1.15), not compared with a cluster (none given)"
            )];
        };
        let what = format!("{kind} `{name}` in namespace `{}`", on.obj.namespace);
        let changes = (on.live.is_some(), on.change.is_some());
        let applied = op::apply_line(&what, changes, self.target.cfg.force);
        let mut lines = vec![format!(
            "{applied}{}",
            self.what
                .as_deref()
                .map(|w| format!(": {w}"))
                .unwrap_or_default()
        )];
        let running = on
            .live
            .as_ref()
            .is_some_and(|l| Observation::of(Some(l), &[]).job_state.as_deref() == Some("RUNNING"));
        if running && on.change.is_some() && self.savepoint_nonce.is_none() {
            lines.push(format!(
                "the operator {}",
                upgrade_words(self.kind, resource::upgrade_mode(&self.resource))
            ));
        }
        lines.push(self.wait_line());
        if self.run.rollback_on_failure {
            lines.push(match on.live {
                Some(_) => format!("on failure, re-apply the {kind} as it is now and wait for it"),
                None => format!("on failure, nothing to roll back to (the {kind} is new)"),
            });
        }
        lines
    }

    async fn apply(self: Box<Self>, cx: &mut Context<'_>) -> Result<()> {
        // Only `validate` plans without a cluster, and it applies nothing.
        let (Some(on), c) = (self.online.as_ref(), cluster(cx)?) else {
            return Err(Error::platform("no cluster was read in the plan"));
        };
        let crs = Crs::new(c, on.obj.clone());
        let rec = &mut *cx.rec;
        rec.fact(
            self.kind.name(),
            &format!("`{}/{}`", on.obj.namespace, on.obj.name),
        );
        rec.fact("Cluster", &c.describe);
        rec.output("deploymentName", &on.obj.name);
        if let Some(u) = get_str(&self.resource, &["spec", "job", "jarURI"]) {
            rec.output("jarUri", u);
        }
        let written = self.write(&crs, rec, on).await?;
        let watch = Watch {
            crs: &crs,
            expect: self.expect(&written),
            timeout: cx.run.timeout,
            settle: cx.run.settle,
            max_restarts: u64::from(cx.run.health.max_restarts),
            since: match (&on.change, &on.live) {
                (None, Some(_)) => crate::health::Since::FirstReading,
                _ => crate::health::Since::Started,
            },
        };
        let result = match self.savepoint_nonce {
            Some(n) => super::actions::await_savepoint(&watch, rec, n).await,
            None => watch.reach(rec).await.map(|obs| super::outputs(rec, &obs)),
        };
        let Err(e) = result else {
            return Ok(());
        };
        let rules = crate::targets::Target::needs(&self.target).rollback;
        if self.savepoint_nonce.is_some()
            || !crate::rollback::wanted(cx.run.rollback_on_failure, rules, &e)
        {
            return Err(e);
        }
        let outcome = match &on.live {
            None => Outcome::Skipped(format!(
                "the {} is new: there is nothing to roll back to",
                self.kind.name()
            )),
            Some(prev) => {
                crate::rollback::begin(rec);
                match self.roll_back(&crs, rec, prev, cx.run).await {
                    Ok(done) => Outcome::Done(done),
                    Err(e) => Outcome::Failed(e),
                }
            }
        };
        Err(crate::rollback::conclude(rec, e, outcome, &subject(&crs)))
    }
}

impl DeployPlan {
    /// Apply the resource (unless nothing changes); the resource as stored.
    async fn write(&self, crs: &Crs<'_>, rec: &mut Recorder, on: &Online) -> Result<Value> {
        if let (None, Some(live)) = (&on.change, &on.live) {
            rec.skip(
                "apply",
                &format!(
                    "the {} in the cluster already matches; nothing was sent",
                    self.kind.name()
                ),
            );
            return Ok(live.clone());
        }
        crate::targets::operator::apply_step(
            crs,
            rec,
            &self.resource,
            self.target.cfg.force,
            on.live.is_some(),
        )
        .await
    }

    /// Re-apply the resource as it was before this run, and wait for it.
    async fn roll_back(
        &self,
        crs: &Crs<'_>,
        rec: &mut Recorder,
        previous: &Value,
        run: &RunSettings,
    ) -> Result<String> {
        let body = applied(self.kind, previous);
        rec.log(&format!(
            "re-applying the {} as it was before this run (taking over its fields)",
            self.kind.name()
        ));
        let how = Apply {
            force: true,
            dry_run: false,
        };
        let written = crs.apply(&body, how, i::SPEC_FILE).await?;
        let watch = Watch {
            crs,
            expect: self.expect(&written),
            timeout: run.timeout,
            settle: std::time::Duration::ZERO,
            max_restarts: 0,
            since: crate::health::Since::Started,
        };
        let obs = watch.state(rec).await?;
        Ok(format!(
            "the {} is back to the spec before this run (generation {}), and it is {}",
            self.kind.name(),
            watch.expect.generation,
            obs.describe()
        ))
    }
}

/// Wait for a judge over the resource, failing with the resource's account.
pub(super) async fn wait_for(
    watch: &Watch<'_>,
    rec: &mut Recorder,
    what: &str,
    judge: impl Fn(&Observation) -> Verdict,
) -> Result<Observation> {
    match super::probe::until(watch.crs, rec, watch.timeout, judge).await? {
        End::Reached(obs) => Ok(obs),
        End::Failed { last, why } => {
            let (tail, details) = watch.account(&last, &why);
            Err(Error::deployment(format!(
                "{}: {what} failed: {why}{tail}",
                subject(watch.crs)
            ))
            .with_details(details))
        }
        End::TimedOut { last } => Err(Error::timeout(format!(
            "{}: {what} did not happen within {}s; last: {}",
            subject(watch.crs),
            watch.timeout.as_secs(),
            last.unwrap_or_default().describe()
        ))
        .with_hint(format!(
            "raise {} if the job is only slow",
            i::TIMEOUT_SECONDS
        ))),
    }
}
