//! The AzureRM service connection as the agent exports it, turned into a typed sign-in method and
//! cloud. Pure: no I/O, so every scheme is tested from environment fixtures.

use crate::error::{Error, Result};
use crate::pipeline::env::{AgentEnv, Endpoint};
use crate::pipeline::inputs;
use crate::secret::Secret;

#[derive(Clone, Debug)]
pub enum AzureAuth {
    ClientSecret {
        tenant_id: String,
        client_id: String,
        secret: Secret,
    },
    ClientCertificate {
        tenant_id: String,
        client_id: String,
        /// PEM with certificate and private key.
        pem: Secret,
    },
    WorkloadIdentity {
        tenant_id: String,
        client_id: String,
        service_connection_id: String,
        access_token: Secret,
        oidc_request_uri: String,
    },
    /// Workload identity federation with a token file (`AZURE_FEDERATED_TOKEN_FILE`, as on
    /// Kubernetes or GitHub Actions), outside an agent.
    FederatedTokenFile {
        tenant_id: String,
        client_id: String,
        token_file: std::path::PathBuf,
    },
    ManagedIdentity {
        client_id: Option<String>,
    },
}

/// Endpoints of one Azure cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cloud {
    pub name: String,
    /// Entra ID authority host, e.g. `https://login.microsoftonline.com/`.
    pub authority_host: String,
    /// Key Vault DNS suffix, e.g. `vault.azure.net`.
    pub key_vault_suffix: String,
    /// Storage endpoint suffix, e.g. `core.windows.net`.
    pub storage_suffix: String,
    /// Resource Manager endpoint, e.g. `https://management.azure.com/`.
    pub arm_endpoint: String,
    /// The audience of Resource Manager tokens (scope `<audience>/.default`): the connection's
    /// `activeDirectoryServiceEndpointResourceId`, as Microsoft's own tasks use it, else the
    /// cloud's Resource Manager resource. On Azure Stack Hub and some sovereign clouds it is not
    /// the Resource Manager URL.
    pub arm_audience: String,
}

impl Cloud {
    pub fn named(name: &str) -> Cloud {
        let (authority, kv, storage, arm) = match name.to_ascii_lowercase().as_str() {
            "azureusgovernment" => (
                "https://login.microsoftonline.us/",
                "vault.usgovcloudapi.net",
                "core.usgovcloudapi.net",
                "https://management.usgovcloudapi.net/",
            ),
            "azurechinacloud" => (
                "https://login.chinacloudapi.cn/",
                "vault.azure.cn",
                "core.chinacloudapi.cn",
                "https://management.chinacloudapi.cn/",
            ),
            "azuregermancloud" => (
                "https://login.microsoftonline.de/",
                "vault.microsoftazure.de",
                "core.cloudapi.de",
                "https://management.microsoftazure.de/",
            ),
            _ => (
                "https://login.microsoftonline.com/",
                "vault.azure.net",
                "core.windows.net",
                "https://management.azure.com/",
            ),
        };
        Cloud {
            name: name.to_owned(),
            authority_host: authority.into(),
            key_vault_suffix: kv.into(),
            storage_suffix: storage.into(),
            arm_endpoint: arm.into(),
            arm_audience: arm.trim_end_matches('/').into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AzureConnection {
    pub id: String,
    pub auth: AzureAuth,
    pub cloud: Cloud,
    pub subscription_id: Option<String>,
}

fn required<'a>(ep: &'a Endpoint, key: &str, scheme: &str) -> Result<&'a str> {
    ep.param(key).ok_or_else(|| {
        Error::input(
            inputs::AZURE_SUBSCRIPTION,
            format!(
                "service connection `{}` ({scheme}) has no `{key}` authorization parameter",
                ep.id
            ),
        )
        .with_hint(
            "edit the service connection in Project settings > Service connections and verify it",
        )
    })
}

impl AzureConnection {
    /// The connection selected in `azureSubscription`, if any (optional for most targets).
    pub fn from_raw(raw: &crate::config::RawInputs) -> Result<Option<AzureConnection>> {
        // A command line has no service connections: it signs in from the environment.
        if let Some(cl) = &raw.command_line {
            return Ok(cl.azure.clone());
        }
        let Some(id) = raw.get(inputs::AZURE_SUBSCRIPTION) else {
            return Ok(None);
        };
        let ep = raw.env.endpoint(id).ok_or_else(|| {
            Error::input(
                inputs::AZURE_SUBSCRIPTION,
                format!(
                    "service connection `{}` was not passed to the task",
                    crate::config::checks::shorten(id)
                ),
            )
            .with_hint("check the connection name and that this pipeline is authorized to use it")
        })?;
        AzureConnection::from_endpoint(&raw.env, &ep).map(Some)
    }

