//! Raw task inputs to one validated, typed configuration.
//!
//! Step one, [`RawInputs::from_env`], collects strings exactly as the agent passed them and lists
//! the secret values so the caller can mask them before anything else happens. Step two,
//! [`Config::from_raw`], validates everything and does no I/O: a bad input is reported here,
//! before any platform, blob or variable is touched. Each concern builds its own part (the run's
//! settings, the job, Azure, Key Vault, Blob Storage, HTTP, reports) and the chosen target reads
//! its own inputs through its [`Registration`]. Nothing reads the environment after this step.

pub mod checks;
pub mod job;
pub mod raw;
pub mod settings;

pub use crate::azure::connection::AzureConnection;
pub use crate::azure::settings::{BlobConfig, BlobSettings, KeyVaultConfig, SecretsFilter};
pub use job::JobInputs;
pub use raw::RawInputs;
pub use settings::{
    Action, Artifact, HttpSettings, PipelineVars, ReportConfig, RunSettings, TokenSource,
};

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::pipeline::inputs as i;
use crate::targets::{Registration, Target};

/// What every target may read while it builds its own configuration.
pub struct Shared<'a> {
    pub run: &'a RunSettings,
    pub job: &'a JobInputs,
    pub artifact: &'a Artifact,
    pub azure: Option<&'a AzureConnection>,
    pub has_key_vault: bool,
    pub vars: &'a PipelineVars,
    pub allow_insecure_http: bool,
}

/// Step two: everything a run will need, validated.
#[derive(Debug)]
pub struct Config {
    pub target_name: &'static str,
    pub run: RunSettings,
    pub job: JobInputs,
    pub artifact: Artifact,
    pub azure: Option<AzureConnection>,
    pub key_vault: Option<KeyVaultConfig>,
    pub blob: Option<BlobSettings>,
    pub http: HttpSettings,
    pub reports: ReportConfig,
    pub vars: PipelineVars,
    pub target: Box<dyn Target>,
    /// `specFile` names several files: one deployment each (the target above reads the first).
    pub set: Option<crate::set::SetConfig>,
}

