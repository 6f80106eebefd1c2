//! The run's own settings: what to do, how long to wait, where the reports go, how to reach the
//! network, and the pipeline variables a spec may use. Every target shares these.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::pipeline::env::{env_name, AgentEnv};
use crate::pipeline::inputs as i;
use crate::secret::Secret;

use super::checks::{no_control_chars, proxy_bypass_list};
use super::raw::RawInputs;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Deploy,
    Suspend,
    Cancel,
    Resume,
    Savepoint,
    ListSavepoints,
    Delete,
    Validate,
    RenderCustomResource,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::Deploy,
        Action::Suspend,
        Action::Cancel,
        Action::Resume,
        Action::Savepoint,
        Action::ListSavepoints,
        Action::Delete,
        Action::Validate,
        Action::RenderCustomResource,
    ];

    /// Every action on a job (all but rendering a custom resource).
    pub const ON_JOBS: &'static [Action] = Action::ALL.split_at(8).0;

    pub fn as_str(self) -> &'static str {
        i::ACTIONS[self as usize]
    }

    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Actions that change nothing on any platform.
    pub fn is_read_only(self) -> bool {
        matches!(
            self,
            Action::Validate | Action::ListSavepoints | Action::RenderCustomResource
        )
    }
}

/// Where a credential comes from.
#[derive(Clone, Debug)]
pub enum TokenSource {
    None,
    Value(Secret),
    /// Read from Key Vault at run time.
    KeyVault(String),
}

impl TokenSource {
    /// `value_input` (a secret variable) or `secret_input` (a Key Vault secret name), not both.
    pub fn from_inputs(
        raw: &RawInputs,
        value_input: &'static str,
        secret_input: &'static str,
        has_key_vault: bool,
    ) -> Result<TokenSource> {
        match (raw.get(value_input), raw.get(secret_input)) {
            (Some(_), Some(_)) => Err(Error::input(
                secret_input,
                format!("cannot be combined with `{value_input}`"),
            )
            .with_hint(
                "give the credential once: as a secret variable or as a Key Vault secret name",
            )),
            (Some(v), None) => Ok(TokenSource::Value(Secret::new(v))),
            (None, Some(name)) => {
                if !has_key_vault {
                    return Err(Error::input(
                        secret_input,
                        "names a Key Vault secret but `keyVaultName` is empty",
                    )
                    .with_hint("set keyVaultName and azureSubscription"));
                }
                Ok(TokenSource::KeyVault(name.to_owned()))
            }
            (None, None) => Ok(TokenSource::None),
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, TokenSource::None)
    }
}

/// The job's jar, as the inputs give it.
#[derive(Clone, Debug)]
pub enum Artifact {
    None,
    /// A jar URI used as is.
    Uri(String),
    /// A local file (or glob) to upload.
    Local(String),
}

