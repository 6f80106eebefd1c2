//! Kubernetes, without kubectl, kubelogin or a kubeconfig on disk: which cluster and how to
//! sign in ([`config`], read from the inputs of Microsoft's Kubernetes tasks), an AKS cluster's
//! credentials through Resource Manager ([`aks`]), kubeconfigs and service account connections
//! read in memory ([`kubeconfig`]), a signed-in [`Cluster`] with the calls the targets make
//! ([`client`]), the API server's refusals as errors that name the fix ([`status`]), and custom
//! resources checked against their CRD's schema before they are sent ([`schema`]).
//!
//! A target that needs a cluster declares it ([`crate::targets::Target::cluster`]); the run
//! signs in during the plan ([`connect`]) and hands the [`Cluster`] to the target's plan and
//! apply. Secrets (tokens, client keys, the kubeconfig Resource Manager returns) are masked the
//! moment they are known and never written anywhere.

pub mod aks;
pub mod client;
pub mod config;
pub mod kubeconfig;
pub mod schema;
pub mod status;

use std::sync::Arc;

use serde_json::{json, Map, Value};

pub use client::{Apply, Cluster, FIELD_MANAGER};
pub use config::ClusterConfig;

use crate::azure::auth::AzureTokens;
use crate::config::checks::{shorten, valid_resource_name};
use crate::error::{Error, Result};
use crate::http::{Http, ServerTls};
use crate::pipeline::inputs as i;
use crate::pipeline::vso::Masker;
use crate::secret::Secret;
use kubeconfig::User;

/// One object of a resource: `group/version`, its plural and kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn core(version: &str, plural: &str, kind: &str, namespace: &str, name: &str) -> Self {
        ObjectRef {
            group: String::new(),
            version: version.into(),
            plural: plural.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// `plural.group`, as RBAC and `kubectl` name the resource.
    pub fn resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// A service in the cluster: `namespace/name[:port]` (port by name or number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
    pub port: Option<String>,
}

fn port_ok(p: &str) -> bool {
    match p.parse::<u32>() {
        Ok(n) => (1..=65535).contains(&n),
        // An IANA service name, as a Service's port name is.
        Err(_) => {
            (1..=15).contains(&p.len())
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && p.chars().any(|c| c.is_ascii_lowercase())
        }
    }
}

impl ServiceRef {
    /// Read `namespace/name:port` (namespace and port optional) from `input`.
    pub fn parse(input: &'static str, v: &str, default_ns: &str) -> Result<ServiceRef> {
        let bad = |why: &str| {
            Error::input(input, format!("`{}` {why}", shorten(v)))
                .with_hint("write namespace/service:port, e.g. vvp/vvp-ververica-platform:80")
        };
        let (ns, rest) = match v.split_once('/') {
            Some((ns, rest)) => (ns, rest),
            None => (default_ns, v),
        };
        let (name, port) = match rest.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (rest, None),
        };
        if !valid_resource_name(ns) {
            return Err(bad("does not start with a namespace name"));
        }
        if !valid_resource_name(name) {
            return Err(bad(
                "does not name a service (lower-case letters, digits and hyphens)",
            ));
        }
        if let Some(p) = port.filter(|p| !port_ok(p)) {
            return Err(bad(&format!(
                "has port `{}`, which is neither a number from 1 to 65535 nor a port name",
                shorten(p)
            )));
        }
        Ok(ServiceRef {
            namespace: ns.into(),
            name: name.into(),
            port: port.map(str::to_owned),
        })
    }

    /// The service's segment in a proxy URL: `name[:port]`.
    pub fn proxy_name(&self) -> String {
        match &self.port {
            Some(p) => format!("{}:{p}", client::enc(&self.name)),
            None => client::enc(&self.name),
        }
    }

    pub fn describe(&self) -> String {
        match &self.port {
            Some(p) => format!("service `{}/{}:{p}`", self.namespace, self.name),
            None => format!("service `{}/{}`", self.namespace, self.name),
        }
    }
}

