//! The Ververica Platform target's inputs: where the platform is, how to sign in, which
//! namespace and deployment, and how the deployment is written.

use std::path::PathBuf;

use crate::config::checks::{
    base_url, check_transport, distinct_output, header_safe, parse_url, shorten,
    valid_resource_name, valid_uuid,
};
use crate::config::{Action, RawInputs, Shared, TokenSource};
use crate::error::{Error, Result};
use crate::kube::{ClusterConfig, ServiceRef};
use crate::pipeline::inputs as i;
use crate::secret::Secret;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    IfChanged,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncingMode {
    Patch,
    Put,
}

/// How the deployment is addressed on Ververica Platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeploymentRef {
    Name(String),
    Id(String),
}

impl std::fmt::Display for DeploymentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeploymentRef::Name(n) => write!(f, "`{n}`"),
            DeploymentRef::Id(id) => write!(f, "with id `{id}`"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct VvpConfig {
    /// Base URL without trailing slash; `None` only for offline `validate`/`renderCustomResource`.
    pub url: Option<String>,
    pub token: TokenSource,
    /// The input a refused token is blamed on.
    pub cred_input: &'static str,
    /// Ververica Platform as a service in a cluster (`vvpService`), reached through the API
    /// server's service proxy with `cluster`'s credentials instead of `url`.
    pub via: Option<ServiceRef>,
    pub cluster: Option<ClusterConfig>,
    pub namespace: String,
    pub restart: Restart,
    pub syncing_mode: SyncingMode,
    pub custom_resource_path: Option<PathBuf>,
    pub apikey_secret_name: Option<String>,
    pub deployment_id: Option<String>,
    pub display_name: Option<String>,
    pub deployment_target_name: Option<String>,
    pub deployment_target_id: Option<String>,
    pub session_cluster_name: Option<String>,
    pub savepoint_id: Option<String>,
}

fn uuid_input(
    raw: &RawInputs,
    name: &'static str,
    what: &str,
    hint: &str,
) -> Result<Option<String>> {
    let v = raw.string(name);
    if let Some(id) = &v {
        if !valid_uuid(id) {
            let e = Error::input(name, format!("`{}` is not {what} (UUID)", shorten(id)));
            return Err(if hint.is_empty() {
                e
            } else {
                e.with_hint(hint)
            });
        }
    }
    Ok(v)
}

/// Application mode (a deployment target) or session mode (a session cluster), not both.
fn check_mode(raw: &RawInputs) -> Result<()> {
    let given = |n: &str| raw.get(n).is_some();
    let count = [
        i::DEPLOYMENT_TARGET_NAME,
        i::DEPLOYMENT_TARGET_ID,
        i::SESSION_CLUSTER_NAME,
    ]
    .iter()
    .filter(|n| given(n))
    .count();
    let both_target_forms = given(i::DEPLOYMENT_TARGET_NAME)
        && given(i::DEPLOYMENT_TARGET_ID)
        && !given(i::SESSION_CLUSTER_NAME);
    if count > 1 && !both_target_forms {
        return Err(Error::input(i::SESSION_CLUSTER_NAME, "cannot be combined with a deployment target")
            .with_hint("a deployment runs either in application mode (deploymentTargetName/Id) or in session mode (sessionClusterName)"));
    }
    Ok(())
}

/// The platform's base URL. The task appends `/api/v1/namespaces/…` (and the namespaces and
/// artifacts APIs) itself, so a URL copied from the API (`…/api/v1`) or the web UI (`…/app/#/…`)
/// would send every request to a path that does not exist, reported much later as a missing
/// namespace.
fn platform_url(name: &'static str, v: &str) -> Result<url::Url> {
    let u = parse_url(name, v)?;
    let path = u.path().trim_end_matches('/');
    let api = ["/api", "/api/v1", "/app", "/namespaces/v1", "/artifacts/v1"]
        .iter()
        .find_map(|s| path.strip_suffix(s).map(|base| (s, base)))
        .or_else(|| path.find("/api/v1/").map(|at| (&"/api/v1", &path[..at])));
    if let Some((suffix, base)) = api {
        let mut fixed = u.clone();
        fixed.set_path(base);
        return Err(Error::input(
            name,
            format!(
                "`{}` includes `{suffix}`, a path of the platform's own APIs, not its base URL",
                shorten(v)
            ),
        )
        .with_hint(format!(
            "give the address of the platform itself: {}",
            base_url(&fixed)
        )));
    }
    Ok(u)
}

/// The platform's URL and token: the service connection, or `vvpUrl` with a token input.
fn connection(
    raw: &RawInputs,
    shared: &Shared<'_>,
) -> Result<(Option<url::Url>, TokenSource, &'static str)> {
    let ep = match raw.get(i::VVP_CONNECTION) {
        None => None,
        Some(id) => Some(raw.env.endpoint(id).ok_or_else(|| {
            Error::input(
                i::VVP_CONNECTION,
                format!(
                    "service connection `{}` was not passed to the task",
                    shorten(id)
                ),
            )
            .with_hint("check the connection name and that this pipeline is authorized to use it")
        })?),
    };
    let url = match (ep.as_ref().and_then(|e| e.url.clone()), raw.get(i::VVP_URL)) {
        (Some(_), Some(_)) => {
            return Err(
                Error::input(i::VVP_URL, "cannot be combined with `vvpConnection`")
                    .with_hint("use the service connection or vvpUrl, not both"),
            )
        }
        (Some(u), None) => Some(platform_url(i::VVP_CONNECTION, &u)?),
        (None, Some(u)) => Some(platform_url(i::VVP_URL, u)?),
        (None, None) => None,
    };
    let token = match ep.as_ref().and_then(|e| e.param("apitoken")) {
        Some(t) => {
            if raw.get(i::VVP_API_TOKEN).is_some() || raw.get(i::VVP_API_TOKEN_SECRET).is_some() {
                return Err(Error::input(
                    i::VVP_API_TOKEN,
                    "cannot be combined with `vvpConnection`, which has its own token",
                ));
            }
            header_safe(i::VVP_CONNECTION, t)?;
            TokenSource::Value(Secret::new(t))
        }
        None => TokenSource::from_inputs(
            raw,
            i::VVP_API_TOKEN,
            i::VVP_API_TOKEN_SECRET,
            shared.has_key_vault,
        )?,
    };
    let cred_input = match (&ep, &token) {
        (Some(_), _) => i::VVP_CONNECTION,
        (None, TokenSource::KeyVault(_)) => i::VVP_API_TOKEN_SECRET,
        (None, _) => i::VVP_API_TOKEN,
    };
    match &url {
        Some(u) => check_transport(
            if ep.is_some() {
                i::VVP_CONNECTION
            } else {
                i::VVP_URL
            },
            u,
            !token.is_none(),
            shared.allow_insecure_http,
        )?,
        None if !matches!(
            shared.run.action,
            Action::Validate | Action::RenderCustomResource
        ) =>
        {
            return Err(Error::input(
                i::VVP_URL,
                format!("is required for action `{}`", shared.run.action.as_str()),
            )
            .with_hint(
                "select a Ververica Platform service connection (vvpConnection), set vvpUrl, or name its service in a Kubernetes cluster (vvpService)",
            ));
        }
        None => {}
    }
    Ok((url, token, cred_input))
}

/// How the platform is reached: its URL and token, or a service in a cluster.
struct Reach {
    url: Option<url::Url>,
    token: TokenSource,
    cred_input: &'static str,
    via: Option<(ServiceRef, ClusterConfig)>,
}

/// `vvpService`: Ververica Platform inside a cluster, through the API server's service proxy.
/// The proxy carries the cluster's credential, not an API token: the API server removes the
/// `Authorization` header before it forwards a request, and Ververica Platform reads tokens
/// from no other place.
fn through_cluster(raw: &RawInputs, shared: &Shared<'_>) -> Result<Option<Reach>> {
    let Some(v) = raw.get(i::VVP_SERVICE) else {
        return Ok(None);
    };
    for other in [i::VVP_URL, i::VVP_CONNECTION] {
        if raw.get(other).is_some() {
            return Err(Error::input(
                i::VVP_SERVICE,
                format!("cannot be combined with `{other}`"),
            )
            .with_hint("name Ververica Platform once: by URL (vvpUrl or vvpConnection) or as a service in the cluster (vvpService)"));
        }
    }
    for token in [i::VVP_API_TOKEN, i::VVP_API_TOKEN_SECRET] {
        if raw.get(token).is_some() {
            return Err(Error::input(
                token,
                "cannot be used with `vvpService`: a request through the Kubernetes API server's service proxy cannot carry a Ververica Platform API token (the API server removes the Authorization header before it forwards the request)",
            )
            .with_hint(PROXY_AUTH_HINT));
        }
    }
    let default_ns = raw.get(i::NAMESPACE).unwrap_or("default");
    let svc = ServiceRef::parse(i::VVP_SERVICE, v, default_ns)?;
    let cluster = ClusterConfig::from_raw(
        raw,
        shared.azure,
        "vvpService reaches Ververica Platform through the cluster's API server",
    )?;
    Ok(Some(Reach {
        url: None,
        token: TokenSource::None,
        cred_input: i::VVP_SERVICE,
        via: Some((svc, cluster)),
    }))
}

/// What to do when Ververica Platform behind the service proxy wants an API token.
pub const PROXY_AUTH_HINT: &str = "the service proxy reaches only a Ververica Platform that serves its API without authentication (Kubernetes RBAC on services/proxy then decides who may call it); with authentication on, give vvpUrl or vvpConnection with an API token (an ingress or internal load balancer in front of Ververica Platform)";

impl crate::targets::FromInputs for VvpConfig {
    fn from_raw(raw: &RawInputs, shared: &Shared<'_>) -> Result<VvpConfig> {
        if let Some(t) = raw.get(i::VVP_API_TOKEN) {
            header_safe(i::VVP_API_TOKEN, t)?;
        }
        VvpConfig::read(raw, shared, || match through_cluster(raw, shared)? {
            Some(r) => Ok(r),
            None => {
                let (url, token, cred_input) = connection(raw, shared)?;
                Ok(Reach {
                    url,
                    token,
                    cred_input,
                    via: None,
                })
            }
        })
    }
}

impl VvpConfig {
    /// Whether the platform is reached at all (a URL or a service in a cluster).
    pub fn online(&self) -> bool {
        self.url.is_some() || self.via.is_some()
    }

    /// Everything about the deployment, but not where Ververica Platform is: for a target that
    /// hands the deployment to the platform's Kubernetes operator.
    pub fn without_platform(raw: &RawInputs, shared: &Shared<'_>) -> Result<VvpConfig> {
        VvpConfig::read(raw, shared, || {
            Ok(Reach {
                url: None,
                token: TokenSource::None,
                cred_input: i::VVP_API_TOKEN,
                via: None,
            })
        })
    }

    fn read(
        raw: &RawInputs,
        shared: &Shared<'_>,
        reach: impl FnOnce() -> Result<Reach>,
    ) -> Result<VvpConfig> {
        let deployment_id = uuid_input(
            raw,
            i::DEPLOYMENT_ID,
            "a deployment id",
            "use deploymentName to address the deployment by name",
        )?;
        let deployment_target_id = uuid_input(
            raw,
            i::DEPLOYMENT_TARGET_ID,
            "a deployment target id",
            "use deploymentTargetName to address the target by name",
        )?;
        check_mode(raw)?;
        let savepoint_id = uuid_input(raw, i::SAVEPOINT_ID, "a savepoint id", "")?;
        if savepoint_id.is_some() && raw.get(i::SAVEPOINT_LOCATION).is_some() {
            return Err(Error::input(
                i::SAVEPOINT_LOCATION,
                "cannot be combined with `savepointId`",
            )
            .with_hint("name the savepoint once"));
        }
        let Reach {
            url,
            token,
            cred_input,
            via,
        } = reach()?;
        let namespace = raw.get(i::VVP_NAMESPACE).unwrap_or("default").to_owned();
        let rule = "lower-case letters, digits and hyphens, at most 63 characters";
        let ok = valid_resource_name(&namespace);
        crate::config::checks::require(ok, i::VVP_NAMESPACE, &namespace, "a namespace name", rule)?;
        let custom_resource_path = raw
            .get(i::CUSTOM_RESOURCE_PATH)
            .map(|p| shared.vars.resolve_path(p));
        if shared.run.action == Action::RenderCustomResource && custom_resource_path.is_none() {
            return Err(Error::input(
                i::CUSTOM_RESOURCE_PATH,
                "is required for action `renderCustomResource`",
            )
            .with_hint("give the file to write, e.g. k8s/vvpdeployment.yaml"));
        }
        // These become a segment of the request's path: `../deployments/x` would read another
        // resource and `vvp-jobs?x=1` a different one than named.
        for input in [i::DEPLOYMENT_TARGET_NAME, i::SESSION_CLUSTER_NAME] {
            if let Some(n) = raw.get(input) {
                if !valid_resource_name(n) {
                    return Err(crate::config::checks::not_a(input, n, "a Ververica Platform resource name")
                    .with_hint("lower-case letters, digits and hyphens, at most 63 characters, as shown in the web UI"));
                }
            }
        }
        if let Some(out) = &custom_resource_path {
            let mut files = crate::config::named_reads(shared.job, shared.artifact, shared.vars);
            if let Some(t) = raw.get(i::TEST_RESULTS_FILE) {
                files.push((
                    i::TEST_RESULTS_FILE,
                    std::borrow::Cow::Owned(shared.vars.resolve_path(t)),
                ));
            }
            distinct_output(i::CUSTOM_RESOURCE_PATH, out, &files)?;
        }
        if let Some(n) = raw.get(i::APIKEY_SECRET_NAME) {
            if !valid_resource_name(n) {
                return Err(crate::config::checks::not_a(
                    i::APIKEY_SECRET_NAME,
                    n,
                    "a Kubernetes secret name",
                ));
            }
        }
        let (via, cluster) = via.map_or((None, None), |(s, c)| (Some(s), Some(c)));
        Ok(VvpConfig {
            url: url.as_ref().map(base_url),
            token,
            cred_input,
            via,
            cluster,
            namespace,
            restart: match raw.pick(i::RESTART)?.unwrap_or("ifChanged") {
                "always" => Restart::Always,
                "never" => Restart::Never,
                _ => Restart::IfChanged,
            },
            syncing_mode: match raw.pick(i::SYNCING_MODE)?.unwrap_or("PATCH") {
                "PUT" => SyncingMode::Put,
                _ => SyncingMode::Patch,
            },
            custom_resource_path,
            apikey_secret_name: raw.string(i::APIKEY_SECRET_NAME),
            deployment_id,
            display_name: raw.string(i::DISPLAY_NAME),
            deployment_target_name: raw.string(i::DEPLOYMENT_TARGET_NAME),
            deployment_target_id,
            session_cluster_name: raw.string(i::SESSION_CLUSTER_NAME),
            savepoint_id,
        })
    }
}
