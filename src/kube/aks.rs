//! An AKS cluster's credentials from Azure Resource Manager, as `az aks get-credentials` gets
//! them but without writing a kubeconfig: `listClusterUserCredential` (or
//! `listClusterAdminCredential` with `useClusterAdmin`), held to Microsoft's API description
//! `managedClusters.json` (2026-08-01). The kubeconfig in the answer is read in memory and its
//! secrets are masked at once.

use base64::Engine;
use serde_json::Value;

use super::config::Aks;
use super::kubeconfig::{self, Access};
use crate::azure::auth::AzureTokens;
use crate::error::{Error, Result};
use crate::http::{display_url, Http, Request, Response};
use crate::pipeline::inputs as i;
use crate::pipeline::vso::Masker;

/// The API version of the operations, as the description the task is tested against has it.
pub const API_VERSION: &str = "2026-08-01";

/// ARM's answer when a cluster with local accounts disabled is asked for static credentials.
const LOCAL_ACCOUNTS_DISABLED: &str = "disable local accounts";

impl Aks {
    fn cluster_path(&self) -> String {
        let enc = super::client::enc;
        format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerService/managedClusters/{}",
            self.arm_endpoint,
            enc(&self.subscription),
            enc(&self.resource_group),
            enc(&self.cluster)
        )
    }

    fn operation(&self) -> &'static str {
        if self.admin {
            "listClusterAdminCredential"
        } else {
            "listClusterUserCredential"
        }
    }
}

/// The credentials of the cluster, read through Resource Manager.
pub async fn credentials(
    aks: &Aks,
    tokens: &AzureTokens,
    http: &Http,
    masker: &Masker,
) -> Result<Access> {
    let token = tokens.token(http, &aks.arm_scope).await?;
    let url = format!(
        "{}/{}?api-version={API_VERSION}",
        aks.cluster_path(),
        aks.operation()
    );
    // Reading credentials changes nothing: a repeat after a lost answer is harmless.
    let req = Request::new(reqwest::Method::POST, url)
        .bearer(Some(token.expose()))
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(tokens.request_timeout())
        .retry(true);
    let r = http.send(req).await?;
    if !r.is_success() {
        return Err(refusal(aks, &r));
    }
    let v: Value = r.json()?;
    let wanted = if aks.admin {
        "clusterAdmin"
    } else {
        "clusterUser"
    };
    let list = v
        .get("kubeconfigs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let entry = list
        .iter()
        .find(|k| k.get("name").and_then(Value::as_str) == Some(wanted))
        .or_else(|| list.first())
        .ok_or_else(|| {
            Error::platform(format!(
                "POST {} answered without a kubeconfig",
                display_url(&r.url)
            ))
        })?;
    let value = entry.get("value").and_then(Value::as_str).unwrap_or("");
    masker.add(value);
    let text = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            Error::platform(format!(
                "POST {} answered with a kubeconfig that is not base64 text",
                display_url(&r.url)
            ))
        })?;
    let access = kubeconfig::parse(&text, None).map_err(|e| {
        Error::platform(format!(
            "the kubeconfig Resource Manager gave for AKS cluster `{}` {e}",
            aks.cluster
        ))
    })?;
    for s in access.secrets() {
        masker.add(&s);
    }
    Ok(access)
}