/// Sign in to the cluster: its credentials from Resource Manager (AKS) or from the service
/// connection, the cluster's CA and client certificate on a client of its own, and an Entra ID
/// token for the AKS server application where the kubeconfig would run kubelogin.
pub async fn connect(
    cfg: &ClusterConfig,
    http: &Http,
    azure: Option<&Arc<AzureTokens>>,
    masker: Masker,
) -> Result<Cluster> {
    let describe = cfg.describe();
    let access = match &cfg.source {
        config::Source::Aks(a) => {
            let tokens = azure.ok_or_else(|| {
                Error::input(
                    i::AZURE_SUBSCRIPTION,
                    "is required to sign in to an AKS cluster",
                )
            })?;
            aks::credentials(a, tokens, http, &masker).await?
        }
        config::Source::Connection { access, .. } => access.clone(),
    };
    let identity = match &access.user {
        User::Certificate {
            cert_pem, key_pem, ..
        } => Some(Secret::new(format!("{cert_pem}\n{}", key_pem.expose()))),
        _ => None,
    };
    let tls = ServerTls {
        ca_pem: access.ca_pem.clone(),
        identity_pem: identity,
        accept_invalid_certs: access.insecure,
    };
    let cluster_http = http.for_server(&tls).map_err(|e| {
        Error::input(
            cfg.credential_input(),
            format!("{describe}: the credential cannot be used: {e}"),
        )
    })?;
    let bearer = match access.user {
        User::Token(t) | User::Certificate { token: Some(t), .. } => client::Bearer::Static(t),
        User::Entra { server_id, .. } => {
            let tokens = azure.ok_or_else(|| {
                Error::input(
                    i::AZURE_SUBSCRIPTION,
                    format!("is required: {describe} signs in with Microsoft Entra ID"),
                )
            })?;
            client::Bearer::Entra {
                tokens: Arc::clone(tokens),
                scope: format!("{}/.default", server_id.trim_end_matches('/')),
            }
        }
        User::Certificate { token: None, .. } | User::Anonymous => client::Bearer::None,
    };
    Ok(Cluster {
        describe,
        server: access.server.as_str().trim_end_matches('/').to_owned(),
        namespace: cfg
            .namespace
            .clone()
            .or(access.namespace)
            .unwrap_or_else(|| "default".into()),
        credential_input: cfg.credential_input(),
        http: cluster_http,
        bearer,
        masker,
    })
}

/// An object as it was applied, without what the API server and controllers own (status,
/// uid, resourceVersion, managedFields): for a diff, and as the version a rollback applies again.
pub fn applied_part(cr: &Value, api_version: &str, kind: &str) -> Value {
    let mut out = json!({
        "apiVersion": cr.get("apiVersion").cloned().unwrap_or_else(|| json!(api_version)),
        "kind": kind,
    });
    let mut meta = Map::new();
    for k in ["name", "namespace", "labels", "annotations"] {
        if let Some(v) = cr.get("metadata").and_then(|m| m.get(k)) {
            meta.insert(k.into(), v.clone());
        }
    }
    if let Some(Value::Object(a)) = meta.get_mut("annotations") {
        // kubectl's record of a client-side apply is not part of the resource.
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
        if a.is_empty() {
            meta.remove("annotations");
        }
    }
    out["metadata"] = Value::Object(meta);
    if let Some(s) = cr.get("spec") {
        out["spec"] = s.clone();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_read_with_or_without_namespace_and_port() {
        let s =
            ServiceRef::parse("vvpService", "vvp/vvp-ververica-platform:80", "default").unwrap();
        assert_eq!(
            (s.namespace.as_str(), s.name.as_str(), s.port.as_deref()),
            ("vvp", "vvp-ververica-platform", Some("80"))
        );
        assert_eq!(s.proxy_name(), "vvp-ververica-platform:80");
        assert_eq!(s.describe(), "service `vvp/vvp-ververica-platform:80`");
        let s = ServiceRef::parse("vvpService", "vvp-ververica-platform:http", "flink").unwrap();
        assert_eq!(
            (s.namespace.as_str(), s.port.as_deref()),
            ("flink", Some("http"))
        );
        for bad in [
            "vvp/",
            "Vvp/x:80",
            "vvp/x:0",
            "vvp/x:99999",
            "a/b/c",
            "vvp/x:HTTP",
        ] {
            let e = ServiceRef::parse("vvpService", bad, "default").unwrap_err();
            assert!(e.message.contains("`vvpService`"), "{bad}: {e}");
        }
    }

    #[test]
    fn object_paths_encode_names() {
        let r = ObjectRef {
            group: "ververica.platform".into(),
            version: "v1".into(),
            plural: "vvpdeployments".into(),
            kind: "VvpDeployment".into(),
            namespace: "flink".into(),
            name: "orders".into(),
        };
        assert_eq!(
            r.path(),
            "/apis/ververica.platform/v1/namespaces/flink/vvpdeployments/orders"
        );
        assert_eq!(r.resource(), "vvpdeployments.ververica.platform");
        let core = ObjectRef::core("v1", "events", "Event", "a b", "x");
        assert_eq!(core.path(), "/api/v1/namespaces/a%20b/events/x");
    }
}