    pub fn from_endpoint(env: &AgentEnv, ep: &Endpoint) -> Result<Self> {
        let scheme = ep
            .scheme
            .clone()
            .unwrap_or_else(|| "ServicePrincipal".into());
        let auth = match scheme.to_ascii_lowercase().as_str() {
            "serviceprincipal" => {
                let tenant_id = required(ep, "tenantid", &scheme)?.to_owned();
                let client_id = required(ep, "serviceprincipalid", &scheme)?.to_owned();
                let kind = ep.param("authenticationType").unwrap_or("spnKey");
                if kind.eq_ignore_ascii_case("spnCertificate") {
                    AzureAuth::ClientCertificate {
                        tenant_id,
                        client_id,
                        pem: Secret::new(required(ep, "servicePrincipalCertificate", &scheme)?),
                    }
                } else {
                    AzureAuth::ClientSecret {
                        tenant_id,
                        client_id,
                        secret: Secret::new(required(ep, "serviceprincipalkey", &scheme)?),
                    }
                }
            }
            "workloadidentityfederation" => AzureAuth::WorkloadIdentity {
                tenant_id: required(ep, "tenantid", &scheme)?.to_owned(),
                client_id: required(ep, "serviceprincipalid", &scheme)?.to_owned(),
                service_connection_id: ep.id.clone(),
                access_token: Secret::new(env.system_access_token().ok_or_else(|| {
                    Error::input(
                        inputs::AZURE_SUBSCRIPTION,
                        "workload identity federation needs the job access token (ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN), which is not set",
                    )
                })?),
                oidc_request_uri: env.variable("System.OidcRequestUri").map(str::to_owned).ok_or_else(|| {
                    Error::input(
                        inputs::AZURE_SUBSCRIPTION,
                        "workload identity federation needs the System.OidcRequestUri variable, which is not set",
                    )
                    .with_hint("use an agent and server that support workload identity federation, or a secret-based connection")
                })?,
            },
            "managedserviceidentity" => AzureAuth::ManagedIdentity {
                client_id: ep.data("msiclientId").map(str::to_owned),
            },
            other => {
                return Err(Error::input(
                    inputs::AZURE_SUBSCRIPTION,
                    format!("service connection `{}` uses the unsupported scheme `{other}`", ep.id),
                )
                .with_hint(
                    "use ServicePrincipal (secret or certificate), WorkloadIdentityFederation or ManagedServiceIdentity",
                ))
            }
        };
        let mut cloud = Cloud::named(ep.data("environment").unwrap_or("AzureCloud"));
        if let Some(a) = ep
            .data("environmentAuthorityUrl")
            .or_else(|| ep.data("activeDirectoryAuthority"))
        {
            cloud.authority_host = if a.ends_with('/') {
                a.to_owned()
            } else {
                format!("{a}/")
            };
        }
        if let Some(s) = ep.data("AzureKeyVaultDnsSuffix") {
            cloud.key_vault_suffix = s.trim_start_matches('.').to_owned();
        }
        if let Some(s) = ep
            .data("storageEndpointSuffix")
            .or_else(|| ep.data("StorageEndpointSuffix"))
        {
            cloud.storage_suffix = s.trim_start_matches('.').to_owned();
        }
        if let Some(u) = ep.url.as_deref().filter(|u| u.starts_with("http")) {
            cloud.arm_endpoint = if u.ends_with('/') {
                u.to_owned()
            } else {
                format!("{u}/")
            };
            cloud.arm_audience = u.trim_end_matches('/').to_owned();
        }
        // Taken as given: Microsoft's tasks append `/.default` to it unchanged (so the public
        // cloud's `https://management.core.windows.net/` becomes `…windows.net//.default`).
        if let Some(a) = ep
            .data("activeDirectoryServiceEndpointResourceId")
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            cloud.arm_audience = a.to_owned();
        }
        Ok(AzureConnection {
            id: ep.id.clone(),
            auth,
            cloud,
            subscription_id: ep.data("subscriptionid").map(str::to_owned),
        })
    }

