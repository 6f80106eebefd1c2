//! `deploy` (and `validate`, which is its plan alone): render the spec, read what is deployed,
//! decide the write; then write, wait for the desired state, watch it settle, roll back on
//! request.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::client::{self, Client};
use super::judge::{self, Observation};
use super::{
    address, address_input, blob_jar, check_namespace, check_references, diff, facts, facts_link,
    outputs_for, reach, render_desired, report_job, spec, subject, upload_placeholder, write,
    write_body, Cfg, DeploymentRef, SyncingMode, Ververica, WriteError,
};
use crate::config::{Action, RunSettings};
use crate::error::{Error, Result};
use crate::http::display_url;
use crate::pipeline::inputs as i;
use crate::targets::{Context, Plan, Undo};

/// The spec as rendered for this run, before the platform is read.
pub struct Rendered {
    pub addr: DeploymentRef,
    pub desired: Value,
    /// `initFields` from the spec file: applied only when the deployment is created.
    pub init_fields: Option<Value>,
    /// A local jar this target uploads through the artifacts API.
    pub upload: Option<PathBuf>,
    /// Plan lines about the jar.
    pub jar_notes: Vec<String>,
}

/// Render the spec for the jar the run has (or a placeholder for one this target uploads).
pub fn render(cfg: Cfg<'_>, cx: &mut Context<'_>) -> Result<Rendered> {
    let upload = cx.artifact.local.clone().filter(|_| !cx.artifact.to_blob);
    let mut jar_notes = vec![];
    let mut jar = cx.artifact.jar_uri.clone();
    if let (true, Some(md5)) = (cx.artifact.to_blob, &cx.artifact.content_md5) {
        jar = jar.map(|u| spec::with_query(&u, "md5", md5));
        jar_notes.push(format!(
            "the jarUri names the jar's MD5 ({md5}): a rebuilt jar under the same blob name changes the template, an identical one does not"
        ));
    }
    if let Some(path) = &upload {
        if cfg.action == Action::RenderCustomResource {
            return Err(Error::input(
                i::ARTIFACT_PATH,
                "cannot be used with `renderCustomResource`: the operator needs a jar URI, and this action uploads nothing",
            )
            .with_hint("give jarUri, or upload to Blob Storage with storageAccount and containerName"));
        }
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if size > client::MAX_ARTIFACT_BYTES {
            return Err(Error::input(
                i::ARTIFACT_PATH,
                format!(
                    "`{}` is {:.1} MB; the Ververica Platform artifacts API takes at most 50 MB",
                    path.display(),
                    size as f64 / (1024.0 * 1024.0)
                ),
            )
            .with_hint(
                "upload it to Blob Storage instead (storageAccount, containerName), or give jarUri",
            ));
        }
        if cfg.own.online() {
            jar_notes.push(format!(
                "upload {} through the Ververica Platform artifacts API (namespace `{}`); jarUri comes from the upload",
                crate::artifact::file_name(path),
                cfg.own.namespace
            ));
        }
        jar = Some(upload_placeholder(path));
    }
    let (desired, init_fields) = render_desired(cfg, jar.as_deref())?;
    cx.rec
        .group("Rendered deployment spec", &spec::to_yaml(&desired));
    let addr = address(cfg, &desired);
    subject(cx.rec, &addr, &cfg.own.namespace);
    Ok(Rendered {
        addr,
        desired,
        init_fields,
        upload,
        jar_notes,
    })
}

/// What the platform showed, and what the run will write.
struct Online {
    url: String,
    /// The deployment as it was before this run (`None`: it does not exist). Kept for rollback.
    current: Option<Value>,
    /// The deployment as it will be after the write.
    after: Value,
    /// The unified diff between the two, when there is a change.
    change: Option<String>,
    /// Why a rollback could not bring the previous job back, when it could not.
    rollback_blocked: Option<String>,
    /// Plan lines about how the jar URI was settled against the deployed one.
    notes: Vec<String>,
}

pub struct DeployPlan {
    target: Ververica,
    run: RunSettings,
    rendered: Rendered,
    /// `None` when no URL was given (an offline `validate`).
    online: Option<Online>,
}

