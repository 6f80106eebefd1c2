//! Azure sign-in for a command-line run, from the environment variables the Azure SDKs define
//! (`EnvironmentCredential`, `WorkloadIdentityCredential`, `ManagedIdentityCredential`), mapped
//! onto the same [`AzureConnection`] a service connection gives the task, so Key Vault, Blob
//! Storage and HDInsight work unchanged.
//!
//! | variables | sign-in |
//! |---|---|
//! | `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` | client secret |
//! | `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_CERTIFICATE_PATH` (PEM with the key) | certificate |
//! | `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE` | workload identity federation |
//! | `IDENTITY_ENDPOINT` or `MSI_ENDPOINT`, or none of the above with `azureSubscription` | managed identity (user-assigned with `AZURE_CLIENT_ID`) |
//!
//! `AZURE_AUTHORITY_HOST` picks the cloud; `azureSubscription` (or `AZURE_SUBSCRIPTION_ID`) is
//! the subscription, as a service connection's is.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::azure::cert::CertificateAssertion;
use crate::azure::connection::{AzureAuth, AzureConnection, Cloud};
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::env::AgentEnv;
use crate::pipeline::inputs as i;
use crate::secret::Secret;

/// How the sign-in is named in messages (where a task names its service connection).
pub const CONNECTION: &str = "AZURE_* environment";

/// A certificate file is a few kilobytes.
const MAX_CERTIFICATE: u64 = 256 * 1024;

fn var_error(var: &str, message: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Input,
        format!("environment variable `{var}`: {message}"),
    )
}

fn var<'a>(env: &'a AgentEnv, name: &str) -> Option<&'a str> {
    env.raw(name).map(str::trim).filter(|v| !v.is_empty())
}

