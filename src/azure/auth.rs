//! Microsoft Entra ID tokens for the AzureRM service connection.
//!
//! [`AzureTokens::token`] is the one way the rest of the task gets a bearer token for a scope
//! (Resource Manager, Key Vault, Storage). Tokens are cached per scope until shortly before they
//! expire; workload identity federation fetches a fresh OIDC assertion for every new token.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::connection::{AzureAuth, AzureConnection};
use crate::error::{Error, Result};
use crate::http::{Body, Http, Request};
use crate::secret::Secret;

pub struct AzureTokens {
    conn: AzureConnection,
    cache: Mutex<HashMap<String, (Secret, Instant)>>,
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

impl AzureTokens {
    pub fn new(conn: &AzureConnection) -> Self {
        Self {
            conn: conn.clone(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn connection(&self) -> &AzureConnection {
        &self.conn
    }

    /// A bearer token for `scope` (e.g. `https://management.azure.com/.default`).
    pub async fn token(&self, http: &Http, scope: &str) -> Result<Secret> {
        let mut cache = self.cache.lock().await;
        if let Some((t, until)) = cache.get(scope) {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let (token, lifetime) = self.fetch(http, scope).await?;
        // Renew five minutes early so a long wait never uses an expiring token.
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(300));
        cache.insert(scope.to_owned(), (token.clone(), until));
        Ok(token)
    }

    async fn fetch(&self, http: &Http, scope: &str) -> Result<(Secret, Duration)> {
        match &self.conn.auth {
            AzureAuth::ClientSecret { tenant_id, client_id, secret } => {
                let form = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("client_id", client_id)
                    .append_pair("client_secret", secret.expose())
                    .append_pair("scope", scope)
                    .finish();
                self.token_request(http, tenant_id, form).await
            }
            _ => Err(Error::platform(format!(
                "sign-in with service connection `{}`: this authentication scheme is not supported yet",
                self.conn.id
            ))),
        }
    }

    async fn token_request(
        &self,
        http: &Http,
        tenant: &str,
        form: String,
    ) -> Result<(Secret, Duration)> {
        let url = format!(
            "{}{tenant}/oauth2/v2.0/token",
            self.conn.cloud.authority_host
        );
        let resp = http
            .send(
                Request::new(reqwest::Method::POST, &url)
                    .body(Body::Bytes {
                        content_type: "application/x-www-form-urlencoded".into(),
                        data: form.into_bytes(),
                    })
                    .retry(true),
            )
            .await?;
        if !resp.is_success() {
            return Err(resp
                .error(&format!("sign-in with service connection `{}`", self.conn.id))
                .with_hint("check the service connection's credentials and that the secret has not expired"));
        }
        let t: TokenResponse = resp.json()?;
        let secs = t
            .expires_in
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(3600);
        Ok((Secret::new(t.access_token), Duration::from_secs(secs)))
    }
}
