//! `deploy` (and `validate`, its plan alone): render the deployment, build and check the
//! resource, read it in the cluster and send the change as a dry run; then apply, wait, settle,
//! and roll back on request.

use serde_json::{json, Value};

use super::client::Crs;
use super::judge::{Change, Expect, Observation};
use super::resource::{self, Generation};
use super::{cluster, subject, Cfg, Operator, Watch};
use crate::config::RunSettings;
use crate::error::{Error, Result};
use crate::kube::{Apply, ObjectRef};
use crate::pipeline::inputs as i;
use crate::report::Recorder;
use crate::rollback::Outcome;
use crate::targets::ververica::{self, diff, spec};
use crate::targets::{Context, Plan, Settings};

/// What the cluster showed, and what the apply will change.
struct Online {
    obj: ObjectRef,
    /// The resource as it was before this run (`None`: new). Kept for rollback.
    live: Option<Value>,
    /// The unified diff between the resource in the cluster and the server's dry run.
    change: Option<String>,
    /// The deployment part changes: the operator has something to send to the platform.
    reaches_platform: bool,
    /// The running job will be replaced (a template change of a RUNNING deployment).
    new_job: bool,
    /// The platform has to move: a new job or another state.
    transition: bool,
}

pub struct DeployPlan {
    target: Operator,
    run: RunSettings,
    resource: Value,
    /// `None` for a `validate` without a cluster.
    online: Option<Online>,
}

/// The input that wrote what the resource holds, for the server's refusals of it.
fn spec_input(t: &Operator) -> &'static str {
    if t.job.spec_file.is_some() {
        i::SPEC_FILE
    } else {
        i::DEPLOYMENT_NAME
    }
}

fn deployment_part<'v>(cr: &'v Value, key: &str) -> Option<&'v Value> {
    spec::get(cr, &["spec", "deployment", "spec", key])
}

/// Render the deployment as the Ververica target does, and turn it into the resource.
fn build(t: &Operator, cx: &mut Context<'_>, namespace: &str) -> Result<Value> {
    if cx.artifact.local.is_some() && !cx.artifact.to_blob {
        return Err(Error::input(
            i::ARTIFACT_PATH,
            "needs Blob Storage with target `ververicaOperator`: the operator takes a jar URI and uploads nothing",
        )
        .with_hint("set storageAccount and containerName (the jar goes to Ververica Platform's Universal Blob Storage), or give jarUri"));
    }
    let (run, vars) = (cx.run.clone(), cx.vars.clone());
    let vcfg: ververica::Cfg<'_> = Settings::new(&t.cfg.vvp, &t.job, &run, &vars);
    let rendered = ververica::deploy::render(vcfg, cx)?;
    let own = &t.cfg.vvp;
    let (cr, warnings) = resource::build(
        &rendered.desired,
        &resource::Inputs {
            generation: t.cfg.generation,
            namespace,
            syncing_mode: own.syncing_mode,
            apikey_secret_name: own.apikey_secret_name.as_deref(),
            instance_id: t.cfg.instance_id.as_deref(),
            initial_savepoint: t
                .job
                .savepoint_location
                .as_deref()
                .or(t.job.initial_savepoint_path.as_deref()),
            init_fields: rendered.init_fields.as_ref(),
        },
    )?;
    for w in warnings {
        cx.rec.warn(&w);
    }
    if own.apikey_secret_name.is_none() {
        cx.rec.warn("apikeySecretName is empty: with authentication on in Ververica Platform, the operator does not reconcile a VvpDeployment without it");
    }
    resource::check(&cr, t.cfg.generation, spec_input(t))?;
    cx.rec.group("VvpDeployment", &spec::to_yaml(&cr));
    Ok(cr)
}

