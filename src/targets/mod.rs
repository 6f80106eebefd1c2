//! Deployment targets behind one interface, and their registration.
//!
//! A target is its own configuration: [`Registration::configure`] reads the target's inputs
//! (no I/O) into a [`Target`], which declares what it needs from the run ([`Needs`]), turns
//! itself into a [`Plan`] by reading the platform (nothing is changed), and the plan, which can
//! describe itself, is applied. Targets report through the run's [`Recorder`], never by
//! printing; they wait with [`crate::wait`] and roll back by the rules of [`crate::rollback`].
//!
//! Adding a target: a folder here with `mod.rs` (the `Target` and its `Plan`), `config.rs`
//! (its inputs), `judge.rs` (its pure decisions) and `client.rs`; one line in [`TARGETS`]; its
//! inputs in `src/pipeline/inputs.rs` and `task/task.json`.

pub mod flink;
pub mod flink_operator;
pub mod hdinsight;
pub mod operator;
pub mod ververica;
pub mod vvp_operator;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::azure::auth::AzureTokens;
use crate::azure::blob::JarUriScheme;
use crate::config::{Action, JobInputs, PipelineVars, RawInputs, RunSettings, Shared, TokenSource};
use crate::error::Result;
use crate::http::Http;
use crate::report::Recorder;
use crate::rollback::Rules;
use crate::secret::Secret;

/// How a target joins the task: the value of the `target` input and how to read its inputs.
pub struct Registration {
    pub name: &'static str,
    /// The actions the target carries out; any other is refused as bad input.
    pub actions: &'static [Action],
    /// Reads the target's own inputs into the target. No I/O.
    pub configure: fn(&RawInputs, &Shared<'_>) -> Result<Box<dyn Target>>,
    /// Said in the first line of every run of the target, before its inputs are checked (e.g.
    /// that the service is retired and where to go instead).
    pub notice: Option<&'static str>,
    /// What the platform can tell about a started job's health (`crate::health`).
    pub health: crate::health::Support,
}

impl Registration {
    /// A target named `name` whose own inputs `C` reads, doing `actions`, on a platform that
    /// tells `health` about a started job.
    pub const fn of<C>(
        name: &'static str,
        actions: &'static [Action],
        health: crate::health::Support,
    ) -> Registration
    where
        C: FromInputs,
        Configured<C>: Target + 'static,
    {
        Registration {
            name,
            actions,
            configure: configure::<C>,
            notice: None,
            health,
        }
    }

    /// Said first in every run of the target.
    pub const fn with_notice(mut self, notice: &'static str) -> Registration {
        self.notice = Some(notice);
        self
    }
}

/// Every target, in the order of the `target` pick list.
pub const TARGETS: &[Registration] = &[
    ververica::REGISTRATION,
    hdinsight::REGISTRATION,
    flink::REGISTRATION,
    vvp_operator::REGISTRATION,
    flink_operator::REGISTRATION,
];

pub fn registration(name: &str) -> Option<&'static Registration> {
    TARGETS.iter().find(|r| r.name == name)
}

/// The notice of the target the raw inputs choose, if it has one.
pub fn notice(raw: &RawInputs) -> Option<&'static str> {
    let name = raw.pick(crate::pipeline::inputs::TARGET).ok().flatten()?;
    registration(name).and_then(|r| r.notice)
}

/// A credential the target needs, resolved by the run before the plan: the value from the
/// inputs, or read from Key Vault (`vault_input` names the secret's input in errors).
#[derive(Clone, Debug)]
pub struct CredentialNeed {
    pub key: &'static str,
    pub source: TokenSource,
    pub vault_input: &'static str,
    /// Sent as a bearer token: one read from Key Vault is trimmed and checked to fit a header.
    pub bearer: bool,
}

/// What a target needs from the rest of the run.
#[derive(Clone, Debug)]
pub struct Needs {
    /// How the target names a jar the run uploads to Blob Storage.
    pub jar_scheme: JarUriScheme,
    /// The plan compares the jar's content with what the deployment runs, so it hashes the jar
    /// before the upload (otherwise the upload hashes what it sends).
    pub jar_md5_in_plan: bool,
    /// The folder in the container when `blobPrefix` is empty.
    pub blob_prefix: String,
    pub credentials: Vec<CredentialNeed>,
    /// When a failed change is rolled back.
    pub rollback: Rules,
}