/// Inputs that are checked the same way wherever they are used.
fn check_common(raw: &RawInputs) -> Result<()> {
    raw.check_typed()?;
    // `specFile` may be a list; each entry is checked as a path.
    if let Some(v) = raw.get(i::SPEC_FILE) {
        crate::set::files::check(v)?;
    }
    let paths = i::ALL
        .iter()
        .filter(|d| d.kind == i::Kind::FilePath && d.name != i::SPEC_FILE)
        .map(|d| d.name)
        .chain([i::ARTIFACT_PATH]);
    for name in paths {
        if let Some(p) = raw.get(name) {
            checks::file_path(name, p)?;
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
    Ok(())
}

/// The chosen target, and the action checked against what it can do.
fn target(raw: &RawInputs, action: Action) -> Result<&'static Registration> {
    let name = raw
        .pick(i::TARGET)?
        .unwrap_or(crate::targets::TARGETS[0].name);
    let reg = crate::targets::registration(name)
        .unwrap_or_else(|| unreachable!("every target in the pick list is registered: {name}"));
    if !reg.actions.contains(&action) {
        let can: Vec<&str> = reg.actions.iter().map(|a| a.as_str()).collect();
        return Err(Error::input(
            i::ACTION,
            format!("`{}` is not available for target `{name}`", action.as_str()),
        )
        .with_hint(format!("target `{name}` can: {}", can.join(", "))));
    }
    Ok(reg)
}

impl Config {
    pub fn from_raw(raw: &RawInputs) -> Result<Config> {
        check_common(raw)?;
        let run = RunSettings::from_raw(raw)?;
        let reg = target(raw, run.action)?;
        run.health
            .check(reg.name, reg.health, run.settle.as_secs())?;
        let vars = PipelineVars::from_env(&raw.env);
        let http = HttpSettings::from_raw(raw)?;
        let mut job = JobInputs::from_raw(raw, &vars)?;
        // Listing the files a folder, glob or list names reads, and changes nothing; it comes
        // here so that every file of a set is known, and checked, before the run starts.
        let mut files = crate::set::spec_files(raw, &vars.working_dir)?.unwrap_or_default();
        if files.len() == 1 {
            job.spec_file = files.pop();
        } else if !files.is_empty() {
            job.spec_file = Some(files[0].clone());
        }
        let azure = AzureConnection::from_raw(raw)?;
        let key_vault = KeyVaultConfig::from_raw(raw, azure.as_ref())?;
        let artifact = Artifact::from_raw(raw)?;
        let blob = BlobSettings::from_raw(raw, azure.as_ref(), http.allow_insecure_http)?;
        let shared = Shared {
            run: &run,
            job: &job,
            artifact: &artifact,
            azure: azure.as_ref(),
            has_key_vault: key_vault.is_some(),
            vars: &vars,
            allow_insecure_http: http.allow_insecure_http,
        };
        // Checked with one file too: a bad value is refused wherever it is given.
        let policy = crate::set::Policy::from_raw(raw, &run)?;
        let set = match files.len() {
            0 => None,
            _ => Some(crate::set::expand(raw, reg, &shared, files, policy)?),
        };
        let target = (reg.configure)(raw, &shared)?;
        let mut reports = ReportConfig::from_raw(raw, &vars)?;
        reports.reads = reads(&job, &artifact, &http, &vars);
        let set_files = set
            .iter()
            .flat_map(|s| s.members.iter().map(|m| m.file.clone()));
        reports.reads.extend(set_files);
        if let (Some(_), Some(junit)) = (raw.get(i::TEST_RESULTS_FILE), &reports.junit_path) {
            let named = named_reads(&job, &artifact, &vars);
            checks::distinct_output(i::TEST_RESULTS_FILE, junit, &named)?;
        }
        Ok(Config {
            target_name: reg.name,
            run,
            job,
            artifact,
            azure,
            key_vault,
            blob,
            http,
            reports,
            vars,
            target,
            set,
        })
    }

    pub fn action(&self) -> Action {
        self.run.action
    }

    /// The secrets the configuration holds beyond the inputs (sign-in material, and what a
    /// Kubernetes service connection's kubeconfig holds).
    pub fn secrets(&self) -> Vec<String> {
        self.azure
            .iter()
            .flat_map(|a| a.secrets())
            .map(str::to_owned)
            .chain(self.target.cluster().into_iter().flat_map(|c| c.secrets()))
            .collect()
    }
}

/// The input files the run reads, by the input that names them (an artifact pattern counts
/// when it names one file).
pub fn named_reads<'a>(
    job: &'a JobInputs,
    artifact: &Artifact,
    vars: &PipelineVars,
) -> Vec<(&'static str, std::borrow::Cow<'a, Path>)> {
    let mut out: Vec<(&'static str, std::borrow::Cow<'a, Path>)> = vec![];
    if let Some(p) = &job.spec_file {
        out.push((i::SPEC_FILE, std::borrow::Cow::Borrowed(p.as_path())));
    }
    if let Artifact::Local(p) = artifact {
        out.push((
            i::ARTIFACT_PATH,
            std::borrow::Cow::Owned(vars.resolve_path(p)),
        ));
    }
    out
}

/// Every file the run reads, for the checks made just before a write.
fn reads(
    job: &JobInputs,
    artifact: &Artifact,
    http: &HttpSettings,
    vars: &PipelineVars,
) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = named_reads(job, artifact, vars)
        .into_iter()
        .map(|(_, p)| p.into_owned())
        .collect();
    out.extend(http.ca_file.clone());
    out
}

#[cfg(test)]
mod tests {
    use super::checks::{proxy_bypass_list, split_args};
    use super::*;
    use crate::pipeline::env::AgentEnv;
    use std::time::Duration;

