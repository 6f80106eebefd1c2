//! A signed-in cluster and the few API calls the targets make: read an object, server-side
//! apply (this task as field manager, dry run on request), delete, list an object's events, and
//! the service proxy's base URL. Requests go through the one HTTP client (agent proxy, agent CA
//! plus the cluster's CA, retries, URLs shown without queries); Entra ID tokens are fetched per
//! request from the connection's cache, so a long wait never runs on an expired one.

use std::sync::Arc;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;

use super::status::{self, Refused};
use super::{ObjectRef, ServiceRef};
use crate::azure::auth::AzureTokens;
use crate::error::{Error, Result};
use crate::http::{Body, Http, Request, Response};
use crate::pipeline::vso::Masker;
use crate::secret::Secret;

/// The task's name as a field manager: what it applies, it owns.
pub const FIELD_MANAGER: &str = "flink-deploy";

/// API calls answer in milliseconds; a hung one must not eat the run's timeout.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub(super) enum Bearer {
    None,
    Static(Secret),
    /// An Entra ID token for `scope`, from the AzureRM connection (cached and renewed there).
    Entra {
        tokens: Arc<AzureTokens>,
        scope: String,
    },
}

/// A cluster the run has signed in to.
pub struct Cluster {
    /// The cluster in words, for the plan and errors.
    pub describe: String,
    /// The API server's URL, without a trailing slash.
    pub server: String,
    /// The namespace the run works in (`namespace`, the context's, or `default`).
    pub namespace: String,
    /// The input a refused credential is blamed on.
    pub credential_input: &'static str,
    pub(super) http: Http,
    pub(super) bearer: Bearer,
    pub(super) masker: Masker,
}

/// How a server-side apply is sent.
#[derive(Clone, Copy, Debug)]
pub struct Apply {
    /// Take over fields other managers own.
    pub force: bool,
    /// `dryRun=All`: validated and answered as stored, nothing is written.
    pub dry_run: bool,
}

/// A path segment or query value, percent-encoded (names are checked before, so this is a guard).
pub(super) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl ObjectRef {
    /// The collection's path, e.g. `/apis/ververica.platform/v1/namespaces/ns/vvpdeployments`.
    pub fn collection(&self) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        format!("{base}/namespaces/{}/{}", enc(&self.namespace), self.plural)
    }

    pub fn path(&self) -> String {
        format!("{}/{}", self.collection(), enc(&self.name))
    }
}

impl Cluster {
    /// The bearer token for the next request (masked the moment it is known).
    async fn token(&self) -> Result<Option<Secret>> {
        Ok(match &self.bearer {
            Bearer::None => None,
            Bearer::Static(t) => Some(t.clone()),
            Bearer::Entra { tokens, scope } => {
                let t = tokens.token(&self.http, scope).await?;
                self.masker.add_once(t.expose());
                Some(t)
            }
        })
    }

    /// Send a request to the API server (or through it) with the cluster's credential.
    pub async fn send(&self, req: Request) -> Result<Response> {
        let token = self.token().await?;
        let req = req.bearer(token.as_ref().map(Secret::expose));
        self.http.send(req).await
    }

    fn request(&self, method: Method, path: &str) -> Request {
        Request::new(method, format!("{}{path}", self.server))
            .header(ACCEPT, "application/json")
            .timeout(REQUEST_TIMEOUT)
    }

    /// The object, or `None` when it does not exist.
    pub async fn get(&self, r: &ObjectRef) -> Result<Option<Value>> {
        let resp = self.send(self.request(Method::GET, &r.path())).await?;
        match resp.status {
            200 => Ok(Some(resp.json()?)),
            404 if status::is_object_missing(&resp) => Ok(None),
            _ => Err(self.refused(&resp, r, "get")),
        }
    }

    /// Server-side apply `body` as [`FIELD_MANAGER`]; the object as stored (or as it would be).
    /// What the server refuses in the body (schema, undeclared fields, conflicts, admission) is
    /// blamed on `spec_input`.
    pub async fn apply(
        &self,
        r: &ObjectRef,
        body: &Value,
        how: Apply,
        spec_input: &'static str,
    ) -> Result<Value> {
        let mut q = format!("?fieldManager={FIELD_MANAGER}");
        if how.force {
            q.push_str("&force=true");
        }
        if how.dry_run {
            q.push_str("&dryRun=All");
        }
        // JSON is YAML: the apply patch is sent as the JSON the plan showed.
        let req = self
            .request(Method::PATCH, &format!("{}{q}", r.path()))
            .body(Body::Bytes {
                content_type: "application/apply-patch+yaml".into(),
                data: body.to_string().into_bytes(),
            })
            // The same apply twice is the same object: a repeat after a lost answer is safe.
            .retry(true);
        let resp = self.send(req).await?;
        if resp.is_success() {
            return resp.json();
        }
        Err(status::refused(
            self,
            &resp,
            &Refused {
                obj: r,
                verb: "patch",
                spec_input: Some(spec_input),
            },
        ))
    }

    /// Delete the object; `false` when it was not there.
    pub async fn delete(&self, r: &ObjectRef) -> Result<bool> {
        let req = self
            .request(Method::DELETE, &r.path())
            .header(CONTENT_TYPE, "application/json");
        let resp = self.send(req).await?;
        match resp.status {
            200..=299 => Ok(true),
            404 if status::is_object_missing(&resp) => Ok(false),
            _ => Err(self.refused(&resp, r, "delete")),
        }
    }

    /// The object's core/v1 events, oldest first (`kubectl get events --field-selector
    /// involvedObject.name=...`).
    pub async fn events(&self, r: &ObjectRef, uid: Option<&str>) -> Result<Vec<Value>> {
        let mut sel = format!(
            "involvedObject.name={},involvedObject.kind={}",
            r.name, r.kind
        );
        if let Some(u) = uid {
            sel.push_str(&format!(",involvedObject.uid={u}"));
        }
        let path = format!(
            "/api/v1/namespaces/{}/events?fieldSelector={}",
            enc(&r.namespace),
            enc(&sel)
        );
        let resp = self.send(self.request(Method::GET, &path)).await?;
        if !resp.is_success() {
            let events = ObjectRef::core("v1", "events", "Event", &r.namespace, "");
            return Err(self.refused(&resp, &events, "list"));
        }
        let v: Value = resp.json()?;
        let mut items = v
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        items.sort_by_key(status::event_order);
        Ok(items)
    }

    /// The base URL of a service behind the API server's service proxy.
    pub fn proxy_base(&self, svc: &ServiceRef) -> String {
        format!(
            "{}/api/v1/namespaces/{}/services/{}/proxy",
            self.server,
            enc(&svc.namespace),
            svc.proxy_name()
        )
    }

    /// An answer of the API server (not of the service behind it) refusing a proxied request:
    /// no such service or port, no permission, a backend that does not answer.
    pub fn proxy_refusal(&self, r: &Response, svc: &ServiceRef, method: &Method) -> Option<Error> {
        status::proxy_refusal(self, r, svc, method)
    }

    fn refused(&self, r: &Response, obj: &ObjectRef, verb: &str) -> Error {
        status::refused(
            self,
            r,
            &Refused {
                obj,
                verb,
                spec_input: None,
            },
        )
    }
}