/// Credentials the run resolved for the target, by [`CredentialNeed::key`].
#[derive(Default, Debug)]
pub struct Credentials(BTreeMap<&'static str, Secret>);

impl Credentials {
    pub fn get(&self, key: &str) -> Option<&Secret> {
        self.0.get(key)
    }

    pub fn set(&mut self, key: &'static str, value: Secret) {
        self.0.insert(key, value);
    }
}

/// Where the job's jar is, as far as the plan knows it.
#[derive(Default, Debug, Clone)]
pub struct ArtifactPlan {
    /// The local file to upload, if any.
    pub local: Option<PathBuf>,
    /// The URI the target will reference (known before the upload happens).
    pub jar_uri: Option<String>,
    /// True when the upload goes to Blob Storage (done by the run, not the target).
    pub to_blob: bool,
    /// Hex MD5 of the jar the run puts in Blob Storage: a rebuilt jar under the same blob name
    /// has the same URI, and only its content tells the change.
    pub content_md5: Option<String>,
    /// The blob already holds this very file (same MD5): nothing is uploaded.
    pub blob_unchanged: bool,
    /// The upload overwrites a blob that holds other content.
    pub blob_replaced: bool,
}

/// What a target gets from the run while planning and applying.
pub struct Context<'a> {
    pub run: &'a RunSettings,
    pub vars: &'a PipelineVars,
    pub rec: &'a mut Recorder,
    pub http: &'a Http,
    pub creds: &'a Credentials,
    pub artifact: &'a ArtifactPlan,
    /// Entra ID tokens from the AzureRM connection, when one is configured.
    pub azure: Option<&'a AzureTokens>,
    /// The cluster the run signed in to, when the target declared one ([`Target::cluster`]).
    pub cluster: Option<&'a crate::kube::Cluster>,
}

/// A target: its own configuration and the job as every target reads it.
#[derive(Clone, Debug)]
pub struct Configured<C> {
    pub cfg: C,
    pub job: JobInputs,
}

impl<C> Configured<C> {
    pub fn settings<'a>(&'a self, run: &RunSettings, vars: &'a PipelineVars) -> Settings<'a, C> {
        Settings::new(&self.cfg, &self.job, run, vars)
    }
}

/// A target's own configuration, read from the raw inputs (no I/O).
pub trait FromInputs: Sized {
    fn from_raw(raw: &RawInputs, shared: &Shared<'_>) -> Result<Self>;
}

/// [`Registration::configure`] for a target whose configuration is `C`.
pub fn configure<C>(raw: &RawInputs, shared: &Shared<'_>) -> Result<Box<dyn Target>>
where
    C: FromInputs,
    Configured<C>: Target + 'static,
{
    Ok(Box::new(Configured {
        cfg: C::from_raw(raw, shared)?,
        job: shared.job.clone(),
    }))
}

/// What a target's code reads while it plans and applies: its own configuration (`own`), the
/// job and the run's settings.
#[derive(Debug)]
pub struct Settings<'a, C> {
    pub own: &'a C,
    pub job: &'a JobInputs,
    pub vars: &'a PipelineVars,
    pub action: Action,
    pub timeout: Duration,
    pub settle: Duration,
    pub rollback_on_failure: bool,
    pub health: crate::health::Gate,
}

// Not derived: a derive would ask `C: Copy`, and only references are copied.
impl<C> Clone for Settings<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Settings<'_, C> {}

impl<'a, C> Settings<'a, C> {
    pub fn new(own: &'a C, job: &'a JobInputs, run: &RunSettings, vars: &'a PipelineVars) -> Self {
        Settings {
            own,
            job,
            vars,
            action: run.action,
            timeout: run.timeout,
            settle: run.settle,
            rollback_on_failure: run.rollback_on_failure,
            health: run.health,
        }
    }
}

/// A target with its configuration.
#[async_trait::async_trait(?Send)]
pub trait Target: std::fmt::Debug {
    fn needs(&self) -> Needs;
    /// The Kubernetes cluster the target works through, if any: the run signs in to it before
    /// the plan and hands it over in [`Context::cluster`].
    fn cluster(&self) -> Option<&crate::kube::ClusterConfig> {
        None
    }
    /// Everything the run will do, read from the platform without changing anything.
    async fn plan(&self, cx: &mut Context<'_>) -> Result<Box<dyn Plan>>;
    /// For tests and diagnostics: the concrete target.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// What a target will do: data that describes itself and is consumed by `apply`.
#[async_trait::async_trait(?Send)]
pub trait Plan {
    /// The plan in words, one line per step; the log, the summary and `validate` show these.
    fn describe(&self) -> Vec<String>;
    /// Carry the plan out.
    async fn apply(self: Box<Self>, cx: &mut Context<'_>) -> Result<()>;
    /// What puts the deployment back as it was before this run after `apply` succeeded (a set
    /// with `rollbackScope: all` whose other deployments failed). `None`: the plan changes
    /// nothing, or the target cannot put a change back.
    fn undo(&self) -> Option<Box<dyn Undo>> {
        None
    }
}

/// Puts one deployment back as it was before the run, by the rules of [`crate::rollback`].
#[async_trait::async_trait(?Send)]
pub trait Undo {
    async fn undo(self: Box<Self>, cx: &mut Context<'_>) -> crate::rollback::Outcome;
}
