//! Executes a validated configuration: plan everything first (read-only), then apply. Each
//! step is recorded for the log, the JUnit file and the summary.

use crate::config::{Action, Artifact, Config};
use crate::error::Result;
use crate::http::Http;
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
    let result = execute(&cfg, &mut rec).await;
    rec.finish(result, &cfg.reports)
}

async fn execute(cfg: &Config, rec: &mut Recorder) -> Result<()> {
    let http = Http::new(&cfg.http)?;
    let mut ctx = Context {
        cfg,
        rec,
        http,
        creds: Credentials::default(),
        artifact: ArtifactPlan::default(),
        azure: cfg.azure.as_ref().map(crate::azure::auth::AzureTokens::new),
    };

    ctx.rec.begin("plan");
    let r = plan(&mut ctx).await;
    let (mut target, lines) = ctx.rec.end(r)?;
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
    target.apply(&mut ctx).await
}

async fn plan(ctx: &mut Context<'_>) -> Result<(AnyTarget, Vec<String>)> {
    let cfg = ctx.cfg;
    let mut lines = vec![];
    resolve_credentials(ctx).await?;
    match &cfg.artifact {
        Artifact::None => {}
        Artifact::Uri(u) => {
            ctx.artifact.jar_uri = Some(u.clone());
            lines.push(format!("use jar {}", crate::http::display_url(u)));
        }
        Artifact::Local(pattern) => {
            let path = crate::artifact::resolve(pattern, &cfg.vars.working_dir)?;
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            lines.push(format!("artifact {} ({size} bytes)", path.display()));
            ctx.artifact.local = Some(path);
        }
    }
    let mut target = AnyTarget::for_config(cfg);
    lines.extend(target.plan(ctx).await?);
    Ok((target, lines))
}

/// Credentials given as values are used as they are; Key Vault names are read here, before the
/// plan, because reading a secret changes nothing.
async fn resolve_credentials(ctx: &mut Context<'_>) -> Result<()> {
    use crate::config::{FlinkAuth, TokenSource};
    fn value(t: &TokenSource) -> Option<crate::secret::Secret> {
        match t {
            TokenSource::Value(s) => Some(s.clone()),
            _ => None,
        }
    }
    if let Some(v) = &ctx.cfg.vvp {
        ctx.creds.vvp_token = value(&v.token);
    }
    if let Some(f) = &ctx.cfg.flink {
        ctx.creds.flink = match &f.auth {
            FlinkAuth::None => None,
            FlinkAuth::Basic { password, .. } => value(password),
            FlinkAuth::Bearer(t) => value(t),
        };
    }
    Ok(())
}
