//! Ververica Platform: deployments through the Application Manager API.
//!
//! `plan` only reads: it renders the spec, reads the deployed deployment (kept for the diff and
//! for a rollback), checks that the namespace and the named deployment target or session
//! cluster exist, and computes the diff. `apply` writes, then waits until the platform reports
//! the desired state, watches a RUNNING job settle, and rolls back on request.

pub mod actions;
pub mod client;
pub mod custom_resource;
pub mod diff;
pub mod rollback;
pub mod spec;
pub mod wait;
pub mod watch;

use std::path::PathBuf;

use serde_json::{json, Value};

use self::client::{Client, Written};
use self::wait::Observation;
use self::watch::WaitEnd;
use super::{Context, Target};
use crate::config::{Action, Config, DeploymentRef, Restart, SyncingMode, TokenSource};
use crate::error::{Error, Result};
use crate::http::display_url;
use crate::pipeline::inputs as i;
use crate::report::Recorder;

#[derive(Default)]
pub struct Ververica {
    /// The rendered Deployment, computed by `plan`.
    pub desired: Option<Value>,
    // Boxed: the plan is large and the target sits in an enum with small siblings.
    planned: Option<Box<Planned>>,
}

/// What `plan` learned for `apply`.
struct Planned {
    addr: DeploymentRef,
    /// The deployment as it was before this run (`None`: it does not exist). Kept for rollback.
    current: Option<Value>,
    /// `initFields` from the spec file: applied only when the deployment is created.
    init_fields: Option<Value>,
    /// A local jar this target uploads through the artifacts API.
    upload: Option<PathBuf>,
    cred_input: &'static str,
    /// For `resume` from `savepointId`: the savepoint, read in the plan.
    savepoint_source: Option<Value>,
    /// Why a rollback could not bring the previous job back, when it could not.
    rollback_blocked: Option<String>,
}

/// Read the spec file, if any, and substitute placeholders. Reading a file changes nothing, so
/// this belongs to the plan.
pub fn load_spec_file(
    cfg: &Config,
    jar_uri: Option<&str>,
    env_var: &dyn Fn(&str) -> Option<String>,
    is_secret: &dyn Fn(&str) -> bool,
) -> Result<Option<Value>> {
    let Some(mut v) = parse_spec_file(cfg)? else {
        return Ok(None);
    };
    let subs = spec::Substitutions {
        deployment_target_id: cfg.job.deployment_target_id.as_deref(),
        jar_uri,
        variable: env_var,
        is_secret,
    };
    spec::substitute(&mut v, &subs, "")?;
    Ok(Some(v))
}

/// Read and parse the spec file (before any substitution), if one is given.
fn parse_spec_file(cfg: &Config) -> Result<Option<Value>> {
    let Some(path) = &cfg.job.spec_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::input(
            i::SPEC_FILE,
            format!("`{}` cannot be read: {e}", path.display()),
        )
        .with_hint("check the path; relative paths start at System.DefaultWorkingDirectory")
    })?;
    spec::parse(&text, &path.display().to_string()).map(Some)
}

/// A jar this run puts in Blob Storage, against what the deployment runs now.
///
/// The jar URI names the jar's MD5 so that new content is a changed template. A deployment that
/// runs the same blob under its bare URI (deployed before URIs named the MD5) keeps that URI
/// when the content is the same, so nothing restarts for it. And when the upload overwrites the
/// very blob the deployment runs, the previous jar is gone: a rollback would start the new one.
fn blob_jar(
    artifact: &crate::targets::ArtifactPlan,
    desired: &mut Value,
    current: Option<&Value>,
    planned: &mut Planned,
    lines: &mut Vec<String>,
) {
    const JAR: &str = "/spec/template/spec/artifact/jarUri";
    let (Some(bare), Some(md5), true) = (
        artifact.jar_uri.as_deref(),
        artifact.content_md5.as_deref(),
        artifact.to_blob,
    ) else {
        return;
    };
    let deployed = current.and_then(|c| c.pointer(JAR)).and_then(Value::as_str);
    if artifact.blob_unchanged && deployed == Some(bare) {
        let named = spec::with_query(bare, "md5", md5);
        if let Some(v) = desired.pointer_mut(JAR) {
            if v.as_str() == Some(named.as_str()) {
                *v = json!(bare);
                lines.push(format!(
                    "the deployment already runs this jar as {}: its jarUri is kept",
                    display_url(bare)
                ));
            }
        }
    }
    let base = |u: &str| u.split('?').next().unwrap_or_default().to_owned();
    if artifact.blob_replaced && deployed.map(base) == Some(base(bare)) {
        planned.rollback_blocked = Some(format!(
            "this run overwrites {}, the jar the deployment runs now, so a rollback would start the new jar again; give each build's jar its own name (e.g. a version in the file name) to keep rollback possible",
            display_url(&base(bare))
        ));
    }
}

