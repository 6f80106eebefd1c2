//! A kubeconfig (or a Kubernetes service connection's service account) turned into what one
//! request needs: the API server, the CA to trust, and how to sign in. Pure: the text comes
//! from the agent or from Resource Manager; nothing is read from disk and nothing is run, so a
//! user that runs `kubelogin` becomes an Entra ID sign-in with the AzureRM connection.

use base64::Engine;
use serde_json::Value;

use crate::secret::Secret;

/// The AKS Entra ID server application: the audience of tokens for every AKS API server, the
/// same in every cloud (`Azure/kubelogin`, docs/book/src/concepts/aks.md).
pub const AKS_SERVER_APP: &str = "6dae42f8-4368-4678-94ff-3960e28e3630";

/// How requests to the API server sign in.
#[derive(Clone, Debug)]
pub enum User {
    /// `Authorization: Bearer` (a service account token, an AKS local-account token).
    Token(Secret),
    /// A client certificate (mTLS), with the token that may come with it.
    Certificate {
        cert_pem: String,
        key_pem: Secret,
        token: Option<Secret>,
    },
    /// An Entra ID token for `server_id` (what `kubelogin get-token` or the retired `azure`
    /// auth provider would fetch), from the AzureRM connection.
    Entra {
        server_id: String,
        tenant: Option<String>,
    },
    /// No credential at all.
    Anonymous,
}

/// One cluster as a kubeconfig context describes it.
#[derive(Clone, Debug)]
pub struct Access {
    pub server: url::Url,
    /// PEM of the cluster's CA (`certificate-authority-data`, decoded).
    pub ca_pem: Option<Vec<u8>>,
    /// `insecure-skip-tls-verify`, or a service connection that accepts untrusted certificates.
    pub insecure: bool,
    pub user: User,
    /// The context's namespace, if it names one.
    pub namespace: Option<String>,
    /// The context used, for messages.
    pub context: String,
}

impl Access {
    /// Every secret this access holds, in the forms it may be printed (to mask them).
    pub fn secrets(&self) -> Vec<String> {
        let mut out = vec![];
        match &self.user {
            User::Token(t) => out.push(t.expose().to_owned()),
            User::Certificate { key_pem, token, .. } => {
                out.extend(pem_secret_forms(key_pem.expose()));
                if let Some(t) = token {
                    out.push(t.expose().to_owned());
                }
            }
            User::Entra { .. } | User::Anonymous => {}
        }
        out
    }
}

/// A private key as it is masked: its base64 (as `client-key-data` holds it) and the body of
/// the PEM without its BEGIN/END lines (those name no secret and would be masked everywhere).
pub fn pem_secret_forms(pem: &str) -> Vec<String> {
    let body: Vec<&str> = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    vec![
        base64::engine::general_purpose::STANDARD.encode(pem),
        body.join("\n"),
        body.concat(),
    ]
}

/// Decode `*-data` fields: base64 of PEM, as kubectl reads them.
fn data(field: &str, v: &str) -> Result<Vec<u8>, String> {
    let compact: String = v.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| format!("`{field}` is not base64"))
}

fn text(field: &str, v: &str) -> Result<String, String> {
    String::from_utf8(data(field, v)?).map_err(|_| format!("`{field}` is not PEM text"))
}