/// A deployment that exists must keep its name.
fn check_rename(
    cfg: Cfg<'_>,
    addr: &DeploymentRef,
    current: &Value,
    desired: &Value,
) -> Result<()> {
    let deployed = spec::get_str(current, &["metadata", "name"]);
    let wanted = spec::get_str(desired, &["metadata", "name"]);
    if let (Some(d), Some(w)) = (deployed, wanted) {
        if d != w {
            let input = if cfg.job.deployment_name.is_some() {
                i::DEPLOYMENT_NAME
            } else {
                i::SPEC_FILE
            };
            return Err(Error::input(
                input,
                format!("names deployment `{w}`, but deployment {addr} is named `{d}`; deployment names cannot be changed"),
            )
            .with_hint("use the deployed name in metadata.name (put a label in displayName)"));
        }
    }
    Ok(())
}

/// A diff too large to print, named by its size and what it adds and removes.
fn large_change(d: &str) -> String {
    let count = |p: char| {
        d.lines()
            .filter(|l| l.starts_with(p) && !l.starts_with("+++") && !l.starts_with("---"))
            .count()
    };
    format!(
        "The change is too large to print ({}: {} lines added, {} removed); the whole spec is printed once, under \"Rendered deployment spec\".",
        spec::digest(d),
        count('+'),
        count('-')
    )
}

/// Show the change in the log and the summary. A large spec is printed once, in the rendered
/// spec: its diff (all of it, for a new deployment) is named by a digest.
fn show_change(cx: &mut Context<'_>, change: Option<&String>) {
    let large = change
        .filter(|d| d.len() > spec::LARGE_TEXT)
        .map(|d| large_change(d));
    match (change, &large) {
        (_, Some(l)) => cx.rec.log(l),
        (Some(d), None) => cx.rec.group("Changes to the deployed spec", d),
        (None, _) => cx
            .rec
            .log("The deployed spec already matches: nothing to change."),
    }
    cx.rec.summary.heading(4, "Spec diff");
    match (change, large) {
        (_, Some(l)) => {
            cx.rec.summary.paragraph(&l);
        }
        (Some(d), None) => {
            cx.rec
                .summary
                .details("deployed → after this run", "diff", d);
        }
        (None, _) => {
            cx.rec.summary.paragraph("No change to the deployed spec.");
        }
    }
}

/// Read the deployment, check what the spec refers to, and decide the write.
async fn read_platform(
    cfg: Cfg<'_>,
    cx: &mut Context<'_>,
    client: &Client<'_>,
    r: &mut Rendered,
) -> Result<Online> {
    let addr = &r.addr;
    let current = client.get_deployment(addr).await?;
    if current.is_none() {
        check_namespace(client).await?;
        if let DeploymentRef::Id(id) = addr {
            return Err(Error::input(
                address_input(cfg, addr),
                format!(
                    "no deployment with id `{id}` exists in namespace `{}`; a deployment cannot be created by id",
                    cfg.own.namespace
                ),
            )
            .with_hint("check the id, or address the deployment by name (deploymentName or metadata.name) to create it"));
        }
    }
    let mut notes = vec![];
    let rollback_blocked = blob_jar(cx.artifact, &mut r.desired, current.as_ref(), &mut notes);
    check_references(cfg, client, &r.desired).await?;
    if let Some(cur) = &current {
        check_rename(cfg, addr, cur, &r.desired)?;
    }
    let (body, warning) = write_body(
        &r.desired,
        current.as_ref(),
        cfg.own.restart,
        cfg.own.syncing_mode,
        r.init_fields.as_ref(),
    );
    if let Some(w) = &warning {
        cx.rec.warn(w);
    }
    let after = diff::after(current.as_ref(), &body, cfg.own.syncing_mode);
    let before = current
        .as_ref()
        .map(diff::clean)
        .unwrap_or_else(|| json!({}));
    let change = diff::unified(&before, &after, "deployed", "after this run");
    show_change(cx, change.as_ref());
    if let Some(cur) = &current {
        let upgrade = spec::get_str(&after, &["spec", "upgradeStrategy", "kind"]);
        if diff::template_changed(cur, &after)
            && Observation::of(cur).state == "RUNNING"
            && upgrade == Some("NONE")
        {
            cx.rec.warn("upgradeStrategy is NONE: Ververica Platform will not upgrade the running job; the new template applies at its next start");
        }
    }
    Ok(Online {
        url: client.base().to_owned(),
        current,
        after,
        change,
        rollback_blocked,
        notes,
    })
}

