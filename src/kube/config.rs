//! Which cluster and how to sign in, read from the inputs Microsoft's `Kubernetes@1` and
//! `KubernetesManifest@1` tasks use: `connectionType`, `kubernetesServiceEndpoint`
//! (`kubernetesServiceConnection`), `azureSubscription`, `azureResourceGroup`,
//! `kubernetesCluster`, `useClusterAdmin`, `namespace`. No I/O.

use super::kubeconfig::{self, Access, User};
use crate::config::checks::shorten;
use crate::config::{AzureConnection, RawInputs};
use crate::error::{Error, Result};
use crate::pipeline::inputs as i;

/// An AKS cluster reached through Azure Resource Manager with the AzureRM connection.
#[derive(Clone, Debug)]
pub struct Aks {
    pub subscription: String,
    pub resource_group: String,
    pub cluster: String,
    /// `listClusterAdminCredential` instead of `listClusterUserCredential`.
    pub admin: bool,
    /// Resource Manager's URL (the connection's).
    pub arm_endpoint: String,
    /// The scope of Resource Manager tokens: the connection's
    /// `activeDirectoryServiceEndpointResourceId` (Azure PowerShell's audience for Resource
    /// Manager) with `/.default`, else its Resource Manager URL with `/.default`.
    pub arm_scope: String,
}

#[derive(Clone, Debug)]
pub enum Source {
    Aks(Aks),
    /// A Kubernetes service connection: its id and what it holds.
    Connection {
        id: String,
        access: Access,
    },
}

#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub source: Source,
    /// The `namespace` input.
    pub namespace: Option<String>,
}

impl ClusterConfig {
    /// The input a refused or broken cluster credential is blamed on.
    pub fn credential_input(&self) -> &'static str {
        match self.source {
            Source::Aks(_) => i::AZURE_SUBSCRIPTION,
            Source::Connection { .. } => i::KUBERNETES_SERVICE_ENDPOINT,
        }
    }

    /// The cluster in words, for the plan and errors.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Aks(a) => format!(
                "AKS cluster `{}` in resource group `{}`{}",
                a.cluster,
                a.resource_group,
                if a.admin { " (admin credential)" } else { "" }
            ),
            Source::Connection { id, access } => format!(
                "the cluster of Kubernetes service connection `{id}` ({})",
                crate::http::display_url(access.server.as_str())
            ),
        }
    }

    /// Secrets known before anything is requested (a service connection's credential).
    pub fn secrets(&self) -> Vec<String> {
        match &self.source {
            Source::Connection { access, .. } => access.secrets(),
            Source::Aks(_) => vec![],
        }
    }

    /// Read the cluster inputs. `why` says what the cluster is needed for (in errors).
    pub fn from_raw(
        raw: &RawInputs,
        azure: Option<&AzureConnection>,
        why: &str,
    ) -> Result<ClusterConfig> {
        let namespace = raw.string(i::NAMESPACE);
        if let Some(n) = &namespace {
            check_namespace(i::NAMESPACE, n)?;
        }
        let source = match raw
            .pick(i::CONNECTION_TYPE)?
            .unwrap_or(i::CONNECTION_TYPES[1])
        {
            "azureResourceManager" => Source::Aks(aks(raw, azure, why)?),
            _ => connection(raw, why)?,
        };
        if let Source::Connection { access, .. } = &source {
            if matches!(access.user, User::Entra { .. }) && azure.is_none() {
                return Err(Error::input(
                    i::AZURE_SUBSCRIPTION,
                    "is required: the kubeconfig of `kubernetesServiceEndpoint` signs in with Microsoft Entra ID (kubelogin), and the task gets that token with the AzureRM connection",
                )
                .with_hint("select the AzureRM connection whose identity the cluster admits, or use a service account connection"));
            }
        }
        Ok(ClusterConfig { source, namespace })
    }
}