fn pipeline_variable(name: &str) -> Option<String> {
    let env = crate::pipeline::env::AgentEnv::from_process();
    env.public_variable(name).map(str::to_owned)
}

fn is_secret_variable(name: &str) -> bool {
    crate::pipeline::env::AgentEnv::from_process().is_secret_variable(name)
}

/// The input a refused token is blamed on.
fn cred_input(cfg: &Config) -> &'static str {
    let env = crate::pipeline::env::AgentEnv::from_process();
    if env.input(i::VVP_CONNECTION).is_some_and(|v| !v.is_empty()) {
        i::VVP_CONNECTION
    } else if matches!(
        cfg.vvp.as_ref().map(|v| &v.token),
        Some(TokenSource::KeyVault(_))
    ) {
        i::VVP_API_TOKEN_SECRET
    } else {
        i::VVP_API_TOKEN
    }
}

/// The spec file without what the platform owns (a spec downloaded from VVP carries `status`,
/// timestamps and controller annotations); `metadata.id` stays, it may address the deployment.
/// `initFields` (seed 002) is taken out: it is not part of a Deployment.
fn prepare_file_spec(mut file: Value) -> (Value, Option<Value>) {
    let id = file.pointer("/metadata/id").cloned();
    let init = file.as_object_mut().and_then(|m| m.remove("initFields"));
    let mut clean = diff::clean(&file);
    if let Some(id) = id {
        spec::obj(&mut clean, &["metadata"]).insert("id".into(), id);
    }
    (clean, init)
}

/// Render the Deployment for this run with `jar_uri` as the jar.
fn render_desired(cfg: &Config, jar_uri: Option<&str>) -> Result<(Value, Option<Value>)> {
    let vvp = cfg.vvp.as_ref().expect("ververica config");
    let file = load_spec_file(cfg, jar_uri, &pipeline_variable, &is_secret_variable)?;
    let (file, init) = match file {
        Some(f) => {
            let (f, init) = prepare_file_spec(f);
            (Some(f), init)
        }
        None => (None, None),
    };
    let desired = spec::render(cfg, file, jar_uri, &vvp.namespace)?;
    Ok((desired, init))
}

/// How the deployment is addressed: `deploymentId` wins (seed 000), then the name.
fn address(cfg: &Config, desired: &Value) -> DeploymentRef {
    if let Some(id) = &cfg.job.deployment_id {
        return DeploymentRef::Id(id.clone());
    }
    match (
        spec::get_str(desired, &["metadata", "name"]),
        spec::get_str(desired, &["metadata", "id"]),
    ) {
        (Some(n), _) => DeploymentRef::Name(n.to_owned()),
        (None, Some(id)) => DeploymentRef::Id(id.to_owned()),
        // `spec::check` rejects a spec with neither.
        (None, None) => DeploymentRef::Name(String::new()),
    }
}

/// The input a missing deployment is blamed on.
fn address_input(cfg: &Config, addr: &DeploymentRef) -> &'static str {
    match addr {
        DeploymentRef::Id(_) if cfg.job.deployment_id.is_some() => i::DEPLOYMENT_ID,
        _ if cfg.job.deployment_name.is_some() => i::DEPLOYMENT_NAME,
        _ if cfg.job.spec_file.is_some() => i::SPEC_FILE,
        _ => i::DEPLOYMENT_NAME,
    }
}

/// The provisional jar URI shown in the plan when the jar is uploaded during apply.
fn upload_placeholder(path: &std::path::Path) -> String {
    format!(
        "<set by the upload of {}>",
        crate::artifact::file_name(path)
    )
}

/// The Deployment to write, and a warning when `restart: never` holds back a template change.
fn write_body(
    desired: &Value,
    current: Option<&Value>,
    restart: Restart,
    mode: SyncingMode,
    init_fields: Option<&Value>,
) -> (Value, Option<String>) {
    let mut body = desired.clone();
    let Some(cur) = current else {
        if let Some(init) = init_fields {
            // Seed 002: initFields set initial values when the deployment is created.
            let mut seed = json!({});
            if let Some(m) = init.get("userMetadata") {
                seed["metadata"] = m.clone();
            }
            if let Some(s) = init.get("spec") {
                seed["spec"] = s.clone();
            }
            diff::merge_patch(&mut seed, &body);
            body = seed;
        }
        return (body, None);
    };
    let running = spec::get_str(cur, &["status", "state"]) == Some("RUNNING");
    if restart == Restart::Never
        && running
        && diff::template_changed(cur, &diff::after(Some(cur), &body, mode))
    {
        match mode {
            SyncingMode::Patch => {
                if let Some(s) = body.get_mut("spec").and_then(Value::as_object_mut) {
                    s.remove("template");
                }
            }
            SyncingMode::Put => {
                if let Some(t) = cur.pointer("/spec/template") {
                    spec::obj(&mut body, &["spec"]).insert("template".into(), t.clone());
                }
            }
        }
        let job = spec::get_str(cur, &["status", "running", "jobId"]).unwrap_or("?");
        return (
            body,
            Some(format!(
                "restart is `never` and job {job} is RUNNING: the template change is not applied (the job keeps its current template); use restart: ifChanged to upgrade"
            )),
        );
    }
    (body, None)
}

