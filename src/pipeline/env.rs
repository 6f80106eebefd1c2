//! The task's view of its process environment, as the Azure Pipelines agent builds it.
//!
//! The agent exports inputs as `INPUT_<NAME>`, service connections as `ENDPOINT_*_<id>`, pipeline
//! variables under their formatted names and secret variables as `SECRET_<NAME>`. Names are
//! matched case-insensitively, as task-lib's vault does, because the agent lower-cases endpoint ids
//! while input values keep whatever case the server sent.

use std::collections::BTreeMap;

/// A snapshot of the environment, keyed by upper-cased name.
#[derive(Clone, Default)]
pub struct AgentEnv {
    vars: BTreeMap<String, String>,
}

impl std::fmt::Debug for AgentEnv {
    // Never print values: the environment holds tokens and secret variables.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentEnv")
            .field("names", &self.vars.len())
            .finish()
    }
}

/// The agent's `ConvertToEnvVariableFormat`: `.` and space become `_`, then upper-case.
pub fn env_name(name: &str) -> String {
    name.replace(['.', ' '], "_").to_uppercase()
}

impl AgentEnv {
    pub fn from_process() -> Self {
        Self::from_pairs(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars = pairs
            .into_iter()
            .map(|(k, v)| (k.into().to_uppercase(), v.into()))
            .collect();
        Self { vars }
    }

    /// Raw lookup by environment variable name (case-insensitive).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars.get(&name.to_uppercase()).map(String::as_str)
    }

