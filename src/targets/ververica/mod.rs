//! Ververica Platform: deployments through the Application Manager API.

pub mod spec;

use serde_json::Value;

use super::{Context, Target};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::pipeline::inputs as i;

#[derive(Default)]
pub struct Ververica {
    /// The rendered Deployment, computed by `plan`.
    pub desired: Option<Value>,
}

/// Read the spec file, if any, and substitute placeholders. Reading a file changes nothing, so
/// this belongs to the plan.
pub fn load_spec_file(
    cfg: &Config,
    jar_uri: Option<&str>,
    env_var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Value>> {
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
    let origin = path.display().to_string();
    let mut v = spec::parse(&text, &origin)?;
    let subs = spec::Substitutions {
        deployment_target_id: cfg.job.deployment_target_id.as_deref(),
        jar_uri,
        variable: env_var,
    };
    spec::substitute(&mut v, &subs, "")?;
    Ok(Some(v))
}

impl Target for Ververica {
    async fn plan(&mut self, ctx: &mut Context<'_>) -> Result<Vec<String>> {
        let cfg = ctx.cfg;
        let vvp = cfg.vvp.as_ref().expect("ververica config");
        let env = crate::pipeline::env::AgentEnv::from_process();
        let var = |name: &str| env.public_variable(name).map(str::to_owned);
        let file = load_spec_file(cfg, ctx.artifact.jar_uri.as_deref(), &var)?;
        let desired = spec::render(cfg, file, ctx.artifact.jar_uri.as_deref(), &vvp.namespace)?;
        ctx.rec
            .group("Rendered deployment spec", &spec::to_yaml(&desired));
        let name = spec::get_str(&desired, &["metadata", "name"])
            .or(spec::get_str(&desired, &["metadata", "id"]))
            .unwrap_or("?")
            .to_owned();
        let mut lines = vec![format!(
            "{} deployment `{name}` in namespace `{}` on {}",
            match cfg.action {
                crate::config::Action::Deploy => "create or update",
                a => a.as_str(),
            },
            vvp.namespace,
            vvp.url
                .as_deref()
                .unwrap_or("(no Ververica Platform URL: offline validation)")
        )];
        if let Some(s) = spec::get_str(&desired, &["spec", "state"]) {
            lines.push(format!(
                "desired state {s}, wait up to {}s",
                cfg.timeout.as_secs()
            ));
        }
        self.desired = Some(desired);
        Ok(lines)
    }

    async fn apply(&mut self, _ctx: &mut Context<'_>) -> Result<()> {
        Err(Error::platform(
            "target `ververica` cannot apply changes in this build",
        ))
    }
}