/// Write the deployment: create it when missing, else PATCH or PUT. On 409 re-read once and
/// try again (a concurrent create turns the POST into an update).
async fn write(
    client: &Client<'_>,
    rec: &mut Recorder,
    addr: &DeploymentRef,
    mut exists: bool,
    mode: SyncingMode,
    body: &Value,
) -> Result<Value> {
    let mut tried_again = false;
    loop {
        let (verb, w) = match (exists, mode) {
            (false, SyncingMode::Patch) => ("POST", client.create_deployment(body, addr).await?),
            (_, SyncingMode::Put) => ("PUT", client.put_deployment(addr, body).await?),
            (true, SyncingMode::Patch) => ("PATCH", client.patch_deployment(addr, body).await?),
        };
        match w {
            Written::Done(Some(v)) if v.get("metadata").is_some() => {
                rec.log(&format!("{verb} accepted"));
                return Ok(v);
            }
            // 204, or a body that is not the deployment: read it back.
            Written::Done(_) => {
                rec.log(&format!("{verb} accepted"));
                return client.get_deployment(addr).await?.ok_or_else(|| {
                    Error::platform(format!(
                        "deployment {addr} in namespace `{}` is missing right after {verb}",
                        client.ns
                    ))
                });
            }
            Written::Conflict(e) if !tried_again => {
                tried_again = true;
                rec.log(&format!(
                    "{verb} answered 409 ({}); reading the deployment again and retrying once",
                    e.message
                ));
                exists = client.get_deployment(addr).await?.is_some();
            }
            Written::Conflict(e) => return Err(e),
        }
    }
}

/// The platform's own account of a failure: events since our change and the job's failure.
async fn explain(
    client: &Client<'_>,
    deployment_id: Option<&str>,
    since: Option<&str>,
) -> Vec<String> {
    let Some(id) = deployment_id else {
        return vec![];
    };
    // The run has already failed; its account must not take long.
    let limit = std::time::Duration::from_secs(10);
    match tokio::time::timeout(limit, explain_now(client, id, since)).await {
        Ok(lines) => lines,
        Err(_) => vec![format!(
            "the deployment's events and jobs could not be read within {}s",
            limit.as_secs()
        )],
    }
}

async fn explain_now(client: &Client<'_>, id: &str, since: Option<&str>) -> Vec<String> {
    let mut lines = match client.events(id).await {
        Ok(ev) => wait::failure_events(&ev, since, 20),
        Err(e) => vec![format!(
            "the deployment's events could not be read: {}",
            e.message
        )],
    };
    match client.jobs(id).await {
        Ok(jobs) => lines.extend(wait::job_failure(&jobs)),
        Err(e) => lines.push(format!(
            "the deployment's jobs could not be read: {}",
            e.message
        )),
    }
    lines
}

/// Where the change began on the server's clock, to pick the events that belong to it.
fn change_time(deployment: &Value) -> Option<String> {
    spec::get_str(deployment, &["metadata", "modifiedAt"]).map(str::to_owned)
}

fn deployment_id(d: &Value) -> Option<&str> {
    spec::get_str(d, &["metadata", "id"])
}

/// Everything a wait needs to know about where it stands.
struct WaitFor<'a> {
    addr: &'a DeploymentRef,
    target: &'a str,
    expect: wait::Expect,
    deployment_id: Option<String>,
    since: Option<String>,
}