    /// A task input as the agent passes it. The agent trims values; an empty value counts as unset.
    pub fn input(&self, name: &str) -> Option<&str> {
        self.raw(&format!("INPUT_{}", env_name(name)))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// A pipeline variable such as `Build.SourceVersion`. Secret variables come from `SECRET_<NAME>`.
    pub fn variable(&self, name: &str) -> Option<&str> {
        let key = env_name(name);
        self.raw(&key)
            .or_else(|| self.raw(&format!("SECRET_{key}")))
            .filter(|v| !v.is_empty())
    }

    /// A public (non-secret) pipeline variable only. Used where a value may be printed.
    pub fn public_variable(&self, name: &str) -> Option<&str> {
        self.raw(&env_name(name)).filter(|v| !v.is_empty())
    }

    /// The values of every secret variable of the job. The agent masks them in the log already;
    /// the task's own files (summary, JUnit, names on a cluster) need them too, because a secret
    /// variable can reach any input through a `$(name)` macro.
    pub fn secret_variable_values(&self) -> impl Iterator<Item = &str> {
        self.vars
            .iter()
            .filter(|(k, _)| k.starts_with("SECRET_"))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// The formatted names of the job's secret variables (`SECRET_<NAME>` without the prefix).
    pub fn secret_variable_names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().filter_map(|k| k.strip_prefix("SECRET_"))
    }

    /// True when the name is a secret variable of the job (`SECRET_<NAME>` is set).
    pub fn is_secret_variable(&self, name: &str) -> bool {
        self.raw(&format!("SECRET_{}", env_name(name))).is_some()
    }

    /// The value of a boolean variable such as `System.Debug`; anything but `true` is false.
    pub fn flag(&self, name: &str) -> bool {
        self.variable(name)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    pub fn endpoint(&self, id: &str) -> Option<Endpoint> {
        let id = id.trim();
        if id.is_empty() {
            return None;
        }
        let key = id.to_uppercase();
        let url = self.raw(&format!("ENDPOINT_URL_{key}")).map(str::to_owned);
        let mut params = BTreeMap::new();
        let mut scheme = self
            .raw(&format!("ENDPOINT_AUTH_SCHEME_{key}"))
            .map(str::to_owned);
        // The JSON form carries every parameter; the per-parameter variables override it
        // (they are what task-lib reads first).
        if let Some(json) = self.raw(&format!("ENDPOINT_AUTH_{key}")) {
            if let Ok(auth) = serde_json::from_str::<serde_json::Value>(json) {
                if let Some(p) = auth.get("parameters").and_then(|p| p.as_object()) {
                    for (k, v) in p {
                        if let Some(s) = v.as_str() {
                            params.insert(k.to_uppercase(), s.to_owned());
                        }
                    }
                }
                if scheme.is_none() {
                    scheme = auth
                        .get("scheme")
                        .and_then(|s| s.as_str())
                        .map(str::to_owned);
                }
            }
        }
        let prefix = format!("ENDPOINT_AUTH_PARAMETER_{key}_");
        let data_prefix = format!("ENDPOINT_DATA_{key}_");
        let mut data = BTreeMap::new();
        for (k, v) in &self.vars {
            if let Some(p) = k.strip_prefix(&prefix) {
                params.insert(p.to_owned(), v.clone());
            } else if let Some(d) = k.strip_prefix(&data_prefix) {
                data.insert(d.to_owned(), v.clone());
            }
        }
        if let Some(json) = self.raw(&format!("ENDPOINT_DATA_{key}")) {
            if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(json) {
                for (k, v) in m {
                    if let Some(s) = v.as_str() {
                        data.entry(k.to_uppercase()).or_insert_with(|| s.to_owned());
                    }
                }
            }
        }
        if url.is_none() && scheme.is_none() && params.is_empty() && data.is_empty() {
            return None;
        }
        Some(Endpoint {
            id: id.to_owned(),
            url,
            scheme,
            params,
            data,
        })
    }

    /// The job access token of the always-present `SystemVssConnection` endpoint.
    pub fn system_access_token(&self) -> Option<&str> {
        self.raw("ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN")
            .filter(|v| !v.is_empty())
    }

    /// Names of all pairs, for tests and diagnostics (never values).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }
}

/// A service connection as the agent exports it.
#[derive(Clone)]
pub struct Endpoint {
    pub id: String,
    pub url: Option<String>,
    pub scheme: Option<String>,
    /// Authorization parameters, keys upper-cased.
    params: BTreeMap<String, String>,
    /// Endpoint data, keys upper-cased.
    data: BTreeMap<String, String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("scheme", &self.scheme)
            .field("params", &self.params.keys().collect::<Vec<_>>())
            .field("data", &self.data)
            .finish()
    }
}

impl Endpoint {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .get(&key.to_uppercase())
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn data(&self, key: &str) -> Option<&str> {
        self.data
            .get(&key.to_uppercase())
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn scheme_is(&self, scheme: &str) -> bool {
        self.scheme
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_case_insensitive_and_trimmed() {
        let env = AgentEnv::from_pairs([("input_vvpnamespace", "  prod  "), ("INPUT_EMPTY", " ")]);
        assert_eq!(env.input("vvpNamespace"), Some("prod"));
        assert_eq!(env.input("empty"), None);
        assert_eq!(env.input("missing"), None);
    }

    #[test]
    fn variables_use_the_agent_name_format() {
        let env = AgentEnv::from_pairs([
            ("BUILD_SOURCEVERSION", "abc"),
            ("SECRET_MY_TOKEN", "s3cret"),
        ]);
        assert_eq!(env.variable("Build.SourceVersion"), Some("abc"));
        assert_eq!(env.variable("my token"), Some("s3cret"));
        assert!(env.is_secret_variable("my.token"));
        assert_eq!(env.public_variable("my.token"), None);
    }

    #[test]
    fn endpoint_reads_json_and_parameter_variables() {
        let id = "0d7a3c9e-1111-4222-8333-944445555666";
        let env = AgentEnv::from_pairs([
            (
                format!("ENDPOINT_URL_{id}"),
                "https://vvp.example".to_owned(),
            ),
            (
                format!("ENDPOINT_AUTH_{}", id.to_uppercase()),
                r#"{"parameters":{"apitoken":"from-json","other":"x"},"scheme":"Token"}"#
                    .to_owned(),
            ),
            (
                format!("ENDPOINT_AUTH_PARAMETER_{id}_APITOKEN"),
                "from-var".to_owned(),
            ),
            (
                format!("ENDPOINT_DATA_{id}_ENVIRONMENT"),
                "AzureCloud".to_owned(),
            ),
        ]);
        let ep = env.endpoint(&id.to_uppercase()).expect("endpoint");
        assert_eq!(ep.url.as_deref(), Some("https://vvp.example"));
        assert!(ep.scheme_is("token"));
        assert_eq!(ep.param("apiToken"), Some("from-var"));
        assert_eq!(ep.param("OTHER"), Some("x"));
        assert_eq!(ep.data("environment"), Some("AzureCloud"));
        assert!(env.endpoint("nope").is_none());
    }
}