/// A refused credential request, blamed on the input that can fix it.
fn refusal(aks: &Aks, r: &Response) -> Error {
    let (code, message) = arm_error(r);
    let call = format!("POST {}", display_url(&r.url));
    let quoted = format!("{call} answered HTTP {}: {code}: {message}", r.status);
    let cluster = format!(
        "AKS cluster `{}` in resource group `{}` (subscription {})",
        aks.cluster, aks.resource_group, aks.subscription
    );
    match (r.status, code.as_str()) {
        (404, "ResourceGroupNotFound") => Error::input(
            i::AZURE_RESOURCE_GROUP,
            format!("resource group `{}` does not exist in subscription {}: {quoted}", aks.resource_group, aks.subscription),
        )
        .with_hint("check the name, and that the AzureRM connection is for the cluster's subscription"),
        (404, "SubscriptionNotFound") => Error::input(
            i::AZURE_SUBSCRIPTION,
            format!("subscription {} is not visible to the connection: {quoted}", aks.subscription),
        ),
        (404, _) => Error::input(
            i::KUBERNETES_CLUSTER,
            format!("{cluster} does not exist: {quoted}"),
        )
        .with_hint("check the cluster name (az aks list -g <resource group> -o table)"),
        (400, _) if message.contains(LOCAL_ACCOUNTS_DISABLED) => Error::input(
            i::USE_CLUSTER_ADMIN,
            format!("{cluster} disables local accounts, so it gives no admin credential: {quoted}"),
        )
        .with_hint("set useClusterAdmin: false; the task then signs in with Microsoft Entra ID as the AzureRM connection's identity"),
        (401, _) => Error::input(
            i::AZURE_SUBSCRIPTION,
            format!("Resource Manager refused the connection's token: {quoted}"),
        ),
        (403, _) => Error::input(
            i::AZURE_SUBSCRIPTION,
            format!("the connection's identity may not read the credentials of {cluster}: {quoted}"),
        )
        .with_hint(format!(
            "assign it the role {} on the cluster (it needs Microsoft.ContainerService/managedClusters/{}/action)",
            if aks.admin { "Azure Kubernetes Service Cluster Admin Role" } else { "Azure Kubernetes Service Cluster User Role" },
            aks.operation()
        )),
        _ => {
            let mut e = Error::platform(format!("reading the credentials of {cluster}: {quoted}"));
            if let Some(id) = r.request_id() {
                e = e.with_detail(format!("request id: {id}"));
            }
            e
        }
    }
}

/// ARM's `error.code` and `error.message` (common-types ErrorResponse).
fn arm_error(r: &Response) -> (String, String) {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let e = v.get("error").unwrap_or(&Value::Null);
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let message = if s("message").is_empty() {
        r.server_message()
    } else {
        s("message")
    };
    (s("code"), message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;

    fn aks(admin: bool) -> Aks {
        Aks {
            subscription: "10e32bab-26da-4cc4-a441-52b318f824e6".into(),
            resource_group: "rg-flink".into(),
            cluster: "aks-prod".into(),
            admin,
            arm_endpoint: "https://management.azure.com".into(),
            arm_scope: "https://management.core.windows.net//.default".into(),
        }
    }

    fn answer(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
            url: "https://management.azure.com/subscriptions/x/.../listClusterUserCredential?api-version=2026-08-01".into(),
            attempts: 1,
        }
    }

    #[test]
    fn the_operation_and_path_follow_the_description() {
        assert_eq!(aks(false).operation(), "listClusterUserCredential");
        assert_eq!(aks(true).operation(), "listClusterAdminCredential");
        assert!(aks(false).cluster_path().ends_with(
            "/subscriptions/10e32bab-26da-4cc4-a441-52b318f824e6/resourceGroups/rg-flink/providers/Microsoft.ContainerService/managedClusters/aks-prod"
        ));
    }

    #[test]
    fn refusals_name_the_input_that_fixes_them() {
        let e = refusal(
            &aks(false),
            &answer(
                404,
                r#"{"error":{"code":"ResourceNotFound","message":"The Resource 'Microsoft.ContainerService/managedClusters/aks-prod' under resource group 'rg-flink' was not found."}}"#,
            ),
        );
        assert!(
            e.message.contains("`kubernetesCluster`") && e.message.contains("was not found"),
            "{e}"
        );
        let e = refusal(
            &aks(false),
            &answer(
                404,
                r#"{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'rg-flink' could not be found."}}"#,
            ),
        );
        assert!(e.message.contains("`azureResourceGroup`"), "{e}");
        let e = refusal(
            &aks(true),
            &answer(
                400,
                r#"{"error":{"code":"BadRequest","message":"Getting static credential is not allowed because this cluster is set to disable local accounts."}}"#,
            ),
        );
        assert!(e.message.contains("`useClusterAdmin`"), "{e}");
        assert!(e.hint.unwrap().contains("useClusterAdmin: false"));
        let e = refusal(
            &aks(true),
            &answer(
                403,
                r#"{"error":{"code":"AuthorizationFailed","message":"no"}}"#,
            ),
        );
        assert!(e
            .hint
            .unwrap()
            .contains("listClusterAdminCredential/action"));
    }
}