/// Wait for the target state; the error carries the events and the job's failure.
async fn wait_state(
    cfg: &Config,
    client: &Client<'_>,
    rec: &mut Recorder,
    w: WaitFor<'_>,
) -> Result<(Value, Observation)> {
    let ns = &client.ns;
    let addr = w.addr;
    match watch::until(client, rec, addr, w.expect, cfg.timeout).await? {
        WaitEnd::Reached {
            deployment,
            obs,
            note,
        } => {
            if let Some(n) = note {
                rec.warn(&n);
            }
            rec.timeline(&format!("reached {}", w.target));
            Ok((deployment, obs))
        }
        WaitEnd::Failed {
            deployment,
            obs,
            why,
        } => {
            rec.output("state", &obs.state);
            let details = explain(
                client,
                deployment_id(&deployment).or(w.deployment_id.as_deref()),
                w.since.as_deref(),
            )
            .await;
            let state = if why.contains(&obs.state) {
                String::new()
            } else {
                format!(" (state {})", obs.describe())
            };
            Err(Error::deployment(format!(
                "deployment {addr} in namespace `{ns}` did not reach {}: {why}{state}",
                w.target
            ))
            .with_details(details)
            .with_hint("the events above are Ververica Platform's account; the job's logs are on the deployment's page"))
        }
        WaitEnd::TimedOut { last } => {
            if let Some(o) = &last {
                rec.output("state", &o.state);
            }
            let details = explain(client, w.deployment_id.as_deref(), w.since.as_deref()).await;
            Err(Error::timeout(format!(
                "deployment {addr} in namespace `{ns}` did not reach {} within {}s; last state: {}",
                w.target,
                cfg.timeout.as_secs(),
                last.map(|o| o.describe())
                    .unwrap_or_else(|| "unknown (never read)".into())
            ))
            .with_details(details)
            .with_hint(format!(
                "raise {} if the platform is only slow",
                i::TIMEOUT_SECONDS
            )))
        }
    }
}

/// After RUNNING: watch `settleSeconds`; a fall to FAILED is a failure.
async fn settle_running(
    cfg: &Config,
    client: &Client<'_>,
    rec: &mut Recorder,
    addr: &DeploymentRef,
    obs: &Observation,
    deployment_id: Option<&str>,
    since: Option<&str>,
) -> Result<Value> {
    match watch::settle(client, rec, addr, obs.job_id.as_deref(), cfg.settle).await? {
        Ok(d) => {
            rec.timeline(&format!("stayed RUNNING for {}s", cfg.settle.as_secs()));
            Ok(d)
        }
        Err(why) => {
            if let Ok(Ok(Some(d))) = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                client.get_deployment(addr),
            )
            .await
            {
                rec.output("state", &Observation::of(&d).state);
            }
            let details = explain(client, deployment_id, since).await;
            Err(Error::deployment(format!(
                "deployment {addr} in namespace `{}` reached RUNNING but did not stay up for {}s ({}): {why}",
                client.ns,
                cfg.settle.as_secs(),
                i::SETTLE_SECONDS
            ))
            .with_details(details))
        }
    }
}

fn facts(rec: &mut Recorder, client: &Client<'_>, addr: &DeploymentRef, d: Option<&Value>) {
    rec.fact("Deployment", &addr.to_string());
    rec.fact("Namespace", &client.ns);
    if let Some(id) = d.and_then(deployment_id) {
        let link = client.ui_link(id);
        rec.fact(
            "Ververica Platform",
            &format!("[open the deployment]({link})"),
        );
    }
}

/// What the run works on, named in the message of a run stopped midway.
fn subject(rec: &mut Recorder, addr: &DeploymentRef, ns: &str) {
    rec.subject(&format!("deployment {addr} in namespace `{ns}`"));
}

fn outputs_for(rec: &mut Recorder, d: &Value) {
    if let Some(id) = deployment_id(d) {
        rec.output("deploymentId", id);
    }
    if let Some(n) = spec::get_str(d, &["metadata", "name"]) {
        rec.output("deploymentName", n);
    }
}

/// Report the job: output, fact, and the Flink job id when the platform has it.
async fn report_job(client: &Client<'_>, rec: &mut Recorder, obs: &Observation) {
    rec.output("state", &obs.state);
    let Some(job) = &obs.job_id else {
        return;
    };
    rec.output("jobId", job);
    rec.fact("Job", job);
    if let Ok(Some(j)) = client.job(job).await {
        if let Some(f) = spec::get_str(&j, &["status", "started", "flinkJobId"]) {
            rec.fact("Flink job id", f);
        }
    }
}

