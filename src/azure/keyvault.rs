//! Key Vault secrets: read during the plan (reading changes nothing), masked the moment they
//! arrive, exported as secret pipeline variables during the apply.
//!
//! Two kinds of secrets are read. Those selected by `secretsFilter` (`*` or a list) become secret
//! variables when `exportSecrets` is on. Those named by `vvpApiTokenSecret` or
//! `flinkCredentialSecret` are credentials the task itself uses; they never become variables
//! unless a `secretsFilter` list names them explicitly.

use std::collections::BTreeMap;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::{StreamExt, TryStreamExt};
use time::OffsetDateTime;

use super::fault::Fault;
use super::transport::{AzureTransport, Retry};
use crate::config::{KeyVaultConfig, SecretsFilter};
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::inputs as i;
use crate::pipeline::vso::Masker;
use crate::secret::Secret;

/// Secrets fetched at once; Key Vault throttles a vault at a few thousand reads per 10 seconds,
/// so this is about latency, not limits.
const PARALLEL: usize = 8;

/// `https://<vault>.<suffix>/`, the data-plane endpoint of the vault in the connection's cloud.
pub fn vault_url(name: &str, suffix: &str) -> String {
    format!("https://{name}.{}/", suffix.trim_matches(['.', '/']))
}

/// Why a secret is left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unusable {
    Disabled,
    Expired(OffsetDateTime),
    NotYetValid(OffsetDateTime),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let day = |t: &OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        match self {
            Unusable::Disabled => f.write_str("it is disabled"),
            Unusable::Expired(t) => write!(f, "it expired at {}", day(t)),
            Unusable::NotYetValid(t) => write!(f, "it is not valid before {}", day(t)),
        }
    }
}

/// Whether a secret with these attributes may be used now.
pub fn usability(
    enabled: Option<bool>,
    expires: Option<OffsetDateTime>,
    not_before: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> std::result::Result<(), Unusable> {
    if enabled == Some(false) {
        return Err(Unusable::Disabled);
    }
    if let Some(e) = expires.filter(|e| *e <= now) {
        return Err(Unusable::Expired(e));
    }
    if let Some(n) = not_before.filter(|n| *n > now) {
        return Err(Unusable::NotYetValid(n));
    }
    Ok(())
}

/// The secret name in a Key Vault id such as `https://kv.vault.azure.net/secrets/name/version`.
pub fn name_from_id(id: &str) -> Option<String> {
    let path = id.split_once("/secrets/")?.1;
    let name = path.split(['/', '?']).next()?;
    (!name.is_empty()).then(|| name.to_owned())
}

/// A shell-friendly alias for a secret name: Key Vault allows `-`, which environment variables
/// and most scripting languages do not. Key Vault names never contain `_`, so the alias cannot
/// collide with another secret's own name.
pub fn env_friendly(name: &str) -> Option<String> {
    name.contains('-').then(|| name.replace('-', "_"))
}

/// One variable to set in the apply phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    pub variable: String,
    /// Index into the fetched secrets.
    pub secret: usize,
}

/// Which variables to set for the fetched secrets, and warnings for those left out.
///
/// The agent refuses a secret variable whose value has a line break (`MultilineSecret`) unless
/// the job sets `SYSTEM_UNSAFEALLOWMULTILINESECRET`. Rather than switching that on for the whole
/// job behind the user's back, such secrets are exported only when the job already allows them.
pub fn export_plan(
    secrets: &[(String, &str)],
    allow_multiline: bool,
) -> (Vec<Export>, Vec<String>) {
    let mut out = vec![];
    let mut warnings = vec![];
    for (idx, (name, value)) in secrets.iter().enumerate() {
        if value.contains(['\r', '\n']) && !allow_multiline {
            warnings.push(format!(
                "Key Vault secret `{name}` has line breaks and was not set as a variable: the agent accepts multi-line secret variables only when the pipeline sets the variable SYSTEM_UNSAFEALLOWMULTILINESECRET to true (the value is masked line by line either way)"
            ));
            continue;
        }
        out.push(Export {
            variable: name.clone(),
            secret: idx,
        });
        if let Some(alias) = env_friendly(name) {
            out.push(Export {
                variable: alias,
                secret: idx,
            });
        }
    }
    (out, warnings)
}

