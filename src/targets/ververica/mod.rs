//! Ververica Platform: deployments through the Application Manager API.
//!
//! `plan` only reads: it renders the spec, reads the deployed deployment (kept for the diff and
//! for a rollback), checks that the namespace and the named deployment target or session
//! cluster exist, and computes the diff. `apply` writes, then waits until the platform reports
//! the desired state, watches a RUNNING job settle, and rolls back on request.

pub mod actions;
pub mod client;
pub mod config;
pub mod custom_resource;
pub mod deploy;
pub mod diff;
pub mod judge;
pub mod probe;
pub mod rollback;
pub mod spec;

use crate::health::{self, Signal};
use serde_json::{json, Value};

use self::client::{Client, Written};
pub use self::config::{DeploymentRef, Restart, SyncingMode, VvpConfig};
use self::judge::Observation;
use self::probe::WaitEnd;
use super::{Context, CredentialNeed, Needs, Plan, Registration, Target};
use crate::azure::blob::JarUriScheme;
use crate::config::Action;
use crate::error::{Error, Result};
use crate::http::display_url;
use crate::pipeline::inputs as i;
use crate::report::Recorder;
use crate::wait;

/// What the platform tells about a started job's health (`crate::health`).
const HEALTH: crate::health::Support = crate::health::Support {
    restarts: Signal::Counted("`status.started.observedFlinkJobRestarts` of the Job resource"),
    checkpoints: Signal::Unseen("Ververica Platform's API (AppManager 2.x) has no checkpoint statistics; only its Flink UI shows them"),
};

pub const REGISTRATION: Registration =
    Registration::of::<VvpConfig>("ververica", &Action::ALL, HEALTH);

/// The target with its configuration.
pub type Ververica = super::Configured<VvpConfig>;

/// What the target's code reads while it plans and applies.
pub type Cfg<'a> = super::Settings<'a, VvpConfig>;

impl<'a> Cfg<'a> {
    /// The client for the platform (the configuration holds a URL for every action that calls
    /// it), with the token the run resolved.
    pub fn client<'c>(
        &self,
        http: &'c crate::http::Http,
        creds: &'c crate::targets::Credentials,
        cluster: Option<&'c crate::kube::Cluster>,
    ) -> Result<Client<'c>>
    where
        'a: 'c,
    {
        if let Some(svc) = &self.own.via {
            let cluster = cluster.ok_or_else(|| {
                Error::platform(format!(
                    "{} is named, but the run has not signed in to its cluster",
                    svc.describe()
                ))
            })?;
            return Ok(Client::through(cluster, svc, &self.own.namespace));
        }
        let url = self.own.url.as_deref().ok_or_else(|| {
            Error::input(
                i::VVP_URL,
                format!("is required for action `{}`", self.action.as_str()),
            )
        })?;
        Ok(Client::new(
            http,
            url,
            &self.own.namespace,
            creds.get(TOKEN),
            self.own.cred_input,
        ))
    }
}

/// One deployment being worked on: the settings, the platform's client and the address.
#[derive(Clone, Copy)]
pub struct On<'a> {
    pub cfg: Cfg<'a>,
    pub client: &'a Client<'a>,
    pub addr: &'a DeploymentRef,
}

/// The key of the API token among the run's credentials.
const TOKEN: &str = "vvp-token";

#[async_trait::async_trait(?Send)]
impl Target for Ververica {
    fn needs(&self) -> Needs {
        Needs {
            // Universal Blob Storage reads `wasbs://`, in its own layout.
            jar_scheme: JarUriScheme::Wasbs,
            jar_md5_in_plan: true,
            blob_prefix: format!("artifacts/namespaces/{}", self.cfg.namespace),
            credentials: vec![CredentialNeed {
                key: TOKEN,
                source: self.cfg.token.clone(),
                vault_input: i::VVP_API_TOKEN_SECRET,
                bearer: true,
            }],
            rollback: crate::rollback::Rules::ALWAYS,
        }
    }

    fn cluster(&self) -> Option<&crate::kube::ClusterConfig> {
        self.cfg.cluster.as_ref()
    }