impl Ververica {
    async fn plan_deploy(&mut self, ctx: &mut Context<'_>) -> Result<Vec<String>> {
        let cfg = ctx.cfg;
        let vvp = cfg.vvp.as_ref().expect("ververica config");
        let upload = ctx.artifact.local.clone().filter(|_| !ctx.artifact.to_blob);
        let mut lines = vec![];
        let mut jar = ctx.artifact.jar_uri.clone();
        if let (true, Some(md5)) = (ctx.artifact.to_blob, &ctx.artifact.content_md5) {
            jar = jar.map(|u| spec::with_query(&u, "md5", md5));
            lines.push(format!(
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
                .with_hint("upload it to Blob Storage instead (storageAccount, containerName), or give jarUri"));
            }
            if vvp.url.is_some() {
                lines.push(format!(
                    "upload {} through the Ververica Platform artifacts API (namespace `{}`); jarUri comes from the upload",
                    crate::artifact::file_name(path),
                    vvp.namespace
                ));
            }
            jar = Some(upload_placeholder(path));
        }
        let (mut desired, init_fields) = render_desired(cfg, jar.as_deref())?;
        ctx.rec
            .group("Rendered deployment spec", &spec::to_yaml(&desired));
        let addr = address(cfg, &desired);
        subject(ctx.rec, &addr, &vvp.namespace);
        let mut planned = Planned {
            addr: addr.clone(),
            current: None,
            init_fields,
            upload,
            cred_input: cred_input(cfg),
            savepoint_source: None,
            rollback_blocked: None,
        };

        if cfg.action == Action::RenderCustomResource {
            let (cr, warnings) = custom_resource::build(&desired, &cr_inputs(cfg, &planned))?;
            for w in warnings {
                ctx.rec.warn(&w);
            }
            let path = vvp
                .custom_resource_path
                .as_ref()
                .expect("checked by config");
            lines.push(format!(
                "write the operator's VvpDeployment `{}` ({} mode) to {}",
                spec::get_str(&cr, &["metadata", "name"]).unwrap_or("?"),
                spec::get_str(&cr, &["spec", "syncingMode"]).unwrap_or("?"),
                path.display()
            ));
            self.desired = Some(desired);
            self.planned = Some(Box::new(planned));
            return Ok(lines);
        }

        let Some(url) = vvp.url.as_deref() else {
            lines.push(format!(
                "deployment {addr} in namespace `{}`: not compared with Ververica Platform (no URL given)",
                vvp.namespace
            ));
            self.desired = Some(desired);
            self.planned = Some(Box::new(planned));
            return Ok(lines);
        };
        let client = Client::new(
            &ctx.http,
            url,
            &vvp.namespace,
            ctx.creds.vvp_token.as_ref(),
            planned.cred_input,
        );
        let current = client.get_deployment(&addr).await?;
        if current.is_none() {
            check_namespace(&client).await?;
            if let DeploymentRef::Id(id) = &addr {
                return Err(Error::input(
                    address_input(cfg, &addr),
                    format!(
                        "no deployment with id `{id}` exists in namespace `{}`; a deployment cannot be created by id",
                        vvp.namespace
                    ),
                )
                .with_hint("check the id, or address the deployment by name (deploymentName or metadata.name) to create it"));
            }
        }
        blob_jar(
            &ctx.artifact,
            &mut desired,
            current.as_ref(),
            &mut planned,
            &mut lines,
        );
        check_references(cfg, &client, &desired).await?;
        if let Some(cur) = &current {
            let deployed = spec::get_str(cur, &["metadata", "name"]);
            let wanted = spec::get_str(&desired, &["metadata", "name"]);
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
        }

        let (body, warning) = write_body(
            &desired,
            current.as_ref(),
            vvp.restart,
            vvp.syncing_mode,
            planned.init_fields.as_ref(),
        );
        if let Some(w) = &warning {
            ctx.rec.warn(w);
        }
        let after = diff::after(current.as_ref(), &body, vvp.syncing_mode);
        let before = current
            .as_ref()
            .map(diff::clean)
            .unwrap_or_else(|| json!({}));
        let change = diff::unified(&before, &after, "deployed", "after this run");
        match &change {
            Some(d) => ctx.rec.group("Changes to the deployed spec", d),
            None => ctx
                .rec
                .log("The deployed spec already matches: nothing to change."),
        }
        ctx.rec.summary.heading(4, "Spec diff");
        match &change {
            Some(d) => {
                ctx.rec
                    .summary
                    .details("deployed → after this run", "diff", d);
            }
            None => {
                ctx.rec.summary.paragraph("No change to the deployed spec.");
            }
        }

        let target = spec::get_str(&after, &["spec", "state"]).unwrap_or("RUNNING");
        let verb = match (&current, vvp.syncing_mode) {
            (Some(_), _) if change.is_none() => "nothing to change in",
            (None, SyncingMode::Patch) => "create (POST)",
            (None, SyncingMode::Put) => "create (PUT)",
            (Some(_), SyncingMode::Patch) => "update (PATCH, merge)",
            (Some(_), SyncingMode::Put) => "replace (PUT)",
        };
        lines.push(format!(
            "{verb} deployment {addr} in namespace `{}` on {}",
            vvp.namespace,
            display_url(url)
        ));
        if let Some(cur) = &current {
            let obs = Observation::of(cur);
            let upgrade = spec::get_str(&after, &["spec", "upgradeStrategy", "kind"]);
            lines.push(format!("currently {}", obs.describe()));
            if diff::template_changed(cur, &after) {
                if obs.state == "RUNNING" && upgrade == Some("NONE") {
                    ctx.rec.warn("upgradeStrategy is NONE: Ververica Platform will not upgrade the running job; the new template applies at its next start");
                } else if obs.state == "RUNNING" {
                    lines.push(format!(
                        "the template changes: Ververica Platform upgrades the running job ({})",
                        upgrade.unwrap_or("its upgrade strategy")
                    ));
                }
            } else if obs.state == "RUNNING" && target == "RUNNING" {
                lines.push("the template is unchanged: the running job is not restarted".into());
            }
        }
        lines.push(format!(
            "wait up to {}s for {target}{}",
            cfg.timeout.as_secs(),
            if target == "RUNNING" && !cfg.settle.is_zero() {
                format!(", then watch it for {}s", cfg.settle.as_secs())
            } else {
                String::new()
            }
        ));
        if cfg.rollback_on_failure {
            lines.push(match (&current, &planned.rollback_blocked) {
                (Some(_), Some(why)) => format!("on failure no rollback: {why}"),
                (Some(_), None) => {
                    "on failure, re-apply the spec deployed now and wait for it".into()
                }
                (None, _) => {
                    "on failure there is nothing to roll back to (the deployment is new)".into()
                }
            });
        }
        planned.current = current;
        self.desired = Some(desired);
        self.planned = Some(Box::new(planned));
        Ok(lines)
    }

