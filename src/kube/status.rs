//! The API server's `Status` answers turned into errors that name the object, the input to fix
//! and the fix: a refused credential, a missing permission (with the rule to grant), a missing
//! namespace or service, schema violations with their fields, server-side apply conflicts with
//! the other manager's name, and the service proxy's own refusals.

use reqwest::Method;
use serde_json::Value;

use super::client::Cluster;
use super::{ObjectRef, ServiceRef};
use crate::error::Error;
use crate::http::{display_url, Response};
use crate::pipeline::inputs as i;

/// A `Status` object (kind `Status`, apiVersion `v1`).
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub message: String,
    pub reason: String,
    /// `details.kind`: the resource the status is about (e.g. `namespaces`).
    pub kind: String,
    pub name: String,
    /// `details.causes`: (field, message, reason).
    pub causes: Vec<(String, String, String)>,
}

pub fn parse(r: &Response) -> Option<Status> {
    let v: Value = serde_json::from_slice(&r.body).ok()?;
    if v.get("kind").and_then(Value::as_str) != Some("Status")
        || v.get("apiVersion").and_then(Value::as_str) != Some("v1")
    {
        return None;
    }
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let details = v.get("details").cloned().unwrap_or(Value::Null);
    let causes = details
        .get("causes")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| (s(c, "field"), s(c, "message"), s(c, "reason")))
                .collect()
        })
        .unwrap_or_default();
    Some(Status {
        message: s(&v, "message"),
        reason: s(&v, "reason"),
        kind: s(&details, "kind"),
        name: s(&details, "name"),
        causes,
    })
}

/// A 404 about the object itself (not about an unknown resource type).
pub fn is_object_missing(r: &Response) -> bool {
    r.status == 404 && parse(r).is_some_and(|s| s.reason == "NotFound" && !s.name.is_empty())
}

/// Events oldest first: by time, then by resourceVersion (numbers in every API server that
/// stores in etcd; compared as text otherwise).
pub fn event_order(e: &Value) -> (String, u64, String) {
    let t = ["lastTimestamp", "eventTime", "firstTimestamp"]
        .iter()
        .find_map(|k| e.get(*k).and_then(Value::as_str))
        .or_else(|| {
            e.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
        })
        .unwrap_or("")
        .to_owned();
    let rv = e
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    (t, rv.parse().unwrap_or(0), rv.to_owned())
}

/// What was asked when the API server refused.
pub struct Refused<'a> {
    pub obj: &'a ObjectRef,
    /// The RBAC verb of the request (get, list, patch, delete).
    pub verb: &'a str,
    /// The input that wrote the body, for refusals of its content.
    pub spec_input: Option<&'static str>,
}

fn credential_hint(cluster: &Cluster) -> &'static str {
    match cluster.credential_input {
        "azureSubscription" => "the API server does not admit the AzureRM connection's identity (or the cluster's credential expired); check the cluster's Microsoft Entra ID integration and the identity's access",
        _ => "the token or certificate of the Kubernetes service connection is wrong or expired; update the service connection",
    }
}

fn unauthorized(cluster: &Cluster, quoted: &str) -> Error {
    Error::input(
        cluster.credential_input,
        format!(
            "the API server of {} refused the credential: {quoted}",
            cluster.describe
        ),
    )
    .with_hint(credential_hint(cluster))
}

/// The error for an API server answer that is not a success.
pub fn refused(cluster: &Cluster, r: &Response, q: &Refused<'_>) -> Error {
    let st = parse(r).unwrap_or_default();
    let msg = if st.message.is_empty() {
        r.server_message()
    } else {
        st.message.clone()
    };
    let obj = q.obj;
    let what = if obj.name.is_empty() {
        format!("{} in namespace `{}`", obj.resource(), obj.namespace)
    } else {
        format!(
            "{} `{}` in namespace `{}`",
            obj.resource(),
            obj.name,
            obj.namespace
        )
    };
    let quoted = format!("{} answered HTTP {}: {msg}", display_url(&r.url), r.status);
    let spec = q.spec_input.unwrap_or(cluster.credential_input);
    match r.status {
        401 => unauthorized(cluster, &quoted),
        403 if msg.contains("admission webhook") => {
            Error::input(spec, format!("the cluster refused {what}: {quoted}"))
        }
        403 => Error::input(
            cluster.credential_input,
            format!("{what}: the identity may not {} it in {}: {quoted}", q.verb, cluster.describe),
        )
        .with_hint(format!(
            "grant the identity a Role in namespace `{}` with apiGroups [\"{}\"], resources [\"{}\"] and verbs including \"{}\"",
            obj.namespace, obj.group, obj.plural, q.verb
        )),
        404 if st.kind == "namespaces" => Error::input(
            i::NAMESPACE,
            format!("namespace `{}` does not exist in {}: {quoted}", st.name, cluster.describe),
        )
        .with_hint("create the namespace, or name one that exists"),
        404 => Error::platform(format!(
            "{} does not serve {}/{} {}: {quoted}",
            cluster.describe,
            if obj.group.is_empty() { "core" } else { &obj.group },
            obj.version,
            obj.plural
        ))
        .with_hint(format!("install the custom resource definition of {} (kind {}) in the cluster", obj.resource(), obj.kind)),
        409 if st.causes.iter().any(|c| c.2 == "FieldManagerConflict") => conflict(spec, &what, &st),
        422 => {
            let causes: Vec<String> = st.causes.iter().map(|c| format!("{}: {}", c.0, c.1)).collect();
            Error::input(spec, format!("the cluster refused {what} as invalid: {quoted}"))
                .with_details(causes)
        }
        500 if msg.contains("failed to create typed patch object") => Error::input(
            spec,
            format!("{what} has a field its schema on the cluster does not declare: {quoted}"),
        )
        .with_hint("remove the field, or check that the resource's version matches the custom resource definition installed in the cluster"),
        _ => Error::platform(format!("{} {what}: {quoted}", q.verb)),
    }
}

