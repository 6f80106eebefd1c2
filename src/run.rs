//! Executes a validated configuration: plan everything first (read-only), then apply. Each
//! step is recorded for the log, the JUnit file and the summary.
//!
//! Around the target, the run itself resolves the credentials the target declared (reading Key
//! Vault is part of the plan: reading a secret changes nothing), exports Key Vault secrets as
//! secret variables and uploads the jar to Blob Storage (apply, before the target's own apply,
//! which needs the jar in place).

use crate::azure::auth::AzureTokens;
use crate::azure::blob::{self, BlobAuth, UploadPlan};
use crate::azure::keyvault::{self, VaultRead};
use crate::azure::transport::AzureTransport;
use crate::cancel::Signals;
use crate::config::{Action, Artifact, Config, TokenSource};
use crate::error::{Error, Result};
use crate::http::Http;
use crate::pipeline::inputs as i;
use crate::pipeline::vso::Vso;
use crate::report::{Exit, Recorder};
use crate::targets::{ArtifactPlan, Context, CredentialNeed, Credentials, Needs, Plan};

use std::time::{Duration, Instant};

/// A request cut by the plan's deadline reports itself; this backstop comes just after.
const PLAN_GRACE: Duration = Duration::from_millis(1500);

/// The run's limits, stated once (README, docs/architecture.md):
/// - the plan (sign-in, Key Vault, reading the platform, before any change) ends within
///   `timeoutSeconds` of the start;
/// - after it, one request with its retries takes at most `timeoutSeconds` (uploads and calls
///   that run the job's `main` have their own per-attempt limit), each wait for a state at most
///   `timeoutSeconds`, each settle window `settleSeconds`;
/// - the whole run ends within [`budget`], whatever happens; a set of deployments gets the
///   part after the plan once for each round of `maxParallel` deployments ([`set_budget`]).
pub struct Limits {
    pub plan: Duration,
    pub budget: Duration,
    pub words: String,
}

impl Limits {
    pub fn of(run: &crate::config::RunSettings) -> Limits {
        Limits {
            plan: run.timeout,
            budget: budget(run),
            words: budget_words(run),
        }
    }

    /// The limits of `cfg`'s run: one deployment's, or a set's.
    pub fn for_config(cfg: &Config) -> Limits {
        let Some(set) = &cfg.set else {
            return Limits::of(&cfg.run);
        };
        let rounds = set.policy.waves(set.members.len());
        let budget = set_budget(&cfg.run, rounds);
        Limits {
            plan: cfg.run.timeout,
            budget,
            words: format!(
                "its budget of {}s (timeoutSeconds for the plan, then {} × timeoutSeconds + 2 × settleSeconds for each of {rounds} round(s) of maxParallel deployments and once more for putting them back)",
                budget.as_secs(),
                BUDGET_TIMEOUTS - 1
            ),
        }
    }
}

/// A set's budget: the plan once, then the rest of one deployment's budget for each round of
/// `maxParallel` deployments, and one more for putting them back (`rollbackScope: all`).
pub fn set_budget(run: &crate::config::RunSettings, rounds: u32) -> Duration {
    let per_round = budget(run).saturating_sub(run.timeout);
    run.timeout
        .saturating_add(per_round.saturating_mul(rounds.saturating_add(1)))
}

/// The whole run: the plan, the change (writes and upload), a savepoint or stop, reaching the
/// state, and a rollback's stop and start each get `timeoutSeconds`; the change and the
/// rollback each settle for `settleSeconds`.
pub fn budget(run: &crate::config::RunSettings) -> Duration {
    run.timeout
        .saturating_mul(BUDGET_TIMEOUTS)
        .saturating_add(run.settle.saturating_mul(2))
}

const BUDGET_TIMEOUTS: u32 = 6;

fn budget_words(run: &crate::config::RunSettings) -> String {
    format!(
        "its budget of {}s ({BUDGET_TIMEOUTS} × timeoutSeconds + 2 × settleSeconds)",
        budget(run).as_secs()
    )
}

