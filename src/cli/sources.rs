//! Where a command-line run's inputs come from besides flags: `FLINK_DEPLOY_<INPUT>` variables
//! and a YAML or JSON config file, merged with flags first, then the environment, then the file
//! (task.json's defaults apply to what none of them gives).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::env::AgentEnv;
use crate::spec::scalar::Core;
use crate::spec::{Node, NodeKind, Style};

use super::args::{closest_input, input_named};

/// The prefix of input variables: `FLINK_DEPLOY_DEPLOYMENT_NAME` or `FLINK_DEPLOY_DEPLOYMENTNAME`.
pub const ENV_PREFIX: &str = "FLINK_DEPLOY_";

/// Variables with the prefix that are not inputs.
pub const ENV_OPTIONS: &[&str] = &["CONFIG", "LOG"];

/// The largest config file read; a config of inputs is a few kilobytes.
const MAX_CONFIG: u64 = 1024 * 1024;

/// Inputs from `FLINK_DEPLOY_*` variables. A name close to an input but not one is a warning
/// (a typo would otherwise be ignored without a word).
pub fn from_env(env: &AgentEnv) -> (BTreeMap<&'static str, String>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut warnings = vec![];
    for name in env.names() {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if ENV_OPTIONS.contains(&rest) {
            continue;
        }
        match input_named(rest) {
            Some(def) => {
                if let Some(v) = env.raw(name) {
                    out.insert(def.name, v.to_owned());
                }
            }
            None => {
                let (near, d) = closest_input(rest);
                if d <= 2 {
                    warnings.push(format!(
                        "environment variable `{name}` names no input and is ignored; did you mean `{}`?",
                        env_var_for(near)
                    ));
                }
            }
        }
    }
    (out, warnings)
}

fn config_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Input,
        format!("config file `{}`: {message}", path.display()),
    )
}

/// Read at most [`MAX_CONFIG`] bytes of a regular file (never blocking on a FIFO or a device).
fn read_bounded(path: &Path) -> Result<String> {
    crate::fsread::read_text(path, MAX_CONFIG).map_err(|e| {
        config_error(path, e).with_hint("check the path given to --config; it holds a few lines")
    })
}

/// One value of the config file as the input's text: the scalar as written (`1.10` stays
/// `1.10`, `007` stays `007`, `yes` stays `yes`), as the agent would pass it. An empty value
/// (`key:`, `~`, `null`) gives no input.
fn scalar(path: &Path, key: &str, v: &Node) -> Result<Option<String>> {
    match v.scalar() {
        Some(s) if s.style == Style::Plain && s.core == Core::Null => Ok(None),
        Some(s) => Ok(Some(s.text.clone())),
        None => Err(config_error(path, format!("`{key}` is not a single value"))
            .with_hint("give each input as `name: value`; multi-line text as a block (`|`)")),
    }
}

/// Inputs from a YAML or JSON file: one mapping whose keys are input names. A key given twice
/// is refused with its line.
pub fn from_file(path: &Path) -> Result<BTreeMap<&'static str, String>> {
    let text = read_bounded(path)?;
    let shown = path.display().to_string();
    let origin = crate::spec::Origin {
        input: "--config",
        file: &shown,
    };
    let doc = crate::spec::read(&text, &origin, crate::spec::Limits::default())
        .map_err(|e| config_error(path, format!("is not YAML or JSON ({})", origin.reason(&e))))?;
    let entries = match &doc.kind {
        NodeKind::Map(m) => m,
        NodeKind::Scalar(s) if s.style == Style::Plain && s.core == Core::Null => {
            return Ok(BTreeMap::new())
        }
        _ => {
            return Err(
                config_error(path, "is not a mapping of input names to values").with_hint(
                    "e.g. `target: flink` on one line, `flinkUrl: http://...` on the next",
                ),
            )
        }
    };
    let mut out = BTreeMap::new();
    for e in entries {
        let key = e.key.as_str();
        let def = input_named(key).ok_or_else(|| {
            let (near, _) = closest_input(key);
            config_error(
                path,
                format!("`{key}` is not an input; did you mean `{near}`?"),
            )
            .with_hint("`flink-deploy --help` lists the inputs")
        })?;
        if let Some(v) = scalar(path, key, &e.value)? {
            if out.insert(def.name, v).is_some() {
                return Err(config_error(
                    path,
                    format!("input `{}` is given twice", def.name),
                ));
            }
        }
    }
    Ok(out)
}

/// Flags over environment over file.
pub fn merge(
    flags: BTreeMap<&'static str, String>,
    env: BTreeMap<&'static str, String>,
    file: BTreeMap<&'static str, String>,
) -> BTreeMap<&'static str, String> {
    let mut out = file;
    out.extend(env);
    out.extend(flags);
    out
}

