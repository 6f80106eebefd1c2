//! Raw task inputs to one validated, typed configuration.
//!
//! Step one, [`RawInputs::from_env`], collects strings exactly as the agent passed them and lists
//! the secret values so the caller can mask them before anything else happens. Step two,
//! [`Config::from_raw`], validates everything and does no I/O: a bad input is reported here,
//! before any platform, blob or variable is touched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::azure::connection::AzureConnection;
use crate::error::{Error, Result};
use crate::pipeline::env::AgentEnv;
use crate::pipeline::inputs::{self as i, Kind};
use crate::secret::Secret;

/// Step one: the inputs as strings, plus the environment they came from.
pub struct RawInputs {
    values: BTreeMap<&'static str, String>,
    pub env: AgentEnv,
}

impl RawInputs {
    pub fn from_env(env: AgentEnv) -> Self {
        let mut values = BTreeMap::new();
        for def in i::ALL {
            if let Some(v) = env.input(def.name) {
                values.insert(def.name, v.to_owned());
            }
        }
        RawInputs { values, env }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Every secret value known from inputs and service connections, to be masked first.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = i::ALL
            .iter()
            .filter(|d| d.secret)
            .filter_map(|d| self.get(d.name))
            .map(str::to_owned)
            .collect();
        for conn in [i::VVP_CONNECTION, i::AZURE_SUBSCRIPTION] {
            if let Some(ep) = self.get(conn).and_then(|id| self.env.endpoint(id)) {
                for key in [
                    "apitoken",
                    "serviceprincipalkey",
                    "servicePrincipalCertificate",
                    "password",
                    "idToken",
                ] {
                    if let Some(v) = ep.param(key) {
                        out.push(v.to_owned());
                    }
                }
            }
        }
        if let Some(t) = self.env.system_access_token() {
            out.push(t.to_owned());
        }
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    Ververica,
    HdInsight,
    Flink,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Ververica => "ververica",
            TargetKind::HdInsight => "hdinsight",
            TargetKind::Flink => "flink",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Deploy,
    Suspend,
    Cancel,
    Resume,
    Savepoint,
    ListSavepoints,
    Delete,
    Validate,
    RenderCustomResource,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        i::ACTIONS[self as usize]
    }

    /// Actions that change nothing on any platform.
    pub fn is_read_only(self) -> bool {
        matches!(
            self,
            Action::Validate | Action::ListSavepoints | Action::RenderCustomResource
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    IfChanged,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncingMode {
    Patch,
    Put,
}

/// How the deployment is addressed on Ververica Platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeploymentRef {
    Name(String),
    Id(String),
}

impl std::fmt::Display for DeploymentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeploymentRef::Name(n) => write!(f, "`{n}`"),
            DeploymentRef::Id(id) => write!(f, "with id `{id}`"),
        }
    }
}

/// The job as the inputs describe it, shared by all targets. Each field overrides the spec file.
#[derive(Clone, Debug, Default)]
pub struct JobInputs {
    pub spec_file: Option<PathBuf>,
    pub deployment_name: Option<String>,
    pub deployment_id: Option<String>,
    pub display_name: Option<String>,
    pub deployment_target_name: Option<String>,
    pub deployment_target_id: Option<String>,
    pub session_cluster_name: Option<String>,
    pub entry_class: Option<String>,
    pub main_args: Option<Vec<String>>,
    pub parallelism: Option<u32>,
    pub flink_configuration: BTreeMap<String, String>,
    pub upgrade_strategy: Option<String>,
    pub restore_strategy: Option<String>,
    pub savepoint_id: Option<String>,
    pub savepoint_location: Option<String>,
    pub allow_non_restored_state: bool,
    pub initial_savepoint_path: Option<String>,
    pub savepoint_directory: Option<String>,
    pub job_name: Option<String>,
}

#[derive(Clone, Debug)]
pub struct VvpConfig {
    /// Base URL without trailing slash; `None` only for offline `validate`/`renderCustomResource`.
    pub url: Option<String>,
    pub token: TokenSource,
    pub namespace: String,
    pub restart: Restart,
    pub syncing_mode: SyncingMode,
    pub custom_resource_path: Option<PathBuf>,
    pub apikey_secret_name: Option<String>,
}

#[derive(Clone, Debug)]
pub enum TokenSource {
    None,
    Value(Secret),
    /// Read from Key Vault at run time.
    KeyVault(String),
}

#[derive(Clone, Debug)]
pub enum FlinkAuth {
    None,
    Basic {
        username: String,
        password: TokenSource,
    },
    Bearer(TokenSource),
}

#[derive(Clone, Debug)]
pub struct FlinkConfig {
    pub url: String,
    pub auth: FlinkAuth,
}

#[derive(Clone, Debug)]
pub struct HdiConfig {
    pub subscription_id: String,
    pub resource_group: String,
    pub cluster_pool: String,
    pub cluster_name: String,
    pub api_version: String,
    pub arm_endpoint: String,
}

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

#[derive(Clone, Debug)]
pub enum Artifact {
    None,
    /// A jar URI used as is.
    Uri(String),
    /// A local file (or glob) to upload.
    Local(String),
}

#[derive(Clone, Debug)]
pub struct BlobConfig {
    pub account: String,
    pub container: String,
    pub prefix: String,
    /// Blob service URL without trailing slash.
    pub endpoint: String,
    pub sas: Option<Secret>,
}

#[derive(Clone, Debug, Default)]
pub struct HttpSettings {
    pub proxy_url: Option<String>,
    pub proxy_bypass: Vec<String>,
    /// `Agent.ProxyUsername` and `Agent.ProxyPassword` (a secret variable).
    pub proxy_auth: Option<(String, Secret)>,
    /// What in the agent's proxy settings could not be used, for warnings.
    pub proxy_notes: Vec<String>,
    pub ca_file: Option<PathBuf>,
    pub allow_insecure_http: bool,
}

#[derive(Clone, Debug)]
pub struct ReportConfig {
    pub junit_path: PathBuf,
    pub summary_path: PathBuf,
    pub publish: bool,
}

/// Pipeline variables the task uses.
#[derive(Clone, Debug, Default)]
pub struct PipelineVars {
    pub source_version: Option<String>,
    pub build_id: Option<String>,
    pub collection_uri: Option<String>,
    pub working_dir: PathBuf,
    pub temp_dir: PathBuf,
}