pub async fn run(cfg: Config, vso: Vso) -> Exit {
    let title = format!("flink-deploy {} {}", cfg.target_name, cfg.action().as_str());
    let mut rec = Recorder::new(vso, &format!("flink-deploy.{}", cfg.target_name), &title);
    rec.fact("Target", cfg.target_name);
    rec.fact("Action", cfg.action().as_str());
    // Caught before the first request, so no stop request goes unanswered.
    let mut signals = Signals::listen()
        .inspect_err(|e| rec.debug(&format!("cannot catch stop signals: {e}")))
        .ok();
    let limits = Limits::for_config(&cfg);
    let outcome = {
        let work = execute(&cfg, &mut rec, &limits);
        // Whatever a step does, the run ends within its budget.
        let out_of_time = tokio::time::sleep(limits.budget);
        match signals.as_mut() {
            // The signal is polled first: once it has come, the work is never polled again, so
            // no request starts after it. Dropping the work aborts the request in flight and
            // skips any rollback; someone who cancels wants the task to stop.
            Some(s) => tokio::select! {
                biased;
                signal = s.recv() => Stop::Signal(signal),
                () = out_of_time => Stop::OutOfTime,
                r = work => Stop::Done(r),
            },
            None => tokio::select! {
                () = out_of_time => Stop::OutOfTime,
                r = work => Stop::Done(r),
            },
        }
    };
    let result = match outcome {
        Stop::Done(r) => r,
        Stop::Signal(signal) => {
            if let Some(s) = signals {
                s.exit_on_next(Exit::Canceled.status());
            }
            Err(rec.cancelled(signal))
        }
        Stop::OutOfTime => Err(rec.out_of_time(&limits.words)),
    };
    rec.finish(result, &cfg.reports)
}

/// How the run's work ended.
enum Stop {
    Done(Result<()>),
    Signal(&'static str),
    OutOfTime,
}

/// What the run does around the target, decided before anything changes.
struct RunPlan {
    vault: Option<VaultRead>,
    upload: Option<UploadPlan>,
    lines: Vec<String>,
    target: Targets,
}

/// One deployment's plan, or a set's (`specFile` naming several files).
enum Targets {
    One(Box<dyn Plan>),
    Set(crate::set::SetPlan),
}

impl RunPlan {
    fn describe(&self) -> Vec<String> {
        let mut lines = self.lines.clone();
        lines.extend(match &self.target {
            Targets::One(p) => p.describe(),
            Targets::Set(s) => s.describe(),
        });
        lines
    }
}

/// The parts of the run that plan and apply share (every deployment of a set shares them:
/// one HTTP client, one sign-in, one upload).
pub struct Env<'a> {
    cfg: &'a Config,
    needs: Needs,
    http: Http,
    azure: Option<std::sync::Arc<AzureTokens>>,
    creds: Credentials,
    artifact: ArtifactPlan,
    cluster: Option<crate::kube::Cluster>,
}

impl<'a> Env<'a> {
    pub fn context<'b>(&'b self, rec: &'b mut Recorder) -> Context<'b> {
        Context {
            run: &self.cfg.run,
            vars: &self.cfg.vars,
            rec,
            http: &self.http,
            creds: &self.creds,
            artifact: &self.artifact,
            azure: self.azure.as_deref(),
            cluster: self.cluster.as_ref(),
        }
    }
}

