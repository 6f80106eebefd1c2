//! The Application Manager API (`/api/v1/namespaces/{ns}/…`), the namespaces API and the
//! artifacts API over the one HTTP client. Every failure names the object, the namespace and the
//! URL (without query) and quotes the server's message; 401/403 explain the role the token needs.

use std::path::Path;
use std::time::Duration;

use reqwest::header::ACCEPT;
use reqwest::Method;
use serde_json::Value;

use super::DeploymentRef;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{display_url, percent_encode, segment, Body, Http, Request, Response};
use crate::kube::{Cluster, ServiceRef};
use crate::secret::Secret;

/// The largest jar the artifacts API takes (Ververica's artifact-management docs: 50 MB).
pub const MAX_ARTIFACT_BYTES: u64 = 50 * 1024 * 1024;

/// Per-request limit for API calls; uploads get [`UPLOAD_TIMEOUT`].
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// 50 MB over a slow agent link.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// What a request is about, for error messages.
#[derive(Clone, Debug)]
pub enum Object {
    Namespace,
    Deployment(DeploymentRef),
    DeploymentTarget(String),
    SessionCluster(String),
    Savepoint(String),
    Savepoints,
    Job(String),
    Events,
    Jobs,
    Artifact(String),
}

impl Object {
    fn describe(&self, ns: &str) -> String {
        match self {
            Object::Namespace => format!("namespace `{ns}`"),
            Object::Deployment(r) => format!("deployment {r} in namespace `{ns}`"),
            Object::DeploymentTarget(t) => {
                format!("deployment target `{t}` in namespace `{ns}`")
            }
            Object::SessionCluster(s) => format!("session cluster `{s}` in namespace `{ns}`"),
            Object::Savepoint(id) => format!("savepoint `{id}` in namespace `{ns}`"),
            Object::Savepoints => format!("the savepoints of namespace `{ns}`"),
            Object::Job(id) => format!("job `{id}` in namespace `{ns}`"),
            Object::Events => format!("the events of namespace `{ns}`"),
            Object::Jobs => format!("the jobs of namespace `{ns}`"),
            Object::Artifact(f) => format!("artifact `{f}` in namespace `{ns}`"),
        }
    }
}

/// Who to blame for a refused token.
#[derive(Clone, Copy, Debug)]
pub struct Credential {
    /// The input that holds (or names) the token.
    pub input: &'static str,
    pub present: bool,
}

/// The error for a non-success answer. Pure, so each mapping is tested without a server.
pub fn status_error(
    resp_status: u16,
    method: &Method,
    url: &str,
    server: &str,
    ns: &str,
    object: &Object,
    cred: Credential,
) -> Error {
    let what = object.describe(ns);
    let call = format!("{method} {}", display_url(url));
    match resp_status {
        401 => {
            let e = Error::input(
                cred.input,
                format!("Ververica Platform rejected the API token (HTTP 401) for {call}: {server}"),
            );
            if cred.present {
                e.with_hint(format!("the token is wrong, expired or revoked; create one under Administration > API Tokens with the editor or owner role in namespace `{ns}`"))
            } else {
                e.with_hint("authentication is enabled on this Ververica Platform: give an API token (vvpApiToken as a secret variable, or a vvpConnection)")
            }
        }
        403 => Error::input(
            cred.input,
            format!("the API token may not access {what} (HTTP 403 for {call}): {server}"),
        )
        .with_hint(format!(
            "the token needs the editor or owner role in namespace `{ns}` (viewer can only read)"
        )),
        404 => {
            let missing = match object {
                Object::Namespace | Object::Events | Object::Jobs | Object::Savepoints => {
                    format!("namespace `{ns}` was not found")
                }
                _ => format!("{what} was not found (or namespace `{ns}` does not exist)"),
            };
            Error::platform(format!("{missing}: {call} answered HTTP 404: {server}"))
        }
        409 => Error::platform(format!(
            "{what} was changed concurrently: {call} answered HTTP 409: {server}"
        ))
        .with_hint("another change to the deployment happened at the same time; run again"),
        413 => Error::platform(format!("{call} answered HTTP 413: {server}"))
            .with_hint("the artifact is too large for the artifacts API (at most 50 MB); upload it to Blob Storage instead"),
        s => Error::platform(format!("{what}: {call} answered HTTP {s}: {server}")),
    }
}