    /// Values the agent may not have masked (we mask them again; it costs nothing).
    pub fn secrets(&self) -> Vec<&str> {
        match &self.auth {
            AzureAuth::ClientSecret { secret, .. } => vec![secret.expose()],
            AzureAuth::ClientCertificate { pem, .. } => vec![pem.expose()],
            AzureAuth::WorkloadIdentity { access_token, .. } => vec![access_token.expose()],
            AzureAuth::ManagedIdentity { .. } | AzureAuth::FederatedTokenFile { .. } => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1e0c52-7c1b-4f39-9d9e-0123456789ab";

    fn env(pairs: &[(&str, &str)]) -> AgentEnv {
        AgentEnv::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.replace("{id}", ID), v.to_string())),
        )
    }

    #[test]
    fn service_principal_secret_and_cloud_overrides() {
        let e = env(&[
            ("ENDPOINT_URL_{id}", "https://management.usgovcloudapi.net/"),
            ("ENDPOINT_AUTH_SCHEME_{id}", "ServicePrincipal"),
            ("ENDPOINT_AUTH_PARAMETER_{id}_TENANTID", "t"),
            ("ENDPOINT_AUTH_PARAMETER_{id}_SERVICEPRINCIPALID", "c"),
            ("ENDPOINT_AUTH_PARAMETER_{id}_SERVICEPRINCIPALKEY", "k"),
            ("ENDPOINT_DATA_{id}_ENVIRONMENT", "AzureUSGovernment"),
            ("ENDPOINT_DATA_{id}_SUBSCRIPTIONID", "sub"),
            (
                "ENDPOINT_DATA_{id}_AZUREKEYVAULTDNSSUFFIX",
                ".vault.example",
            ),
        ]);
        let c = AzureConnection::from_endpoint(&e, &e.endpoint(ID).unwrap()).unwrap();
        assert!(matches!(c.auth, AzureAuth::ClientSecret { .. }));
        assert_eq!(c.cloud.authority_host, "https://login.microsoftonline.us/");
        assert_eq!(c.cloud.key_vault_suffix, "vault.example");
        assert_eq!(c.subscription_id.as_deref(), Some("sub"));
        assert_eq!(c.secrets(), vec!["k"]);
    }

    #[test]
    fn the_resource_manager_audience_is_the_connections_else_the_clouds() {
        let base = [
            ("ENDPOINT_AUTH_SCHEME_{id}", "ServicePrincipal"),
            ("ENDPOINT_AUTH_PARAMETER_{id}_TENANTID", "t"),
            ("ENDPOINT_AUTH_PARAMETER_{id}_SERVICEPRINCIPALID", "c"),
            ("ENDPOINT_AUTH_PARAMETER_{id}_SERVICEPRINCIPALKEY", "k"),
        ];
        let conn = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            let e = env(&pairs);
            AzureConnection::from_endpoint(&e, &e.endpoint(ID).unwrap()).unwrap()
        };
        // Azure Stack Hub: the audience is an AD FS resource, not the ARM URL.
        let stack = conn(&[
            (
                "ENDPOINT_URL_{id}",
                "https://management.local.azurestack.external",
            ),
            ("ENDPOINT_DATA_{id}_ENVIRONMENT", "AzureStack"),
            (
                "ENDPOINT_DATA_{id}_ACTIVEDIRECTORYSERVICEENDPOINTRESOURCEID",
                "https://management.adfs.azurestack.local/4de154de-f8a8-4017-af41-df619da68155",
            ),
        ]);
        assert_eq!(
            stack.cloud.arm_endpoint,
            "https://management.local.azurestack.external/"
        );
        assert_eq!(
            stack.cloud.arm_audience,
            "https://management.adfs.azurestack.local/4de154de-f8a8-4017-af41-df619da68155"
        );
        // As the service fills it in for the public cloud: kept as given.
        let public = conn(&[
            ("ENDPOINT_URL_{id}", "https://management.azure.com/"),
            (
                "ENDPOINT_DATA_{id}_ACTIVEDIRECTORYSERVICEENDPOINTRESOURCEID",
                "https://management.core.windows.net/",
            ),
        ]);
        assert_eq!(
            public.cloud.arm_audience,
            "https://management.core.windows.net/"
        );
        // Without it: the cloud's Resource Manager resource (the connection's URL, else the
        // named cloud's).
        assert_eq!(
            conn(&[("ENDPOINT_DATA_{id}_ENVIRONMENT", "AzureChinaCloud")])
                .cloud
                .arm_audience,
            "https://management.chinacloudapi.cn"
        );
        assert_eq!(
            conn(&[("ENDPOINT_URL_{id}", "https://management.usgovcloudapi.net/")])
                .cloud
                .arm_audience,
            "https://management.usgovcloudapi.net"
        );
        assert_eq!(
            conn(&[(
                "ENDPOINT_DATA_{id}_ACTIVEDIRECTORYSERVICEENDPOINTRESOURCEID",
                " "
            )])
            .cloud
            .arm_audience,
            "https://management.azure.com"
        );
    }

    #[test]
    fn workload_identity_needs_the_job_token() {
        let base = [
            ("ENDPOINT_AUTH_SCHEME_{id}", "WorkloadIdentityFederation"),
            ("ENDPOINT_AUTH_PARAMETER_{id}_TENANTID", "t"),
            ("ENDPOINT_AUTH_PARAMETER_{id}_SERVICEPRINCIPALID", "c"),
            (
                "SYSTEM_OIDCREQUESTURI",
                "https://dev.azure.com/o/p/_apis/oidc",
            ),
        ];
        let e = env(&base);
        let err = AzureConnection::from_endpoint(&e, &e.endpoint(ID).unwrap()).unwrap_err();
        assert!(err.message.contains("job access token"), "{err}");
        let mut with = base.to_vec();
        with.push((
            "ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN",
            "jwt",
        ));
        let e = env(&with);
        let c = AzureConnection::from_endpoint(&e, &e.endpoint(ID).unwrap()).unwrap();
        assert!(
            matches!(c.auth, AzureAuth::WorkloadIdentity { ref service_connection_id, .. } if service_connection_id == ID)
        );
    }

    #[test]
    fn missing_key_names_the_parameter() {
        let e = env(&[
            ("ENDPOINT_AUTH_SCHEME_{id}", "ServicePrincipal"),
            ("ENDPOINT_AUTH_PARAMETER_{id}_TENANTID", "t"),
        ]);
        let err = AzureConnection::from_endpoint(&e, &e.endpoint(ID).unwrap()).unwrap_err();
        assert!(err.message.contains("serviceprincipalid"), "{err}");
        assert!(err.message.contains("azureSubscription"), "{err}");
    }
}
