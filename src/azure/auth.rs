//! Microsoft Entra ID tokens for the AzureRM service connection.
//!
//! [`AzureTokens::token`] is the one way the rest of the task gets a bearer token for a scope
//! (Resource Manager, Key Vault, Storage), and [`AzureTokens::credential`] hands the same sign-in
//! to the Azure SDK clients. Both use the official `azure_identity` credentials over the task's
//! HTTP client (agent CA and proxy):
//!
//! | connection | credential |
//! |---|---|
//! | ServicePrincipal, spnKey | `ClientSecretCredential` |
//! | ServicePrincipal, spnCertificate | `ClientAssertionCredential` with an RS256 assertion signed here ([`super::cert`]) |
//! | WorkloadIdentityFederation | `AzurePipelinesCredential` (a fresh OIDC token from Azure DevOps for every Entra token) |
//! | ManagedServiceIdentity | `ManagedIdentityCredential` (IMDS, optional `msiclientId`) |
//! | `AZURE_FEDERATED_TOKEN_FILE` (command line) | `WorkloadIdentityCredential` (the file is read again for every token) |
//!
//! The credentials cache tokens per scope and renew them before they expire, so long waits never
//! run on an expiring token.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_identity::{
    AzurePipelinesCredential, AzurePipelinesCredentialOptions, ClientAssertionCredential,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};

use super::cert::CertificateAssertion;
use super::connection::{AzureAuth, AzureConnection};
use super::fault::Fault;
use super::transport::{AzureTransport, Retry};
use crate::error::{Error, ErrorKind, Result};
use crate::http::Http;
use crate::pipeline::inputs;
use crate::secret::Secret;

/// The longest any one request to Entra ID or Resource Manager may take. A service that hangs
/// must fail the run in bounded time, naming the host, instead of holding the agent.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct AzureTokens {
    conn: AzureConnection,
    cred: OnceLock<Arc<dyn TokenCredential>>,
    request_timeout: Duration,
}

impl AzureTokens {
    pub fn new(conn: &AzureConnection) -> Self {
        Self {
            conn: conn.clone(),
            cred: OnceLock::new(),
            request_timeout: REQUEST_TIMEOUT,
        }
    }

    /// Bound each request also by the run's timeout: no single call may outlast the whole wait.
    pub fn with_run_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = request_timeout(timeout);
        self
    }

    /// The time one request (one attempt) may take.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    pub fn connection(&self) -> &AzureConnection {
        &self.conn
    }

    /// How the connection signs in, for messages.
    pub fn method(&self) -> &'static str {
        method(&self.conn.auth)
    }

    /// The SDK credential of the connection, built once over `http`'s client.
    pub fn credential(&self, http: &Http) -> Result<Arc<dyn TokenCredential>> {
        if let Some(c) = self.cred.get() {
            return Ok(c.clone());
        }
        let c = build(
            &self.conn,
            &AzureTransport::new(http)?.with_timeout(self.request_timeout),
        )?;
        Ok(self.cred.get_or_init(|| c).clone())
    }

    /// A bearer token for `scope` (e.g. `https://management.azure.com/.default`).
    pub async fn token(&self, http: &Http, scope: &str) -> Result<Secret> {
        let cred = self.credential(http)?;
        match cred.get_token(&[scope], None).await {
            Ok(t) => Ok(Secret::new(t.token.secret())),
            Err(e) => Err(self.sign_in_error(&Fault::from_sdk(&e))),
        }
    }

    /// An error for a failed sign-in, with the fix where the Entra code tells it.
    pub fn sign_in_error(&self, f: &Fault) -> Error {
        sign_in_error(&self.conn, f)
    }
}

/// [`REQUEST_TIMEOUT`], or the run's timeout when that is shorter (at least one second).
pub fn request_timeout(run_timeout: Duration) -> Duration {
    run_timeout.clamp(Duration::from_secs(1), REQUEST_TIMEOUT)
}

fn method(auth: &AzureAuth) -> &'static str {
    match auth {
        AzureAuth::ClientSecret { .. } => "service principal with a client secret",
        AzureAuth::ClientCertificate { .. } => "service principal with a certificate",
        AzureAuth::WorkloadIdentity { .. } => "workload identity federation",
        AzureAuth::ManagedIdentity { .. } => "managed identity",
        AzureAuth::FederatedTokenFile { .. } => "workload identity federation with a token file",
    }
}

fn cloud(conn: &AzureConnection) -> Arc<CloudConfiguration> {
    let mut c = CustomConfiguration::default();
    c.authority_host = conn.cloud.authority_host.trim_end_matches('/').to_owned();
    Arc::new(c.into())
}