pub async fn plan(t: &Ververica, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
    let (run, vars) = (cx.run.clone(), cx.vars.clone());
    let cfg = t.settings(&run, &vars);
    let mut rendered = render(cfg, cx)?;
    let online = match cfg.own.online() {
        false => None,
        true => {
            let client = cfg.client(cx.http, cx.creds, cx.cluster)?;
            Some(read_platform(cfg, cx, &client, &mut rendered).await?)
        }
    };
    Ok(Box::new(DeployPlan {
        target: t.clone(),
        run,
        rendered,
        online,
    }))
}

impl DeployPlan {
    /// The plan lines about the deployment as it is and what happens to a running job.
    fn describe_current(&self, on: &Online, lines: &mut Vec<String>) {
        let Some(cur) = &on.current else {
            return;
        };
        let after = &on.after;
        let target = spec::get_str(after, &["spec", "state"]).unwrap_or("RUNNING");
        let obs = Observation::of(cur);
        let upgrade = spec::get_str(after, &["spec", "upgradeStrategy", "kind"]);
        lines.push(format!("currently {}", obs.describe()));
        if diff::template_changed(cur, after) {
            if obs.state == "RUNNING" && upgrade != Some("NONE") {
                lines.push(format!(
                    "the template changes: Ververica Platform upgrades the running job ({})",
                    upgrade.unwrap_or("its upgrade strategy")
                ));
            }
        } else if obs.state == "RUNNING" && target == "RUNNING" {
            lines.push("the template is unchanged: the running job is not restarted".into());
        }
    }
}

#[async_trait::async_trait(?Send)]
impl Plan for DeployPlan {
    fn describe(&self) -> Vec<String> {
        let vvp = &self.target.cfg;
        let addr = &self.rendered.addr;
        let mut lines = self.rendered.jar_notes.clone();
        let Some(on) = &self.online else {
            lines.push(format!(
                "deployment {addr} in namespace `{}`: not compared with Ververica Platform (no URL given)",
                vvp.namespace
            ));
            return lines;
        };
        lines.extend(on.notes.iter().cloned());
        let target = spec::get_str(&on.after, &["spec", "state"]).unwrap_or("RUNNING");
        let verb = match (&on.current, vvp.syncing_mode) {
            (Some(_), _) if on.change.is_none() => "nothing to change in",
            (None, SyncingMode::Patch) => "create (POST)",
            (None, SyncingMode::Put) => "create (PUT)",
            (Some(_), SyncingMode::Patch) => "update (PATCH, merge)",
            (Some(_), SyncingMode::Put) => "replace (PUT)",
        };
        lines.push(format!(
            "{verb} deployment {addr} in namespace `{}` on {}",
            vvp.namespace,
            display_url(&on.url)
        ));
        self.describe_current(on, &mut lines);
        lines.push(format!(
            "wait up to {}s for {target}{}",
            self.run.timeout.as_secs(),
            if target == "RUNNING" && !self.run.settle.is_zero() {
                format!(
                    ", then watch it for {}s ({})",
                    self.run.settle.as_secs(),
                    self.run.health.describe(super::REGISTRATION.health)
                )
            } else {
                String::new()
            }
        ));
        if self.run.rollback_on_failure {
            lines.push(match (&on.current, &on.rollback_blocked) {
                (Some(_), Some(why)) => format!("on failure no rollback: {why}"),
                (Some(_), None) => {
                    "on failure, re-apply the spec deployed now and wait for it".into()
                }
                (None, _) => {
                    "on failure there is nothing to roll back to (the deployment is new)".into()
                }
            });
        }
        lines
    }