    async fn apply_deploy(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        let cfg = ctx.cfg;
        let vvp = cfg.vvp.as_ref().expect("ververica config");
        let planned = self.planned.as_ref().expect("planned");
        let url = vvp.url.as_deref().expect("checked by config");
        let client = Client::new(
            &ctx.http,
            url,
            &vvp.namespace,
            ctx.creds.vvp_token.as_ref(),
            planned.cred_input,
        );
        let rec = &mut *ctx.rec;
        let addr = &planned.addr;
        facts(rec, &client, addr, planned.current.as_ref());

        let mut desired = self.desired.clone().expect("rendered");
        if let Some(path) = &planned.upload {
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
            desired = render_desired(cfg, Some(&uri))?.0;
            // The artifacts API keeps the file name, so a rebuilt jar often gets the URI the
            // deployment already has: an unchanged template, and no restart.
            const JAR: &[&str] = &["spec", "template", "spec", "artifact", "jarUri"];
            let deployed = planned.current.as_ref().and_then(|c| spec::get_str(c, JAR));
            if deployed.is_some() && deployed == spec::get_str(&desired, JAR) {
                rec.warn(&format!(
                    "the uploaded jar has the URI the deployment already uses ({}); Ververica Platform will not restart the job for it. Use restart: always to run the new jar",
                    display_url(&uri)
                ));
            }
        }
        rec.begin("render spec");
        rec.log(&spec::to_yaml(&desired));
        rec.pass();
        if let Some(u) = spec::get_str(
            &desired,
            &["spec", "template", "spec", "artifact", "jarUri"],
        ) {
            rec.output("jarUri", u);
        }

        let current = planned.current.as_ref();
        let (body, _) = write_body(
            &desired,
            current,
            vvp.restart,
            vvp.syncing_mode,
            planned.init_fields.as_ref(),
        );
        let after = diff::after(current, &body, vvp.syncing_mode);
        let target = spec::get_str(&after, &["spec", "state"])
            .unwrap_or("RUNNING")
            .to_owned();

        let unchanged = current.is_some_and(|c| diff::same(&diff::clean(c), &after));
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
            let r = write(
                &client,
                rec,
                addr,
                current.is_some(),
                vvp.syncing_mode,
                &body,
            )
            .await;
            rec.end(r)?
        };
        outputs_for(rec, &written);
        if current.is_none() {
            facts_link(rec, &client, &written);
        }

        // Without a write nothing is pending: what the platform shows now is the answer.
        let before = current.filter(|_| !unchanged).map(Observation::of);
        let new_job = target == "RUNNING"
            && before.as_ref().is_some_and(|b| b.state == "RUNNING")
            && current.is_some_and(|c| diff::template_changed(c, &after))
            && spec::get_str(&after, &["spec", "upgradeStrategy", "kind"]) != Some("NONE");
        let result = reach(
            cfg,
            &client,
            rec,
            addr,
            &target,
            wait::expectation(before.as_ref(), &target, new_job),
            &written,
        )
        .await;
        match result {
            Ok(obs) => {
                report_job(&client, rec, &obs).await;
                Ok(())
            }
            Err(e) => {
                if !cfg.rollback_on_failure {
                    return Err(e);
                }
                match (current, &planned.rollback_blocked) {
                    (None, _) => {
                        rec.skip(
                            "rollback",
                            "nothing to roll back to: the deployment did not exist before this run",
                        );
                        Err(e.context("rollback skipped, the deployment is new"))
                    }
                    (Some(_), Some(why)) => {
                        rec.skip("rollback", why);
                        Err(e.context(format!("rollback skipped ({why})")))
                    }
                    (Some(prev), None) => {
                        Err(rollback::run(cfg, &client, rec, addr, prev, e).await)
                    }
                }
            }
        }
    }
}