fn build(conn: &AzureConnection, transport: &AzureTransport) -> Result<Arc<dyn TokenCredential>> {
    let mut client_options = transport.options(Retry::Standard);
    let bad = |e: String| {
        Error::input(
            inputs::AZURE_SUBSCRIPTION,
            format!(
                "service connection `{}` ({}): {e}",
                conn.id,
                method(&conn.auth)
            ),
        )
        .with_hint(
            "edit the service connection in Project settings > Service connections and verify it",
        )
    };
    let sdk = |e: azure_core::Error| bad(Fault::from_sdk(&e).message);
    if !matches!(conn.auth, AzureAuth::ManagedIdentity { .. }) {
        if !conn.cloud.authority_host.starts_with("https://") {
            return Err(bad(format!(
                "the authority `{}` is not https; Entra ID sign-in only works over https",
                conn.cloud.authority_host
            )));
        }
        client_options.cloud = Some(cloud(conn));
    }
    Ok(match &conn.auth {
        AzureAuth::ClientSecret {
            tenant_id,
            client_id,
            secret,
        } => ClientSecretCredential::new(
            tenant_id,
            client_id.clone(),
            azure_core::credentials::Secret::new(secret.expose().to_owned()),
            Some(ClientSecretCredentialOptions { client_options }),
        )
        .map_err(sdk)?,
        AzureAuth::ClientCertificate {
            tenant_id,
            client_id,
            pem,
        } => {
            let audience = format!(
                "{}/{tenant_id}/oauth2/v2.0/token",
                conn.cloud.authority_host.trim_end_matches('/')
            );
            let assertion = CertificateAssertion::from_pem(pem.expose(), client_id, &audience)
                .map_err(|e| bad(format!("servicePrincipalCertificate: {e}")))?;
            ClientAssertionCredential::new(
                tenant_id.clone(),
                client_id.clone(),
                assertion,
                Some(ClientAssertionCredentialOptions { client_options }),
            )
            .map_err(sdk)?
        }
        AzureAuth::WorkloadIdentity {
            tenant_id,
            client_id,
            service_connection_id,
            access_token,
            ..
        } => {
            // The credential reads SYSTEM_OIDCREQUESTURI itself and asks that endpoint for a new
            // OIDC token before each Entra token request, so federation never runs on a stale one.
            let options = AzurePipelinesCredentialOptions {
                credential_options: ClientAssertionCredentialOptions { client_options },
            };
            AzurePipelinesCredential::new(
                tenant_id.clone(),
                client_id.clone(),
                service_connection_id,
                azure_core::credentials::Secret::new(access_token.expose().to_owned()),
                Some(options),
            )
            .map_err(sdk)?
        }
        AzureAuth::FederatedTokenFile {
            tenant_id,
            client_id,
            token_file,
        } => WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
            credential_options: ClientAssertionCredentialOptions { client_options },
            client_id: Some(client_id.clone()),
            tenant_id: Some(tenant_id.clone()),
            token_file_path: Some(token_file.clone()),
        }))
        .map_err(sdk)?,
        AzureAuth::ManagedIdentity { client_id } => {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                client_options,
            };
            ManagedIdentityCredential::new(Some(options)).map_err(sdk)?
        }
    })
}

/// Fixes for the Entra ID errors seen most with pipeline service connections.
pub fn entra_hint(code: &str) -> Option<&'static str> {
    let n = code.trim_start_matches("AADSTS");
    Some(match n {
        "7000215" | "7000222" => "the client secret is wrong or has expired: create a new secret in the app registration (Certificates & secrets) and update the service connection",
        "700016" => "no app with this client id exists in the tenant: check the service principal (client) id and the tenant id of the service connection",
        "90002" | "900023" => "the tenant id of the service connection is wrong",
        "700027" | "700023" => "the certificate is not registered on the app registration, or it has expired: upload the certificate's public part under Certificates & secrets",
        "70021" | "700213" | "700212" => "no federated credential of the app matches this service connection: its issuer and subject identifier must be exactly those shown on the service connection",
        "700024" => "the federated token was not valid at the time of the request; check the agent's clock",
        "7000112" => "the application is disabled in the tenant",
        _ => return None,
    })
}