    async fn plan(&self, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
        match cx.run.action {
            Action::Deploy | Action::Validate => deploy::plan(self, cx).await,
            Action::RenderCustomResource => custom_resource::plan(self, cx).await,
            _ => actions::plan(self, cx).await,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A spec file as read, before anything is substituted: its tree and its name.
pub struct SpecFile {
    pub doc: crate::spec::Node,
    pub file: String,
}

/// Which part of the spec file a run reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Whole,
    /// A lifecycle action needs only the deployment's name: placeholders elsewhere (a JARURI
    /// with no jar) do not matter.
    Metadata,
}

/// Read the spec file, if any: substitute placeholders, check the namespace it names, and type
/// its values as the platform takes them. Reading a file changes nothing, so this belongs to
/// the plan.
fn read_spec_file(
    cfg: Cfg<'_>,
    jar_uri: Option<&str>,
    part: Part,
) -> Result<Option<(Value, spec::Places)>> {
    let Some(SpecFile { mut doc, file }) = parse_spec_file(cfg)? else {
        return Ok(None);
    };
    if let crate::spec::NodeKind::Map(entries) = &mut doc.kind {
        // Top-level `x-` keys hold anchors for the rest of the file (Compose's extension
        // fields); the aliases are already expanded, and the keys are no part of a Deployment.
        entries.retain(|e| !e.key.starts_with("x-"));
        if part == Part::Metadata {
            entries.retain(|e| e.key == "metadata");
        }
    }
    let variable = |n: &str| cfg.vars.public(n).map(str::to_owned);
    let is_secret = |n: &str| cfg.vars.is_secret(n);
    let subs = spec::Substitutions {
        deployment_target_id: cfg.own.deployment_target_id.as_deref(),
        jar_uri,
        variable: &variable,
        is_secret: &is_secret,
    };
    let origin = crate::spec::Origin {
        input: i::SPEC_FILE,
        file: &file,
    };
    spec::substitute(&mut doc, &subs, &origin)?;
    spec::check_namespace(&doc, &cfg.own.namespace, &origin)?;
    let places = spec::Places::of(&doc, &file);
    let types = spec::file_types(cfg.action == Action::RenderCustomResource);
    Ok(Some((spec::to_json(doc, &types, &origin)?, places)))
}

/// The spec file, substituted and typed, and where its checked fields were written.
pub fn load_spec_file(
    cfg: Cfg<'_>,
    jar_uri: Option<&str>,
) -> Result<Option<(Value, spec::Places)>> {
    read_spec_file(cfg, jar_uri, Part::Whole)
}

/// The spec file's `metadata` alone, substituted and typed.
pub fn spec_file_metadata(cfg: Cfg<'_>) -> Result<Option<Value>> {
    Ok(read_spec_file(cfg, None, Part::Metadata)?.and_then(|(v, _)| v.get("metadata").cloned()))
}

/// A Deployment spec is a few KiB; anything near this is not one.
const SPEC_FILE_LIMIT: u64 = 1024 * 1024;

/// Read and parse the spec file (before any substitution), if one is given.
fn parse_spec_file(cfg: Cfg<'_>) -> Result<Option<SpecFile>> {
    let Some(path) = &cfg.job.spec_file else {
        return Ok(None);
    };
    let bytes = crate::fsread::read_regular(path, SPEC_FILE_LIMIT).map_err(|e| {
        Error::input(i::SPEC_FILE, format!("`{}` {e}", path.display()))
            .with_hint("check the path; relative paths start at System.DefaultWorkingDirectory")
    })?;
    let file = path.display().to_string();
    let origin = crate::spec::Origin {
        input: i::SPEC_FILE,
        file: &file,
    };
    let text = crate::spec::decode(&bytes, &origin)?;
    drop(bytes);
    let doc = spec::read(&text, &origin)?;
    Ok(Some(SpecFile { doc, file }))
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
    notes: &mut Vec<String>,
) -> Option<String> {
    const JAR: &str = "/spec/template/spec/artifact/jarUri";
    let (Some(bare), Some(md5), true) = (
        artifact.jar_uri.as_deref(),
        artifact.content_md5.as_deref(),
        artifact.to_blob,
    ) else {
        return None;
    };
    let deployed = current.and_then(|c| c.pointer(JAR)).and_then(Value::as_str);
    if artifact.blob_unchanged && deployed == Some(bare) {
        let named = spec::with_query(bare, "md5", md5);
        if let Some(v) = desired.pointer_mut(JAR) {
            if v.as_str() == Some(named.as_str()) {
                *v = json!(bare);
                notes.push(format!(
                    "the deployment already runs this jar as {}: its jarUri is kept",
                    display_url(bare)
                ));
            }
        }
    }
    let base = |u: &str| u.split('?').next().unwrap_or_default().to_owned();
    if artifact.blob_replaced && deployed.map(base) == Some(base(bare)) {
        return Some(format!(
            "this run overwrites {}, the jar the deployment runs now, so a rollback would start the new jar again; give each build's jar its own name (e.g. a version in the file name) to keep rollback possible",
            display_url(&base(bare))
        ));
    }
    None
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
fn render_desired(cfg: Cfg<'_>, jar_uri: Option<&str>) -> Result<(Value, Option<Value>)> {
    let (file, places, init) = match load_spec_file(cfg, jar_uri)? {
        Some((f, places)) => {
            let (f, init) = prepare_file_spec(f);
            (Some(f), Some(places), init)
        }
        None => (None, None, None),
    };
    let desired = spec::render(cfg, file, places.as_ref(), jar_uri)?;
    Ok((desired, init))
}

/// How the deployment is addressed: `deploymentId` wins (seed 000), then the name.
fn address(cfg: Cfg<'_>, desired: &Value) -> DeploymentRef {
    if let Some(id) = &cfg.own.deployment_id {
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
fn address_input(cfg: Cfg<'_>, addr: &DeploymentRef) -> &'static str {
    match addr {
        DeploymentRef::Id(_) if cfg.own.deployment_id.is_some() => i::DEPLOYMENT_ID,
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

/// A write that did not do what it meant.
#[derive(Debug)]
pub enum WriteError {
    /// Refused or unanswered: the platform's answer says what happened.
    Refused(Error),
    /// Accepted, but the deployment read back holds something else than was written.
    StoredOtherwise(Error),
}

impl From<WriteError> for Error {
    fn from(w: WriteError) -> Error {
        match w {
            WriteError::Refused(e) | WriteError::StoredOtherwise(e) => e,
        }
    }
}

impl From<Error> for WriteError {
    fn from(e: Error) -> WriteError {
        WriteError::Refused(e)
    }
}

/// Write the deployment: create it when missing, else PATCH or PUT. On 409 re-read once and
/// try again (a concurrent create turns the POST into an update). Then read the deployment back
/// and check that the platform stored what was written (see [`judge::unmet`]); `removed` lists
/// fields (JSON pointers) the write must have taken away. Returns the deployment as read back.
async fn write(
    on: On<'_>,
    rec: &mut Recorder,
    mut exists: bool,
    mode: SyncingMode,
    body: &Value,
    removed: &[String],
) -> std::result::Result<Value, WriteError> {
    let On { cfg, client, addr } = on;
    let mut tried_again = false;
    let verb = loop {
        let (verb, w) = match (exists, mode) {
            (false, SyncingMode::Patch) => ("POST", client.create_deployment(body, addr).await?),
            (_, SyncingMode::Put) => ("PUT", client.put_deployment(addr, body).await?),
            (true, SyncingMode::Patch) => ("PATCH", client.patch_deployment(addr, body).await?),
        };
        match w {
            Written::Done(_) => {
                rec.log(&format!("{verb} accepted"));
                break verb;
            }
            Written::Conflict(e) if !tried_again => {
                tried_again = true;
                rec.log(&format!(
                    "{verb} answered 409 ({}); reading the deployment again and retrying once",
                    e.message
                ));
                exists = client.get_deployment(addr).await?.is_some();
            }
            Written::Conflict(e) => return Err(e.into()),
        }
    };
    // The answer may be the request echoed or computed; what counts is what a read returns. The
    // write was taken, so a read that fails is tried again, as in any wait.
    let w = wait::Wait::new("the deployment as written", cfg.timeout, probe::PACE);
    let mut read = probe::DeploymentProbe { client, addr };
    let missing = format!(
        "deployment {addr} in namespace `{}` is missing right after {verb}",
        client.ns
    );
    let stored = match wait::until(rec, &w, &mut read, |r, _| match r.0 {
        Some(_) => wait::Verdict::Done,
        None => wait::Verdict::Failed(missing.clone()),
    })
    .await?
    {
        wait::End::Reached(probe::Read(Some((d, _)))) => d,
        wait::End::Reached(_) | wait::End::Failed { .. } => {
            return Err(Error::platform(missing).into())
        }
        wait::End::TimedOut { .. } => {
            return Err(Error::timeout(format!(
            "deployment {addr} in namespace `{}` could not be read back within {}s after {verb}",
            client.ns,
            cfg.timeout.as_secs()
        ))
            .into())
        }
    };
    let merge = verb == "PATCH";
    let differs = judge::unmet(body, merge, removed, &stored);
    let Some(first) = differs.first() else {
        rec.log("read back: Ververica Platform stored what was written");
        return Ok(stored);
    };
    for d in &differs {
        rec.error_line(&format!("read back: {d}"));
    }
    Err(WriteError::StoredOtherwise(
        Error::platform(format!(
            "deployment {addr} in namespace `{}` does not hold what the {verb} wrote: {first}",
            client.ns
        ))
        .with_details(differs.iter().map(|d| format!("read back: {d}")))
        .with_hint(if merge && judge::has_null(body) {
            "Ververica Platform kept something else than the merge patch asked for; a `null` in a spec file relies on the platform deleting that field, which its API description does not promise: leave the field out, or use syncingMode PUT to replace the whole deployment"
        } else {
            "Ververica Platform kept something else than was written; compare the deployment in its web UI with the rendered spec above"
        }),
    ))
}

/// The platform's own account of a failure: the events since our change and the job's failure,
/// and the one line that says why.
#[derive(Default)]
struct Account {
    lines: Vec<judge::Line>,
    cause: Option<String>,
}

impl Account {
    fn note(text: String) -> Self {
        Account {
            lines: vec![judge::Line {
                text,
                explains: false,
            }],
            cause: None,
        }
    }

    /// Show the account in the step: what explains the failure as errors, ordinary events as
    /// log lines. Returns every line, for the error's details.
    fn report(self, rec: &mut Recorder) -> (Vec<String>, Option<String>) {
        if !self.lines.is_empty() {
            rec.log("Ververica Platform's account (events since the change, the job's failure):");
        }
        let mut all = Vec::with_capacity(self.lines.len());
        for l in self.lines {
            if l.explains {
                rec.error_line(&l.text);
            } else {
                rec.log(&l.text);
            }
            all.push(l.text);
        }
        (all, self.cause)
    }
}

/// `message`, with the root cause after it when the platform gave one.
fn with_cause(message: String, cause: Option<&str>) -> String {
    match cause {
        Some(c) => format!("{message}: {c}"),
        None => message,
    }
}

/// The platform's own account of a failure: events since our change and the job's failure.
async fn explain(client: &Client<'_>, deployment_id: Option<&str>, since: Option<&str>) -> Account {
    let Some(id) = deployment_id else {
        return Account::default();
    };
    // The run has already failed; its account must not take long.
    let limit = std::time::Duration::from_secs(10);
    match tokio::time::timeout(limit, explain_now(client, id, since)).await {
        Ok(account) => account,
        Err(_) => Account::note(format!(
            "the deployment's events and jobs could not be read within {}s",
            limit.as_secs()
        )),
    }
}

async fn explain_now(client: &Client<'_>, id: &str, since: Option<&str>) -> Account {
    let note = |text: String| judge::Line {
        text,
        explains: false,
    };
    let events = client.events(id).await;
    let jobs = client.jobs(id).await;
    let mut lines = match &events {
        Ok(ev) => judge::failure_events(ev, since, 20),
        Err(e) => vec![note(format!(
            "the deployment's events could not be read: {}",
            e.message
        ))],
    };
    match &jobs {
        Ok(j) => lines.extend(judge::job_failure(j, since)),
        Err(e) => lines.push(note(format!(
            "the deployment's jobs could not be read: {}",
            e.message
        ))),
    }
    let none = Value::Null;
    let cause = judge::root_cause(
        events.as_ref().unwrap_or(&none),
        jobs.as_ref().unwrap_or(&none),
        since,
    );
    Account { lines, cause }
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
    expect: judge::Expect,
    deployment_id: Option<String>,
    since: Option<String>,
}

/// Wait for the target state; the error carries the events and the job's failure.
async fn wait_state(
    cfg: Cfg<'_>,
    client: &Client<'_>,
    rec: &mut Recorder,
    w: WaitFor<'_>,
) -> Result<(Value, Observation)> {
    let ns = &client.ns;
    let addr = w.addr;
    match probe::until(client, rec, addr, w.expect, cfg.timeout).await? {
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
            if let Some(o) = &obs {
                rec.output("state", &o.state);
            }
            let (details, cause) = explain(
                client,
                deployment
                    .as_ref()
                    .and_then(deployment_id)
                    .or(w.deployment_id.as_deref()),
                w.since.as_deref(),
            )
            .await
            .report(rec);
            let state = match &obs {
                Some(o) if !why.contains(&o.state) => format!(" (state {})", o.describe()),
                _ => String::new(),
            };
            Err(Error::deployment(with_cause(
                format!(
                    "deployment {addr} in namespace `{ns}` did not reach {}: {why}{state}",
                    w.target
                ),
                cause.as_deref(),
            ))
            .with_details(details)
            .with_hint("the events above are Ververica Platform's account; the job's logs are on the deployment's page"))
        }
        WaitEnd::TimedOut { last } => {
            if let Some(o) = &last {
                rec.output("state", &o.state);
            }
            let (details, cause) = explain(client, w.deployment_id.as_deref(), w.since.as_deref())
                .await
                .report(rec);
            Err(Error::timeout(with_cause(
                format!(
                    "deployment {addr} in namespace `{ns}` did not reach {} within {}s; last state: {}",
                    w.target,
                    cfg.timeout.as_secs(),
                    last.map(|o| o.describe())
                        .unwrap_or_else(|| "unknown (never read)".into())
                ),
                cause.as_deref(),
            ))
            .with_details(details)
            .with_hint(format!(
                "raise {} if the platform is only slow",
                i::TIMEOUT_SECONDS
            )))
        }
    }
}

/// After RUNNING: watch `settleSeconds`; a fall to FAILED, or more restarts than
/// `healthMaxRestarts` (the health gate, counted from the start of a job the change started,
/// else from the first reading), is a failure.
async fn settle_running(
    on: On<'_>,
    rec: &mut Recorder,
    obs: &Observation,
    deployment_id: Option<&str>,
    since: Option<&str>,
    ran_before: Option<&str>,
) -> Result<Value> {
    let On { cfg, client, addr } = on;
    let watch = health::Watch::new(cfg.health, judge::health_since(ran_before, obs));
    let job = obs.job_id.as_deref();
    match probe::settle(client, rec, addr, job, cfg.settle, watch).await? {
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
            let (details, cause) = explain(client, deployment_id, since).await.report(rec);
            Err(Error::deployment(with_cause(
                format!(
                    "deployment {addr} in namespace `{}` reached RUNNING but did not stay up for {}s ({}): {why}",
                    client.ns,
                    cfg.settle.as_secs(),
                    i::SETTLE_SECONDS
                ),
                cause.as_deref(),
            ))
            .with_details(details)
            .with_hint(settle_hint(&why, job)))
        }
    }
}

/// What to do about a job that did not stay up: for restarts, where the reason is.
fn settle_hint(why: &str, job: Option<&str>) -> String {
    if !why.starts_with("the job restarted") {
        return "the deployment's events and the job's Flink logs say why".into();
    }
    format!(
        "Ververica Platform counts the restarts (`status.started.observedFlinkJobRestarts` of job {}) but does not say why: the job's Flink UI (exceptions) and logs do; raise {} if restarts right after a start are expected",
        job.unwrap_or("?"),
        i::HEALTH_MAX_RESTARTS
    )
}

fn facts(rec: &mut Recorder, client: &Client<'_>, addr: &DeploymentRef, d: Option<&Value>) {
    rec.fact("Deployment", &addr.to_string());
    rec.fact("Namespace", &client.ns);
    if let Some(link) = d.and_then(deployment_id).and_then(|id| client.ui_link(id)) {
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

/// The steps `reach <STATE>` and `stay RUNNING`.
#[allow(clippy::too_many_arguments)]
async fn reach(
    on: On<'_>,
    rec: &mut Recorder,
    target: &str,
    expect: judge::Expect,
    written: &Value,
) -> Result<Observation> {
    let On { cfg, client, addr } = on;
    let since = change_time(written);
    let id = deployment_id(written).map(str::to_owned);
    let ran_before = expect.ran_before.clone();
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
            on,
            rec,
            &obs,
            id.as_deref(),
            since.as_deref(),
            ran_before.as_deref(),
        )
        .await;
        rec.end(r)?;
    }
    Ok(obs)
}

fn facts_link(rec: &mut Recorder, client: &Client<'_>, d: &Value) {
    if let Some(link) = deployment_id(d).and_then(|id| client.ui_link(id)) {
        rec.fact(
            "Ververica Platform",
            &format!("[open the deployment]({link})"),
        );
    }
}

/// An unknown namespace is bad input; say so before anything else is looked at, when the
/// platform says so. Many installations route only `/api` through their ingress, and a token
/// may not read the namespaces API: then the Application Manager's answers tell.
async fn check_namespace(client: &Client<'_>) -> Result<()> {
    client.check_namespace().await
}

/// The deployment target or session cluster the spec names must exist.
async fn check_references(cfg: Cfg<'_>, client: &Client<'_>, desired: &Value) -> Result<()> {
    let from_input = |input: &'static str, given: bool| if given { input } else { i::SPEC_FILE };
    // A name from the spec file goes into a URL path like one from an input.
    for field in ["deploymentTargetName", "sessionClusterName"] {
        if let Some(n) = spec::get_str(desired, &["spec", field]) {
            if !crate::config::checks::valid_resource_name(n) {
                return Err(Error::input(
                    i::SPEC_FILE,
                    format!(
                        "spec.{field} `{}` is not a Ververica Platform resource name",
                        crate::config::checks::shorten(n)
                    ),
                )
                .with_hint("lower-case letters, digits and hyphens, at most 63 characters"));
            }
        }
    }
    let missing = |input: &'static str, what: String| {
        Error::input(
            input,
            format!("{what} does not exist in namespace `{}`", client.ns),
        )
        .with_hint("check the name under Deployment Targets (or Session Clusters) in the Ververica Platform web UI")
    };
    // The references the spec makes, in the order the platform resolves them; a target id is
    // looked at only without a target name. The first one the platform does not know is named.
    let own = &cfg.own;
    let field = |f: &str| spec::get_str(desired, &["spec", f]);
    let by_id = field("deploymentTargetId").filter(|_| field("deploymentTargetName").is_none());
    let refs = [
        (i::DEPLOYMENT_TARGET_NAME, field("deploymentTargetName")),
        (i::DEPLOYMENT_TARGET_ID, by_id),
        (i::SESSION_CLUSTER_NAME, field("sessionClusterName")),
    ];
    for (input, value) in refs {
        let Some(v) = value else { continue };
        let (found, given, what) = match input {
            i::DEPLOYMENT_TARGET_NAME => (
                client.deployment_target_by_name(v).await?.is_some(),
                own.deployment_target_name.is_some(),
                format!("deployment target `{v}`"),
            ),
            i::DEPLOYMENT_TARGET_ID => (
                client.deployment_target_by_id(v).await?.is_some(),
                own.deployment_target_id.is_some(),
                format!("deployment target with id `{v}`"),
            ),
            _ => (
                client.session_cluster(v).await?.is_some(),
                own.session_cluster_name.is_some(),
                format!("session cluster `{v}`"),
            ),
        };
        if !found {
            check_namespace(client).await?;
            return Err(missing(from_input(input, given), what));
        }
    }
    Ok(())
}

fn cr_inputs<'a>(cfg: Cfg<'a>, init_fields: Option<&'a Value>) -> custom_resource::Inputs<'a> {
    custom_resource::Inputs {
        syncing_mode: cfg.own.syncing_mode,
        apikey_secret_name: cfg.own.apikey_secret_name.as_deref(),
        initial_savepoint: cfg
            .job
            .savepoint_location
            .as_deref()
            .or(cfg.job.initial_savepoint_path.as_deref()),
        init_fields,
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

/// A RUNNING deployment as Ververica Platform returns it (tests/fixtures).
#[cfg(test)]
pub(crate) fn running_fixture() -> Value {
    serde_json::from_str(include_str!(
        "../../../tests/fixtures/vvp/deployment-running.json"
    ))
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> Value {
        running_fixture()
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