/// The variable for an input as the documentation spells it: `vvpApiToken` is
/// `FLINK_DEPLOY_VVP_API_TOKEN`.
pub fn env_var_for(input: &str) -> String {
    let mut out = ENV_PREFIX.to_owned();
    for c in input.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("flink-deploy.yml");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn a_yaml_file_keeps_text_as_written() {
        let (_d, p) = file(
            "target: flink\nflink-url: http://127.0.0.1:8081\ntimeoutSeconds: 120\nrollbackOnFailure: true\njobName: '007'\nflinkConfiguration: |\n  a: 1.10\n  b: yes\nsavepointId: ~\n",
        );
        let m = from_file(&p).unwrap();
        assert_eq!(m["target"], "flink");
        assert_eq!(m["flinkUrl"], "http://127.0.0.1:8081");
        assert_eq!(m["timeoutSeconds"], "120");
        assert_eq!(m["rollbackOnFailure"], "true");
        assert_eq!(m["jobName"], "007");
        assert_eq!(m["flinkConfiguration"], "a: 1.10\nb: yes\n");
        assert!(!m.contains_key("savepointId"));
    }

    #[test]
    fn json_works_too() {
        let (_d, p) =
            file(r#"{"target": "ververica", "vvpNamespace": "prod", "settleSeconds": 0}"#);
        let m = from_file(&p).unwrap();
        assert_eq!(m["vvpNamespace"], "prod");
        assert_eq!(m["settleSeconds"], "0");
    }

    #[test]
    fn values_a_yaml_reader_would_retype_arrive_as_written() {
        for (text, key, want) in [
            ("deploymentName: 1e3\n", "deploymentName", "1e3"),
            ("parallelism: 1.50\n", "parallelism", "1.50"),
            ("jobName: yes\n", "jobName", "yes"),
            ("jobName: 0x1F\n", "jobName", "0x1F"),
            ("jobName: 007\n", "jobName", "007"),
        ] {
            let (_d, p) = file(text);
            assert_eq!(from_file(&p).unwrap()[key], want, "{text}");
        }
        for (text, what) in [
            ("jobName: [a, b]\n", "`jobName` is not a single value"),
            ("jobName: a\njobName: b\n", "line 2"),
            ("jobName: [a\n", "is not YAML or JSON ("),
        ] {
            let (_d, p) = file(text);
            let e = from_file(&p).unwrap_err();
            assert!(e.message.contains(what), "{e}");
            assert!(!e.message.contains("input `--config`"), "named once: {e}");
        }
    }

    #[test]
    fn unknown_keys_name_the_closest_input() {
        let (_d, p) = file("flinkUrll: http://x\n");
        let e = from_file(&p).unwrap_err();
        assert!(
            e.message
                .contains("`flinkUrll` is not an input; did you mean `flinkUrl`?"),
            "{e}"
        );
        let (_d, p) = file("- a\n- b\n");
        assert!(from_file(&p).unwrap_err().message.contains("not a mapping"));
        let (_d, p) = file("mainArgs: [a, b]\n");
        assert!(from_file(&p)
            .unwrap_err()
            .message
            .contains("not a single value"));
    }

    #[test]
    fn a_huge_or_missing_file_is_refused() {
        let (_d, p) = file(&"#".repeat(MAX_CONFIG as usize + 10));
        assert!(from_file(&p)
            .unwrap_err()
            .message
            .contains("more than the 1 MiB"));
        let e = from_file(Path::new("/nonexistent/flink-deploy.yml")).unwrap_err();
        assert!(e.message.contains("cannot be read"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        assert!(from_file(dir.path())
            .unwrap_err()
            .message
            .contains("not a regular file"));
    }

    #[test]
    fn environment_variables_in_either_spelling_and_typos_warned() {
        let env = AgentEnv::from_pairs([
            ("FLINK_DEPLOY_DEPLOYMENT_NAME", "a"),
            ("FLINK_DEPLOY_VVPNAMESPACE", "prod"),
            ("FLINK_DEPLOY_FLINK_URLL", "x"),
            ("FLINK_DEPLOY_LOG", "debug"),
            ("FLINK_DEPLOY_SOMETHING_ELSE_ENTIRELY", "x"),
        ]);
        let (m, w) = from_env(&env);
        assert_eq!(m["deploymentName"], "a");
        assert_eq!(m["vvpNamespace"], "prod");
        assert_eq!(m.len(), 2);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("FLINK_DEPLOY_FLINK_URLL") && w[0].contains("`FLINK_DEPLOY_FLINK_URL`"),
            "{w:?}"
        );
        assert_eq!(
            env_var_for("hdiArmEndpoint"),
            "FLINK_DEPLOY_HDI_ARM_ENDPOINT"
        );
    }

    #[test]
    fn flags_win_over_environment_over_file() {
        let m = |pairs: &[(&'static str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (*k, v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let out = merge(
            m(&[("jobName", "flag")]),
            m(&[("jobName", "env"), ("flinkUrl", "env")]),
            m(&[
                ("jobName", "file"),
                ("flinkUrl", "file"),
                ("target", "file"),
            ]),
        );
        assert_eq!(out["jobName"], "flag");
        assert_eq!(out["flinkUrl"], "env");
        assert_eq!(out["target"], "file");
    }
}