    async fn apply(self: Box<Self>, cx: &mut Context<'_>) -> Result<()> {
        let cfg = self.target.settings(cx.run, cx.vars);
        let on = self.online.as_ref().ok_or_else(|| {
            Error::input(
                i::VVP_URL,
                format!("is required for action `{}`", cfg.action.as_str()),
            )
        })?;
        let client = cfg.client(cx.http, cx.creds, cx.cluster)?;
        let rec = &mut *cx.rec;
        let addr = &self.rendered.addr;
        facts(rec, &client, addr, on.current.as_ref());
        let desired = self.final_spec(cfg, &client, rec, on).await?;
        rec.begin("render spec");
        let yaml = spec::to_yaml(&desired);
        if yaml.len() > spec::LARGE_TEXT {
            let uploaded = if desired == self.rendered.desired {
                String::new()
            } else {
                spec::get_str(
                    &desired,
                    &["spec", "template", "spec", "artifact", "jarUri"],
                )
                .map(|u| format!(", with the uploaded jar's URI {}", display_url(u)))
                .unwrap_or_default()
            };
            rec.log(&format!(
                "The spec is large ({}); it is printed once, under \"Rendered deployment spec\" above{uploaded}.",
                spec::digest(&yaml)
            ));
        } else {
            rec.log(&yaml);
        }
        rec.pass();
        if let Some(u) = spec::get_str(
            &desired,
            &["spec", "template", "spec", "artifact", "jarUri"],
        ) {
            rec.output("jarUri", u);
        }
        let (body, after) = self.body_and_after(cfg, &desired);
        let (written, changed) = match self.write(cfg, &client, rec, (&body, &after)).await {
            Ok(w) => w,
            Err(WriteError::Refused(e)) => return Err(e),
            // The change reached the platform, but not as meant: a failure like any other.
            Err(WriteError::StoredOtherwise(e)) => {
                return Err(self.recover(cfg, &client, rec, e).await)
            }
        };
        self.wait_and_recover(cfg, &client, rec, &after, &written, changed)
            .await
    }

    fn undo(&self) -> Option<Box<dyn Undo>> {
        let on = self.online.as_ref()?;
        on.change.as_ref()?;
        Some(Box::new(PutBack {
            target: self.target.clone(),
            addr: self.rendered.addr.clone(),
            previous: on.current.clone(),
            blocked: on.rollback_blocked.clone(),
        }))
    }
}

/// What puts a deployment that changed back to the spec it had before the run, as a rollback
/// after a failure does.
struct PutBack {
    target: Ververica,
    addr: DeploymentRef,
    previous: Option<Value>,
    blocked: Option<String>,
}

#[async_trait::async_trait(?Send)]
impl Undo for PutBack {
    async fn undo(self: Box<Self>, cx: &mut Context<'_>) -> crate::rollback::Outcome {
        use crate::rollback::Outcome;
        let cfg = self.target.settings(cx.run, cx.vars);
        let client = match cfg.client(cx.http, cx.creds, cx.cluster) {
            Ok(c) => c,
            Err(e) => return Outcome::Failed(e),
        };
        match (&self.previous, self.blocked) {
            (None, _) => {
                Outcome::Skipped("the deployment is new: there is nothing to roll back to".into())
            }
            (Some(_), Some(why)) => Outcome::Skipped(why),
            (Some(prev), None) => {
                let on = super::On {
                    cfg,
                    client: &client,
                    addr: &self.addr,
                };
                super::rollback::run(on, cx.rec, prev).await
            }
        }
    }
}

impl DeployPlan {
    /// The spec to write: as planned, or rendered again with the URI of the jar this target
    /// uploads through the artifacts API.
    async fn final_spec(
        &self,
        cfg: Cfg<'_>,
        client: &Client<'_>,
        rec: &mut crate::report::Recorder,
        on: &Online,
    ) -> Result<Value> {
        let Some(path) = &self.rendered.upload else {
            return Ok(self.rendered.desired.clone());
        };
        rec.begin("upload artifact");
        let r = client
            .upload_artifact(path, &crate::artifact::file_name(path))
            .await;
        let uri = rec.end(r)?;
        rec.log(&format!(
            "uploaded {} as {}",
            path.display(),
            display_url(&uri)
        ));
        let desired = render_desired(cfg, Some(&uri))?.0;
        // The artifacts API keeps the file name, so a rebuilt jar often gets the URI the
        // deployment already has: an unchanged template, and no restart.
        const JAR: &[&str] = &["spec", "template", "spec", "artifact", "jarUri"];
        let deployed = on.current.as_ref().and_then(|c| spec::get_str(c, JAR));
        if deployed.is_some() && deployed == spec::get_str(&desired, JAR) {
            rec.warn(&format!(
                "the uploaded jar has the URI the deployment already uses ({}); Ververica Platform will not restart the job for it. Use restart: always to run the new jar",
                display_url(&uri)
            ));
        }
        Ok(desired)
    }

    fn current(&self) -> Option<&Value> {
        self.online.as_ref().and_then(|o| o.current.as_ref())
    }