/// Step two: everything a run will need, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub target: TargetKind,
    pub action: Action,
    pub timeout: Duration,
    pub settle: Duration,
    pub rollback_on_failure: bool,
    pub job: JobInputs,
    pub artifact: Artifact,
    pub vvp: Option<VvpConfig>,
    pub flink: Option<FlinkConfig>,
    pub hdi: Option<HdiConfig>,
    pub azure: Option<AzureConnection>,
    pub key_vault: Option<KeyVaultConfig>,
    pub blob: Option<BlobConfig>,
    pub http: HttpSettings,
    pub reports: ReportConfig,
    pub vars: PipelineVars,
}

fn pick(raw: &RawInputs, name: &'static str) -> Result<Option<&'static str>> {
    let Some(Kind::PickList(options)) = i::find(name).map(|d| d.kind) else {
        unreachable!("{name} is a pick list");
    };
    match raw.get(name) {
        None => Ok(None),
        Some(v) => options
            .iter()
            .find(|o| !o.is_empty() && o.eq_ignore_ascii_case(v))
            .map(|o| Some(*o))
            .ok_or_else(|| {
                let choices: Vec<&str> =
                    options.iter().copied().filter(|o| !o.is_empty()).collect();
                Error::input(name, format!("`{v}` is not one of: {}", choices.join(", ")))
            }),
    }
}

fn boolean(raw: &RawInputs, name: &'static str) -> Result<bool> {
    let default = i::find(name).map(|d| d.default == "true").unwrap_or(false);
    match raw.get(name) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => {
            Err(Error::input(name, format!("`{v}` is not a boolean"))
                .with_hint("use true or false"))
        }
    }
}

fn number(raw: &RawInputs, name: &'static str, min: u64, max: u64) -> Result<Option<u64>> {
    let Some(v) = raw.get(name) else {
        return Ok(None);
    };
    let n: u64 = v.parse().map_err(|_| {
        Error::input(name, format!("`{}` is not a whole number", shorten(v)))
            .with_hint(format!("use a number from {min} to {max}"))
    })?;
    if n < min || n > max {
        return Err(Error::input(name, format!("{n} is out of range"))
            .with_hint(format!("use a number from {min} to {max}")));
    }
    Ok(Some(n))
}

/// Keep error messages readable when an input is huge.
pub fn shorten(v: &str) -> String {
    const MAX: usize = 80;
    if v.chars().count() <= MAX {
        v.to_owned()
    } else {
        format!(
            "{}… ({} characters)",
            v.chars().take(MAX).collect::<String>(),
            v.chars().count()
        )
    }
}

fn string(raw: &RawInputs, name: &'static str) -> Option<String> {
    raw.get(name).map(str::to_owned)
}

/// Every boolean and pick list is checked whether or not this target reads it: a typo in an
/// input that only matters on another path would otherwise pass silently.
fn check_typed_inputs(raw: &RawInputs) -> Result<()> {
    for def in i::ALL {
        match def.kind {
            Kind::Boolean => {
                boolean(raw, def.name)?;
            }
            Kind::PickList(_) => {
                pick(raw, def.name)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Like [`no_control_chars`] but for values where tabs and line breaks are separators.
fn no_control_chars_but_whitespace(name: &'static str, v: &str) -> Result<()> {
    if v.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(Error::input(name, "contains control characters")
            .with_hint("remove the non-printing characters"));
    }
    Ok(())
}

/// A credential that travels in an HTTP header must be printable ASCII. The value itself is
/// never part of the message.
fn header_safe(name: &'static str, v: &str) -> Result<()> {
    match token_problem(v) {
        Some(why) => Err(Error::input(name, why).with_hint(
            "check that the variable holds the token itself, without quotes or line breaks",
        )),
        None => Ok(()),
    }
}

/// The agent's `Agent.ProxyBypassList` (a JSON array of regular expressions), and a note for
/// each part that cannot be used: requests it meant to keep off the proxy would go through it.
pub fn proxy_bypass_list(v: Option<&str>) -> (Vec<String>, Vec<String>) {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
        return (vec![], vec![]);
    };
    let Ok(list) = serde_json::from_str::<Vec<String>>(v) else {
        return (vec![], vec![format!(
            "Agent.ProxyBypassList is not a JSON array of patterns; every request goes through the proxy (the value begins `{}`)",
            shorten(v)
        )]);
    };
    let mut notes = vec![];
    let kept = list
        .into_iter()
        .filter(|p| match regex::Regex::new(&format!("(?i){p}")) {
            Ok(_) => true,
            Err(e) => {
                notes.push(format!(
                    "Agent.ProxyBypassList entry `{p}` is not a regular expression and is ignored ({})",
                    e.to_string().lines().last().unwrap_or("invalid").trim()
                ));
                false
            }
        })
        .collect();
    (kept, notes)
}

/// Why a value cannot be sent as a bearer token in an HTTP header, if it cannot.
pub fn token_problem(v: &str) -> Option<String> {
    const MAX: usize = 16 * 1024;
    if v.len() > MAX {
        return Some(format!(
            "is {} bytes long; a token is at most {MAX}",
            v.len()
        ));
    }
    if !v.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Some(
            "contains spaces, control or non-ASCII characters, which cannot be sent in an HTTP header"
                .into(),
        );
    }
    None
}

/// A path the file system can take: no control characters, names of at most 255 bytes.
/// (`..` is not refused: the agent resolves file path inputs to full paths before the task
/// starts, and where a file is written is the pipeline's choice.)
fn file_path(name: &'static str, p: &str) -> Result<()> {
    no_control_chars(name, p)?;
    if p.len() > 4096 || Path::new(p).components().any(|c| c.as_os_str().len() > 255) {
        return Err(Error::input(
            name,
            format!("`{}` is not a usable path (too long)", shorten(p)),
        )
        .with_hint("file names are at most 255 bytes, paths at most 4096"));
    }
    Ok(())
}

fn no_control_chars(name: &'static str, v: &str) -> Result<()> {
    if v.chars().any(|c| c.is_control()) {
        return Err(
            Error::input(name, "contains control characters or line breaks")
                .with_hint("put the value on one line"),
        );
    }
    Ok(())
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters (VVP resource names).
pub fn valid_resource_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub fn valid_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Split program arguments the way a POSIX shell would for simple quoting: spaces separate,
/// single quotes are literal, double quotes allow `\"` and `\\`.
pub fn split_args(input: &str) -> std::result::Result<Vec<String>, String> {
    let mut args = vec![];
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unclosed double quote".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unclosed double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    args.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        args.push(cur);
    }
    Ok(args)
}

/// Multi-line `key: value` (or `key=value`) pairs; blank lines and `#` comments are skipped.
pub fn parse_flink_configuration(
    text: &str,
) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let split = match (line.find(": "), line.find('=')) {
            (Some(c), Some(e)) => Some(c.min(e)),
            (Some(c), None) => Some(c),
            (None, Some(e)) => Some(e),
            (None, None) => line.strip_suffix(':').map(|s| s.len()),
        };
        let Some(at) = split else {
            return Err(format!(
                "line {}: `{}` is not `key: value`",
                n + 1,
                shorten(line)
            ));
        };
        let key = line[..at].trim();
        let value = line[at..].trim_start_matches([':', '=']).trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        if key.is_empty() {
            return Err(format!("line {}: empty key", n + 1));
        }
        out.insert(key.to_owned(), value.to_owned());
    }
    Ok(out)
}