/// The steps `reach <STATE>` and `stay RUNNING`.
#[allow(clippy::too_many_arguments)]
async fn reach(
    cfg: &Config,
    client: &Client<'_>,
    rec: &mut Recorder,
    addr: &DeploymentRef,
    target: &str,
    expect: wait::Expect,
    written: &Value,
) -> Result<Observation> {
    let since = change_time(written);
    let id = deployment_id(written).map(str::to_owned);
    rec.begin(&format!("reach {target}"));
    let r = wait_state(
        cfg,
        client,
        rec,
        WaitFor {
            addr,
            target,
            expect,
            deployment_id: id.clone(),
            since: since.clone(),
        },
    )
    .await;
    let (_, obs) = rec.end(r)?;
    if target == "RUNNING" && !cfg.settle.is_zero() {
        rec.begin(&format!("stay RUNNING for {}s", cfg.settle.as_secs()));
        let r = settle_running(
            cfg,
            client,
            rec,
            addr,
            &obs,
            id.as_deref(),
            since.as_deref(),
        )
        .await;
        rec.end(r)?;
    }
    Ok(obs)
}

fn facts_link(rec: &mut Recorder, client: &Client<'_>, d: &Value) {
    if let Some(id) = deployment_id(d) {
        let link = client.ui_link(id);
        rec.fact(
            "Ververica Platform",
            &format!("[open the deployment]({link})"),
        );
    }
}

/// An unknown namespace is bad input; say so before anything else is looked at.
async fn check_namespace(client: &Client<'_>) -> Result<()> {
    if client.namespace_exists().await? == Some(false) {
        return Err(Error::input(
            i::VVP_NAMESPACE,
            format!(
                "namespace `{}` does not exist on {}",
                client.ns,
                display_url(client.base())
            ),
        )
        .with_hint("check the name under Administration > Namespaces (names are lower-case)"));
    }
    Ok(())
}

/// The deployment target or session cluster the spec names must exist.
async fn check_references(cfg: &Config, client: &Client<'_>, desired: &Value) -> Result<()> {
    let from_input = |input: &'static str, given: bool| if given { input } else { i::SPEC_FILE };
    let missing = |input: &'static str, what: String| {
        Error::input(
            input,
            format!("{what} does not exist in namespace `{}`", client.ns),
        )
        .with_hint("check the name under Deployment Targets (or Session Clusters) in the Ververica Platform web UI")
    };
    if let Some(name) = spec::get_str(desired, &["spec", "deploymentTargetName"]) {
        if client.deployment_target_by_name(name).await?.is_none() {
            check_namespace(client).await?;
            return Err(missing(
                from_input(
                    i::DEPLOYMENT_TARGET_NAME,
                    cfg.job.deployment_target_name.is_some(),
                ),
                format!("deployment target `{name}`"),
            ));
        }
    } else if let Some(id) = spec::get_str(desired, &["spec", "deploymentTargetId"]) {
        if client.deployment_target_by_id(id).await?.is_none() {
            check_namespace(client).await?;
            return Err(missing(
                from_input(
                    i::DEPLOYMENT_TARGET_ID,
                    cfg.job.deployment_target_id.is_some(),
                ),
                format!("deployment target with id `{id}`"),
            ));
        }
    }
    if let Some(name) = spec::get_str(desired, &["spec", "sessionClusterName"]) {
        if client.session_cluster(name).await?.is_none() {
            check_namespace(client).await?;
            return Err(missing(
                from_input(
                    i::SESSION_CLUSTER_NAME,
                    cfg.job.session_cluster_name.is_some(),
                ),
                format!("session cluster `{name}`"),
            ));
        }
    }
    Ok(())
}

fn cr_inputs<'a>(cfg: &'a Config, planned: &'a Planned) -> custom_resource::Inputs<'a> {
    let vvp = cfg.vvp.as_ref().expect("ververica config");
    custom_resource::Inputs {
        syncing_mode: vvp.syncing_mode,
        apikey_secret_name: vvp.apikey_secret_name.as_deref(),
        initial_savepoint: cfg
            .job
            .savepoint_location
            .as_deref()
            .or(cfg.job.initial_savepoint_path.as_deref()),
        init_fields: planned.init_fields.as_ref(),
    }
}