/// The cloud of an authority host, so Key Vault and Storage use that cloud's suffixes.
fn cloud(env: &AgentEnv) -> Cloud {
    let Some(host) = var(env, "AZURE_AUTHORITY_HOST") else {
        return Cloud::named("AzureCloud");
    };
    let name = if host.contains("microsoftonline.us") {
        "AzureUSGovernment"
    } else if host.contains("chinacloudapi.cn") {
        "AzureChinaCloud"
    } else {
        "AzureCloud"
    };
    let mut c = Cloud::named(name);
    c.authority_host = if host.contains("://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    };
    if !c.authority_host.ends_with('/') {
        c.authority_host.push('/');
    }
    c
}

/// Tenant and client, required with a secret, a certificate or a token file.
fn principal(env: &AgentEnv, with: &str) -> Result<(String, String)> {
    let get = |name: &str| {
        var(env, name).map(str::to_owned).ok_or_else(|| {
            var_error(name, format!("is not set, but `{with}` is"))
                .with_hint("set AZURE_TENANT_ID and AZURE_CLIENT_ID of the app registration")
        })
    };
    Ok((get("AZURE_TENANT_ID")?, get("AZURE_CLIENT_ID")?))
}

fn read_certificate(path: &Path) -> Result<String> {
    const VAR: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
    let open = std::fs::File::open(path)
        .map_err(|e| var_error(VAR, format!("`{}` cannot be read ({e})", path.display())))?;
    let mut bytes = vec![];
    open.take(MAX_CERTIFICATE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| var_error(VAR, format!("`{}` cannot be read ({e})", path.display())))?;
    if bytes.len() as u64 > MAX_CERTIFICATE {
        return Err(var_error(
            VAR,
            format!("`{}` is larger than 256 KiB", path.display()),
        ));
    }
    match String::from_utf8(bytes) {
        Ok(pem) if pem.contains("-----BEGIN") => Ok(pem),
        _ => Err(var_error(
            VAR,
            format!("`{}` is not a PEM file (a PKCS#12 .pfx?)", path.display()),
        )
        .with_hint("give a PEM with the certificate and its private key, e.g. `openssl pkcs12 -in cert.pfx -nodes -out cert.pem`")),
    }
}

fn certificate(env: &AgentEnv, cloud: &Cloud, path: &str) -> Result<AzureAuth> {
    const VAR: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
    let (tenant_id, client_id) = principal(env, VAR)?;
    let pem = read_certificate(Path::new(path))?;
    if pem.contains("ENCRYPTED PRIVATE KEY") {
        let why = if var(env, "AZURE_CLIENT_CERTIFICATE_PASSWORD").is_some() {
            "holds an encrypted private key; encrypted keys are not supported, even with AZURE_CLIENT_CERTIFICATE_PASSWORD"
        } else {
            "holds an encrypted private key"
        };
        return Err(var_error(VAR, format!("`{path}` {why}"))
            .with_hint("decrypt the key into the PEM, e.g. `openssl pkcs8 -in key.pem -out plain-key.pem`, and keep the file private"));
    }
    // Checked now, so a bad file is reported as bad input naming the variable.
    let audience = format!(
        "{}/{tenant_id}/oauth2/v2.0/token",
        cloud.authority_host.trim_end_matches('/')
    );
    CertificateAssertion::from_pem(&pem, &client_id, &audience)
        .map_err(|e| var_error(VAR, format!("`{path}`: {e}")))?;
    Ok(AzureAuth::ClientCertificate {
        tenant_id,
        client_id,
        pem: Secret::new(pem),
    })
}

/// The sign-in the environment names, if any. `subscription` is the `azureSubscription` input.
pub fn connection(env: &AgentEnv, subscription: Option<&str>) -> Result<Option<AzureConnection>> {
    let cloud = cloud(env);
    let auth = if let Some(secret) = var(env, "AZURE_CLIENT_SECRET") {
        let (tenant_id, client_id) = principal(env, "AZURE_CLIENT_SECRET")?;
        AzureAuth::ClientSecret {
            tenant_id,
            client_id,
            secret: Secret::new(secret),
        }
    } else if let Some(path) = var(env, "AZURE_CLIENT_CERTIFICATE_PATH") {
        certificate(env, &cloud, path)?
    } else if let Some(file) = var(env, "AZURE_FEDERATED_TOKEN_FILE") {
        let (tenant_id, client_id) = principal(env, "AZURE_FEDERATED_TOKEN_FILE")?;
        AzureAuth::FederatedTokenFile {
            tenant_id,
            client_id,
            token_file: PathBuf::from(file),
        }
    } else if subscription.is_some()
        || var(env, "IDENTITY_ENDPOINT").is_some()
        || var(env, "MSI_ENDPOINT").is_some()
    {
        AzureAuth::ManagedIdentity {
            client_id: var(env, "AZURE_CLIENT_ID").map(str::to_owned),
        }
    } else {
        return Ok(None);
    };
    let subscription_id = subscription
        .or_else(|| var(env, "AZURE_SUBSCRIPTION_ID"))
        .map(str::to_owned);
    if let Some(s) = subscription.filter(|s| !crate::config::checks::valid_uuid(s)) {
        return Err(Error::input(
            i::AZURE_SUBSCRIPTION,
            format!(
                "`{}` is not a subscription id; on the command line this input is the subscription (a GUID)",
                crate::config::checks::shorten(s)
            ),
        )
        .with_hint("sign-in comes from the AZURE_* environment variables, not a service connection"));
    }
    Ok(Some(AzureConnection {
        id: CONNECTION.to_owned(),
        auth,
        cloud,
        subscription_id,
    }))
}

/// What in the inputs needs an Azure sign-in, for the error when the environment names none.
pub fn needed_by(inputs: &std::collections::BTreeMap<&'static str, String>) -> Option<String> {
    let given = |n: &str| inputs.get(n).is_some_and(|v| !v.trim().is_empty());
    if given(i::KEY_VAULT_NAME) {
        Some(format!("`{}` (reading Key Vault)", i::KEY_VAULT_NAME))
    } else if inputs
        .get(i::TARGET)
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("hdinsight"))
    {
        Some("target `hdinsight` (Resource Manager)".to_owned())
    } else if given(i::STORAGE_ACCOUNT) && !given(i::STORAGE_SAS_TOKEN) {
        Some(format!(
            "`{}` without `{}` (uploading with the identity)",
            i::STORAGE_ACCOUNT,
            i::STORAGE_SAS_TOKEN
        ))
    } else {
        None
    }
}