/// Check an http(s) URL and strip the trailing slash.
pub fn parse_url(name: &'static str, v: &str) -> Result<url::Url> {
    let u = url::Url::parse(v).map_err(|e| {
        Error::input(name, format!("`{}` is not a URL ({e})", shorten(v)))
            .with_hint("use a full URL such as https://vvp.example.com")
    })?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(Error::input(
            name,
            format!("`{}` is not an http(s) URL", shorten(v)),
        ));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(Error::input(name, "must not contain credentials")
            .with_hint("put credentials in a service connection or secret input"));
    }
    Ok(u)
}

pub fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

fn base_url(u: &url::Url) -> String {
    u.as_str().trim_end_matches('/').to_owned()
}

/// Refuse to send a credential over plain http to another machine unless explicitly allowed.
fn check_transport(
    name: &'static str,
    u: &url::Url,
    has_credential: bool,
    allow: bool,
) -> Result<()> {
    if has_credential && u.scheme() == "http" && !is_loopback(u) && !allow {
        return Err(Error::input(
            name,
            format!(
                "`{}` uses plain http; the credential would be sent unencrypted",
                base_url(u)
            ),
        )
        .with_hint(format!(
            "use https, or set `{}: true` if the network is trusted",
            i::ALLOW_INSECURE_HTTP
        )));
    }
    Ok(())
}

fn resolve_path(vars: &PipelineVars, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_owned()
    } else {
        vars.working_dir.join(path)
    }
}

