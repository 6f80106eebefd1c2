//! Executes a validated configuration: plan everything first (read-only), then apply. Each
//! step is recorded for the log, the JUnit file and the summary.
//!
//! Around the target, the run itself reads Key Vault secrets (plan: reading changes nothing),
//! exports them as secret variables and uploads the jar to Blob Storage (apply, before the
//! target's own apply, which needs the jar in place).

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
use crate::targets::{AnyTarget, ArtifactPlan, Context, Credentials};

pub async fn run(cfg: Config, vso: Vso) -> Exit {
    let title = format!(
        "flink-deploy {} {}",
        cfg.target.as_str(),
        cfg.action.as_str()
    );
    let mut rec = Recorder::new(
        vso,
        &format!("flink-deploy.{}", cfg.target.as_str()),
        &title,
    );
    rec.fact("Target", cfg.target.as_str());
    rec.fact("Action", cfg.action.as_str());
    // Caught before the first request, so no stop request goes unanswered.
    let mut signals = Signals::listen()
        .inspect_err(|e| rec.debug(&format!("cannot catch stop signals: {e}")))
        .ok();
    let outcome = {
        let work = execute(&cfg, &mut rec);
        match signals.as_mut() {
            // The signal is polled first: once it has come, the work is never polled again, so
            // no request starts after it. Dropping the work aborts the request in flight and
            // skips any rollback; someone who cancels wants the task to stop.
            Some(s) => tokio::select! {
                biased;
                signal = s.recv() => Err(signal),
                r = work => Ok(r),
            },
            None => Ok(work.await),
        }
    };
    let result = match outcome {
        Ok(r) => r,
        Err(signal) => {
            if let Some(s) = signals {
                s.exit_on_next(Exit::Canceled.status());
            }
            Err(rec.cancelled(signal))
        }
    };
    rec.finish(result, &cfg.reports)
}

/// What the run does around the target.
#[derive(Default)]
struct RunPlan {
    vault: Option<VaultRead>,
    upload: Option<UploadPlan>,
}

async fn execute(cfg: &Config, rec: &mut Recorder) -> Result<()> {
    let http = Http::new(&cfg.http)?;
    for note in &cfg.http.proxy_notes {
        rec.warn(note);
    }
    let mut ctx = Context {
        cfg,
        rec,
        http,
        creds: Credentials::default(),
        artifact: ArtifactPlan::default(),
        azure: cfg
            .azure
            .as_ref()
            .map(|c| crate::azure::auth::AzureTokens::new(c).with_run_timeout(cfg.timeout)),
    };

    ctx.rec.begin("plan");
    let r = plan(&mut ctx).await;
    let (mut target, run_plan, lines) = ctx.rec.end(r)?;
    ctx.rec.vso.group("Plan");
    for l in &lines {
        ctx.rec.vso.info(&format!("• {l}"));
    }
    ctx.rec.vso.endgroup();
    ctx.rec.summary.heading(4, "Plan");
    let plan_md: String = lines.iter().map(|l| format!("- {l}\n")).collect();
    ctx.rec.summary.paragraph(&plan_md);

    if cfg.action == Action::Validate {
        ctx.rec.log("validate: nothing was changed");
        return Ok(());
    }
    if !cfg.action.is_read_only() || run_plan.upload.is_some() {
        ctx.rec.applying();
    }
    apply_run(&mut ctx, run_plan).await?;
    target.apply(&mut ctx).await
}

async fn plan(ctx: &mut Context<'_>) -> Result<(AnyTarget, RunPlan, Vec<String>)> {
    let cfg = ctx.cfg;
    let mut lines = vec![];
    let mut rp = RunPlan {
        vault: resolve_credentials(ctx, &mut lines).await?,
        upload: None,
    };
    match &cfg.artifact {
        Artifact::None => {
            if cfg.blob.is_some() {
                lines.push(
                    "storageAccount is set but artifactPath is empty: nothing to upload".into(),
                );
            }
        }
        Artifact::Uri(u) => {
            ctx.artifact.jar_uri = Some(u.clone());
            lines.push(format!("use jar {}", crate::http::display_url(u)));
        }
        Artifact::Local(pattern) => {
            let path = crate::artifact::resolve(pattern, &cfg.vars.working_dir)?;
            match &cfg.blob {
                Some(_) => {
                    let up = plan_upload(ctx, &path).await?;
                    lines.push(format!("artifact {}", up.describe()));
                    ctx.artifact.jar_uri = Some(up.jar_uri.clone());
                    ctx.artifact.to_blob = true;
                    ctx.artifact.content_md5 = up.md5.map(|m| blob::hex(&m));
                    ctx.artifact.blob_unchanged = matches!(up.existing, blob::Existing::Same);
                    ctx.artifact.blob_replaced = matches!(up.existing, blob::Existing::Different);
                    rp.upload = Some(up);
                }
                None => {
                    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    lines.push(format!("artifact {} ({size} bytes)", path.display()));
                }
            }
            ctx.artifact.local = Some(path);
        }
    }
    let mut target = AnyTarget::for_config(cfg);
    lines.extend(target.plan(ctx).await?);
    Ok((target, rp, lines))
}