/// Read the resource in the cluster and let the server check the change (dry run).
async fn read_cluster(t: &Operator, cx: &mut Context<'_>, cr: &Value) -> Result<Online> {
    let c = cluster(cx)?;
    let name = spec::get_str(cr, &["metadata", "name"]).unwrap_or_default();
    let obj = resource::object_ref(&c.namespace, name);
    let crs = Crs::new(c, obj.clone());
    let live = crs.get().await?;
    let how = Apply {
        force: t.cfg.force,
        dry_run: true,
    };
    let dry = crs.apply(cr, how, spec_input(t)).await?;
    let before = live
        .as_ref()
        .map(resource::applied_part)
        .unwrap_or_else(|| json!({}));
    let after = resource::applied_part(&dry);
    let change = diff::unified(&before, &after, "in the cluster", "after this run");
    show_change(cx.rec, change.as_ref());
    let was = Observation::of(live.as_ref(), &[]);
    let target = resource::wanted_state(&dry);
    let part = |v: Option<&Value>, k: &str| v.and_then(|x| deployment_part(x, k)).cloned();
    let reaches_platform = live.is_none()
        || spec::get(
            live.as_ref().unwrap_or(&Value::Null),
            &["spec", "deployment"],
        ) != spec::get(&dry, &["spec", "deployment"]);
    let template_changed = part(live.as_ref(), "template") != part(Some(&dry), "template");
    let upgrade_none = deployment_part(&dry, "upgradeStrategy")
        .and_then(|u| u.get("kind"))
        .and_then(Value::as_str)
        == Some("NONE");
    let running = was.state.as_deref() == Some("RUNNING");
    let new_job = running && template_changed && target == "RUNNING" && !upgrade_none;
    Ok(Online {
        obj,
        transition: new_job || was.state.as_deref() != Some(target.as_str()),
        live,
        change,
        reaches_platform,
        new_job,
    })
}

fn show_change(rec: &mut Recorder, change: Option<&String>) {
    match change {
        Some(d) => rec.group("Server-side diff of the VvpDeployment (dry run)", d),
        None => rec.log("The VvpDeployment in the cluster already matches: nothing to change."),
    }
    rec.summary.heading(4, "VvpDeployment diff");
    match change {
        Some(d) => {
            rec.summary.details(
                "in the cluster → after this run (server-side dry run)",
                "diff",
                d,
            );
        }
        None => {
            rec.summary.paragraph("No change to the VvpDeployment.");
        }
    }
}

