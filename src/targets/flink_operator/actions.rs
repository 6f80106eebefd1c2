//! The actions on a deployed resource: `suspend`, `resume`, `cancel` and `savepoint` change one
//! field of the resource as it is in the cluster and apply it (the same plan as `deploy`, so the
//! same dry run, wait, settle and rollback); `listSavepoints` reads the savepoints the operator
//! recorded in the status; `delete` deletes the resource and waits until it is gone.
//!
//! Why the whole resource is applied and not just the field: a server-side apply removes the
//! fields this field manager applied before and leaves out now. Applying the resource as it is,
//! with one field changed, keeps everything else as it was.

use serde_json::{json, Value};

use super::deploy::{self, DeployPlan};
use super::judge::{self, Observation};
use super::resource::{self, Kind};
use super::{cluster, subject, Operator, Watch};
use crate::config::Action;
use crate::error::{Error, Result};
use crate::kube::ObjectRef;
use crate::pipeline::inputs as i;
use crate::report::Recorder;
use crate::targets::ververica::spec::{get, get_str, obj};
use crate::targets::vvp_operator::client::Crs;
use crate::targets::{Context, Plan};

/// The resource an action works on: the spec file's kind and name, or the inputs'.
fn which(t: &Operator, cx: &Context<'_>, namespace: &str) -> Result<(Kind, String)> {
    let from_file = match &t.job.spec_file {
        // Only the kind and the name are read: a JARURI without a jar is left as written.
        Some(path) => Some(resource::read_file(&resource::Source {
            path,
            jar_uri: Some(cx.artifact.jar_uri.as_deref().unwrap_or("JARURI")),
            namespace,
            vars: cx.vars,
        })?),
        None => None,
    };
    let kind = match (&from_file, t.cfg.kind) {
        (Some((k, _)), Some(given)) if *k != given => {
            return Err(Error::input(
                i::FLINK_RESOURCE_KIND,
                format!(
                    "is {}, but the spec file holds a {}",
                    given.name(),
                    k.name()
                ),
            ))
        }
        (Some((k, _)), _) => *k,
        (None, Some(k)) => k,
        (None, None) => {
            return Err(Error::input(
                i::FLINK_RESOURCE_KIND,
                "is required without specFile",
            ))
        }
    };
    let name = t
        .job
        .deployment_name
        .clone()
        .or_else(|| {
            from_file
                .as_ref()
                .and_then(|(_, cr)| get_str(cr, &["metadata", "name"]).map(str::to_owned))
        })
        .ok_or_else(|| {
            Error::input(
                i::DEPLOYMENT_NAME,
                format!(
                    "is required for action `{}`: the resource's metadata.name",
                    cx.run.action.as_str()
                ),
            )
        })?;
    Ok((kind, name))
}

/// The resource in the cluster, which the action needs to exist.
async fn existing(t: &Operator, cx: &mut Context<'_>) -> Result<(Kind, ObjectRef, Value)> {
    let c = cluster(cx)?;
    let (kind, name) = which(t, cx, &c.namespace)?;
    let obj = resource::object_ref(kind, &c.namespace, &name);
    let crs = Crs::new(c, obj.clone());
    cx.rec.subject(&subject(&crs));
    let live = crs.get().await?.ok_or_else(|| {
        Error::input(
            i::DEPLOYMENT_NAME,
            format!(
                "{}: there is no such resource, so there is nothing to {}",
                subject(&crs),
                cx.run.action.as_str()
            ),
        )
        .with_hint(
            "check the name, the kind (flinkResourceKind) and the namespace; deploy it first",
        )
    })?;
    Ok((kind, obj, live))
}

/// `suspend`, `resume`, `cancel`, `savepoint`: the resource as it is, one field changed.
pub async fn plan_change(t: &Operator, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
    let (kind, _, live) = existing(t, cx).await?;
    let action = cx.run.action;
    if resource::is_session_cluster(kind, &live) {
        return Err(Error::input(
            i::DEPLOYMENT_NAME,
            format!(
                "names a session cluster (a FlinkDeployment without a job): `{}` works on a job",
                action.as_str()
            ),
        )
        .with_hint("name the FlinkSessionJob (flinkResourceKind: FlinkSessionJob), or delete the session cluster"));
    }
    let mut body = deploy::applied(kind, &live);
    let job = obj(&mut body, &["spec", "job"]);
    let mut nonce = None;
    let what = match action {
        Action::Suspend => {
            job.insert("state".into(), json!("suspended"));
            format!(
                "spec.job.state suspended: the operator stops the job as upgradeMode {} says",
                resource::upgrade_mode(&live)
            )
        }
        Action::Cancel => {
            job.insert("state".into(), json!("suspended"));
            job.insert("upgradeMode".into(), json!("stateless"));
            "spec.job.state suspended with upgradeMode stateless: the operator cancels the job without a savepoint; a later resume starts it with empty state unless the next deploy says otherwise".into()
        }
        Action::Resume => {
            job.insert("state".into(), json!("running"));
            "spec.job.state running: the operator starts the job from the state its suspend kept"
                .into()
        }
        _ => {
            let was = get(&live, &["spec", "job", "savepointTriggerNonce"])
                .and_then(Value::as_u64)
                .unwrap_or(0);
            job.insert("savepointTriggerNonce".into(), json!(was + 1));
            nonce = Some(was + 1);
            format!(
                "spec.job.savepointTriggerNonce {} → {}: the operator triggers a savepoint",
                was,
                was + 1
            )
        }
    };
    let online = deploy::read_cluster(t, cx, kind, &body).await?;
    Ok(Box::new(DeployPlan {
        target: t.clone(),
        run: cx.run.clone(),
        kind,
        resource: body,
        online: Some(online),
        savepoint_nonce: nonce,
        what: Some(what),
    }))
}