    fn vvp(c: &Config) -> &crate::targets::ververica::VvpConfig {
        &c.target
            .as_any()
            .downcast_ref::<crate::targets::ververica::Ververica>()
            .expect("a Ververica target")
            .cfg
    }

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
        assert_eq!(c.target_name, "ververica");
        assert_eq!(c.run.action, Action::Deploy);
        assert_eq!(c.run.timeout, Duration::from_secs(600));
        assert_eq!(vvp(&c).url.as_deref(), Some("https://vvp.example"));
    }

    #[test]
    fn a_spec_sees_public_variables_only_never_what_the_agent_put_under_its_own_names() {
        let env = AgentEnv::from_pairs([
            (
                "VSTS_PUBLIC_VARIABLES",
                r#"["Build.BuildId","INPUT_VVPAPITOKEN","endpoint.auth.x","secret.dbPass","System.AccessToken"]"#,
            ),
            ("VSTS_SECRET_VARIABLES", r#"["dbPass"]"#),
            ("BUILD_BUILDID", "42"),
            ("INPUT_VVPAPITOKEN", "tok-from-the-input"),
            ("ENDPOINT_AUTH_X", "{}"),
            ("SECRET_DBPASS", "pw"),
            ("SYSTEM_ACCESSTOKEN", "job-token"),
            ("PATH", "/usr/bin"),
        ]);
        let vars = PipelineVars::from_env(&env);
        assert_eq!(vars.public("Build.BuildId"), Some("42"));
        for name in [
            "INPUT_VVPAPITOKEN",
            "endpoint.auth.x",
            "ENDPOINT_AUTH_X",
            "secret.dbPass",
            "SECRET_DBPASS",
            "dbPass",
            "System.AccessToken",
            "PATH",
        ] {
            assert_eq!(vars.public(name), None, "{name}");
        }
        assert!(vars.is_secret("dbPass"));
    }

    #[test]
    fn base_urls_take_no_query_fragment_or_api_path() {
        for (url, says, fix) in [
            (
                "https://vvp.example/?x=1",
                "has a query",
                "https://vvp.example",
            ),
            (
                "https://vvp.example/#/namespaces",
                "has a fragment",
                "https://vvp.example",
            ),
            (
                "https://vvp.example/api",
                "includes `/api`",
                "https://vvp.example",
            ),
            (
                "https://vvp.example/api/v1/",
                "includes `/api/v1`",
                "https://vvp.example",
            ),
            (
                "https://h.example/vvp/api/v1/namespaces/default",
                "includes `/api/v1`",
                "https://h.example/vvp",
            ),
            (
                "https://vvp.example/app",
                "includes `/app`",
                "https://vvp.example",
            ),
        ] {
            let e = err(&[("vvpUrl", url), ("deploymentName", "job")]);
            assert!(
                e.message.contains("`vvpUrl`") && e.message.contains(says),
                "{url}: {e}"
            );
            assert!(
                e.hint.as_deref().unwrap_or("").ends_with(fix),
                "{url}: {e:?}"
            );
        }
        let e = err(&[
            ("target", "flink"),
            ("flinkUrl", "http://localhost:8081/?a=b"),
            ("jobName", "j"),
        ]);
        assert!(
            e.message.contains("`flinkUrl`") && e.message.contains("has a query"),
            "{e}"
        );
        // A path prefix in front of the platform is kept.
        let c = cfg(&[
            ("vvpUrl", "https://h.example/vvp/"),
            ("deploymentName", "job"),
        ])
        .unwrap();
        assert_eq!(vvp(&c).url.as_deref(), Some("https://h.example/vvp"));
    }

    #[test]
    fn names_that_go_into_a_url_path_are_resource_names() {
        for (input, v) in [
            ("deploymentTargetName", "../deployments/exist"),
            ("deploymentTargetName", "vvp-jobs?x=1"),
            ("deploymentTargetName", "vvp-jobs#x"),
            ("sessionClusterName", "a/b"),
            ("sessionClusterName", ".."),
        ] {
            let e = err(&[
                ("vvpUrl", "https://vvp.example"),
                ("deploymentName", "job"),
                (input, v),
            ]);
            assert!(
                e.message.contains(&format!("`{input}`"))
                    && e.message.contains("not a Ververica Platform resource name"),
                "{v}: {e}"
            );
        }
    }

    #[test]
    fn outputs_never_overwrite_inputs() {
        let cr = |k: &'static str, v: &'static str| {
            vec![
                ("action", "renderCustomResource"),
                ("deploymentName", "job"),
                (k, v),
            ]
        };
        let cases = [
            (
                [
                    cr("specFile", "/w/d/spec.yaml"),
                    vec![("customResourcePath", "/w/d/../d/./spec.yaml")],
                ],
                ["`customResourcePath`", "`specFile`"],
            ),
            (
                [
                    cr("artifactPath", "/w/job.jar"),
                    vec![("customResourcePath", "/w/job.jar")],
                ],
                ["`customResourcePath`", "`artifactPath`"],
            ),
            (
                [
                    cr("testResultsFile", "/w/o.yaml"),
                    vec![("customResourcePath", "/w/o.yaml")],
                ],
                ["`customResourcePath`", "`testResultsFile`"],
            ),
            (
                [
                    vec![("vvpUrl", "https://vvp.example"), ("deploymentName", "job")],
                    vec![
                        ("specFile", "/w/spec.yaml"),
                        ("testResultsFile", "/w/spec.yaml"),
                    ],
                ],
                ["`testResultsFile`", "`specFile`"],
            ),
        ];
        for (inputs, says) in cases {
            let e = err(&inputs.concat());
            assert!(says.iter().all(|s| e.message.contains(s)), "{says:?}: {e}");
        }
    }

    #[test]
    fn pick_lists_are_case_insensitive_and_list_choices() {
        let c = cfg(&[("action", "VALIDATE")]).unwrap();
        assert_eq!(c.run.action, Action::Validate);
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
        let b = c
            .blob
            .as_ref()
            .unwrap()
            .resolve(&c.target.needs().blob_prefix);
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