fn named<'a>(doc: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    let items = doc.get(list)?.as_array()?;
    // A service account connection's kubeconfig has entries without names (`""`).
    items
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str).unwrap_or("") == name)
        .and_then(|e| e.get(list.trim_end_matches('s')))
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Parse a kubeconfig (YAML or JSON) and pick `context`, else its `current-context`.
pub fn parse(text_: &str, context: Option<&str>) -> Result<Access, String> {
    let doc: Value = crate::spec::read_untyped(text_, "the kubeconfig")
        .map_err(|e| format!("is not a kubeconfig (YAML or JSON): {}", first_line(&e)))?;
    if !doc.is_object() {
        return Err("is not a kubeconfig (no clusters, contexts or users)".into());
    }
    let current = str_at(&doc, "current-context");
    let ctx_name = context.or(current).unwrap_or("");
    let ctx = named(&doc, "contexts", ctx_name);
    let (cluster_name, user_name, namespace) = match ctx {
        Some(c) => (
            str_at(c, "cluster").unwrap_or("").to_owned(),
            str_at(c, "user").unwrap_or("").to_owned(),
            str_at(c, "namespace").map(str::to_owned),
        ),
        None if !ctx_name.is_empty() => {
            return Err(format!("has no context `{ctx_name}`"));
        }
        // No contexts at all: the one cluster and the one user (a service account's kubeconfig).
        None => (String::new(), String::new(), None),
    };
    let only = |list: &str| {
        doc.get(list)
            .and_then(Value::as_array)
            .filter(|a| a.len() == 1)
            .and_then(|a| a[0].get(list.trim_end_matches('s')))
    };
    let cluster = named(&doc, "clusters", &cluster_name)
        .or_else(|| cluster_name.is_empty().then(|| only("clusters")).flatten())
        .ok_or_else(|| format!("has no cluster `{cluster_name}` (context `{ctx_name}`)"))?;
    let user = named(&doc, "users", &user_name)
        .or_else(|| user_name.is_empty().then(|| only("users")).flatten());
    let server = str_at(cluster, "server")
        .ok_or_else(|| format!("cluster `{cluster_name}` has no server"))?;
    let server = url::Url::parse(server)
        .map_err(|e| format!("cluster `{cluster_name}`: server `{server}` is not a URL ({e})"))?;
    if str_at(cluster, "certificate-authority").is_some() {
        return Err(format!("cluster `{cluster_name}` names a certificate-authority file; a kubeconfig for a pipeline must carry `certificate-authority-data`"));
    }
    let ca_pem = match str_at(cluster, "certificate-authority-data") {
        Some(v) => Some(data("certificate-authority-data", v)?),
        None => None,
    };
    let insecure = cluster
        .get("insecure-skip-tls-verify")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let user = match user {
        Some(u) => read_user(u, &user_name)?,
        None => User::Anonymous,
    };
    Ok(Access {
        server,
        ca_pem,
        insecure,
        user,
        namespace,
        context: ctx_name.to_owned(),
    })
}

fn first_line(e: &impl std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or("").to_owned()
}

fn read_user(u: &Value, name: &str) -> Result<User, String> {
    for file_field in ["client-certificate", "client-key", "tokenFile"] {
        if str_at(u, file_field).is_some() {
            return Err(format!("user `{name}` names a file (`{file_field}`); a kubeconfig for a pipeline must carry the credential itself (`client-certificate-data`, `client-key-data`, `token`)"));
        }
    }
    if str_at(u, "username").is_some() || str_at(u, "password").is_some() {
        return Err(format!("user `{name}` signs in with a user name and password, which Kubernetes no longer accepts; use a token or a client certificate"));
    }
    let token = str_at(u, "token").map(Secret::new);
    if let (Some(cert), Some(key)) = (
        str_at(u, "client-certificate-data"),
        str_at(u, "client-key-data"),
    ) {
        return Ok(User::Certificate {
            cert_pem: text("client-certificate-data", cert)?,
            key_pem: Secret::new(text("client-key-data", key)?),
            token,
        });
    }
    if let Some(t) = token {
        return Ok(User::Token(t));
    }
    if let Some(exec) = u.get("exec") {
        return entra_exec(exec, name);
    }
    if let Some(p) = u.get("auth-provider") {
        if str_at(p, "name") == Some("azure") {
            let cfg = p.get("config").cloned().unwrap_or(Value::Null);
            return Ok(User::Entra {
                server_id: str_at(&cfg, "apiserver-id")
                    .unwrap_or(AKS_SERVER_APP)
                    .to_owned(),
                tenant: str_at(&cfg, "tenant-id").map(str::to_owned),
            });
        }
        return Err(format!(
            "user `{name}` uses the auth provider `{}`, which this task cannot use",
            str_at(p, "name").unwrap_or("?")
        ));
    }
    Ok(User::Anonymous)
}