    /// What to send for `desired`, and the deployment as it will be after that.
    fn body_and_after(&self, cfg: Cfg<'_>, desired: &Value) -> (Value, Value) {
        let (body, _) = write_body(
            desired,
            self.current(),
            cfg.own.restart,
            cfg.own.syncing_mode,
            self.rendered.init_fields.as_ref(),
        );
        let after = diff::after(self.current(), &body, cfg.own.syncing_mode);
        (body, after)
    }

    /// Write the deployment unless it already matches; returns what the platform holds and
    /// whether anything was sent.
    async fn write(
        &self,
        cfg: Cfg<'_>,
        client: &Client<'_>,
        rec: &mut crate::report::Recorder,
        (body, after): (&Value, &Value),
    ) -> std::result::Result<(Value, bool), WriteError> {
        let current = self.current();
        let addr = &self.rendered.addr;
        let unchanged = current.is_some_and(|c| diff::same(&diff::clean(c), after));
        let written = if let (true, Some(cur)) = (unchanged, current) {
            // Nothing to change: no write, so nothing is restarted and nothing could go wrong.
            rec.skip(
                "apply",
                "the deployed spec already matches; nothing was sent",
            );
            rec.log("The deployed spec already matches: nothing was sent.");
            cur.clone()
        } else {
            rec.begin("apply");
            rec.timeline(if current.is_some() {
                "update sent"
            } else {
                "create sent"
            });
            let on = super::On { cfg, client, addr };
            let r = write(on, rec, current.is_some(), cfg.own.syncing_mode, body, &[]).await;
            if let Err(WriteError::Refused(e) | WriteError::StoredOtherwise(e)) = &r {
                rec.fail(e);
            } else {
                rec.pass();
            }
            r?
        };
        outputs_for(rec, &written);
        if current.is_none() {
            facts_link(rec, client, &written);
        }
        Ok((written, !unchanged))
    }

    /// Wait for the desired state and settle; on failure, roll back when asked.
    async fn wait_and_recover(
        &self,
        cfg: Cfg<'_>,
        client: &Client<'_>,
        rec: &mut crate::report::Recorder,
        after: &Value,
        written: &Value,
        changed: bool,
    ) -> Result<()> {
        let current = self.current();
        let addr = &self.rendered.addr;
        let on = super::On { cfg, client, addr };
        let target = spec::get_str(after, &["spec", "state"])
            .unwrap_or("RUNNING")
            .to_owned();
        // Without a write nothing is pending: what the platform shows now is the answer.
        let before = current.filter(|_| changed).map(Observation::of);
        let new_job = target == "RUNNING"
            && before.as_ref().is_some_and(|b| b.state == "RUNNING")
            && current.is_some_and(|c| diff::template_changed(c, after))
            && spec::get_str(after, &["spec", "upgradeStrategy", "kind"]) != Some("NONE");
        let mut expect = judge::expectation(before.as_ref(), &target, new_job);
        // Without a write the job that ran before is the one to settle: the health gate counts
        // its restarts from the first reading, not from its start (long before this run).
        if !changed {
            let now = current.map(Observation::of);
            expect.ran_before = judge::expectation(now.as_ref(), &target, false).ran_before;
        }
        let e = match reach(on, rec, &target, expect, written).await {
            Ok(obs) => {
                report_job(client, rec, &obs).await;
                return Ok(());
            }
            Err(e) => e,
        };
        Err(self.recover(cfg, client, rec, e).await)
    }

    /// After `e` failed the change: roll back when asked and possible; the run's error.
    async fn recover(
        &self,
        cfg: Cfg<'_>,
        client: &Client<'_>,
        rec: &mut crate::report::Recorder,
        e: Error,
    ) -> Error {
        let current = self.current();
        let addr = &self.rendered.addr;
        let on = super::On { cfg, client, addr };
        let rules = crate::targets::Target::needs(&self.target).rollback;
        if !crate::rollback::wanted(cfg.rollback_on_failure, rules, &e) {
            return e;
        }
        let blocked = self
            .online
            .as_ref()
            .and_then(|o| o.rollback_blocked.as_ref());
        let subject = format!("deployment {addr} in namespace `{}`", client.ns);
        let outcome = match (current, blocked) {
            (None, _) => crate::rollback::Outcome::Skipped(
                "the deployment is new: there is nothing to roll back to".into(),
            ),
            (Some(_), Some(why)) => crate::rollback::Outcome::Skipped(why.clone()),
            (Some(prev), None) => super::rollback::run(on, rec, prev).await,
        };
        crate::rollback::conclude(rec, e, outcome, &subject)
    }
}