/// The error for a run that needs Azure when no variable names a sign-in.
pub fn missing(what: &str) -> Error {
    Error::new(
        ErrorKind::Input,
        format!("{what} needs an Azure sign-in, and no AZURE_* environment variable names one"),
    )
    .with_hint("set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH, or AZURE_FEDERATED_TOKEN_FILE); on an Azure machine with a managed identity, give --azureSubscription <subscription id>")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const CLIENT: &str = "5b1d3a6e-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
    const SUB: &str = "00000000-0000-0000-0000-000000000001";

    fn env(pairs: &[(&str, &str)]) -> AgentEnv {
        AgentEnv::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn a_client_secret_with_tenant_client_and_cloud() {
        let e = env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_CLIENT_SECRET", "s3cret"),
            ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us"),
            ("AZURE_SUBSCRIPTION_ID", SUB),
        ]);
        let c = connection(&e, None).unwrap().unwrap();
        assert!(
            matches!(c.auth, AzureAuth::ClientSecret { ref client_id, .. } if client_id == CLIENT)
        );
        assert_eq!(c.cloud.authority_host, "https://login.microsoftonline.us/");
        assert_eq!(c.cloud.key_vault_suffix, "vault.usgovcloudapi.net");
        assert_eq!(c.subscription_id.as_deref(), Some(SUB));
        assert_eq!(c.secrets(), vec!["s3cret"]);
    }

    #[test]
    fn a_secret_without_tenant_names_the_missing_variable() {
        let e = env(&[("AZURE_CLIENT_ID", CLIENT), ("AZURE_CLIENT_SECRET", "s")]);
        let err = connection(&e, None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Input);
        assert!(
            err.message
                .contains("`AZURE_TENANT_ID`: is not set, but `AZURE_CLIENT_SECRET` is"),
            "{err}"
        );
    }

    #[test]
    fn a_token_file_is_workload_identity_and_nothing_is_no_sign_in() {
        let e = env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                "/var/run/secrets/azure/tokens/azure-identity-token",
            ),
        ]);
        let c = connection(&e, None).unwrap().unwrap();
        assert!(matches!(c.auth, AzureAuth::FederatedTokenFile { .. }));
        assert!(connection(&env(&[("AZURE_CLIENT_ID", CLIENT)]), None)
            .unwrap()
            .is_none());
    }

    #[test]
    fn managed_identity_when_the_host_publishes_one_or_a_subscription_is_given() {
        let e = env(&[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/token"),
            ("AZURE_CLIENT_ID", CLIENT),
        ]);
        let c = connection(&e, None).unwrap().unwrap();
        assert!(
            matches!(c.auth, AzureAuth::ManagedIdentity { client_id: Some(ref id) } if id == CLIENT)
        );
        let c = connection(&env(&[]), Some(SUB)).unwrap().unwrap();
        assert!(matches!(
            c.auth,
            AzureAuth::ManagedIdentity { client_id: None }
        ));
        assert_eq!(c.subscription_id.as_deref(), Some(SUB));
        let err = connection(&env(&[]), Some("my-service-connection")).unwrap_err();
        assert!(
            err.message.contains("`azureSubscription`") && err.message.contains("GUID"),
            "{err}"
        );
    }

    #[test]
    fn a_certificate_file_must_be_pem_with_a_plain_key() {
        let dir = tempfile::tempdir().unwrap();
        let pfx = dir.path().join("cert.pfx");
        std::fs::write(&pfx, [0x30u8, 0x82, 0x01, 0x00, 0xff]).unwrap();
        let base = [("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", CLIENT)];
        let with = |p: &Path| {
            let mut v: Vec<(&str, String)> =
                base.iter().map(|(k, v)| (*k, v.to_string())).collect();
            v.push(("AZURE_CLIENT_CERTIFICATE_PATH", p.display().to_string()));
            AgentEnv::from_pairs(v)
        };
        let err = connection(&with(&pfx), None).unwrap_err();
        assert!(err.message.contains("not a PEM file"), "{err}");
        let enc = dir.path().join("enc.pem");
        std::fs::write(
            &enc,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = connection(&with(&enc), None).unwrap_err();
        assert!(err.message.contains("encrypted private key"), "{err}");
        let err = connection(&with(&dir.path().join("missing.pem")), None).unwrap_err();
        assert!(err.message.contains("cannot be read"), "{err}");
    }

    #[test]
    fn what_needs_azure() {
        let m = |pairs: &[(&'static str, &str)]| {
            pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
        };
        assert!(needed_by(&m(&[("keyVaultName", "kv1")]))
            .unwrap()
            .contains("keyVaultName"));
        assert!(needed_by(&m(&[("target", "HDInsight")])).is_some());
        assert!(needed_by(&m(&[("storageAccount", "a")])).is_some());
        assert!(needed_by(&m(&[("storageAccount", "a"), ("storageSasToken", "sv=1")])).is_none());
        assert!(needed_by(&m(&[("target", "flink")])).is_none());
    }
}
