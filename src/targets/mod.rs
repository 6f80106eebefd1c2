//! Deployment targets behind one interface. Each target plans first (read-only: render, diff,
//! check) and applies second; both report through the run's [`Recorder`], never by printing.

pub mod flink;
pub mod hdinsight;
pub mod ververica;

use std::path::PathBuf;

use crate::config::Config;
use crate::error::Result;
use crate::http::Http;
use crate::report::Recorder;
use crate::secret::Secret;

/// Credentials resolved before the plan (from inputs, a connection or Key Vault).
#[derive(Default, Debug)]
pub struct Credentials {
    pub vvp_token: Option<Secret>,
    pub flink: Option<Secret>,
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

pub struct Context<'a> {
    pub cfg: &'a Config,
    pub rec: &'a mut Recorder,
    pub http: Http,
    pub creds: Credentials,
    pub artifact: ArtifactPlan,
    /// Entra ID tokens from the AzureRM connection, when one is configured.
    pub azure: Option<crate::azure::auth::AzureTokens>,
}

// The trait is only used with concrete types through `AnyTarget`, so the `Send`-ness of the
// returned futures does not need to be spelled out.
#[allow(async_fn_in_trait)]
pub trait Target {
    /// Everything the run will do, computed without changing anything. Returns plan lines.
    async fn plan(&mut self, ctx: &mut Context<'_>) -> Result<Vec<String>>;
    /// Carry the plan out.
    async fn apply(&mut self, ctx: &mut Context<'_>) -> Result<()>;
}

pub enum AnyTarget {
    Ververica(ververica::Ververica),
    Flink(flink::Flink),
    HdInsight(hdinsight::HdInsight),
}

impl AnyTarget {
    pub fn for_config(cfg: &Config) -> AnyTarget {
        match cfg.target {
            crate::config::TargetKind::Ververica => {
                AnyTarget::Ververica(ververica::Ververica::default())
            }
            crate::config::TargetKind::Flink => AnyTarget::Flink(flink::Flink::default()),
            crate::config::TargetKind::HdInsight => {
                AnyTarget::HdInsight(hdinsight::HdInsight::default())
            }
        }
    }

    pub async fn plan(&mut self, ctx: &mut Context<'_>) -> Result<Vec<String>> {
        match self {
            AnyTarget::Ververica(t) => t.plan(ctx).await,
            AnyTarget::Flink(t) => t.plan(ctx).await,
            AnyTarget::HdInsight(t) => t.plan(ctx).await,
        }
    }

    pub async fn apply(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        match self {
            AnyTarget::Ververica(t) => t.apply(ctx).await,
            AnyTarget::Flink(t) => t.apply(ctx).await,
            AnyTarget::HdInsight(t) => t.apply(ctx).await,
        }
    }
}