async fn execute(cfg: &Config, rec: &mut Recorder, limits: &Limits) -> Result<()> {
    let started = Instant::now();
    let http = Http::new(&cfg.http)?.with_call_limit(cfg.run.timeout);
    let plan_limit = format!(
        "the plan's limit (timeoutSeconds: {}s)",
        limits.plan.as_secs()
    );
    http.deadline()
        .set(started + limits.plan, plan_limit.clone());
    for note in &cfg.http.proxy_notes {
        rec.warn(note);
    }
    let mut env = Env {
        cfg,
        needs: cfg.target.needs(),
        http,
        azure: cfg
            .azure
            .as_ref()
            .map(|c| std::sync::Arc::new(AzureTokens::new(c).with_run_timeout(cfg.run.timeout))),
        creds: Credentials::default(),
        artifact: ArtifactPlan::default(),
        cluster: None,
    };

    rec.begin("plan");
    // Every request of the plan keeps the deadline and says which request ran out of time;
    // this bound holds for whatever else the plan waits on (an SDK's retry pause).
    let r = match tokio::time::timeout(
        (started + limits.plan + PLAN_GRACE).saturating_duration_since(Instant::now()),
        plan(&mut env, rec),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(
            Error::timeout(format!("the plan did not finish within {plan_limit}")).with_hint(
                format!(
                    "check that the platform answers; raise {} if it is only slow",
                    i::TIMEOUT_SECONDS
                ),
            ),
        ),
    };
    let plan = rec.end(r)?;
    env.http.deadline().set(
        started + limits.budget,
        format!("the run's {}", limits.words),
    );
    rec.plan(&plan.describe());

    if cfg.action() == Action::Validate {
        if let Targets::Set(s) = plan.target {
            s.validated(rec);
        }
        rec.log("validate: nothing was changed");
        return Ok(());
    }
    if !cfg.action().is_read_only() || plan.upload.is_some() {
        rec.applying();
    }
    apply_run(&env, rec, plan.vault.as_ref(), plan.upload.as_ref()).await?;
    match (plan.target, &cfg.set) {
        (Targets::Set(s), Some(set)) => {
            rec.begin(&format!("deploy {} spec files", set.members.len()));
            let r = crate::set::apply(s, set.policy, &env, rec).await;
            rec.end(r)
        }
        (Targets::One(p), _) => p.apply(&mut env.context(rec)).await,
        (Targets::Set(_), None) => unreachable!("a set is planned only from a set"),
    }
}

async fn plan(env: &mut Env<'_>, rec: &mut Recorder) -> Result<RunPlan> {
    let cfg = env.cfg;
    let mut lines = vec![];
    let vault = resolve_credentials(env, rec, &mut lines).await?;
    if let Some(c) = cfg.target.cluster() {
        // Signing in reads credentials and changes nothing: it belongs to the plan.
        let cluster = crate::kube::connect(c, &env.http, env.azure.as_ref(), rec.masker()).await?;
        lines.push(format!(
            "Kubernetes: {} ({}), namespace `{}`",
            cluster.describe,
            crate::http::display_url(&cluster.server),
            cluster.namespace
        ));
        env.cluster = Some(cluster);
    }
    let mut upload = None;
    match &cfg.artifact {
        Artifact::None => {
            if cfg.blob.is_some() {
                lines.push(
                    "storageAccount is set but artifactPath is empty: nothing to upload".into(),
                );
            }
        }
        Artifact::Uri(u) => {
            env.artifact.jar_uri = Some(u.clone());
            lines.push(format!("use jar {}", crate::http::display_url(u)));
        }
        Artifact::Local(pattern) => {
            let path = crate::artifact::resolve(pattern, &cfg.vars.working_dir)?;
            match &cfg.blob {
                Some(_) => {
                    let up = plan_upload(env, rec, &path).await?;
                    lines.push(format!("artifact {}", up.describe()));
                    let a = &mut env.artifact;
                    a.jar_uri = Some(up.jar_uri.clone());
                    a.to_blob = true;
                    a.content_md5 = up.md5.map(|m| blob::hex(&m));
                    a.blob_unchanged = matches!(up.existing, blob::Existing::Same);
                    a.blob_replaced = matches!(up.existing, blob::Existing::Different);
                    upload = Some(up);
                }
                None => {
                    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    lines.push(format!("artifact {} ({size} bytes)", path.display()));
                }
            }
            env.artifact.local = Some(path);
        }
    }
    let target = match &cfg.set {
        Some(set) => Targets::Set(crate::set::plan(set, env, rec).await?),
        None => Targets::One(cfg.target.plan(&mut env.context(rec)).await?),
    };
    Ok(RunPlan {
        vault,
        upload,
        lines,
        target,
    })
}