/// A write's answer: done, or refused with 409 (the caller re-reads and retries once).
pub enum Written {
    Done(Option<Value>),
    Conflict(Error),
}

/// How requests reach the platform.
enum Transport<'a> {
    /// Its URL, with the API token.
    Direct {
        http: &'a Http,
        token: Option<&'a Secret>,
    },
    /// A service in a cluster, through the API server's service proxy: the cluster's credential
    /// signs each request, and the API server's own refusals are told from the platform's.
    Proxy {
        cluster: &'a Cluster,
        service: &'a ServiceRef,
    },
}

pub struct Client<'a> {
    transport: Transport<'a>,
    base: String,
    pub ns: String,
    cred: Credential,
}

impl<'a> Client<'a> {
    pub fn new(
        http: &'a Http,
        base: &str,
        ns: &str,
        token: Option<&'a Secret>,
        cred_input: &'static str,
    ) -> Self {
        Client {
            transport: Transport::Direct { http, token },
            base: base.trim_end_matches('/').to_owned(),
            ns: ns.to_owned(),
            cred: Credential {
                input: cred_input,
                present: token.is_some(),
            },
        }
    }

    /// The platform as `service` in `cluster`, through the API server's service proxy.
    pub fn through(cluster: &'a Cluster, service: &'a ServiceRef, ns: &str) -> Self {
        Client {
            base: cluster.proxy_base(service),
            transport: Transport::Proxy { cluster, service },
            ns: ns.to_owned(),
            cred: Credential {
                input: crate::pipeline::inputs::VVP_SERVICE,
                present: false,
            },
        }
    }

