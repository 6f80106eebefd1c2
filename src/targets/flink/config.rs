//! The Flink session cluster target's inputs: the JobManager's REST URL and how to sign in.

use crate::config::checks::{base_url, check_transport, header_safe, no_control_chars, parse_url};
use crate::config::{Action, Artifact, RawInputs, Shared, TokenSource};
use crate::error::{Error, Result};
use crate::pipeline::inputs as i;

#[derive(Clone, Debug)]
pub enum FlinkAuth {
    None,
    Basic {
        username: String,
        password: TokenSource,
    },
    Bearer(TokenSource),
}

#[derive(Clone, Debug)]
pub struct FlinkConfig {
    pub url: String,
    pub auth: FlinkAuth,
}

fn required(t: TokenSource, input: &'static str, mode: &str) -> Result<TokenSource> {
    match t {
        TokenSource::None => Err(Error::input(
            input,
            format!("is required with `flinkAuth: {mode}`"),
        )
        .with_hint("pass a secret variable, or name a Key Vault secret in flinkCredentialSecret")),
        t => Ok(t),
    }
}

fn auth(raw: &RawInputs, shared: &Shared<'_>) -> Result<FlinkAuth> {
    if let Some(t) = raw.get(i::FLINK_TOKEN) {
        header_safe(i::FLINK_TOKEN, t)?;
    }
    if let Some(u) = raw.get(i::FLINK_USERNAME) {
        no_control_chars(i::FLINK_USERNAME, u)?;
        if u.contains(':') {
            return Err(Error::input(
                i::FLINK_USERNAME,
                "contains `:`, which basic authentication cannot carry in a user name",
            ));
        }
    }
    let source = |value_input| {
        TokenSource::from_inputs(
            raw,
            value_input,
            i::FLINK_CREDENTIAL_SECRET,
            shared.has_key_vault,
        )
    };
    Ok(match raw.pick(i::FLINK_AUTH_INPUT)?.unwrap_or("none") {
        "basic" => FlinkAuth::Basic {
            username: raw.string(i::FLINK_USERNAME).ok_or_else(|| {
                Error::input(i::FLINK_USERNAME, "is required with `flinkAuth: basic`")
            })?,
            password: required(source(i::FLINK_PASSWORD)?, i::FLINK_PASSWORD, "basic")?,
        },
        "bearer" => FlinkAuth::Bearer(required(source(i::FLINK_TOKEN)?, i::FLINK_TOKEN, "bearer")?),
        _ => FlinkAuth::None,
    })
}

impl crate::targets::FromInputs for FlinkConfig {
    fn from_raw(raw: &RawInputs, shared: &Shared<'_>) -> Result<FlinkConfig> {
        let action = shared.run.action;
        let u = raw.get(i::FLINK_URL).ok_or_else(|| {
            Error::input(i::FLINK_URL, "is required for target `flink`")
                .with_hint("the JobManager REST URL, e.g. http://flink-jobmanager:8081")
        })?;
        let u = parse_url(i::FLINK_URL, u)?;
        let auth = auth(raw, shared)?;
        check_transport(
            i::FLINK_URL,
            &u,
            !matches!(auth, FlinkAuth::None),
            shared.allow_insecure_http,
        )?;
        if action == Action::Deploy && !matches!(shared.artifact, Artifact::Local(_)) {
            return Err(Error::input(
                i::ARTIFACT_PATH,
                "is required to deploy to a Flink session cluster",
            )
            .with_hint("the jar is uploaded through the cluster's /jars/upload"));
        }
        if action != Action::Validate && shared.job.job_name.is_none() {
            return Err(Error::input(
                i::JOB_NAME,
                format!(
                    "is required for target `flink` and action `{}`",
                    action.as_str()
                ),
            )
            .with_hint(
                "the name the job runs under; it is how the running job is found on upgrade",
            ));
        }
        Ok(FlinkConfig {
            url: base_url(&u),
            auth,
        })
    }
}