/// The step `savepoint`: wait until the operator records the savepoint of `nonce`.
pub async fn await_savepoint(watch: &Watch<'_>, rec: &mut Recorder, nonce: u64) -> Result<()> {
    rec.begin("savepoint");
    let since = watch.expect.since_rv;
    let r = deploy::wait_for(watch, rec, "the savepoint", |o| {
        judge::savepoint(o, nonce, since)
    })
    .await;
    let obs = rec.end(r)?;
    if let Some(sp) = judge::savepoint_of(&obs, nonce) {
        rec.log(&format!("savepoint taken: {}", sp.location));
        rec.output("savepointLocation", &sp.location);
        rec.fact("Savepoint", &sp.location);
        rec.timeline("savepoint recorded");
    }
    Ok(())
}

/// `listSavepoints`: what the status records, read in the plan.
pub struct ListPlan {
    subject: String,
    obs: Observation,
}

pub async fn plan_list(t: &Operator, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
    let (_, obj, live) = existing(t, cx).await?;
    let crs = Crs::new(cluster(cx)?, obj);
    Ok(Box::new(ListPlan {
        subject: subject(&crs),
        obs: Observation::of(Some(&live), &[]),
    }))
}

/// Savepoints newest first: the history, the last one if the history lacks it, and the state
/// the last upgrade or restore started from.
fn savepoint_rows(obs: &Observation) -> Vec<Vec<String>> {
    let mut all = obs.savepoint_history.clone();
    if let Some(l) = &obs.last_savepoint {
        if !all.iter().any(|s| s.location == l.location) {
            all.push(l.clone());
        }
    }
    all.sort_by_key(|s| std::cmp::Reverse(s.time_ms));
    let mut rows: Vec<Vec<String>> = all
        .iter()
        .map(|s| {
            vec![
                s.location.clone(),
                s.trigger_type.clone().unwrap_or_default(),
                s.time_ms.map(|t| t.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    if let Some(u) = obs
        .upgrade_savepoint
        .as_ref()
        .filter(|u| !rows.iter().any(|r| &r[0] == *u))
    {
        rows.push(vec![
            u.clone(),
            "UPGRADE (restored from)".into(),
            String::new(),
        ]);
    }
    rows
}

#[async_trait::async_trait(?Send)]
impl Plan for ListPlan {
    fn describe(&self) -> Vec<String> {
        vec![format!(
            "list the savepoints the operator recorded in the status of {} (jobStatus.savepointInfo, upgradeSavepointPath)",
            self.subject
        )]
    }

    async fn apply(self: Box<Self>, cx: &mut Context<'_>) -> Result<()> {
        let rec = &mut *cx.rec;
        let rows = savepoint_rows(&self.obs);
        if rows.is_empty() {
            rec.log(&format!("{} records no savepoints: the operator lists only those it took (with FlinkStateSnapshot resources enabled they are resources of their own)", self.subject));
            return Ok(());
        }
        for r in &rows {
            rec.log(&format!(
                "savepoint {} ({}{})",
                r[0],
                r[1],
                if r[2].is_empty() {
                    String::new()
                } else {
                    format!(", at {} ms", r[2])
                }
            ));
        }
        rec.summary.heading(4, "Savepoints");
        rec.summary
            .table(&["Location", "Trigger", "Time (epoch ms)"], &rows);
        rec.output("savepointLocation", &rows[0][0]);
        Ok(())
    }
}

/// `delete`: the resource as it is, deleted in apply.
pub struct DeletePlan {
    obj: ObjectRef,
    current: Option<Value>,
}

pub async fn plan_delete(t: &Operator, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
    let c = cluster(cx)?;
    let (kind, name) = which(t, cx, &c.namespace)?;
    let obj = resource::object_ref(kind, &c.namespace, &name);
    let crs = Crs::new(c, obj.clone());
    cx.rec.subject(&subject(&crs));
    let current = crs.get().await?;
    Ok(Box::new(DeletePlan { obj, current }))
}

#[async_trait::async_trait(?Send)]
impl Plan for DeletePlan {
    fn describe(&self) -> Vec<String> {
        let what = format!(
            "{} `{}` in namespace `{}`",
            self.obj.kind, self.obj.name, self.obj.namespace
        );
        match &self.current {
            None => vec![format!("{what} does not exist: nothing to delete")],
            Some(cr) => vec![
                format!(
                    "delete {what} ({}) and wait until the operator has cleaned up and it is gone",
                    Observation::of(Some(cr), &[]).describe()
                ),
                "the operator cancels the job (with a savepoint only if kubernetes.operator.job.savepoint-on-deletion is set) and removes its cluster; its status, with the savepoint history, goes with it".into(),
            ],
        }
    }

    async fn apply(self: Box<Self>, cx: &mut Context<'_>) -> Result<()> {
        let crs = Crs::new(cluster(cx)?, self.obj.clone());
        crate::targets::operator::delete_and_wait(
            &crs,
            cx.rec,
            (self.current.is_some(), cx.run.timeout),
            "the operator removes its finalizer after it has stopped the job; see the resource's events (a savepoint-on-deletion of a job that is not RUNNING blocks it, FLINK-40388)",
        )
        .await
    }
}