/// A Kubernetes namespace name (RFC 1123 label).
pub fn check_namespace(input: &'static str, n: &str) -> Result<()> {
    if !crate::config::checks::valid_resource_name(n) {
        return Err(
            crate::config::checks::not_a(input, n, "a Kubernetes namespace name")
                .with_hint("lower-case letters, digits and hyphens, at most 63 characters"),
        );
    }
    Ok(())
}

fn required<'a>(raw: &'a RawInputs, input: &'static str, why: &str) -> Result<&'a str> {
    raw.get(input).ok_or_else(|| {
        Error::input(
            input,
            format!("is required with `connectionType: azureResourceManager` ({why})"),
        )
    })
}

fn aks(raw: &RawInputs, azure: Option<&AzureConnection>, why: &str) -> Result<Aks> {
    let az = azure.ok_or_else(|| {
        Error::input(
            i::AZURE_SUBSCRIPTION,
            format!("is required with `connectionType: azureResourceManager` ({why})"),
        )
        .with_hint("select the AzureRM service connection that may read the cluster's credentials")
    })?;
    let rg = required(raw, i::AZURE_RESOURCE_GROUP, why)?;
    let cluster = required(raw, i::KUBERNETES_CLUSTER, why)?;
    // Resource Manager's own rules (managedClusters.json): a bad name is refused before any call.
    let rg_ok = (1..=90).contains(&rg.len())
        && rg
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.()".contains(c))
        && !rg.ends_with('.');
    if !rg_ok {
        return Err(crate::config::checks::not_a(
            i::AZURE_RESOURCE_GROUP,
            rg,
            "a resource group name",
        ));
    }
    let bytes = cluster.as_bytes();
    let cluster_ok = (1..=63).contains(&cluster.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && cluster
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !cluster_ok {
        return Err(crate::config::checks::not_a(i::KUBERNETES_CLUSTER, cluster, "an AKS cluster name")
        .with_hint("letters, digits, hyphens and underscores, at most 63 characters, starting and ending with a letter or digit"));
    }
    let subscription = az.subscription_id.clone().ok_or_else(|| {
        Error::input(
            i::AZURE_SUBSCRIPTION,
            format!("service connection `{}` names no subscription", az.id),
        )
        .with_hint("use a connection scoped to the subscription of the AKS cluster")
    })?;
    let arm_endpoint = az.cloud.arm_endpoint.trim_end_matches('/').to_owned();
    // A resource id keeps its trailing slash (`https://management.core.windows.net//.default`
    // is the documented scope for it).
    let arm_scope = raw
        .get(i::AZURE_SUBSCRIPTION)
        .and_then(|id| raw.env.endpoint(id))
        .and_then(|ep| {
            ep.data("activeDirectoryServiceEndpointResourceId")
                .map(|r| format!("{r}/.default"))
        })
        .unwrap_or_else(|| format!("{arm_endpoint}/.default"));
    Ok(Aks {
        subscription,
        resource_group: rg.to_owned(),
        cluster: cluster.to_owned(),
        admin: raw.boolean(i::USE_CLUSTER_ADMIN)?,
        arm_endpoint,
        arm_scope,
    })
}

fn connection(raw: &RawInputs, why: &str) -> Result<Source> {
    let input = i::KUBERNETES_SERVICE_ENDPOINT;
    let id = raw.get(input).ok_or_else(|| {
        Error::input(input, format!("is required ({why})")).with_hint(
            "select a Kubernetes service connection, or set connectionType: azureResourceManager with azureSubscription, azureResourceGroup and kubernetesCluster",
        )
    })?;
    let ep = raw.env.endpoint(id).ok_or_else(|| {
        Error::input(
            input,
            format!(
                "service connection `{}` was not passed to the task",
                shorten(id)
            ),
        )
        .with_hint("check the connection name and that this pipeline is authorized to use it")
    })?;
    let bad = |e: String| {
        Error::input(input, format!("service connection `{}` {e}", ep.id)).with_hint(
            "edit the service connection in Project settings > Service connections and verify it",
        )
    };
    let insecure = ep
        .data("acceptUntrustedCerts")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let kind = ep.data("authorizationType").unwrap_or("Kubeconfig");
    let mut access = if kind.eq_ignore_ascii_case("Kubeconfig") {
        let text = ep
            .param("kubeconfig")
            .ok_or_else(|| bad("has no kubeconfig".into()))?;
        kubeconfig::parse(text, ep.param("clusterContext"))
            .map_err(|e| bad(format!("holds a kubeconfig that {e}")))?
    } else {
        let url = ep
            .url
            .as_deref()
            .ok_or_else(|| bad("has no server URL".into()))?;
        let token = ep
            .param("apitoken")
            .ok_or_else(|| bad(format!("({kind}) has no `apiToken`")))?;
        kubeconfig::service_account(url, token, ep.param("serviceAccountCertificate"), insecure)
            .map_err(|e| bad(format!("({kind}): {e}")))?
    };
    access.insecure |= insecure;
    if access.server.scheme() != "https" && !crate::config::checks::is_loopback(&access.server) {
        return Err(bad(format!(
            "points at `{}`, which is not https; the task sends cluster credentials only over https",
            crate::http::display_url(access.server.as_str())
        )));
    }
    Ok(Source::Connection {
        id: ep.id.clone(),
        access,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::env::AgentEnv;

    const K8S: &str = "3ef3fe8b-5efc-42b7-a2b6-eeefc0f3b8b3";

    fn raw(pairs: &[(&str, &str)]) -> RawInputs {
        RawInputs::from_env(AgentEnv::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.replace("{id}", K8S), v.replace("{id}", K8S))),
        ))
    }

    #[test]
    fn a_kubeconfig_connection_is_read_with_its_context() {
        let kc = "clusters:\n- cluster: {server: 'https://k8s.example:6443'}\n  name: a\n- cluster: {server: 'https://other:6443'}\n  name: b\ncontexts:\n- context: {cluster: a, user: u, namespace: flink}\n  name: a\n- context: {cluster: b, user: u}\n  name: b\ncurrent-context: b\nusers:\n- name: u\n  user: {token: t0ken}\n";
        let r = raw(&[
            ("INPUT_KUBERNETESSERVICEENDPOINT", "{id}"),
            ("ENDPOINT_AUTH_PARAMETER_{id}_KUBECONFIG", kc),
            ("ENDPOINT_AUTH_PARAMETER_{id}_CLUSTERCONTEXT", "a"),
            ("ENDPOINT_DATA_{id}_AUTHORIZATIONTYPE", "Kubeconfig"),
        ]);
        let c = ClusterConfig::from_raw(&r, None, "test").unwrap();
        let Source::Connection { access, .. } = &c.source else {
            panic!()
        };
        assert_eq!(access.server.host_str(), Some("k8s.example"));
        assert_eq!(access.namespace.as_deref(), Some("flink"));
        assert_eq!(c.secrets(), vec!["t0ken".to_owned()]);
        assert_eq!(c.credential_input(), "kubernetesServiceEndpoint");
    }

    #[test]
    fn missing_and_broken_connections_name_the_input() {
        let e = ClusterConfig::from_raw(&raw(&[]), None, "vvpService").unwrap_err();
        assert!(e.message.contains("`kubernetesServiceEndpoint`"), "{e}");
        let e = ClusterConfig::from_raw(
            &raw(&[
                ("INPUT_KUBERNETESSERVICEENDPOINT", "{id}"),
                ("ENDPOINT_URL_{id}", "http://k8s.example"),
                ("ENDPOINT_AUTH_PARAMETER_{id}_APITOKEN", "dG9rZW4="),
                ("ENDPOINT_DATA_{id}_AUTHORIZATIONTYPE", "ServiceAccount"),
            ]),
            None,
            "x",
        )
        .unwrap_err();
        assert!(e.message.contains("not https"), "{e}");
        let e = ClusterConfig::from_raw(
            &raw(&[("INPUT_CONNECTIONTYPE", "azureResourceManager")]),
            None,
            "x",
        )
        .unwrap_err();
        assert!(e.message.contains("`azureSubscription`"), "{e}");
    }
}