/// How a vault refused access, from Key Vault's `innererror.code` and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The vault uses Azure RBAC; `scope` is the vault's resource id when the message names it.
    Rbac {
        scope: Option<String>,
    },
    /// The vault uses access policies.
    AccessPolicy,
    /// The vault's firewall refused the agent's address.
    Firewall,
    Other,
}

pub fn classify_denial(f: &Fault) -> Denial {
    let inner = f.inner_code.as_deref().unwrap_or("");
    let m = &f.message;
    if inner.eq_ignore_ascii_case("ForbiddenByRbac") || m.contains("DeniedWithNoValidRBAC") {
        let scope = m.split("Resource: '").nth(1).and_then(|r| {
            let r = r.split('\'').next()?;
            let lower = r.to_ascii_lowercase();
            let at = lower.find("/vaults/")?;
            let rest = &r[at + "/vaults/".len()..];
            let name_len = rest.find('/').unwrap_or(rest.len());
            Some(r[..at + "/vaults/".len() + name_len].to_owned())
        });
        Denial::Rbac { scope }
    } else if inner.eq_ignore_ascii_case("ForbiddenByFirewall")
        || m.contains("Client address is not authorized")
    {
        Denial::Firewall
    } else if inner.eq_ignore_ascii_case("AccessDenied") || m.contains("does not have secrets") {
        Denial::AccessPolicy
    } else {
        Denial::Other
    }
}

/// The operation a 403 refused.
#[derive(Clone, Copy, Debug)]
pub enum Op<'a> {
    List,
    Get(&'a str),
}

/// A 403 from the vault, explained: which permission model, which role or permission is
/// missing, on which vault.
pub fn denial_error(vault: &str, connection: &str, op: Op<'_>, f: &Fault) -> Error {
    let what = match op {
        Op::List => "list the secrets".to_owned(),
        Op::Get(n) => format!("read secret `{n}`"),
    };
    let (model, hint) = match classify_denial(f) {
        Denial::Rbac { scope } => (
            "The vault uses Azure role-based access control.",
            format!(
                "assign the role `Key Vault Secrets User` to the identity of service connection `{connection}` on the vault `{vault}` (scope: {})",
                scope.unwrap_or_else(|| format!("the resource id of key vault {vault}"))
            ),
        ),
        Denial::AccessPolicy => (
            "The vault uses access policies.",
            format!(
                "add an access policy on the vault `{vault}` that grants the identity of service connection `{connection}` the secret permissions {} (or switch the vault to Azure RBAC and assign `Key Vault Secrets User`)",
                match op {
                    Op::List => "`List` and `Get`",
                    Op::Get(_) => "`Get` (and `List` for secretsFilter `*`)",
                }
            ),
        ),
        Denial::Firewall => (
            "The vault's firewall refused the agent's network address.",
            format!("allow the agent's public IP address in the networking settings of the vault `{vault}`, or reach it through a private endpoint from a self-hosted agent"),
        ),
        Denial::Other => ("", format!("check the permissions of service connection `{connection}` on the vault `{vault}`")),
    };
    let mut msg = format!("Key Vault `{vault}` refused to {what}: {}", f.quote());
    if !model.is_empty() {
        msg.push(' ');
        msg.push_str(model);
    }
    Error::platform(msg).with_hint(hint)
}

/// A secret read from the vault.
pub struct Fetched {
    pub name: String,
    pub value: Secret,
}

/// What the plan read from the vault.
pub struct VaultRead {
    pub vault: String,
    /// Secrets for `exportSecrets`, in a stable order.
    pub for_export: Vec<Fetched>,
    /// Secrets named by the task's credential inputs.
    pub for_task: BTreeMap<String, Secret>,
    /// Warnings about secrets left out, for the caller to report.
    pub warnings: Vec<String>,
}

/// What to read: the filter, and the credentials the task needs (secret name -> input naming it).
pub struct ReadRequest<'a> {
    pub cfg: &'a KeyVaultConfig,
    pub suffix: &'a str,
    pub connection: &'a str,
    pub task_secrets: Vec<(String, &'static str)>,
}