fn sign_in_error(conn: &AzureConnection, f: &Fault) -> Error {
    // With federation, an HTTP error without an Entra (AADSTS) code came from Azure DevOps'
    // OIDC endpoint, before Entra was asked at all.
    let from_oidc = matches!(conn.auth, AzureAuth::WorkloadIdentity { .. })
        && f.status.is_some()
        && !f.code.as_deref().is_some_and(|c| c.starts_with("AADSTS"));
    let mut e = Error::new(
        if f.network {
            ErrorKind::Network
        } else {
            ErrorKind::Platform
        },
        format!(
            "sign-in with service connection `{}` ({}) failed: {}{}",
            conn.id,
            method(&conn.auth),
            if from_oidc {
                "the Azure DevOps OIDC endpoint (System.OidcRequestUri) refused the federated token request: "
            } else {
                ""
            },
            f.quote()
        ),
    );
    let hint = f.code.as_deref().and_then(entra_hint).map(str::to_owned).or_else(|| {
        if let Some(h) = f.trust_hint() {
            return Some(h.to_owned());
        }
        if f.network {
            return Some(match &conn.auth {
                AzureAuth::ManagedIdentity { .. } => "managed identity works only on a self-hosted agent running in Azure, where the instance metadata service (169.254.169.254) is reachable".to_owned(),
                _ => format!("check that {} is reachable from the agent (firewall, proxy settings)", conn.cloud.authority_host),
            });
        }
        match (&conn.auth, f.status) {
            (AzureAuth::WorkloadIdentity { .. }, Some(_)) if from_oidc => Some(
                "check that the pipeline is authorized to use this service connection (Project settings > Service connections > Security) and that the job's access token is available".to_owned(),
            ),
            (AzureAuth::ManagedIdentity { client_id }, Some(400)) => Some(match client_id {
                Some(_) => "the user-assigned identity named by msiclientId is not assigned to the agent's VM".to_owned(),
                None => "the agent's VM has no system-assigned identity; enable it or set msiclientId on the service connection".to_owned(),
            }),
            _ => None,
        }
    });
    if let Some(h) = hint {
        e = e.with_hint(h);
    }
    e
}

#[cfg(test)]
mod tests {

    #[test]
    fn one_request_never_outlasts_the_run_timeout() {
        use std::time::Duration;
        assert_eq!(
            super::request_timeout(Duration::from_secs(600)),
            super::REQUEST_TIMEOUT
        );
        assert_eq!(
            super::request_timeout(Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        assert_eq!(
            super::request_timeout(Duration::ZERO),
            Duration::from_secs(1)
        );
    }

    use super::*;
    use crate::azure::connection::Cloud;

    fn conn(auth: AzureAuth) -> AzureConnection {
        AzureConnection {
            id: "conn-1".into(),
            auth,
            cloud: Cloud::named("AzureCloud"),
            subscription_id: None,
        }
    }

    #[test]
    fn sign_in_errors_quote_entra_and_give_the_fix() {
        let c = conn(AzureAuth::ClientSecret {
            tenant_id: "t".into(),
            client_id: "c".into(),
            secret: Secret::new("s"),
        });
        let f = Fault {
            status: Some(401),
            code: Some("AADSTS7000215".into()),
            message: "Invalid client secret provided.".into(),
            request_id: Some("corr-1".into()),
            ..Default::default()
        };
        let e = sign_in_error(&c, &f);
        assert!(e.message.contains("service connection `conn-1`"), "{e}");
        assert!(
            e.message.contains(
                "AADSTS7000215: Invalid client secret provided. (HTTP 401, request id corr-1)"
            ),
            "{e}"
        );
        assert!(e.hint.unwrap().contains("new secret"));

        let net = Fault {
            network: true,
            message: "POST https://login.microsoftonline.com/t/oauth2/v2.0/token: connection failed reaching login.microsoftonline.com through proxy http://p:8080/".into(),
            ..Default::default()
        };
        let e = sign_in_error(&c, &net);
        assert_eq!(e.kind, ErrorKind::Network);
        assert!(e.message.contains("through proxy"), "{e}");
        assert!(e.hint.unwrap().contains("reachable"));

        let mi = conn(AzureAuth::ManagedIdentity {
            client_id: Some("x".into()),
        });
        let e = sign_in_error(
            &mi,
            &Fault {
                status: Some(400),
                message: "The requested identity has not been assigned to this resource".into(),
                ..Default::default()
            },
        );
        assert!(e.hint.unwrap().contains("msiclientId"));
    }

    #[test]
    fn plain_http_authority_is_refused_before_any_request() {
        let mut c = conn(AzureAuth::ClientSecret {
            tenant_id: "t".into(),
            client_id: "c".into(),
            secret: Secret::new("s"),
        });
        c.cloud.authority_host = "http://login.example/".into();
        let http = Http::new(&crate::config::HttpSettings::default()).unwrap();
        let e = AzureTokens::new(&c).credential(&http).err().unwrap();
        assert_eq!(e.kind, ErrorKind::Input);
        assert!(e.message.contains("not https"), "{e}");
    }
}