/// A credential read from Key Vault that is sent as a bearer token: a token stored from a file
/// (`az keyvault secret set --file`) often ends with a line break; no token has surrounding
/// white space.
fn vault_token(need: &CredentialNeed, name: &str, vault: &str, value: &str) -> Result<String> {
    let trimmed = value.trim();
    if let Some(why) = crate::config::checks::token_problem(trimmed) {
        return Err(Error::input(
            need.vault_input,
            format!("Key Vault secret `{name}` in vault `{vault}` {why}"),
        )
        .with_hint("store the token itself in the secret, without quotes or line breaks"));
    }
    Ok(trimmed.to_owned())
}

/// Credentials given as values are used as they are; Key Vault secrets are read here, as part of
/// the plan, because reading a secret changes nothing. Values are masked the moment they arrive.
async fn resolve_credentials(
    env: &mut Env<'_>,
    rec: &mut Recorder,
    lines: &mut Vec<String>,
) -> Result<Option<VaultRead>> {
    let cfg = env.cfg;
    let mut from_vault: Vec<(String, &CredentialNeed)> = vec![];
    for need in &env.needs.credentials {
        match &need.source {
            TokenSource::Value(s) => env.creds.set(need.key, s.clone()),
            TokenSource::KeyVault(name) => from_vault.push((name.clone(), need)),
            TokenSource::None => {}
        }
    }
    let Some(kv) = &cfg.key_vault else {
        return Ok(None);
    };
    if matches!(kv.filter, crate::config::SecretsFilter::None) && from_vault.is_empty() {
        lines.push(format!(
            "Key Vault `{}`: nothing to read (secretsFilter is empty)",
            kv.name
        ));
        return Ok(None);
    }
    let tokens = env.azure.as_ref().ok_or_else(|| {
        Error::input(
            i::AZURE_SUBSCRIPTION,
            "is required to read Key Vault secrets",
        )
    })?;
    let conn = tokens.connection();
    // Sign in first: a failed sign-in then reads as one, with its own fix.
    let scope = format!(
        "https://{}/.default",
        conn.cloud.key_vault_suffix.trim_matches(['.', '/'])
    );
    tokens.token(&env.http, &scope).await?;
    let task_secrets: Vec<(String, &'static str)> = from_vault
        .iter()
        .map(|(n, need)| (n.clone(), need.vault_input))
        .collect();
    let req = keyvault::ReadRequest {
        cfg: kv,
        suffix: &conn.cloud.key_vault_suffix,
        connection: &conn.id,
        task_secrets: task_secrets.clone(),
    };
    // One slow answer may not hold the run longer than its own timeout allows.
    let transport = AzureTransport::new(&env.http)?.with_timeout(tokens.request_timeout());
    let read = keyvault::read(
        &req,
        tokens.credential(&env.http)?,
        &transport,
        &rec.masker(),
    )
    .await?;
    for w in &read.warnings {
        rec.warn(w);
    }
    for (name, need) in &from_vault {
        let value = read
            .for_task
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone());
        if let Some(v) = value {
            let v = if need.bearer {
                crate::secret::Secret::new(vault_token(need, name, &read.vault, v.expose())?)
            } else {
                v
            };
            env.creds.set(need.key, v);
        }
    }
    lines.push(vault_line(cfg, kv, &read, &task_secrets));
    Ok(Some(read))
}