enum Want {
    Export,
    Task(&'static str),
    Both(&'static str),
}

/// Read the secrets. Every value is registered with `masker` (`task.setsecret` and our redactor) as
/// soon as it arrives, before anything else can print.
pub async fn read(
    req: &ReadRequest<'_>,
    credential: Arc<dyn TokenCredential>,
    transport: &AzureTransport,
    masker: &Masker,
) -> Result<VaultRead> {
    let vault = req.cfg.name.as_str();
    let url = vault_url(vault, req.suffix);
    let options = SecretClientOptions {
        client_options: transport.options(Retry::Standard),
        ..Default::default()
    };
    let client = SecretClient::new(&url, credential, Some(options)).map_err(|e| {
        Error::input(
            i::KEY_VAULT_NAME,
            format!("`{url}` is not a usable vault URL ({e})"),
        )
    })?;
    let mut warnings = vec![];

    // Names in a stable order, each with what it is wanted for.
    let mut wanted: BTreeMap<String, Want> = BTreeMap::new();
    let to_export = match &req.cfg.filter {
        SecretsFilter::None => vec![],
        SecretsFilter::Names(n) => n.clone(),
        SecretsFilter::All => {
            let listed = list(&client, vault, req.connection).await?;
            let mut names = vec![];
            for (name, attrs) in listed {
                match attrs {
                    Err(why) => {
                        warnings.push(format!("Key Vault secret `{name}` was skipped: {why}"))
                    }
                    Ok(()) => names.push(name),
                }
            }
            // A credential the task uses is not exported just because the filter is `*`.
            names.retain(|n| {
                !req.task_secrets
                    .iter()
                    .any(|(t, _)| t.eq_ignore_ascii_case(n))
            });
            names
        }
    };
    for n in to_export {
        wanted.insert(n, Want::Export);
    }
    for (n, input) in &req.task_secrets {
        let key = wanted
            .keys()
            .find(|k| k.eq_ignore_ascii_case(n))
            .cloned()
            .unwrap_or_else(|| n.clone());
        let w = match wanted.remove(&key) {
            Some(Want::Export) | Some(Want::Both(_)) => Want::Both(input),
            _ => Want::Task(input),
        };
        wanted.insert(key, w);
    }

    let client = &client;
    // Name -> the value, or the warning that replaces it.
    let fetched: BTreeMap<String, std::result::Result<Secret, String>> =
        futures::stream::iter(wanted.iter().map(|(name, want)| async move {
            let (source, task) = match want {
                Want::Export => (i::SECRETS_FILTER, false),
                Want::Task(input) | Want::Both(input) => (*input, true),
            };
            let usable = match get(client, vault, req.connection, name, source).await? {
                Got::Value(value, usable) => {
                    masker.add(value.expose());
                    usable.map(|()| value)
                }
                Got::Disabled => Err(Unusable::Disabled),
            };
            match usable {
                Ok(v) => Ok((name.clone(), Ok(v))),
                Err(why) if !task => Ok((
                    name.clone(),
                    Err(format!("Key Vault secret `{name}` was skipped: {why}")),
                )),
                Err(why) => Err(Error::platform(format!(
                    "Key Vault secret `{name}` (named by input `{source}`) cannot be used: {why}"
                ))
                .with_hint(format!("enable or renew the secret in the vault `{vault}`"))),
            }
        }))
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;

    let mut for_export = vec![];
    let mut for_task = BTreeMap::new();
    for (name, want) in &wanted {
        let value = match fetched.get(name) {
            Some(Ok(v)) => v.clone(),
            Some(Err(warning)) => {
                warnings.push(warning.clone());
                continue;
            }
            None => continue,
        };
        if let Want::Task(_) | Want::Both(_) = want {
            for_task.insert(name.clone(), value.clone());
        }
        if let Want::Export | Want::Both(_) = want {
            for_export.push(Fetched {
                name: name.clone(),
                value,
            });
        }
    }
    Ok(VaultRead {
        vault: vault.to_owned(),
        for_export,
        for_task,
        warnings,
    })
}

/// A secret as the vault returned it.
enum Got {
    Value(Secret, std::result::Result<(), Unusable>),
    /// Key Vault refuses to return a disabled secret's value.
    Disabled,
}

fn sdk_error(
    vault: &str,
    connection: &str,
    op: Op<'_>,
    source: &str,
    e: &azure_core::Error,
) -> Error {
    let f = Fault::from_sdk(e);
    match (f.status, op) {
        (Some(403), _) => denial_error(vault, connection, op, &f),
        (Some(404), Op::Get(name)) => {
            Error::platform(format!(
                "Key Vault `{vault}` has no secret `{name}` (named by input `{source}`): {}",
                f.quote()
            ))
            .with_hint(format!("check the name in `{source}`; Key Vault names are letters, digits and hyphens"))
        }
        (Some(401), _) => Error::platform(format!(
            "Key Vault `{vault}` did not accept the token of service connection `{connection}`: {}",
            f.quote()
        ))
        .with_hint("the vault must belong to the same Entra ID tenant as the service connection"),
        _ if f.network => Error::new(
            ErrorKind::Network,
            format!("Key Vault `{vault}` cannot be reached: {}", f.quote()),
        )
        .with_hint(f.trust_hint().map(str::to_owned).unwrap_or_else(|| format!(
            "check the vault name `{vault}` and that the agent can reach it (firewall, private endpoint DNS, proxy settings)"
        ))),
        _ => {
            let doing = match op {
                Op::List => format!("listing the secrets for input `{source}`"),
                Op::Get(name) => format!("reading secret `{name}` (input `{source}`)"),
            };
            Error::platform(format!("Key Vault `{vault}`, {doing}: {}", f.quote()))
        }
    }
}

async fn list(
    client: &SecretClient,
    vault: &str,
    connection: &str,
) -> Result<Vec<(String, std::result::Result<(), Unusable>)>> {
    let now = OffsetDateTime::now_utc();
    let mut pager = client
        .list_secret_properties(None)
        .map_err(|e| sdk_error(vault, connection, Op::List, i::SECRETS_FILTER, &e))?;
    let mut out = vec![];
    while let Some(p) = pager
        .try_next()
        .await
        .map_err(|e| sdk_error(vault, connection, Op::List, i::SECRETS_FILTER, &e))?
    {
        let Some(name) = p.id.as_deref().and_then(name_from_id) else {
            continue;
        };
        let a = p.attributes.unwrap_or_default();
        out.push((name, usability(a.enabled, a.expires, a.not_before, now)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

async fn get(
    client: &SecretClient,
    vault: &str,
    connection: &str,
    name: &str,
    source: &str,
) -> Result<Got> {
    let secret = match client
        .get_secret(name, None)
        .await
        .and_then(|r| r.into_model())
    {
        Ok(s) => s,
        Err(e) => {
            let f = Fault::from_sdk(&e);
            if f.status == Some(403) && f.inner_code.as_deref() == Some("SecretDisabled") {
                return Ok(Got::Disabled);
            }
            return Err(sdk_error(vault, connection, Op::Get(name), source, &e));
        }
    };
    let a = secret.attributes.unwrap_or_default();
    let usable = usability(
        a.enabled,
        a.expires,
        a.not_before,
        OffsetDateTime::now_utc(),
    );
    Ok(Got::Value(
        Secret::new(secret.value.unwrap_or_default()),
        usable,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn disabled_expired_and_future_secrets_are_unusable() {
        let now = datetime!(2026-01-01 12:00 UTC);
        assert_eq!(usability(None, None, None, now), Ok(()));
        assert_eq!(
            usability(
                Some(true),
                Some(datetime!(2026-01-02 0:00 UTC)),
                Some(datetime!(2025-01-01 0:00 UTC)),
                now
            ),
            Ok(())
        );
        assert_eq!(
            usability(Some(false), None, None, now),
            Err(Unusable::Disabled)
        );
        let past = datetime!(2025-12-31 0:00 UTC);
        assert_eq!(
            usability(Some(true), Some(past), None, now),
            Err(Unusable::Expired(past))
        );
        let future = datetime!(2026-02-01 0:00 UTC);
        assert_eq!(
            usability(Some(true), None, Some(future), now),
            Err(Unusable::NotYetValid(future))
        );
        assert!(Unusable::Expired(past).to_string().contains("2025-12-31"));
    }

    #[test]
    fn names_urls_and_aliases() {
        assert_eq!(
            vault_url("kv-1", "vault.azure.net"),
            "https://kv-1.vault.azure.net/"
        );
        assert_eq!(
            vault_url("kv", ".vault.usgovcloudapi.net"),
            "https://kv.vault.usgovcloudapi.net/"
        );
        assert_eq!(
            name_from_id("https://kv.vault.azure.net/secrets/db-pass").as_deref(),
            Some("db-pass")
        );
        assert_eq!(
            name_from_id("https://kv.vault.azure.net/secrets/a/0123abc").as_deref(),
            Some("a")
        );
        assert_eq!(name_from_id("https://kv.vault.azure.net/keys/a"), None);
        assert_eq!(env_friendly("db-pass-2").as_deref(), Some("db_pass_2"));
        assert_eq!(env_friendly("token"), None);
    }

    #[test]
    fn export_plan_adds_aliases_and_holds_back_multiline_values() {
        let s = vec![
            ("db-pass".to_owned(), "p%;]"),
            ("cert".to_owned(), "line1\nline2"),
            ("plain".to_owned(), "v"),
        ];
        let (ex, warn) = export_plan(&s, false);
        let vars: Vec<(&str, usize)> = ex.iter().map(|e| (e.variable.as_str(), e.secret)).collect();
        assert_eq!(vars, vec![("db-pass", 0), ("db_pass", 0), ("plain", 2)]);
        assert_eq!(warn.len(), 1);
        assert!(
            warn[0].contains("`cert`") && warn[0].contains("SYSTEM_UNSAFEALLOWMULTILINESECRET")
        );
        let (ex, warn) = export_plan(&s, true);
        assert_eq!(ex.len(), 4);
        assert!(warn.is_empty());
        let (_, warn) = export_plan(&[("cr".to_owned(), "a\rb")], false);
        assert_eq!(warn.len(), 1, "a lone CR is a line break on Windows agents");
    }

    fn fault(inner: Option<&str>, message: &str) -> Fault {
        Fault {
            status: Some(403),
            code: Some("Forbidden".into()),
            inner_code: inner.map(str::to_owned),
            message: message.into(),
            request_id: Some("r-1".into()),
            ..Default::default()
        }
    }

    #[test]
    fn denials_name_the_model_the_missing_grant_and_the_vault() {
        let rbac = fault(Some("ForbiddenByRbac"), "Caller is not authorized to perform action on resource. Caller: appid=a;oid=b Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action' Resource: '/subscriptions/s1/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv1/secrets/tok' Assignment: (not found) DecisionReason: 'DeniedWithNoValidRBAC' Vault: kv1;location=westeurope");
        assert_eq!(
            classify_denial(&rbac),
            Denial::Rbac {
                scope: Some(
                    "/subscriptions/s1/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv1"
                        .into()
                )
            }
        );
        let e = denial_error("kv1", "conn", Op::Get("tok"), &rbac);
        assert!(
            e.message
                .contains("Key Vault `kv1` refused to read secret `tok`"),
            "{e}"
        );
        assert!(e.message.contains("role-based access control"), "{e}");
        assert!(e.message.contains("request id r-1"), "{e}");
        let h = e.hint.unwrap();
        assert!(
            h.contains("Key Vault Secrets User") && h.contains("/vaults/kv1"),
            "{h}"
        );

        let ap = fault(Some("AccessDenied"), "The user, group or application 'appid=a;oid=b' does not have secrets list permission on key vault 'kv1;location=westeurope'.");
        assert_eq!(classify_denial(&ap), Denial::AccessPolicy);
        let e = denial_error("kv1", "conn", Op::List, &ap);
        assert!(e.message.contains("access policies"), "{e}");
        assert!(e.hint.unwrap().contains("`List` and `Get`"));

        let fw = fault(
            Some("ForbiddenByFirewall"),
            "Client address is not authorized and caller is not a trusted service.",
        );
        assert_eq!(classify_denial(&fw), Denial::Firewall);
        assert!(denial_error("kv1", "c", Op::List, &fw)
            .hint
            .unwrap()
            .contains("IP address"));
        assert_eq!(classify_denial(&fault(None, "nope")), Denial::Other);
    }
}