/// Write a text file whole: readers never see half of it.
fn write_file(path: &std::path::Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

impl Target for Ververica {
    async fn plan(&mut self, ctx: &mut Context<'_>) -> Result<Vec<String>> {
        match ctx.cfg.action {
            Action::Deploy | Action::Validate | Action::RenderCustomResource => {
                self.plan_deploy(ctx).await
            }
            _ => actions::plan(self, ctx).await,
        }
    }

    async fn apply(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        match ctx.cfg.action {
            Action::Deploy => self.apply_deploy(ctx).await,
            Action::RenderCustomResource => {
                let cfg = ctx.cfg;
                let planned = self.planned.as_ref().expect("planned");
                let desired = self.desired.as_ref().expect("rendered");
                let (cr, _) = custom_resource::build(desired, &cr_inputs(cfg, planned))?;
                let path = cfg
                    .vvp
                    .as_ref()
                    .and_then(|v| v.custom_resource_path.as_ref())
                    .expect("checked by config");
                let yaml = spec::to_yaml(&cr);
                ctx.rec.begin("render custom resource");
                let r = write_file(path, &yaml);
                ctx.rec.end(r)?;
                ctx.rec.group("VvpDeployment", &yaml);
                ctx.rec
                    .log(&format!("wrote the VvpDeployment to {}", path.display()));
                if let Some(n) = spec::get_str(&cr, &["metadata", "name"]) {
                    ctx.rec.output("deploymentName", n);
                }
                if let Some(u) =
                    spec::get_str(desired, &["spec", "template", "spec", "artifact", "jarUri"])
                {
                    ctx.rec.output("jarUri", u);
                }
                ctx.rec.summary.heading(4, "VvpDeployment");
                ctx.rec
                    .summary
                    .details(&path.display().to_string(), "yaml", &yaml);
                Ok(())
            }
            // `validate` never reaches apply (the run stops after the plan).
            Action::Validate => Ok(()),
            _ => actions::apply(self, ctx).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> Value {
        serde_json::from_str(include_str!(
            "../../../tests/fixtures/vvp/deployment-running.json"
        ))
        .unwrap()
    }

    #[test]
    fn a_downloaded_spec_loses_status_but_keeps_its_id() {
        let mut f = running();
        f["initFields"] = json!({"spec": {"maxJobCreationAttempts": 9}});
        let (clean, init) = prepare_file_spec(f);
        assert!(clean.get("status").is_none());
        assert!(clean.get("initFields").is_none());
        assert_eq!(
            clean["metadata"]["id"],
            "d320ec04-16f5-4915-b236-6efa43b7e003"
        );
        assert!(clean["metadata"].get("resourceVersion").is_none());
        assert_eq!(init.unwrap()["spec"]["maxJobCreationAttempts"], 9);
    }

    #[test]
    fn restart_never_holds_back_a_template_change_of_a_running_job() {
        let cur = running();
        let desired = json!({"spec": {"state": "RUNNING", "template": {"spec": {"parallelism": 5}}}, "metadata": {"labels": {"a": "b"}}});
        let (body, warn) = write_body(
            &desired,
            Some(&cur),
            Restart::Never,
            SyncingMode::Patch,
            None,
        );
        assert!(warn
            .unwrap()
            .contains("8b0b6a56-8c52-4b0e-a5c1-2f0d6a7e9a01"));
        assert!(body["spec"].get("template").is_none());
        assert_eq!(body["metadata"]["labels"]["a"], "b");
        let (body, warn) = write_body(&desired, Some(&cur), Restart::Never, SyncingMode::Put, None);
        assert!(warn.is_some());
        assert_eq!(body["spec"]["template"], cur["spec"]["template"]);
        // A template change is applied when the job is not running, or with ifChanged.
        let (body, warn) = write_body(
            &desired,
            Some(&cur),
            Restart::IfChanged,
            SyncingMode::Patch,
            None,
        );
        assert!(warn.is_none());
        assert_eq!(body["spec"]["template"]["spec"]["parallelism"], 5);
        let mut suspended = cur.clone();
        suspended["status"] = json!({"state": "SUSPENDED"});
        assert!(write_body(
            &desired,
            Some(&suspended),
            Restart::Never,
            SyncingMode::Patch,
            None
        )
        .1
        .is_none());
    }

    #[test]
    fn init_fields_apply_only_on_create() {
        let desired = json!({"metadata": {"name": "a"}, "spec": {"state": "RUNNING"}});
        let init = json!({"userMetadata": {"displayName": "abc"}, "spec": {"maxSavepointCreationAttempts": 999, "state": "CANCELLED"}});
        let (body, _) = write_body(
            &desired,
            None,
            Restart::IfChanged,
            SyncingMode::Patch,
            Some(&init),
        );
        assert_eq!(body["metadata"]["displayName"], "abc");
        assert_eq!(body["spec"]["maxSavepointCreationAttempts"], 999);
        // The rendered spec wins over an initial value.
        assert_eq!(body["spec"]["state"], "RUNNING");
        let (body, _) = write_body(
            &desired,
            Some(&running()),
            Restart::IfChanged,
            SyncingMode::Patch,
            Some(&init),
        );
        assert!(body["spec"].get("maxSavepointCreationAttempts").is_none());
    }
}
