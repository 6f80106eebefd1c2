//! The Azure parts of the configuration that are not the sign-in itself: which Key Vault
//! secrets to read and export, and where in Blob Storage the jar goes.

use crate::config::checks::{base_url, check_transport, parse_url, require, valid_resource_name};
use crate::config::RawInputs;
use crate::error::{Error, Result};
use crate::pipeline::inputs as i;
use crate::secret::Secret;

use super::connection::AzureConnection;

#[derive(Clone, Debug)]
pub struct KeyVaultConfig {
    pub name: String,
    /// Empty means no secrets are exported as variables (only those the task needs are read).
    pub filter: SecretsFilter,
    pub export: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretsFilter {
    None,
    All,
    Names(Vec<String>),
}

fn secrets_filter(raw: &RawInputs) -> Result<SecretsFilter> {
    Ok(match raw.get(i::SECRETS_FILTER) {
        None => SecretsFilter::None,
        Some("*") => SecretsFilter::All,
        Some(list) => {
            let names: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(bad) = names.iter().find(|n| {
                !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || n.len() > 127
            }) {
                return Err(
                    crate::config::checks::not_a(i::SECRETS_FILTER, bad, "a secret name")
                        .with_hint(
                            "use `*` or a comma-separated list of names (letters, digits, hyphens)",
                        ),
                );
            }
            SecretsFilter::Names(names)
        }
    })
}

impl KeyVaultConfig {
    pub fn from_raw(
        raw: &RawInputs,
        azure: Option<&AzureConnection>,
    ) -> Result<Option<KeyVaultConfig>> {
        let Some(name) = raw.string(i::KEY_VAULT_NAME) else {
            if raw.get(i::SECRETS_FILTER).is_some() {
                return Err(
                    Error::input(i::SECRETS_FILTER, "is set but `keyVaultName` is empty")
                        .with_hint("set keyVaultName or remove secretsFilter"),
                );
            }
            return Ok(None);
        };
        let ok = (3..=24).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && !name.ends_with('-')
            && !name.contains("--");
        if !ok {
            return Err(
                crate::config::checks::not_a(i::KEY_VAULT_NAME, &name, "a Key Vault name")
                    .with_hint("3-24 letters, digits and single hyphens, starting with a letter"),
            );
        }
        if azure.is_none() {
            return Err(Error::input(
                i::AZURE_SUBSCRIPTION,
                "is required to read Key Vault secrets",
            )
            .with_hint(
                "select an Azure Resource Manager service connection with access to the vault",
            ));
        }
        Ok(Some(KeyVaultConfig {
            name,
            filter: secrets_filter(raw)?,
            export: raw.boolean(i::EXPORT_SECRETS)?,
        }))
    }
}

/// Where the jar goes, as the inputs say it.
#[derive(Clone, Debug)]
pub struct BlobSettings {
    pub account: String,
    pub container: String,
    /// The folder in the container; `None` takes the target's default.
    pub prefix: Option<String>,
    /// Blob service URL without trailing slash.
    pub endpoint: String,
    pub sas: Option<Secret>,
}

/// Where the jar goes, with the folder decided.
#[derive(Clone, Debug)]
pub struct BlobConfig {
    pub account: String,
    pub container: String,
    pub prefix: String,
    /// Blob service URL without trailing slash.
    pub endpoint: String,
    pub sas: Option<Secret>,
}

impl BlobSettings {
    /// With the folder decided: `blobPrefix`, or the target's default.
    pub fn resolve(&self, default_prefix: &str) -> BlobConfig {
        BlobConfig {
            account: self.account.clone(),
            container: self.container.clone(),
            prefix: self
                .prefix
                .clone()
                .unwrap_or_else(|| default_prefix.to_owned()),
            endpoint: self.endpoint.clone(),
            sas: self.sas.clone(),
        }
    }

    pub fn from_raw(
        raw: &RawInputs,
        azure: Option<&AzureConnection>,
        allow_insecure_http: bool,
    ) -> Result<Option<BlobSettings>> {
        let Some(account) = raw.string(i::STORAGE_ACCOUNT) else {
            for dependent in [i::CONTAINER_NAME, i::BLOB_ENDPOINT, i::STORAGE_SAS_TOKEN] {
                if raw.get(dependent).is_some() {
                    return Err(
                        Error::input(dependent, "is set but `storageAccount` is empty")
                            .with_hint("set storageAccount"),
                    );
                }
            }
            return Ok(None);
        };
        let account_ok = (3..=24).contains(&account.len())
            && account
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        require(
            account_ok,
            i::STORAGE_ACCOUNT,
            &account,
            "a storage account name",
            "3-24 lower-case letters and digits",
        )?;
        let container = raw
            .string(i::CONTAINER_NAME)
            .ok_or_else(|| Error::input(i::CONTAINER_NAME, "is required with `storageAccount`"))?;
        let container_ok = (3..=63).contains(&container.len())
            && (valid_resource_name(&container) || container == "$root");
        require(
            container_ok,
            i::CONTAINER_NAME,
            &container,
            "a container name",
            "3-63 lower-case letters, digits and hyphens",
        )?;
        let sas = raw
            .get(i::STORAGE_SAS_TOKEN)
            .map(|s| Secret::new(s.trim_start_matches('?')));
        if sas.is_none() && azure.is_none() {
            return Err(Error::input(i::AZURE_SUBSCRIPTION, "is required to upload to Blob Storage without `storageSasToken`")
                .with_hint("select a service connection with Storage Blob Data Contributor on the account, or pass a SAS"));
        }
        let endpoint = match raw.get(i::BLOB_ENDPOINT) {
            Some(e) => {
                let u = parse_url(i::BLOB_ENDPOINT, e)?;
                check_transport(i::BLOB_ENDPOINT, &u, true, allow_insecure_http)?;
                base_url(&u)
            }
            None => {
                let suffix = azure
                    .map(|a| a.cloud.storage_suffix.clone())
                    .unwrap_or_else(|| "core.windows.net".into());
                format!("https://{account}.blob.{suffix}")
            }
        };
        let prefix = raw
            .get(i::BLOB_PREFIX)
            .map(|p| p.trim_matches('/').to_owned());
        if prefix
            .as_deref()
            .is_some_and(|p| p.split('/').any(|seg| seg == ".."))
        {
            return Err(Error::input(i::BLOB_PREFIX, "must not contain `..`"));
        }
        Ok(Some(BlobSettings {
            account,
            container,
            prefix,
            endpoint,
            sas,
        }))
    }
}