pub async fn plan(t: &Operator, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
    let namespace = cx
        .cluster
        .map(|c| c.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let cr = build(t, cx, &namespace)?;
    let name = spec::get_str(&cr, &["metadata", "name"]).unwrap_or_default();
    cx.rec.subject(&format!(
        "VvpDeployment `{name}` in namespace `{namespace}`"
    ));
    let online = match cx.cluster {
        None => None,
        Some(_) => Some(read_cluster(t, cx, &cr).await?),
    };
    Ok(Box::new(DeployPlan {
        target: t.clone(),
        run: cx.run.clone(),
        resource: cr,
        online,
    }))
}

#[async_trait::async_trait(?Send)]
impl Plan for DeployPlan {
    fn describe(&self) -> Vec<String> {
        let gen = self.target.cfg.generation;
        let name = spec::get_str(&self.resource, &["metadata", "name"]).unwrap_or("?");
        let Some(on) = &self.online else {
            return vec![format!(
                "VvpDeployment `{name}` ({}): checked against its schema, not compared with a cluster (none given)",
                gen.label()
            )];
        };
        let what = format!("VvpDeployment `{name}` in namespace `{}`", on.obj.namespace);
        let target = resource::wanted_state(&self.resource);
        let applied = crate::targets::operator::apply_line(
            &what,
            (on.live.is_some(), on.change.is_some()),
            self.target.cfg.force,
        );
        let mut lines = vec![format!(
            "{applied}; the {} operator sends it to Ververica Platform",
            gen.label()
        )];
        if on.new_job {
            lines.push("the template changes: Ververica Platform upgrades the running job".into());
        }
        let (timeout, settle) = (self.run.timeout.as_secs(), self.run.settle.as_secs());
        let watch = match (target.as_str(), settle) {
            ("RUNNING", s) if s > 0 => format!(", then watch it for {s}s"),
            _ => String::new(),
        };
        lines.push(format!(
            "wait up to {timeout}s until the operator has taken it up and the deployment is {target}{watch}"
        ));
        let back = if on.live.is_some() {
            "re-apply the VvpDeployment as it is now and wait for it"
        } else {
            "there is nothing to roll back to (the VvpDeployment is new)"
        };
        if self.run.rollback_on_failure {
            lines.push(format!("on failure, {back}"));
        }
        lines
    }

    async fn apply(self: Box<Self>, cx: &mut Context<'_>) -> Result<()> {
        // Only `validate` plans without a cluster, and it applies nothing.
        let (Some(on), c) = (self.online.as_ref(), cluster(cx)?) else {
            return Err(Error::platform("no cluster was read in the plan"));
        };
        let cfg = self.target.settings(cx.run, cx.vars);
        let crs = Crs::new(c, on.obj.clone());
        let rec = &mut *cx.rec;
        rec.fact(
            "VvpDeployment",
            &format!("`{}/{}`", on.obj.namespace, on.obj.name),
        );
        rec.fact("Cluster", &c.describe);
        rec.output("deploymentName", &on.obj.name);
        if let Some(u) = deployment_part(&self.resource, "template")
            .and_then(|t| t.pointer("/spec/artifact/jarUri"))
            .and_then(Value::as_str)
        {
            rec.output("jarUri", u);
        }
        let (written, expect) = self.write(&crs, rec, on).await?;
        let watch = Watch {
            cfg,
            crs: &crs,
            expect,
            since_rv: Observation::of(Some(&written), &[]).rv,
        };
        let e = match watch.reach(rec).await {
            Ok(obs) => {
                super::outputs(rec, &obs);
                return Ok(());
            }
            Err(e) => e,
        };
        let rules = crate::targets::Target::needs(&self.target).rollback;
        if !crate::rollback::wanted(cfg.rollback_on_failure, rules, &e) {
            return Err(e);
        }
        let outcome = match &on.live {
            None => Outcome::Skipped(
                "the VvpDeployment is new: there is nothing to roll back to".into(),
            ),
            Some(prev) => {
                crate::rollback::begin(rec);
                match roll_back(cfg, &crs, rec, prev).await {
                    Ok(done) => Outcome::Done(done),
                    Err(e) => Outcome::Failed(e),
                }
            }
        };
        Err(crate::rollback::conclude(rec, e, outcome, &subject(&crs)))
    }
}

/// What the wait expects after `written`, the resource as the apply stored it.
fn expectation(gen: Generation, written: &Value, on: &Online, changed: bool) -> Expect {
    let now = Observation::of(Some(written), &[]);
    Expect {
        generation: gen,
        target: resource::wanted_state(written),
        change: changed.then(|| Change {
            generation: now.generation,
            rv: now.rv,
            vvp_rv_before: now.vvp_rv,
            job_before: now.job_id.clone().filter(|_| on.new_job),
            new_job: on.new_job,
            reaches_platform: on.reaches_platform,
            transition: on.transition,
        }),
    }
}

impl DeployPlan {
    /// Apply the resource (unless nothing changes); the resource as stored and what to wait for.
    async fn write(
        &self,
        crs: &Crs<'_>,
        rec: &mut Recorder,
        on: &Online,
    ) -> Result<(Value, Expect)> {
        let gen = self.target.cfg.generation;
        if let (None, Some(live)) = (&on.change, &on.live) {
            rec.skip(
                "apply",
                "the VvpDeployment in the cluster already matches; nothing was sent",
            );
            return Ok((live.clone(), expectation(gen, live, on, false)));
        }
        let written = crate::targets::operator::apply_step(
            crs,
            rec,
            &self.resource,
            self.target.cfg.force,
            on.live.is_some(),
        )
        .await?;
        Ok((written.clone(), expectation(gen, &written, on, true)))
    }
}

/// Re-apply the resource as it was before this run, and wait for its state.
async fn roll_back(
    cfg: Cfg<'_>,
    crs: &Crs<'_>,
    rec: &mut Recorder,
    previous: &Value,
) -> Result<String> {
    let body = resource::applied_part(previous);
    rec.log("re-applying the VvpDeployment as it was before this run (taking over its fields)");
    let how = Apply {
        force: true,
        dry_run: false,
    };
    let now = crs.get().await?;
    let written = crs.apply(&body, how, i::SPEC_FILE).await?;
    let part = |v: Option<&Value>| {
        v.and_then(|x| spec::get(x, &["spec", "deployment"]))
            .cloned()
    };
    let was = Observation::of(now.as_ref(), &[]);
    let target = resource::wanted_state(&written);
    let template = |v: Option<&Value>| v.and_then(|x| deployment_part(x, "template")).cloned();
    let new_job = was.state.as_deref() == Some("RUNNING")
        && target == "RUNNING"
        && template(now.as_ref()) != template(Some(&written));
    let on = Online {
        obj: crs.obj.clone(),
        live: now.clone(),
        change: None,
        reaches_platform: part(now.as_ref()) != part(Some(&written)),
        new_job,
        transition: new_job || was.state.as_deref() != Some(target.as_str()),
    };
    let watch = Watch {
        cfg,
        crs,
        expect: expectation(cfg.own.generation, &written, &on, true),
        since_rv: Observation::of(Some(&written), &[]).rv,
    };
    let obs = watch.state(rec).await?;
    Ok(format!(
        "the VvpDeployment is back to the version before this run, and the deployment is {}",
        obs.describe(cfg.own.generation)
    ))
}