/// The plan line for what was read from Key Vault and what happens to it.
fn vault_line(
    cfg: &Config,
    kv: &crate::config::KeyVaultConfig,
    read: &VaultRead,
    task_secrets: &[(String, &'static str)],
) -> String {
    let exported: Vec<&str> = read.for_export.iter().map(|s| s.name.as_str()).collect();
    let count = read
        .for_export
        .iter()
        .map(|s| s.name.as_str())
        .chain(read.for_task.keys().map(String::as_str))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let export = if exported.is_empty() {
        String::new()
    } else if kv.export && cfg.action() == Action::Validate {
        format!(
            "; would be set as secret variables (validate sets none): {}",
            exported.join(", ")
        )
    } else if kv.export {
        format!("; set as secret variables: {}", exported.join(", "))
    } else {
        format!(
            "; not exported (exportSecrets is false): {}",
            exported.join(", ")
        )
    };
    let used = if task_secrets.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = task_secrets
            .iter()
            .map(|(n, i)| format!("{n} ({i})"))
            .collect();
        format!("; used by the task: {}", names.join(", "))
    };
    format!(
        "Key Vault `{}`: read {count} secret(s){export}{used}",
        read.vault
    )
}

/// How the jar reaches Blob Storage: with the SAS given, or signed in as the connection.
async fn blob_auth(
    env: &Env<'_>,
    rec: &Recorder,
    b: &crate::config::BlobConfig,
) -> Result<BlobAuth> {
    if let Some(sas) = &b.sas {
        // The agent masks the input as given; the signature alone must not leak either.
        rec.secret(sas.expose());
        for (k, v) in url::form_urlencoded::parse(sas.expose().as_bytes()) {
            if k == "sig" {
                rec.secret(&v);
                rec.secret(&url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>());
            }
        }
        return Ok(BlobAuth::Sas(sas.clone()));
    }
    if b.endpoint.starts_with("http://") {
        return Err(Error::input(
            i::BLOB_ENDPOINT,
            format!(
                "`{}` is plain http; signing in with the service connection needs https",
                b.endpoint
            ),
        )
        .with_hint("use an https endpoint, or give storageSasToken (e.g. for a local emulator)"));
    }
    let tokens = env.azure.as_ref().ok_or_else(|| {
        Error::input(
            i::AZURE_SUBSCRIPTION,
            "is required to upload to Blob Storage without `storageSasToken`",
        )
    })?;
    tokens
        .token(&env.http, "https://storage.azure.com/.default")
        .await?;
    Ok(BlobAuth::Identity(tokens.credential(&env.http)?))
}

async fn plan_upload(env: &Env<'_>, rec: &Recorder, path: &std::path::Path) -> Result<UploadPlan> {
    let settings =
        env.cfg.blob.as_ref().ok_or_else(|| {
            Error::input(i::STORAGE_ACCOUNT, "is required to upload to Blob Storage")
        })?;
    let b = settings.resolve(&env.needs.blob_prefix);
    let auth = blob_auth(env, rec, &b).await?;
    let conn = env.azure.as_ref().map(|t| t.connection());
    let suffix = conn
        .map(|c| c.cloud.storage_suffix.clone())
        .unwrap_or_else(|| "core.windows.net".into());
    let req = blob::PlanRequest {
        cfg: &b,
        scheme: env.needs.jar_scheme,
        md5_in_plan: env.needs.jar_md5_in_plan,
        deadline: step_deadline(env),
        file: path,
        storage_suffix: &suffix,
        connection: conn.map(|c| c.id.as_str()),
        subscription: conn.and_then(|c| c.subscription_id.as_deref()),
    };
    blob::plan(req, auth, &AzureTransport::new(&env.http)?).await
}

async fn export_secrets(env: &Env<'_>, rec: &mut Recorder, v: &VaultRead) -> Result<()> {
    rec.begin("export secrets");
    let pairs: Vec<(String, &str)> = v
        .for_export
        .iter()
        .map(|s| (s.name.clone(), s.value.expose()))
        .collect();
    let (exports, warnings) = keyvault::export_plan(&pairs, env.cfg.vars.allow_multiline_secrets);
    for w in &warnings {
        rec.warn(w);
    }
    for e in &exports {
        rec.export_secret(&e.variable, pairs[e.secret].1);
    }
    let names: Vec<&str> = exports.iter().map(|e| e.variable.as_str()).collect();
    rec.log(&format!(
        "set {} secret variable(s) from Key Vault `{}`: {}",
        names.len(),
        v.vault,
        names.join(", ")
    ));
    rec.end(Ok(()))
}

async fn apply_run(
    env: &Env<'_>,
    rec: &mut Recorder,
    vault: Option<&VaultRead>,
    upload: Option<&UploadPlan>,
) -> Result<()> {
    if let (Some(v), Some(kv)) = (vault, &env.cfg.key_vault) {
        if kv.export && !v.for_export.is_empty() {
            export_secrets(env, rec, v).await?;
        }
    }
    if let Some(up) = upload {
        rec.begin("upload artifact");
        let r = self::upload(env, rec, up).await;
        // The `jarUri` output is the target's: the URI its deployment uses.
        rec.end(r)?;
    }
    Ok(())
}

/// A size for progress lines: one decimal of MiB, so a small jar does not read "0 of 1 MiB".
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The end of one step of the run: `timeoutSeconds` from now, or the run's deadline if sooner.
fn step_deadline(env: &Env<'_>) -> tokio::time::Instant {
    let step = env.cfg.run.timeout;
    let left = env
        .http
        .deadline()
        .left()
        .map_or(step, |(d, _)| d.min(step));
    tokio::time::Instant::now() + left
}

async fn upload(env: &Env<'_>, rec: &mut Recorder, up: &UploadPlan) -> Result<()> {
    let transport = AzureTransport::new(&env.http)?;
    let started = std::time::Instant::now();
    let mut shown = 0u64;
    let r = {
        let mut progress = |done: u64, total: u64| {
            let pct = (done * 100).checked_div(total).unwrap_or(100);
            if pct >= shown + 25 || (done == total && shown < 100) {
                shown = pct - pct % 25;
                rec.progress(pct as u8, "uploading the artifact");
                rec.log(&format!(
                    "uploaded {pct}% ({} of {})",
                    mib(done),
                    mib(total)
                ));
            }
        };
        blob::apply(up, &transport, step_deadline(env), &mut progress).await?
    };
    let secs = started.elapsed().as_secs_f64();
    if r.skipped {
        rec.log(&format!(
            "{} already holds this file (MD5 {}): upload skipped",
            up.url,
            blob::hex(&r.md5)
        ));
        return Ok(());
    }
    rec.log(&format!(
        "uploaded {} ({} bytes in {} block{}{}, MD5 {}) to {} in {secs:.1}s ({:.0} MiB/s)",
        up.file.display(),
        up.size,
        r.blocks,
        if r.blocks == 1 { "" } else { "s" },
        if r.resumed > 0 {
            format!(", {} already staged by an earlier run", r.resumed)
        } else {
            String::new()
        },
        blob::hex(&r.md5),
        up.url,
        r.bytes_sent as f64 / (1024.0 * 1024.0) / secs.max(0.001)
    ));
    rec.timeline(&format!("artifact uploaded to {}", up.url));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunSettings;

    #[test]
    fn the_budget_covers_every_phase_and_says_how_it_is_made() {
        let run = RunSettings {
            action: Action::Deploy,
            timeout: Duration::from_secs(10),
            settle: Duration::from_secs(5),
            rollback_on_failure: true,
            health: Default::default(),
        };
        let l = Limits::of(&run);
        assert_eq!(l.plan, Duration::from_secs(10));
        assert_eq!(l.budget, Duration::from_secs(70));
        assert_eq!(
            budget_words(&run),
            "its budget of 70s (6 × timeoutSeconds + 2 × settleSeconds)"
        );
    }
}