/// A server-side apply conflict, naming the other manager(s) and the fields.
fn conflict(input: &'static str, what: &str, st: &Status) -> Error {
    let mut managers: Vec<String> = vec![];
    for (_, m, _) in &st.causes {
        // `conflict with "ververica-platform-operator" using ververica.platform/v1`
        let name = m.split('"').nth(1).unwrap_or(m).to_owned();
        if !managers.contains(&name) {
            managers.push(name);
        }
    }
    let fields: Vec<String> = st.causes.iter().map(|c| c.0.clone()).collect();
    Error::input(
        input,
        format!(
            "applying {what} conflicts with field manager {} on {}",
            managers.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", "),
            fields.join(", ")
        ),
    )
    .with_detail(st.message.clone())
    .with_hint(format!(
        "these fields belong to {}: leave them out of what this task applies, or set forceConflicts: true to take them over",
        managers.join(", ")
    ))
}

/// The proxy verb RBAC checks for a request method.
fn proxy_verb(m: &Method) -> &'static str {
    match *m {
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "get",
    }
}

/// See [`Cluster::proxy_refusal`].
pub fn proxy_refusal(
    cluster: &Cluster,
    r: &Response,
    svc: &ServiceRef,
    method: &Method,
) -> Option<Error> {
    if r.is_success() {
        return None;
    }
    let st = parse(r)?;
    let quoted = format!(
        "{method} {} answered HTTP {}: {}",
        display_url(&r.url),
        r.status,
        st.message
    );
    let service = svc.describe();
    Some(match r.status {
        401 => unauthorized(cluster, &quoted),
        403 => Error::input(
            i::VVP_SERVICE,
            format!("the identity of {} may not use the service proxy for {service}: {quoted}", cluster.describe),
        )
        .with_hint(format!(
            "grant it a Role in namespace `{}` with apiGroups [\"\"], resources [\"services/proxy\"] and verbs [\"get\", \"create\", \"update\", \"patch\", \"delete\"] (this request needed \"{}\")",
            svc.namespace,
            proxy_verb(method)
        )),
        404 => Error::input(
            i::VVP_SERVICE,
            format!("{service} does not exist in {}: {quoted}", cluster.describe),
        )
        .with_hint(format!(
            "check the name with `kubectl get services -n {}`; Ververica Platform's Helm chart names it `<release>-ververica-platform`",
            svc.namespace
        )),
        503 if st.message.contains("no service port") => Error::input(
            i::VVP_SERVICE,
            format!("{service} has no such port: {quoted}"),
        )
        .with_hint(format!(
            "name a port the service has (`kubectl get service {} -n {} -o jsonpath='{{.spec.ports}}'`); Ververica Platform's chart serves on port 80",
            svc.name, svc.namespace
        )),
        503 => Error::network(format!(
            "Ververica Platform behind {service} does not answer through the service proxy of {}: {quoted}",
            cluster.describe
        ))
        .with_hint(format!(
            "check that Ververica Platform's pods are running and ready (`kubectl get pods -n {}`) and that the service's targetPort is the port it listens on",
            svc.namespace
        )),
        _ => Error::platform(format!("the service proxy for {service} failed: {quoted}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: Value) -> Response {
        Response {
            status,
            headers: reqwest::header::HeaderMap::new(),
            body: body.to_string().into_bytes(),
            url: "https://k8s/apis/ververica.platform/v1/namespaces/ns/vvpdeployments/orders?fieldManager=flink-deploy".into(),
            attempts: 1,
        }
    }

    fn st(code: u16, reason: &str, message: &str, details: Value) -> Value {
        serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message, "details": details})
    }

    #[test]
    fn a_status_is_told_from_a_backend_answer() {
        assert!(parse(&resp(
            404,
            serde_json::json!({"message": "deployment not found"})
        ))
        .is_none());
        let s = parse(&resp(
            404,
            st(
                404,
                "NotFound",
                "vvpdeployments.ververica.platform \"orders\" not found",
                serde_json::json!({"name": "orders", "kind": "vvpdeployments"}),
            ),
        ))
        .unwrap();
        assert_eq!((s.reason.as_str(), s.name.as_str()), ("NotFound", "orders"));
        assert!(is_object_missing(&resp(
            404,
            st(404, "NotFound", "x", serde_json::json!({"name": "orders"}))
        )));
        assert!(!is_object_missing(&resp(
            404,
            st(
                404,
                "NotFound",
                "the server could not find the requested resource",
                Value::Null
            )
        )));
    }

    #[test]
    fn event_order_is_by_time_then_resource_version() {
        let e = |t: &str, rv: &str| serde_json::json!({"lastTimestamp": t, "metadata": {"resourceVersion": rv}});
        let mut v = [
            e("2026-01-01T00:00:02Z", "5"),
            e("2026-01-01T00:00:01Z", "9"),
            e("2026-01-01T00:00:02Z", "10"),
        ];
        v.sort_by_key(event_order);
        let rvs: Vec<&str> = v
            .iter()
            .map(|x| x["metadata"]["resourceVersion"].as_str().unwrap())
            .collect();
        assert_eq!(rvs, ["9", "5", "10"]);
    }
}