    /// Send one request the way the platform is reached.
    async fn transmit(&self, req: Request) -> Result<Response> {
        match &self.transport {
            Transport::Direct { http, token } => {
                http.send(req.bearer(token.map(Secret::expose))).await
            }
            Transport::Proxy { cluster, service } => {
                let method = req.method.clone();
                let r = cluster.send(req).await?;
                if let Some(e) = cluster.proxy_refusal(&r, service, &method) {
                    return Err(e);
                }
                if r.status == 401 {
                    return Err(Error::input(
                        crate::pipeline::inputs::VVP_SERVICE,
                        format!(
                            "Ververica Platform behind {} asks for an API token (HTTP 401 for {method} {}), which a request through the Kubernetes API server's service proxy cannot carry: the API server removes the Authorization header before it forwards the request",
                            service.describe(),
                            display_url(&r.url)
                        ),
                    )
                    .with_hint(super::config::PROXY_AUTH_HINT));
                }
                Ok(r)
            }
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `rest` is already encoded: built with [`Client::named`] or [`Client::query`].
    fn api(&self, rest: &str) -> String {
        format!(
            "{}/api/v1/namespaces/{}/{rest}",
            self.base,
            percent_encode(&self.ns)
        )
    }

    /// `{collection}/{name}`, the name encoded as one path segment; a name that cannot be one
    /// (`..`, empty) is refused before any request.
    fn named(&self, collection: &str, name: &str, object: &Object) -> Result<String> {
        let seg = segment(name).map_err(|e| {
            Error::platform(format!("{}: {}", object.describe(&self.ns), e.message))
        })?;
        Ok(self.api(&format!("{collection}/{seg}")))
    }

    /// `{collection}?{key}={value}`, the value encoded.
    fn query(&self, collection: &str, key: &str, value: &str) -> String {
        self.api(&format!("{collection}?{key}={}", percent_encode(value)))
    }

    fn deployment_url(&self, r: &DeploymentRef) -> Result<String> {
        let seg = match r {
            DeploymentRef::Name(n) => n,
            DeploymentRef::Id(id) => id,
        };
        self.named("deployments", seg, &Object::Deployment(r.clone()))
    }

    /// The deployment's page in the web UI (none behind the service proxy: a browser cannot
    /// sign in to the API server).
    pub fn ui_link(&self, deployment_id: &str) -> Option<String> {
        match self.transport {
            Transport::Direct { .. } => Some(format!(
                "{}/app/#/namespaces/{}/deployments/{}/detail/overview",
                self.base,
                percent_encode(&self.ns),
                percent_encode(deployment_id)
            )),
            Transport::Proxy { .. } => None,
        }
    }

    fn request(&self, method: Method, url: String) -> Request {
        // API calls answer in milliseconds; a hung one must not eat the run's timeout.
        Request::new(method, url)
            .header(ACCEPT, "application/json")
            .timeout(REQUEST_TIMEOUT)
    }

    fn error(&self, req_method: &Method, r: &Response, object: &Object) -> Error {
        status_error(
            r.status,
            req_method,
            &r.url,
            &r.server_message(),
            &self.ns,
            object,
            self.cred,
        )
    }

    /// Send; 401/403 become errors here, every other status is the caller's.
    async fn send(&self, req: Request, object: &Object) -> Result<Response> {
        let method = req.method.clone();
        let r = self.transmit(req).await?;
        if r.status == 401 || r.status == 403 {
            return Err(self.error(&method, &r, object));
        }
        Ok(r)
    }

    async fn get_json(&self, url: String, object: Object) -> Result<Option<Value>> {
        let r = self
            .send(self.request(Method::GET, url).retry(true), &object)
            .await?;
        match r.status {
            200 => Ok(Some(r.json()?)),
            // The Application Manager answers for the namespace too.
            404 if super::judge::says_namespace_missing(&r.body, &self.ns) => {
                Err(self.missing_namespace(&r.server_message()))
            }
            404 => Ok(None),
            _ => Err(self.error(&Method::GET, &r, &object)),
        }
    }

    /// The error for a namespace the platform said does not exist (`said`: its words).
    pub fn missing_namespace(&self, said: &str) -> Error {
        Error::input(
            crate::pipeline::inputs::VVP_NAMESPACE,
            format!(
                "namespace `{}` does not exist on {} (Ververica Platform: {said})",
                self.ns,
                display_url(&self.base)
            ),
        )
        .with_hint("check the name under Administration > Namespaces (names are lower-case)")
    }

    async fn get_list(&self, url: String, object: Object) -> Result<Value> {
        self.get_json(url, object.clone()).await?.ok_or_else(|| {
            status_error(
                404,
                &Method::GET,
                "",
                "not found",
                &self.ns,
                &object,
                self.cred,
            )
        })
    }

    pub async fn get_deployment(&self, r: &DeploymentRef) -> Result<Option<Value>> {
        self.get_json(self.deployment_url(r)?, Object::Deployment(r.clone()))
            .await
    }

    /// Ask the platform API whether the namespace exists: an error only when the platform itself
    /// said it does not. Any other answer (the API is not routed through the ingress, the
    /// token may not read it) leaves the Application Manager's own answers to tell.
    pub async fn check_namespace(&self) -> Result<()> {
        let url = format!(
            "{}/namespaces/v1/namespaces/{}",
            self.base,
            percent_encode(&self.ns)
        );
        let r = self.transmit(self.request(Method::GET, url)).await?;
        if r.status == 404 && super::judge::says_namespace_missing(&r.body, &self.ns) {
            return Err(self.missing_namespace(&r.server_message()));
        }
        Ok(())
    }

    pub async fn deployment_target_by_name(&self, name: &str) -> Result<Option<Value>> {
        let object = Object::DeploymentTarget(name.to_owned());
        self.get_json(self.named("deployment-targets", name, &object)?, object)
            .await
    }

    /// Deployment targets are addressed by name; an id is looked up in the list.
    pub async fn deployment_target_by_id(&self, id: &str) -> Result<Option<Value>> {
        let list = self
            .get_list(
                self.api("deployment-targets"),
                Object::DeploymentTarget(id.to_owned()),
            )
            .await?;
        Ok(list
            .get("items")
            .and_then(Value::as_array)
            .and_then(|items| {
                items
                    .iter()
                    .find(|t| t.pointer("/metadata/id").and_then(Value::as_str) == Some(id))
                    .cloned()
            }))
    }

    pub async fn session_cluster(&self, name: &str) -> Result<Option<Value>> {
        let object = Object::SessionCluster(name.to_owned());
        self.get_json(self.named("sessionclusters", name, &object)?, object)
            .await
    }

    async fn write(
        &self,
        method: Method,
        url: String,
        body: Option<&Value>,
        object: Object,
    ) -> Result<Written> {
        // PATCH with a merge patch and PUT are idempotent: a repeat after a lost answer is safe.
        let idempotent = matches!(method, Method::PATCH | Method::PUT | Method::DELETE);
        let mut req = self.request(method.clone(), url).retry(idempotent);
        if let Some(b) = body {
            req = req.body(Body::Json(b.clone()));
        }
        let r = self.send(req, &object).await?;
        match r.status {
            200..=299 => {
                if r.body.iter().all(u8::is_ascii_whitespace) {
                    Ok(Written::Done(None))
                } else {
                    Ok(Written::Done(Some(r.json()?)))
                }
            }
            409 => Ok(Written::Conflict(self.error(&method, &r, &object))),
            _ => Err(self.error(&method, &r, &object)),
        }
    }

    pub async fn create_deployment(&self, body: &Value, r: &DeploymentRef) -> Result<Written> {
        self.write(
            Method::POST,
            self.api("deployments"),
            Some(body),
            Object::Deployment(r.clone()),
        )
        .await
    }

    pub async fn patch_deployment(&self, r: &DeploymentRef, body: &Value) -> Result<Written> {
        self.write_deployment(Method::PATCH, r, Some(body)).await
    }

    pub async fn put_deployment(&self, r: &DeploymentRef, body: &Value) -> Result<Written> {
        self.write_deployment(Method::PUT, r, Some(body)).await
    }

    async fn write_deployment(
        &self,
        method: Method,
        r: &DeploymentRef,
        body: Option<&Value>,
    ) -> Result<Written> {
        let url = self.deployment_url(r)?;
        self.write(method, url, body, Object::Deployment(r.clone()))
            .await
    }

    pub async fn delete_deployment(&self, r: &DeploymentRef) -> Result<Written> {
        self.write_deployment(Method::DELETE, r, None).await
    }

    /// A collection filtered to one deployment.
    async fn of_deployment(
        &self,
        collection: &str,
        deployment_id: &str,
        object: Object,
    ) -> Result<Value> {
        self.get_list(
            self.query(collection, "deploymentId", deployment_id),
            object,
        )
        .await
    }

    /// One object of a collection, by id; `None` when the platform has none.
    async fn by_id(&self, collection: &str, id: &str, object: Object) -> Result<Option<Value>> {
        self.get_json(self.named(collection, id, &object)?, object)
            .await
    }

    pub async fn events(&self, deployment_id: &str) -> Result<Value> {
        self.of_deployment("events", deployment_id, Object::Events)
            .await
    }

    pub async fn jobs(&self, deployment_id: &str) -> Result<Value> {
        self.of_deployment("jobs", deployment_id, Object::Jobs)
            .await
    }

    pub async fn job(&self, id: &str) -> Result<Option<Value>> {
        self.by_id("jobs", id, Object::Job(id.to_owned())).await
    }

    pub async fn savepoints(&self, deployment_id: &str) -> Result<Value> {
        self.of_deployment("savepoints", deployment_id, Object::Savepoints)
            .await
    }

    pub async fn savepoint(&self, id: &str) -> Result<Option<Value>> {
        self.by_id("savepoints", id, Object::Savepoint(id.to_owned()))
            .await
    }

    pub async fn create_savepoint(&self, body: &Value) -> Result<Value> {
        match self
            .write(
                Method::POST,
                self.api("savepoints"),
                Some(body),
                Object::Savepoints,
            )
            .await?
        {
            Written::Done(Some(v)) => Ok(v),
            Written::Done(None) => Err(Error::platform(format!(
                "POST {} returned no savepoint",
                display_url(&self.api("savepoints"))
            ))),
            Written::Conflict(e) => Err(e),
        }
    }

    /// Upload a jar through the artifacts API; returns the URI to use as `jarUri`.
    pub async fn upload_artifact(&self, path: &Path, file_name: &str) -> Result<String> {
        let url = format!(
            "{}/artifacts/v1/namespaces/{}/artifacts:upload",
            self.base,
            percent_encode(&self.ns)
        );
        let object = Object::Artifact(file_name.to_owned());
        // Re-uploading the same file name overwrites it, so a repeat is harmless.
        let req = self
            .request(Method::POST, url.clone())
            .timeout(UPLOAD_TIMEOUT)
            .slow()
            .retry(true)
            .body(Body::MultipartFile {
                field: "file".into(),
                path: path.to_owned(),
                file_name: file_name.to_owned(),
                content_type: "application/java-archive".into(),
            });
        let r = self.send(req, &object).await?;
        if !r.is_success() {
            return Err(self.error(&Method::POST, &r, &object));
        }
        let v: Value = r.json()?;
        v.pointer("/artifact/uri")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Platform,
                    format!("POST {} answered without `artifact.uri`", display_url(&url)),
                )
                .with_detail(format!(
                    "body: {}",
                    crate::config::checks::shorten(&r.text())
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRED: Credential = Credential {
        input: "vvpApiToken",
        present: true,
    };

    fn err(status: u16, object: Object) -> Error {
        status_error(
            status,
            &Method::PATCH,
            "https://vvp.example/api/v1/namespaces/prod/deployments/top-speed?x=1",
            "the server said no",
            "prod",
            &object,
            CRED,
        )
    }

    #[test]
    fn refused_tokens_name_the_input_and_the_role() {
        let e = err(
            401,
            Object::Deployment(DeploymentRef::Name("top-speed".into())),
        );
        assert_eq!(e.kind, ErrorKind::Input);
        assert!(
            e.message.contains("`vvpApiToken`") && e.message.contains("HTTP 401"),
            "{e}"
        );
        assert!(e.message.contains("the server said no"));
        assert!(e
            .hint
            .as_ref()
            .unwrap()
            .contains("editor or owner role in namespace `prod`"));
        let e = err(
            403,
            Object::Deployment(DeploymentRef::Name("top-speed".into())),
        );
        assert!(
            e.message
                .contains("deployment `top-speed` in namespace `prod`"),
            "{e}"
        );
        assert!(e.hint.unwrap().contains("viewer can only read"));
        let e = status_error(
            401,
            &Method::GET,
            "http://x",
            "",
            "prod",
            &Object::Namespace,
            Credential {
                input: "vvpApiToken",
                present: false,
            },
        );
        assert!(e.hint.unwrap().contains("give an API token"));
    }

    #[test]
    fn not_found_says_what_is_missing_and_hides_the_query() {
        let e = err(404, Object::DeploymentTarget("vvp-jobs".into()));
        assert!(
            e.message
                .contains("deployment target `vvp-jobs` in namespace `prod` was not found"),
            "{e}"
        );
        assert!(e.message.contains("/deployments/top-speed?…"), "{e}");
        assert!(!e.message.contains("x=1"));
        let e = err(404, Object::Events);
        assert!(
            e.message.starts_with("namespace `prod` was not found"),
            "{e}"
        );
    }

    #[test]
    fn other_statuses_quote_the_server() {
        let e = err(
            409,
            Object::Deployment(DeploymentRef::Id(
                "d320ec04-16f5-4915-b236-6efa43b7e003".into(),
            )),
        );
        assert!(
            e.message
                .contains("deployment with id `d320ec04-16f5-4915-b236-6efa43b7e003`"),
            "{e}"
        );
        assert!(e.message.contains("HTTP 409: the server said no"));
        let e = err(500, Object::Jobs);
        assert_eq!(e.kind, ErrorKind::Platform);
        assert!(e.message.contains("HTTP 500: the server said no"), "{e}");
    }
}