/// An exec credential plugin: `kubelogin get-token` becomes an Entra ID sign-in; any other
/// command would have to be run, which a pipeline task does not do.
fn entra_exec(exec: &Value, name: &str) -> Result<User, String> {
    let command = str_at(exec, "command").unwrap_or("");
    let args: Vec<&str> = exec
        .get("args")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let base = command.rsplit(['/', '\\']).next().unwrap_or(command);
    let kubelogin = base.trim_end_matches(".exe") == "kubelogin";
    if !kubelogin || args.first() != Some(&"get-token") {
        return Err(format!(
            "user `{name}` gets its token by running `{base}`; this task runs no credential plugins (only kubelogin's Entra ID sign-in is done without it)"
        ));
    }
    let arg = |flag: &str| {
        args.iter()
            .position(|a| *a == flag)
            .and_then(|i| args.get(i + 1))
            .map(|s| s.to_string())
    };
    Ok(User::Entra {
        server_id: arg("--server-id").unwrap_or_else(|| AKS_SERVER_APP.to_owned()),
        tenant: arg("--tenant-id"),
    })
}

/// A Kubernetes service connection of type Service account (or Azure subscription): the API
/// server URL, the token as the connection stores it (base64 of the secret's `token`) and the
/// CA as the secret's `ca.crt` data (base64 of PEM).
pub fn service_account(
    server: &str,
    api_token: &str,
    ca: Option<&str>,
    insecure: bool,
) -> Result<Access, String> {
    let server = url::Url::parse(server)
        .map_err(|e| format!("its server URL `{server}` is not a URL ({e})"))?;
    let token = text("apiToken", api_token).map_err(|_| {
        "its `apiToken` is not base64 (the connection stores the service account secret's `token` data as it is)".to_owned()
    })?;
    let ca_pem = match ca {
        Some(c) => Some(data("serviceAccountCertificate", c)?),
        None => None,
    };
    Ok(Access {
        server,
        ca_pem,
        insecure,
        user: User::Token(Secret::new(token.trim())),
        namespace: None,
        context: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

    fn aks_local() -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: https://aks-dns.hcp.westeurope.azmk8s.io:443\n  name: aks\ncontexts:\n- context:\n    cluster: aks\n    user: clusterUser_rg_aks\n  name: aks\ncurrent-context: aks\nusers:\n- name: clusterUser_rg_aks\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n    token: 9c8971bf\n",
            B64.encode("-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n"),
            B64.encode("-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n"),
            B64.encode("-----BEGIN PRIVATE KEY-----\nS0VZS0VZS0VZ\n-----END PRIVATE KEY-----\n"),
        )
    }

    #[test]
    fn a_kubeconfig_that_does_not_parse_is_named_by_its_line_without_an_input() {
        let e = parse("clusters: [\n  - name: a\n", None).unwrap_err();
        assert!(e.starts_with("is not a kubeconfig (YAML or JSON): the kubeconfig is not valid YAML or JSON, at line 2"), "{e}");
        assert!(!e.contains("input `"), "{e}");
    }

    #[test]
    fn an_aks_local_account_kubeconfig_signs_in_with_its_certificate_and_token() {
        let a = parse(&aks_local(), None).unwrap();
        assert_eq!(
            a.server.as_str(),
            "https://aks-dns.hcp.westeurope.azmk8s.io/"
        );
        assert!(String::from_utf8(a.ca_pem.clone().unwrap())
            .unwrap()
            .contains("Q0E="));
        let User::Certificate {
            cert_pem,
            key_pem,
            token,
        } = &a.user
        else {
            panic!("{:?}", a.user)
        };
        assert!(cert_pem.contains("Q0VSVA=="));
        assert!(key_pem.expose().contains("S0VZS0VZS0VZ"));
        assert_eq!(token.as_ref().unwrap().expose(), "9c8971bf");
        let masked = a.secrets();
        assert!(masked.contains(&"9c8971bf".to_owned()));
        assert!(masked.contains(&"S0VZS0VZS0VZ".to_owned()));
        assert!(!masked.iter().any(|m| m.contains("BEGIN")), "{masked:?}");
    }

    #[test]
    fn kubelogin_and_the_azure_auth_provider_become_an_entra_sign_in() {
        let exec = "apiVersion: v1\nclusters:\n- cluster: {server: 'https://x:443'}\n  name: c\ncontexts:\n- context: {cluster: c, user: u}\n  name: c\ncurrent-context: c\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n      args: [get-token, --login, devicecode, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630, --tenant-id, t-1]\n";
        let a = parse(exec, None).unwrap();
        assert!(
            matches!(&a.user, User::Entra { server_id, tenant } if server_id == AKS_SERVER_APP && tenant.as_deref() == Some("t-1"))
        );
        let other = exec.replace("command: kubelogin", "command: /usr/bin/aws");
        assert!(parse(&other, None)
            .unwrap_err()
            .contains("runs no credential plugins"));
        let provider = "clusters:\n- cluster: {server: 'https://x'}\n  name: c\ncontexts:\n- context: {cluster: c, user: u}\n  name: c\ncurrent-context: c\nusers:\n- name: u\n  user:\n    auth-provider:\n      name: azure\n      config: {apiserver-id: srv, tenant-id: t-2}\n";
        assert!(
            matches!(parse(provider, None).unwrap().user, User::Entra { server_id, .. } if server_id == "srv")
        );
    }

    #[test]
    fn contexts_files_and_broken_text_are_named() {
        let two = aks_local().replace("current-context: aks", "current-context: nope");
        assert!(parse(&two, None).unwrap_err().contains("no context `nope`"));
        assert!(parse(&two, Some("aks")).is_ok(), "clusterContext wins");
        let file = aks_local().replace("certificate-authority-data:", "certificate-authority:");
        assert!(parse(&file, None)
            .unwrap_err()
            .contains("certificate-authority-data"));
        assert!(parse("{not yaml", None)
            .unwrap_err()
            .contains("not a kubeconfig"));
        let pass = "clusters:\n- cluster: {server: 'https://x'}\n  name: ''\nusers:\n- name: ''\n  user: {username: a, password: b}\n";
        assert!(parse(pass, None)
            .unwrap_err()
            .contains("user name and password"));
    }

    #[test]
    fn a_service_account_connection_decodes_its_token_once() {
        let token = B64.encode("eyJhbGciOi.payload.sig");
        let ca = B64.encode("-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n");
        let a = service_account("https://10.0.0.1:6443", &token, Some(&ca), false).unwrap();
        assert!(matches!(&a.user, User::Token(t) if t.expose() == "eyJhbGciOi.payload.sig"));
        assert!(a.ca_pem.is_some());
        assert!(service_account("https://x", "not base64!", None, false)
            .unwrap_err()
            .contains("apiToken"));
    }

    #[test]
    fn a_kubeconfig_without_contexts_uses_its_only_cluster_and_user() {
        // What Microsoft's tasks build from a service account connection.
        let v = serde_json::json!({"apiVersion": "v1", "kind": "Config",
            "clusters": [{"cluster": {"server": "https://10.0.0.1:6443"}}],
            "users": [{"user": {"token": "abc"}}]});
        let a = parse(&v.to_string(), None).unwrap();
        assert!(matches!(&a.user, User::Token(t) if t.expose() == "abc"));
    }
}