/// Credentials given as values are used as they are; Key Vault secrets are read here, as part of
/// the plan, because reading a secret changes nothing. Values are masked the moment they arrive.
async fn resolve_credentials(
    ctx: &mut Context<'_>,
    lines: &mut Vec<String>,
) -> Result<Option<VaultRead>> {
    use crate::config::FlinkAuth;
    let cfg = ctx.cfg;
    let mut task_secrets: Vec<(String, &'static str)> = vec![];
    let mut value_or_vault = |t: &TokenSource, input: &'static str| match t {
        TokenSource::Value(s) => Some(s.clone()),
        TokenSource::KeyVault(name) => {
            task_secrets.push((name.clone(), input));
            None
        }
        TokenSource::None => None,
    };
    if let Some(v) = &cfg.vvp {
        ctx.creds.vvp_token = value_or_vault(&v.token, i::VVP_API_TOKEN_SECRET);
    }
    if let Some(f) = &cfg.flink {
        ctx.creds.flink = match &f.auth {
            FlinkAuth::None => None,
            FlinkAuth::Basic { password, .. } => {
                value_or_vault(password, i::FLINK_CREDENTIAL_SECRET)
            }
            FlinkAuth::Bearer(t) => value_or_vault(t, i::FLINK_CREDENTIAL_SECRET),
        };
    }
    let Some(kv) = &cfg.key_vault else {
        return Ok(None);
    };
    if matches!(kv.filter, crate::config::SecretsFilter::None) && task_secrets.is_empty() {
        lines.push(format!(
            "Key Vault `{}`: nothing to read (secretsFilter is empty)",
            kv.name
        ));
        return Ok(None);
    }
    let tokens = ctx.azure.as_ref().ok_or_else(|| {
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
    tokens.token(&ctx.http, &scope).await?;
    let req = keyvault::ReadRequest {
        cfg: kv,
        suffix: &conn.cloud.key_vault_suffix,
        connection: &conn.id,
        task_secrets: task_secrets.clone(),
    };
    // One slow answer may not hold the run longer than its own timeout allows.
    let transport = AzureTransport::new(&ctx.http)?.with_timeout(tokens.request_timeout());
    let read = keyvault::read(
        &req,
        tokens.credential(&ctx.http)?,
        &transport,
        &ctx.rec.vso,
    )
    .await?;
    for w in &read.warnings {
        ctx.rec.warn(w);
    }
    let bearer = |input: &str| {
        input == i::VVP_API_TOKEN_SECRET
            || matches!(
                cfg.flink.as_ref().map(|f| &f.auth),
                Some(FlinkAuth::Bearer(_))
            )
    };
    for (name, input) in &task_secrets {
        let mut value = read
            .for_task
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone());
        if let (true, Some(v)) = (bearer(input), &value) {
            // A token stored from a file (`az keyvault secret set --file`) often ends with a
            // line break; no token has surrounding white space.
            let trimmed = v.expose().trim();
            if let Some(why) = crate::config::token_problem(trimmed) {
                return Err(Error::input(
                    input,
                    format!("Key Vault secret `{name}` in vault `{}` {why}", read.vault),
                )
                .with_hint("store the token itself in the secret, without quotes or line breaks"));
            }
            value = Some(crate::secret::Secret::new(trimmed));
        }
        match *input {
            i::VVP_API_TOKEN_SECRET => ctx.creds.vvp_token = value,
            _ => ctx.creds.flink = value,
        }
    }
    let exported: Vec<&str> = read.for_export.iter().map(|s| s.name.as_str()).collect();
    lines.push(format!(
        "Key Vault `{}`: read {} secret(s){}{}",
        read.vault,
        read.for_export
            .iter()
            .map(|s| s.name.as_str())
            .chain(read.for_task.keys().map(String::as_str))
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        if exported.is_empty() {
            String::new()
        } else if kv.export && cfg.action == Action::Validate {
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
        },
        if task_secrets.is_empty() {
            String::new()
        } else {
            format!(
                "; used by the task: {}",
                task_secrets
                    .iter()
                    .map(|(n, i)| format!("{n} ({i})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    ));
    Ok(Some(read))
}

async fn plan_upload(ctx: &mut Context<'_>, path: &std::path::Path) -> Result<UploadPlan> {
    let cfg = ctx.cfg;
    let b = cfg.blob.as_ref().expect("blob config");
    let auth = match &b.sas {
        Some(sas) => {
            // The agent masks the input as given; the signature alone must not leak either.
            ctx.rec.vso.set_secret(sas.expose());
            for (k, v) in url::form_urlencoded::parse(sas.expose().as_bytes()) {
                if k == "sig" {
                    ctx.rec.vso.set_secret(&v);
                    ctx.rec.vso.set_secret(
                        &url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>(),
                    );
                }
            }
            BlobAuth::Sas(sas.clone())
        }
        None => {
            if b.endpoint.starts_with("http://") {
                return Err(Error::input(
                    i::BLOB_ENDPOINT,
                    format!(
                        "`{}` is plain http; signing in with the service connection needs https",
                        b.endpoint
                    ),
                )
                .with_hint(
                    "use an https endpoint, or give storageSasToken (e.g. for a local emulator)",
                ));
            }
            let tokens = ctx.azure.as_ref().ok_or_else(|| {
                Error::input(
                    i::AZURE_SUBSCRIPTION,
                    "is required to upload to Blob Storage without `storageSasToken`",
                )
            })?;
            tokens
                .token(&ctx.http, "https://storage.azure.com/.default")
                .await?;
            BlobAuth::Identity(tokens.credential(&ctx.http)?)
        }
    };
    let conn = ctx.azure.as_ref().map(|t| t.connection());
    let suffix = conn
        .map(|c| c.cloud.storage_suffix.clone())
        .unwrap_or_else(|| "core.windows.net".into());
    let req = blob::PlanRequest {
        cfg: b,
        scheme: match cfg.target {
            crate::config::TargetKind::Ververica => blob::JarUriScheme::Wasbs,
            crate::config::TargetKind::HdInsight => blob::JarUriScheme::Abfs,
            crate::config::TargetKind::Flink => blob::JarUriScheme::Https,
        },
        // Ververica Platform's jarUri names the jar's MD5, so the plan needs it.
        md5_in_plan: cfg.target == crate::config::TargetKind::Ververica,
        deadline: tokio::time::Instant::now() + cfg.timeout,
        file: path,
        storage_suffix: &suffix,
        connection: conn.map(|c| c.id.as_str()),
        subscription: conn.and_then(|c| c.subscription_id.as_deref()),
    };
    blob::plan(req, auth, &AzureTransport::new(&ctx.http)?).await
}

async fn apply_run(ctx: &mut Context<'_>, rp: RunPlan) -> Result<()> {
    if let (Some(v), Some(kv)) = (&rp.vault, &ctx.cfg.key_vault) {
        if kv.export && !v.for_export.is_empty() {
            ctx.rec.begin("export secrets");
            let allow = crate::pipeline::env::AgentEnv::from_process()
                .flag("SYSTEM_UNSAFEALLOWMULTILINESECRET");
            let pairs: Vec<(String, &str)> = v
                .for_export
                .iter()
                .map(|s| (s.name.clone(), s.value.expose()))
                .collect();
            let (exports, warnings) = keyvault::export_plan(&pairs, allow);
            for w in &warnings {
                ctx.rec.warn(w);
            }
            for e in &exports {
                ctx.rec
                    .vso
                    .set_variable(&e.variable, pairs[e.secret].1, true, false);
            }
            let names: Vec<&str> = exports.iter().map(|e| e.variable.as_str()).collect();
            ctx.rec.log(&format!(
                "set {} secret variable(s) from Key Vault `{}`: {}",
                names.len(),
                v.vault,
                names.join(", ")
            ));
            ctx.rec.end(Ok(()))?;
        }
    }
    if let Some(up) = &rp.upload {
        ctx.rec.begin("upload artifact");
        let r = upload(ctx, up).await;
        // The `jarUri` output is the target's: the URI its deployment uses.
        ctx.rec.end(r)?;
    }
    Ok(())
}

/// A size for progress lines: one decimal of MiB, so a small jar does not read "0 of 1 MiB".
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

async fn upload(ctx: &mut Context<'_>, up: &UploadPlan) -> Result<()> {
    let transport = AzureTransport::new(&ctx.http)?;
    let started = std::time::Instant::now();
    let rec = &mut *ctx.rec;
    let mut shown = 0u64;
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
    let deadline = tokio::time::Instant::now() + ctx.cfg.timeout;
    let r = blob::apply(up, &transport, deadline, &mut progress).await?;
    let secs = started.elapsed().as_secs_f64();
    if r.skipped {
        ctx.rec.log(&format!(
            "{} already holds this file (MD5 {}): upload skipped",
            up.url,
            blob::hex(&r.md5)
        ));
    } else {
        ctx.rec.log(&format!(
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
        ctx.rec
            .timeline(&format!("artifact uploaded to {}", up.url));
    }
    Ok(())
}