impl Config {
    pub fn from_raw(raw: &RawInputs) -> Result<Config> {
        let env = &raw.env;
        check_typed_inputs(raw)?;
        for name in [
            i::SPEC_FILE,
            i::ARTIFACT_PATH,
            i::CUSTOM_RESOURCE_PATH,
            i::TEST_RESULTS_FILE,
        ] {
            if let Some(p) = raw.get(name) {
                file_path(name, p)?;
            }
        }
        for name in [i::VVP_API_TOKEN, i::FLINK_TOKEN] {
            if let Some(t) = raw.get(name) {
                header_safe(name, t)?;
            }
        }
        if let Some(u) = raw.get(i::FLINK_USERNAME) {
            no_control_chars(i::FLINK_USERNAME, u)?;
            if u.contains(':') {
                return Err(Error::input(
                    i::FLINK_USERNAME,
                    "contains `:`, which basic authentication cannot carry in a user name",
                ));
            }
        }
        if let Some(t) = raw.get(i::STORAGE_SAS_TOKEN) {
            if t.len() > 16 * 1024 || t.chars().any(|c| c.is_control() || c == ' ') {
                return Err(Error::input(
                    i::STORAGE_SAS_TOKEN,
                    "is not a SAS token (too long, or spaces or control characters)",
                )
                .with_hint("give the query string of the SAS, e.g. sv=...&sig=..."));
            }
        }
        let target = match pick(raw, i::TARGET)?.unwrap_or("ververica") {
            "hdinsight" => TargetKind::HdInsight,
            "flink" => TargetKind::Flink,
            _ => TargetKind::Ververica,
        };
        let action_name = pick(raw, i::ACTION)?.unwrap_or("deploy");
        let action = match action_name {
            "suspend" => Action::Suspend,
            "cancel" => Action::Cancel,
            "resume" => Action::Resume,
            "savepoint" => Action::Savepoint,
            "listSavepoints" => Action::ListSavepoints,
            "delete" => Action::Delete,
            "validate" => Action::Validate,
            "renderCustomResource" => Action::RenderCustomResource,
            _ => Action::Deploy,
        };
        if action == Action::RenderCustomResource && target != TargetKind::Ververica {
            return Err(Error::input(
                i::ACTION,
                format!("`renderCustomResource` writes a Ververica Platform VvpDeployment; target is `{}`", target.as_str()),
            )
            .with_hint("use target: ververica"));
        }

        let cwd = std::env::current_dir().unwrap_or_default();
        let working_dir = env
            .public_variable("System.DefaultWorkingDirectory")
            .map(PathBuf::from)
            .unwrap_or(cwd);
        let temp_dir = env
            .public_variable("Agent.TempDirectory")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let vars = PipelineVars {
            source_version: env
                .public_variable("Build.SourceVersion")
                .map(str::to_owned),
            build_id: env.public_variable("Build.BuildId").map(str::to_owned),
            collection_uri: env
                .public_variable("System.TeamFoundationCollectionUri")
                .map(str::to_owned),
            working_dir,
            temp_dir,
        };

        let timeout =
            Duration::from_secs(number(raw, i::TIMEOUT_SECONDS, 1, 86_400)?.unwrap_or(600));
        let settle = Duration::from_secs(number(raw, i::SETTLE_SECONDS, 0, 3_600)?.unwrap_or(30));
        let rollback_on_failure = boolean(raw, i::ROLLBACK_ON_FAILURE)?;
        let allow_insecure_http = boolean(raw, i::ALLOW_INSECURE_HTTP)?;

        let job = Self::job_inputs(raw, &vars)?;

        // Azure connection (optional for every target but HDInsight).
        let azure = match raw.get(i::AZURE_SUBSCRIPTION) {
            None => None,
            Some(id) => {
                let ep = env.endpoint(id).ok_or_else(|| {
                    Error::input(
                        i::AZURE_SUBSCRIPTION,
                        format!(
                            "service connection `{}` was not passed to the task",
                            shorten(id)
                        ),
                    )
                    .with_hint(
                        "check the connection name and that this pipeline is authorized to use it",
                    )
                })?;
                Some(AzureConnection::from_endpoint(env, &ep)?)
            }
        };

        let key_vault = match string(raw, i::KEY_VAULT_NAME) {
            None => {
                if raw.get(i::SECRETS_FILTER).is_some() {
                    return Err(Error::input(
                        i::SECRETS_FILTER,
                        "is set but `keyVaultName` is empty",
                    )
                    .with_hint("set keyVaultName or remove secretsFilter"));
                }
                None
            }
            Some(name) => {
                let ok = (3..=24).contains(&name.len())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && name.starts_with(|c: char| c.is_ascii_alphabetic())
                    && !name.ends_with('-')
                    && !name.contains("--");
                if !ok {
                    return Err(Error::input(
                        i::KEY_VAULT_NAME,
                        format!("`{}` is not a Key Vault name", shorten(&name)),
                    )
                    .with_hint("3-24 letters, digits and single hyphens, starting with a letter"));
                }
                if azure.is_none() {
                    return Err(Error::input(i::AZURE_SUBSCRIPTION, "is required to read Key Vault secrets")
                        .with_hint("select an Azure Resource Manager service connection with access to the vault"));
                }
                let filter = match raw.get(i::SECRETS_FILTER) {
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
                            !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                                || n.len() > 127
                        }) {
                            return Err(Error::input(i::SECRETS_FILTER, format!("`{}` is not a secret name", shorten(bad)))
                                .with_hint("use `*` or a comma-separated list of names (letters, digits, hyphens)"));
                        }
                        SecretsFilter::Names(names)
                    }
                };
                Some(KeyVaultConfig {
                    name,
                    filter,
                    export: boolean(raw, i::EXPORT_SECRETS)?,
                })
            }
        };

        let token_source =
            |value_input: &'static str, secret_input: &'static str| -> Result<TokenSource> {
                match (raw.get(value_input), raw.get(secret_input)) {
                (Some(_), Some(_)) => Err(Error::input(
                    secret_input,
                    format!("cannot be combined with `{value_input}`"),
                )
                .with_hint(
                    "give the credential once: as a secret variable or as a Key Vault secret name",
                )),
                (Some(v), None) => Ok(TokenSource::Value(Secret::new(v))),
                (None, Some(name)) => {
                    if key_vault.is_none() {
                        return Err(Error::input(
                            secret_input,
                            "names a Key Vault secret but `keyVaultName` is empty",
                        )
                        .with_hint("set keyVaultName and azureSubscription"));
                    }
                    Ok(TokenSource::KeyVault(name.to_owned()))
                }
                (None, None) => Ok(TokenSource::None),
            }
            };

        let artifact = match (raw.get(i::ARTIFACT_PATH), raw.get(i::JAR_URI)) {
            (Some(_), Some(_)) => return Err(Error::input(
                i::JAR_URI,
                "cannot be combined with `artifactPath`",
            )
            .with_hint(
                "give artifactPath to upload a jar, or jarUri to use one that is already stored",
            )),
            (Some(p), None) => Artifact::Local(p.to_owned()),
            (None, Some(u)) => {
                no_control_chars(i::JAR_URI, u)?;
                if !u.contains("://") {
                    return Err(
                        Error::input(i::JAR_URI, format!("`{}` is not a URI", shorten(u)))
                            .with_hint(
                                "e.g. wasbs://container@account.blob.core.windows.net/path/job.jar",
                            ),
                    );
                }
                Artifact::Uri(u.to_owned())
            }
            (None, None) => Artifact::None,
        };

        let blob = match string(raw, i::STORAGE_ACCOUNT) {
            None => {
                for dependent in [i::CONTAINER_NAME, i::BLOB_ENDPOINT, i::STORAGE_SAS_TOKEN] {
                    if raw.get(dependent).is_some() {
                        return Err(Error::input(
                            dependent,
                            "is set but `storageAccount` is empty",
                        )
                        .with_hint("set storageAccount"));
                    }
                }
                None
            }
            Some(account) => {
                if !(3..=24).contains(&account.len())
                    || !account
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                {
                    return Err(Error::input(
                        i::STORAGE_ACCOUNT,
                        format!("`{}` is not a storage account name", shorten(&account)),
                    )
                    .with_hint("3-24 lower-case letters and digits"));
                }
                let container = string(raw, i::CONTAINER_NAME).ok_or_else(|| {
                    Error::input(i::CONTAINER_NAME, "is required with `storageAccount`")
                })?;
                if !(3..=63).contains(&container.len())
                    || !valid_resource_name(&container) && container != "$root"
                {
                    return Err(Error::input(
                        i::CONTAINER_NAME,
                        format!("`{}` is not a container name", shorten(&container)),
                    )
                    .with_hint("3-63 lower-case letters, digits and hyphens"));
                }
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
                            .as_ref()
                            .map(|a| a.cloud.storage_suffix.clone())
                            .unwrap_or_else(|| "core.windows.net".into());
                        format!("https://{account}.blob.{suffix}")
                    }
                };
                let ns = raw.get(i::VVP_NAMESPACE).unwrap_or("default");
                let prefix = raw
                    .get(i::BLOB_PREFIX)
                    .map(|p| p.trim_matches('/').to_owned())
                    .unwrap_or_else(|| format!("artifacts/namespaces/{ns}"));
                if prefix.split('/').any(|seg| seg == "..") {
                    return Err(Error::input(i::BLOB_PREFIX, "must not contain `..`"));
                }
                Some(BlobConfig {
                    account,
                    container,
                    prefix,
                    endpoint,
                    sas,
                })
            }
        };

        let mut vvp = None;
        let mut flink = None;
        let mut hdi = None;
        match target {
            TargetKind::Ververica => {
                let ep = match raw.get(i::VVP_CONNECTION) {
                    None => None,
                    Some(id) => Some(env.endpoint(id).ok_or_else(|| {
                        Error::input(i::VVP_CONNECTION, format!("service connection `{}` was not passed to the task", shorten(id)))
                            .with_hint("check the connection name and that this pipeline is authorized to use it")
                    })?),
                };
                let url = match (ep.as_ref().and_then(|e| e.url.clone()), raw.get(i::VVP_URL)) {
                    (Some(_), Some(_)) => {
                        return Err(Error::input(
                            i::VVP_URL,
                            "cannot be combined with `vvpConnection`",
                        )
                        .with_hint("use the service connection or vvpUrl, not both"))
                    }
                    (Some(u), None) => Some(parse_url(i::VVP_CONNECTION, &u)?),
                    (None, Some(u)) => Some(parse_url(i::VVP_URL, u)?),
                    (None, None) => None,
                };
                let token = match ep.as_ref().and_then(|e| e.param("apitoken")) {
                    Some(t) => {
                        if raw.get(i::VVP_API_TOKEN).is_some()
                            || raw.get(i::VVP_API_TOKEN_SECRET).is_some()
                        {
                            return Err(Error::input(
                                i::VVP_API_TOKEN,
                                "cannot be combined with `vvpConnection`, which has its own token",
                            ));
                        }
                        header_safe(i::VVP_CONNECTION, t)?;
                        TokenSource::Value(Secret::new(t))
                    }
                    None => token_source(i::VVP_API_TOKEN, i::VVP_API_TOKEN_SECRET)?,
                };
                match &url {
                    Some(u) => check_transport(
                        if ep.is_some() {
                            i::VVP_CONNECTION
                        } else {
                            i::VVP_URL
                        },
                        u,
                        !matches!(token, TokenSource::None),
                        allow_insecure_http,
                    )?,
                    None if !matches!(action, Action::Validate | Action::RenderCustomResource) => {
                        return Err(Error::input(i::VVP_URL, format!("is required for action `{}`", action.as_str()))
                            .with_hint("select a Ververica Platform service connection (vvpConnection) or set vvpUrl"));
                    }
                    None => {}
                }
                let namespace = raw.get(i::VVP_NAMESPACE).unwrap_or("default").to_owned();
                if !valid_resource_name(&namespace) {
                    return Err(Error::input(
                        i::VVP_NAMESPACE,
                        format!("`{}` is not a namespace name", shorten(&namespace)),
                    )
                    .with_hint("lower-case letters, digits and hyphens, at most 63 characters"));
                }
                let custom_resource_path = raw
                    .get(i::CUSTOM_RESOURCE_PATH)
                    .map(|p| resolve_path(&vars, p));
                if action == Action::RenderCustomResource && custom_resource_path.is_none() {
                    return Err(Error::input(
                        i::CUSTOM_RESOURCE_PATH,
                        "is required for action `renderCustomResource`",
                    )
                    .with_hint("give the file to write, e.g. k8s/vvpdeployment.yaml"));
                }
                if let Some(n) = raw.get(i::APIKEY_SECRET_NAME) {
                    if !valid_resource_name(n) {
                        return Err(Error::input(
                            i::APIKEY_SECRET_NAME,
                            format!("`{}` is not a Kubernetes secret name", shorten(n)),
                        ));
                    }
                }
                vvp = Some(VvpConfig {
                    url: url.as_ref().map(base_url),
                    token,
                    namespace,
                    restart: match pick(raw, i::RESTART)?.unwrap_or("ifChanged") {
                        "always" => Restart::Always,
                        "never" => Restart::Never,
                        _ => Restart::IfChanged,
                    },
                    syncing_mode: match pick(raw, i::SYNCING_MODE)?.unwrap_or("PATCH") {
                        "PUT" => SyncingMode::Put,
                        _ => SyncingMode::Patch,
                    },
                    custom_resource_path,
                    apikey_secret_name: string(raw, i::APIKEY_SECRET_NAME),
                });
            }
            TargetKind::Flink => {
                let u = raw.get(i::FLINK_URL).ok_or_else(|| {
                    Error::input(i::FLINK_URL, "is required for target `flink`")
                        .with_hint("the JobManager REST URL, e.g. http://flink-jobmanager:8081")
                })?;
                let u = parse_url(i::FLINK_URL, u)?;
                let auth = match pick(raw, i::FLINK_AUTH_INPUT)?.unwrap_or("none") {
                    "basic" => FlinkAuth::Basic {
                        username: string(raw, i::FLINK_USERNAME).ok_or_else(|| {
                            Error::input(i::FLINK_USERNAME, "is required with `flinkAuth: basic`")
                        })?,
                        password: match token_source(i::FLINK_PASSWORD, i::FLINK_CREDENTIAL_SECRET)? {
                            TokenSource::None => {
                                return Err(Error::input(i::FLINK_PASSWORD, "is required with `flinkAuth: basic`")
                                    .with_hint("pass a secret variable, or name a Key Vault secret in flinkCredentialSecret"))
                            }
                            t => t,
                        },
                    },
                    "bearer" => FlinkAuth::Bearer(match token_source(i::FLINK_TOKEN, i::FLINK_CREDENTIAL_SECRET)? {
                        TokenSource::None => {
                            return Err(Error::input(i::FLINK_TOKEN, "is required with `flinkAuth: bearer`")
                                .with_hint("pass a secret variable, or name a Key Vault secret in flinkCredentialSecret"))
                        }
                        t => t,
                    }),
                    _ => FlinkAuth::None,
                };
                check_transport(
                    i::FLINK_URL,
                    &u,
                    !matches!(auth, FlinkAuth::None),
                    allow_insecure_http,
                )?;
                if matches!(action, Action::Deploy) && !matches!(artifact, Artifact::Local(_)) {
                    return Err(Error::input(
                        i::ARTIFACT_PATH,
                        "is required to deploy to a Flink session cluster",
                    )
                    .with_hint("the jar is uploaded through the cluster's /jars/upload"));
                }
                if !matches!(action, Action::Validate) && job.job_name.is_none() {
                    return Err(Error::input(i::JOB_NAME, format!("is required for target `flink` and action `{}`", action.as_str()))
                        .with_hint("the name the job runs under; it is how the running job is found on upgrade"));
                }
                flink = Some(FlinkConfig {
                    url: base_url(&u),
                    auth,
                });
            }
            TargetKind::HdInsight => {
                let az = azure.as_ref().ok_or_else(|| {
                    Error::input(i::AZURE_SUBSCRIPTION, "is required for target `hdinsight`")
                        .with_hint("select the Azure Resource Manager connection of the cluster's subscription")
                })?;
                let need = |name: &'static str| -> Result<String> {
                    let v = string(raw, name)
                        .ok_or_else(|| Error::input(name, "is required for target `hdinsight`"))?;
                    // ARM names are short (resource groups at most 90 characters); a huge one
                    // would only fail later as an unreadable request error.
                    if v.contains(['/', '?', '#'])
                        || v.chars().any(char::is_control)
                        || v.len() > 255
                    {
                        return Err(Error::input(
                            name,
                            format!("`{}` is not a resource name", shorten(&v)),
                        ));
                    }
                    Ok(v)
                };
                let subscription_id = match (raw.get(i::HDI_SUBSCRIPTION_ID), &az.subscription_id) {
                    (Some(s), _) => s.to_owned(),
                    (None, Some(s)) => s.clone(),
                    (None, None) => {
                        return Err(Error::input(
                            i::HDI_SUBSCRIPTION_ID,
                            "is required: the service connection has no subscription",
                        )
                        .with_hint("set hdiSubscriptionId"))
                    }
                };
                if !valid_uuid(&subscription_id) {
                    return Err(Error::input(
                        i::HDI_SUBSCRIPTION_ID,
                        format!(
                            "`{}` is not a subscription id (GUID)",
                            shorten(&subscription_id)
                        ),
                    ));
                }
                let arm_endpoint = match raw.get(i::HDI_ARM_ENDPOINT) {
                    Some(e) => {
                        let u = parse_url(i::HDI_ARM_ENDPOINT, e)?;
                        check_transport(i::HDI_ARM_ENDPOINT, &u, true, allow_insecure_http)?;
                        base_url(&u)
                    }
                    None => az.cloud.arm_endpoint.trim_end_matches('/').to_owned(),
                };
                let api_version = raw
                    .get(i::HDI_API_VERSION)
                    .unwrap_or("2023-06-01-preview")
                    .to_owned();
                if api_version.len() > 64
                    || !api_version
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    return Err(Error::input(
                        i::HDI_API_VERSION,
                        format!("`{}` is not an API version", shorten(&api_version)),
                    ));
                }
                if !matches!(action, Action::Validate) && job.job_name.is_none() {
                    return Err(Error::input(
                        i::JOB_NAME,
                        "is required for target `hdinsight`",
                    ));
                }
                hdi = Some(HdiConfig {
                    subscription_id,
                    resource_group: need(i::HDI_RESOURCE_GROUP)?,
                    cluster_pool: need(i::HDI_CLUSTER_POOL)?,
                    cluster_name: need(i::HDI_CLUSTER_NAME)?,
                    api_version,
                    arm_endpoint,
                });
            }
        }

        let (proxy_bypass, proxy_notes) =
            proxy_bypass_list(env.public_variable("Agent.ProxyBypassList"));
        let http = HttpSettings {
            proxy_url: env.public_variable("Agent.ProxyUrl").map(str::to_owned),
            proxy_bypass,
            proxy_auth: env.public_variable("Agent.ProxyUsername").map(|u| {
                (
                    u.to_owned(),
                    Secret::new(env.variable("Agent.ProxyPassword").unwrap_or_default()),
                )
            }),
            proxy_notes,
            ca_file: env.public_variable("Agent.CAInfo").map(PathBuf::from),
            allow_insecure_http,
        };

        let build = vars.build_id.clone().unwrap_or_else(|| "local".into());
        let junit_path = match raw.get(i::TEST_RESULTS_FILE) {
            Some(p) => resolve_path(&vars, p),
            None => vars.temp_dir.join(format!(
                "flink-deploy-{build}-{}-junit.xml",
                std::process::id()
            )),
        };
        let summary_path = vars.temp_dir.join(format!(
            "flink-deploy-{build}-{}-summary.md",
            std::process::id()
        ));
        let reports = ReportConfig {
            junit_path,
            summary_path,
            publish: boolean(raw, i::PUBLISH_TEST_RESULTS)?,
        };

        Ok(Config {
            target,
            action,
            timeout,
            settle,
            rollback_on_failure,
            job,
            artifact,
            vvp,
            flink,
            hdi,
            azure,
            key_vault,
            blob,
            http,
            reports,
            vars,
        })
    }

    fn job_inputs(raw: &RawInputs, vars: &PipelineVars) -> Result<JobInputs> {
        let deployment_name = string(raw, i::DEPLOYMENT_NAME);
        if let Some(n) = &deployment_name {
            if !valid_resource_name(n) {
                return Err(Error::input(i::DEPLOYMENT_NAME, format!("`{}` is not a valid deployment name", shorten(n)))
                    .with_hint("lower-case letters, digits and hyphens, at most 63 characters, e.g. top-speed-windowing; put a human label in displayName"));
            }
        }
        let deployment_id = string(raw, i::DEPLOYMENT_ID);
        if let Some(id) = &deployment_id {
            if !valid_uuid(id) {
                return Err(Error::input(
                    i::DEPLOYMENT_ID,
                    format!("`{}` is not a deployment id (UUID)", shorten(id)),
                )
                .with_hint("use deploymentName to address the deployment by name"));
            }
        }
        let deployment_target_id = string(raw, i::DEPLOYMENT_TARGET_ID);
        if let Some(id) = &deployment_target_id {
            if !valid_uuid(id) {
                return Err(Error::input(
                    i::DEPLOYMENT_TARGET_ID,
                    format!("`{}` is not a deployment target id (UUID)", shorten(id)),
                )
                .with_hint("use deploymentTargetName to address the target by name"));
            }
        }
        let targets = [
            i::DEPLOYMENT_TARGET_NAME,
            i::DEPLOYMENT_TARGET_ID,
            i::SESSION_CLUSTER_NAME,
        ]
        .iter()
        .filter(|n| raw.get(n).is_some())
        .count();
        if targets > 1
            && !(raw.get(i::DEPLOYMENT_TARGET_NAME).is_some()
                && raw.get(i::DEPLOYMENT_TARGET_ID).is_some()
                && raw.get(i::SESSION_CLUSTER_NAME).is_none())
        {
            return Err(Error::input(i::SESSION_CLUSTER_NAME, "cannot be combined with a deployment target")
                .with_hint("a deployment runs either in application mode (deploymentTargetName/Id) or in session mode (sessionClusterName)"));
        }
        for n in [
            i::DEPLOYMENT_TARGET_NAME,
            i::SESSION_CLUSTER_NAME,
            i::ENTRY_CLASS,
            i::DISPLAY_NAME,
            i::JOB_NAME,
            i::SAVEPOINT_LOCATION,
            i::INITIAL_SAVEPOINT_PATH,
            i::SAVEPOINT_DIRECTORY,
        ] {
            if let Some(v) = raw.get(n) {
                no_control_chars(n, v)?;
                if v.len() > 4096 {
                    return Err(Error::input(
                        n,
                        format!("is too long ({} characters)", v.len()),
                    ));
                }
            }
        }
        if let Some(c) = raw.get(i::ENTRY_CLASS) {
            if !c.split('.').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|ch| ch.is_alphanumeric() || ch == '_' || ch == '$')
            }) {
                return Err(Error::input(
                    i::ENTRY_CLASS,
                    format!("`{}` is not a Java class name", shorten(c)),
                )
                .with_hint("e.g. com.example.MyJob"));
            }
        }
        for n in [i::MAIN_ARGS, i::FLINK_CONFIGURATION] {
            if let Some(v) = raw.get(n) {
                no_control_chars_but_whitespace(n, v)?;
            }
        }
        let main_args = match raw.get(i::MAIN_ARGS) {
            None => None,
            Some(a) => Some(split_args(a).map_err(|e| Error::input(i::MAIN_ARGS, e))?),
        };
        let flink_configuration = match raw.get(i::FLINK_CONFIGURATION) {
            None => BTreeMap::new(),
            Some(t) => parse_flink_configuration(t).map_err(|e| {
                Error::input(i::FLINK_CONFIGURATION, e).with_hint("one `key: value` per line")
            })?,
        };
        let savepoint_id = string(raw, i::SAVEPOINT_ID);
        if let Some(id) = &savepoint_id {
            if !valid_uuid(id) {
                return Err(Error::input(
                    i::SAVEPOINT_ID,
                    format!("`{}` is not a savepoint id (UUID)", shorten(id)),
                ));
            }
        }
        if savepoint_id.is_some() && raw.get(i::SAVEPOINT_LOCATION).is_some() {
            return Err(Error::input(
                i::SAVEPOINT_LOCATION,
                "cannot be combined with `savepointId`",
            )
            .with_hint("name the savepoint once"));
        }
        let spec_file = raw.get(i::SPEC_FILE).map(|p| resolve_path(vars, p));
        Ok(JobInputs {
            spec_file,
            deployment_name: deployment_name.clone(),
            deployment_id,
            display_name: string(raw, i::DISPLAY_NAME),
            deployment_target_name: string(raw, i::DEPLOYMENT_TARGET_NAME),
            deployment_target_id,
            session_cluster_name: string(raw, i::SESSION_CLUSTER_NAME),
            entry_class: string(raw, i::ENTRY_CLASS),
            main_args,
            parallelism: number(raw, i::PARALLELISM, 1, 100_000)?.map(|n| n as u32),
            flink_configuration,
            upgrade_strategy: pick(raw, i::UPGRADE_STRATEGY)?.map(str::to_owned),
            restore_strategy: pick(raw, i::RESTORE_STRATEGY)?.map(str::to_owned),
            savepoint_id,
            savepoint_location: string(raw, i::SAVEPOINT_LOCATION),
            allow_non_restored_state: boolean(raw, i::ALLOW_NON_RESTORED_STATE)?,
            initial_savepoint_path: string(raw, i::INITIAL_SAVEPOINT_PATH),
            savepoint_directory: string(raw, i::SAVEPOINT_DIRECTORY),
            job_name: string(raw, i::JOB_NAME).or(deployment_name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config> {
        let env = AgentEnv::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (format!("INPUT_{}", k.to_uppercase()), v.to_string())),
        );
        Config::from_raw(&RawInputs::from_env(env))
    }

    fn err(pairs: &[(&str, &str)]) -> Error {
        cfg(pairs).expect_err("should be rejected")
    }

    #[test]
    fn defaults_give_a_ververica_deploy_that_needs_a_url() {
        let e = err(&[]);
        assert!(e.message.contains("`vvpUrl`"), "{e}");
        let c = cfg(&[
            ("vvpUrl", "https://vvp.example/"),
            ("deploymentName", "job"),
        ])
        .unwrap();
        assert_eq!(c.target, TargetKind::Ververica);
        assert_eq!(c.action, Action::Deploy);
        assert_eq!(c.timeout, Duration::from_secs(600));
        assert_eq!(c.vvp.unwrap().url.as_deref(), Some("https://vvp.example"));
    }

    #[test]
    fn pick_lists_are_case_insensitive_and_list_choices() {
        let c = cfg(&[("action", "VALIDATE")]).unwrap();
        assert_eq!(c.action, Action::Validate);
        let e = err(&[("action", "explode")]);
        assert!(
            e.message.contains("`action`") && e.message.contains("renderCustomResource"),
            "{e}"
        );
    }

    #[test]
    fn numbers_and_booleans_name_the_input() {
        assert!(err(&[("action", "validate"), ("timeoutSeconds", "soon")])
            .message
            .contains("`timeoutSeconds`"));
        assert!(err(&[("action", "validate"), ("timeoutSeconds", "0")])
            .hint
            .unwrap()
            .contains("1 to 86400"));
        assert!(err(&[("action", "validate"), ("rollbackOnFailure", "yes")])
            .message
            .contains("`rollbackOnFailure`"));
        assert!(err(&[("action", "validate"), ("parallelism", "-1")])
            .message
            .contains("`parallelism`"));
    }

    #[test]
    fn plain_http_with_a_token_is_refused_unless_loopback_or_allowed() {
        let e = err(&[("vvpUrl", "http://vvp.example"), ("vvpApiToken", "t")]);
        assert!(e.message.contains("plain http"), "{e}");
        cfg(&[("vvpUrl", "http://127.0.0.1:8080"), ("vvpApiToken", "t")]).unwrap();
        cfg(&[
            ("vvpUrl", "http://vvp.example"),
            ("vvpApiToken", "t"),
            ("allowInsecureHttp", "true"),
        ])
        .unwrap();
        cfg(&[("vvpUrl", "http://vvp.example")]).unwrap();
    }

    #[test]
    fn conflicting_inputs_are_rejected() {
        assert!(err(&[
            ("action", "validate"),
            ("artifactPath", "a.jar"),
            ("jarUri", "https://x/a.jar")
        ])
        .message
        .contains("`jarUri`"));
        assert!(err(&[
            ("action", "validate"),
            ("deploymentTargetName", "t"),
            ("sessionClusterName", "s")
        ])
        .message
        .contains("sessionClusterName"));
        assert!(err(&[("action", "validate"), ("vvpApiTokenSecret", "tok")])
            .message
            .contains("keyVaultName"));
    }

    #[test]
    fn names_ids_and_classes_are_checked() {
        assert!(err(&[("action", "validate"), ("deploymentName", "My Job")])
            .message
            .contains("`deploymentName`"));
        assert!(err(&[("action", "validate"), ("deploymentId", "123")])
            .message
            .contains("`deploymentId`"));
        assert!(err(&[("action", "validate"), ("entryClass", "com..Main")])
            .message
            .contains("`entryClass`"));
        assert!(err(&[("action", "validate"), ("vvpNamespace", "Prod")])
            .message
            .contains("`vvpNamespace`"));
    }

    #[test]
    fn flink_configuration_and_args_parse() {
        let c = cfg(&[
            ("action", "validate"),
            ("flinkConfiguration", "# c\nexecution.checkpointing.interval: 10s\nstate.backend.type=rocksdb\nempty.value:\n"),
            ("mainArgs", "--input 'a b' --n \"x\\\"y\""),
        ])
        .unwrap();
        assert_eq!(
            c.job.flink_configuration["execution.checkpointing.interval"],
            "10s"
        );
        assert_eq!(c.job.flink_configuration["state.backend.type"], "rocksdb");
        assert_eq!(c.job.flink_configuration["empty.value"], "");
        assert_eq!(
            c.job.main_args.unwrap(),
            vec!["--input", "a b", "--n", "x\"y"]
        );
        assert!(
            err(&[("action", "validate"), ("flinkConfiguration", "novalue")])
                .message
                .contains("line 1")
        );
        assert!(err(&[("action", "validate"), ("mainArgs", "'open")])
            .message
            .contains("`mainArgs`"));
    }

    #[test]
    fn flink_target_requirements() {
        let e = err(&[("target", "flink")]);
        assert!(e.message.contains("`flinkUrl`"), "{e}");
        let e = err(&[
            ("target", "flink"),
            ("flinkUrl", "http://127.0.0.1:8081"),
            ("jobName", "j"),
        ]);
        assert!(e.message.contains("`artifactPath`"), "{e}");
        let e = err(&[
            ("target", "flink"),
            ("flinkUrl", "http://127.0.0.1:8081"),
            ("artifactPath", "a.jar"),
        ]);
        assert!(e.message.contains("`jobName`"), "{e}");
        cfg(&[
            ("target", "flink"),
            ("flinkUrl", "http://127.0.0.1:8081"),
            ("artifactPath", "a.jar"),
            ("jobName", "j"),
        ])
        .unwrap();
    }

    #[test]
    fn secrets_are_listed_for_masking() {
        let env = AgentEnv::from_pairs([
            ("INPUT_VVPAPITOKEN", "tok-1"),
            ("INPUT_STORAGESASTOKEN", "sv=1&sig=2"),
            (
                "ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN",
                "job-tok",
            ),
        ]);
        let raw = RawInputs::from_env(env);
        let s = raw.secrets();
        for v in ["tok-1", "sv=1&sig=2", "job-tok"] {
            assert!(s.iter().any(|x| x == v), "{v} missing");
        }
    }

    #[test]
    fn storage_inputs() {
        let e = err(&[
            ("action", "validate"),
            ("storageAccount", "acct1"),
            ("containerName", "jars"),
        ]);
        assert!(e.message.contains("`azureSubscription`"), "{e}");
        let c = cfg(&[
            ("action", "validate"),
            ("storageAccount", "acct1"),
            ("containerName", "jars"),
            ("storageSasToken", "?sv=x"),
            ("vvpNamespace", "prod"),
        ])
        .unwrap();
        let b = c.blob.unwrap();
        assert_eq!(b.endpoint, "https://acct1.blob.core.windows.net");
        assert_eq!(b.prefix, "artifacts/namespaces/prod");
        assert_eq!(b.sas.unwrap().expose(), "sv=x");
        assert!(err(&[("action", "validate"), ("containerName", "jars")])
            .message
            .contains("`containerName`"));
    }

    #[test]
    fn every_boolean_and_pick_list_is_checked_even_when_unused() {
        let e = err(&[("action", "validate"), ("exportSecrets", "maybe")]);
        assert!(e.message.contains("`exportSecrets`"), "{e}");
        let e = err(&[
            ("target", "flink"),
            ("flinkUrl", "http://127.0.0.1:8081"),
            ("action", "validate"),
            ("restart", "sometimes"),
        ]);
        assert!(e.message.contains("`restart`"), "{e}");
    }

    #[test]
    fn tokens_must_fit_in_a_header_and_are_not_quoted() {
        for bad in ["tök-en", "a b", "tok\u{7}", &"x".repeat(20_000)] {
            let e = err(&[("action", "validate"), ("vvpApiToken", bad)]);
            assert!(e.message.contains("`vvpApiToken`"), "{e}");
            assert!(!e.message.contains(bad), "the token is not quoted: {e}");
        }
        let e = err(&[
            ("target", "flink"),
            ("flinkUrl", "https://f.example"),
            ("action", "validate"),
            ("flinkAuth", "basic"),
            ("flinkUsername", "a:b"),
            ("flinkPassword", "p"),
        ]);
        assert!(e.message.contains("`flinkUsername`"), "{e}");
        cfg(&[
            ("action", "validate"),
            ("vvpApiToken", "eyJhbGciOi.J9-_~+/="),
        ])
        .unwrap();
    }

    #[test]
    fn file_paths_are_checked() {
        let long = "a".repeat(300);
        for name in [
            "specFile",
            "artifactPath",
            "customResourcePath",
            "testResultsFile",
        ] {
            let e = err(&[("action", "validate"), (name, &long)]);
            assert!(
                e.message.contains(&format!("`{name}`")) && e.message.len() < 300,
                "{e}"
            );
        }
        let e = err(&[("action", "validate"), ("specFile", "spec\u{7}.yml")]);
        assert!(e.message.contains("`specFile`"), "{e}");
        cfg(&[("action", "validate"), ("specFile", "/w/s/../spec.yml")]).unwrap();
        cfg(&[
            ("action", "validate"),
            ("testResultsFile", "/w/a/junit.xml"),
        ])
        .unwrap();
    }

    #[test]
    fn control_characters_in_args_and_configuration() {
        let e = err(&[("action", "validate"), ("mainArgs", "--a \u{7}")]);
        assert!(e.message.contains("`mainArgs`"), "{e}");
        let e = err(&[("action", "validate"), ("flinkConfiguration", "a: b\u{1b}")]);
        assert!(e.message.contains("`flinkConfiguration`"), "{e}");
        cfg(&[("action", "validate"), ("mainArgs", "--a\t1\n--b 2")]).unwrap();
    }

    #[test]
    fn split_args_cases() {
        assert_eq!(split_args("").unwrap(), Vec::<String>::new());
        assert_eq!(split_args("a  b\tc").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(split_args("''").unwrap(), vec![""]);
        assert_eq!(split_args(r"a\ b").unwrap(), vec!["a b"]);
    }

    #[test]
    fn proxy_bypass_list_keeps_patterns_and_names_what_it_drops() {
        assert_eq!(proxy_bypass_list(None), (vec![], vec![]));
        let (kept, notes) =
            proxy_bypass_list(Some(r#"["127\\.0\\.0\\.1", "[unclosed", "\\.corp$"]"#));
        assert_eq!(kept, vec![r"127\.0\.0\.1", r"\.corp$"]);
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("entry `[unclosed` is not a regular expression"),
            "{notes:?}"
        );
        let (kept, notes) = proxy_bypass_list(Some("localhost;*.corp"));
        assert!(kept.is_empty());
        assert!(notes[0].contains("is not a JSON array"), "{notes:?}");
    }

    #[test]
    fn proxy_credentials_come_from_the_agent_variables() {
        let env = AgentEnv::from_pairs([
            ("INPUT_ACTION", "validate"),
            ("INPUT_DEPLOYMENTNAME", "job"),
            ("AGENT_PROXYURL", "http://proxy.corp:8080"),
            ("AGENT_PROXYUSERNAME", "svc-build"),
            ("SECRET_AGENT_PROXYPASSWORD", "pr0xy-pw"),
        ]);
        let cfg = Config::from_raw(&RawInputs::from_env(env)).unwrap();
        let (user, pw) = cfg.http.proxy_auth.expect("credentials");
        assert_eq!(user, "svc-build");
        assert_eq!(pw.expose(), "pr0xy-pw");
    }
}