impl Artifact {
    pub fn from_raw(raw: &RawInputs) -> Result<Artifact> {
        Ok(match (raw.get(i::ARTIFACT_PATH), raw.get(i::JAR_URI)) {
            (Some(_), Some(_)) => return Err(Error::input(
                i::JAR_URI,
                "cannot be combined with `artifactPath`",
            )
            .with_hint(
                "give artifactPath to upload a jar, or jarUri to use one that is already stored",
            )),
            (Some(p), None) => Artifact::Local(p.to_owned()),
            (None, Some(u)) => {
                no_control_chars(i::JAR_URI, u)?;
                if !u.contains("://") {
                    return Err(
                        crate::config::checks::not_a(i::JAR_URI, u, "a URI").with_hint(
                            "e.g. wasbs://container@account.blob.core.windows.net/path/job.jar",
                        ),
                    );
                }
                Artifact::Uri(u.to_owned())
            }
            (None, None) => Artifact::None,
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct HttpSettings {
    pub proxy_url: Option<String>,
    pub proxy_bypass: Vec<String>,
    /// `Agent.ProxyUsername` and `Agent.ProxyPassword` (a secret variable).
    pub proxy_auth: Option<(String, Secret)>,
    /// What in the agent's proxy settings could not be used, for warnings.
    pub proxy_notes: Vec<String>,
    pub ca_file: Option<PathBuf>,
    pub allow_insecure_http: bool,
}

impl HttpSettings {
    pub fn from_raw(raw: &RawInputs) -> Result<HttpSettings> {
        let env = &raw.env;
        let (proxy_bypass, proxy_notes) =
            proxy_bypass_list(env.public_variable("Agent.ProxyBypassList"));
        Ok(HttpSettings {
            proxy_url: env.public_variable("Agent.ProxyUrl").map(str::to_owned),
            proxy_bypass,
            proxy_auth: env.public_variable("Agent.ProxyUsername").map(|u| {
                (
                    u.to_owned(),
                    Secret::new(env.variable("Agent.ProxyPassword").unwrap_or_default()),
                )
            }),
            proxy_notes,
            ca_file: env.public_variable("Agent.CAInfo").map(PathBuf::from),
            allow_insecure_http: raw.boolean(i::ALLOW_INSECURE_HTTP)?,
        })
    }
}

/// Where the JUnit file and the summary go. Under the agent both are always written (the
/// summary to Agent.TempDirectory); a command line writes only the ones asked for.
#[derive(Clone, Debug)]
pub struct ReportConfig {
    pub junit_path: Option<PathBuf>,
    pub summary_path: Option<PathBuf>,
    pub publish: bool,
    /// Files the run reads (the spec file, the jar, the CA file): never written over, even
    /// through a link.
    pub reads: Vec<PathBuf>,
}

impl ReportConfig {
    pub fn from_raw(raw: &RawInputs, vars: &PipelineVars) -> Result<ReportConfig> {
        if let Some(cl) = &raw.command_line {
            return Ok(ReportConfig {
                junit_path: raw.get(i::TEST_RESULTS_FILE).map(|p| vars.resolve_path(p)),
                summary_path: cl.summary.clone(),
                publish: false,
                reads: vec![],
            });
        }
        let build = vars.build_id.clone().unwrap_or_else(|| "local".into());
        let junit_path = match raw.get(i::TEST_RESULTS_FILE) {
            Some(p) => vars.resolve_path(p),
            None => vars.temp_dir.join(format!(
                "flink-deploy-{build}-{}-junit.xml",
                std::process::id()
            )),
        };
        let summary_path = vars.temp_dir.join(format!(
            "flink-deploy-{build}-{}-summary.md",
            std::process::id()
        ));
        Ok(ReportConfig {
            junit_path: Some(junit_path),
            summary_path: Some(summary_path),
            publish: raw.boolean(i::PUBLISH_TEST_RESULTS)?,
            reads: vec![],
        })
    }
}

/// The pipeline variables the run uses, read once. A spec's `${Name}` sees only the job's
/// public variables (the names the agent lists in `VSTS_PUBLIC_VARIABLES`): the process
/// environment also holds inputs, service connection parameters and secret variables, none of
/// which may end up in a deployment.
#[derive(Clone, Debug, Default)]
pub struct PipelineVars {
    pub source_version: Option<String>,
    pub build_id: Option<String>,
    pub collection_uri: Option<String>,
    pub working_dir: PathBuf,
    pub temp_dir: PathBuf,
    /// Public variables by their formatted name (`BUILD_SOURCEVERSION`).
    public: BTreeMap<String, String>,
    /// Formatted names of the secret variables.
    secret_names: BTreeSet<String>,
    /// `SYSTEM_UNSAFEALLOWMULTILINESECRET`: the agent then accepts multi-line secret variables.
    pub allow_multiline_secrets: bool,
}

/// Names under which the agent puts inputs, connections and secrets into the environment. A
/// pipeline variable of such a name (`input.vvpApiToken` becomes `INPUT_VVPAPITOKEN`) is
/// listed as public, but the environment holds the agent's value under it, not the variable's.
fn agent_owned(formatted: &str) -> bool {
    const PREFIXES: &[&str] = &["INPUT_", "ENDPOINT_", "SECRET_", "SECUREFILE_", "VSTS_"];
    const NAMES: &[&str] = &["SYSTEM_ACCESSTOKEN", "AGENT_PROXYPASSWORD"];
    PREFIXES.iter().any(|p| formatted.starts_with(p)) || NAMES.contains(&formatted)
}

/// The names in a `VSTS_*_VARIABLES` list (a JSON array), formatted as the agent formats them.
fn listed_names(env: &AgentEnv, list: &str) -> Vec<String> {
    env.raw(list)
        .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
        .unwrap_or_default()
        .iter()
        .map(|n| env_name(n))
        .collect()
}

impl PipelineVars {
    pub fn from_env(env: &AgentEnv) -> PipelineVars {
        let cwd = std::env::current_dir().unwrap_or_default();
        let working_dir = env
            .public_variable("System.DefaultWorkingDirectory")
            .map(PathBuf::from)
            .unwrap_or(cwd);
        let temp_dir = env
            .public_variable("Agent.TempDirectory")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let public = listed_names(env, "VSTS_PUBLIC_VARIABLES")
            .into_iter()
            .filter(|k| !agent_owned(k))
            .filter_map(|k| env.raw(&k).map(|v| (k, v.to_owned())))
            .collect();
        let mut secret_names: BTreeSet<String> = listed_names(env, "VSTS_SECRET_VARIABLES")
            .into_iter()
            .collect();
        secret_names.extend(env.secret_variable_names().map(str::to_owned));
        PipelineVars {
            source_version: env
                .public_variable("Build.SourceVersion")
                .map(str::to_owned),
            build_id: env.public_variable("Build.BuildId").map(str::to_owned),
            collection_uri: env
                .public_variable("System.TeamFoundationCollectionUri")
                .map(str::to_owned),
            working_dir,
            temp_dir,
            public,
            secret_names,
            allow_multiline_secrets: env.flag("SYSTEM_UNSAFEALLOWMULTILINESECRET"),
        }
    }

    /// A public pipeline variable by its name as written in a pipeline (`Build.SourceVersion`).
    pub fn public(&self, name: &str) -> Option<&str> {
        self.public
            .get(&env_name(name))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// True when the name is one of the job's secret variables.
    pub fn is_secret(&self, name: &str) -> bool {
        self.secret_names.contains(&env_name(name))
    }

    /// A path input: relative paths start at `System.DefaultWorkingDirectory`.
    pub fn resolve_path(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.working_dir.join(path)
        }
    }

    /// For tests: a set of public variables.
    pub fn with_public<'a>(mut self, vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        for (k, v) in vars {
            self.public.insert(env_name(k), v.to_owned());
        }
        self
    }

    /// For tests: names of secret variables.
    pub fn with_secret_names<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        self.secret_names.extend(names.into_iter().map(env_name));
        self
    }
}

/// How long and how carefully the run goes about it.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub action: Action,
    pub timeout: Duration,
    pub settle: Duration,
    pub rollback_on_failure: bool,
    /// What a started job must show during the settle window besides RUNNING.
    pub health: crate::health::Gate,
}

impl RunSettings {
    pub fn from_raw(raw: &RawInputs) -> Result<RunSettings> {
        let action = raw
            .pick(i::ACTION)?
            .and_then(Action::parse)
            .unwrap_or(Action::Deploy);
        Ok(RunSettings {
            action,
            timeout: Duration::from_secs(raw.number(i::TIMEOUT_SECONDS, 1, 86_400)?.unwrap_or(600)),
            settle: Duration::from_secs(raw.number(i::SETTLE_SECONDS, 0, 3_600)?.unwrap_or(30)),
            rollback_on_failure: raw.boolean(i::ROLLBACK_ON_FAILURE)?,
            health: crate::health::Gate::from_raw(raw)?,
        })
    }
}
