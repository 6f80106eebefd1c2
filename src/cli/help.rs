//! `--help`: the options, then every input as task.json describes it (its label and
//! helpMarkDown are the one description of an input, shown in the pipeline editor and here),
//! grouped as the editor groups them, with what differs on a command line.

use serde_json::Value;

use super::args::OPTIONS;
use super::sources::env_var_for;
use crate::pipeline::inputs as i;

const TASK_JSON: &str = include_str!("../../task/task.json");
const WIDTH: usize = 96;

/// What an input means on a command line where that differs from the task.
const ON_THE_COMMAND_LINE: &[(&str, &str)] = &[
    (i::AZURE_SUBSCRIPTION, "On the command line: the subscription id (default AZURE_SUBSCRIPTION_ID); sign-in comes from the AZURE_* variables, see below."),
    (i::VVP_CONNECTION, "Not available on the command line: give vvpUrl and vvpApiToken."),
    (i::EXPORT_SECRETS, "On the command line there are no pipeline variables: false, and true is refused."),
    (i::TEST_RESULTS_FILE, "On the command line: written only when given (also --junit)."),
    (i::PUBLISH_TEST_RESULTS, "Has no effect on the command line."),
];

/// Markdown as plain text: `**x**` and `` `x` `` lose their marks, `[text](url)` keeps both.
fn plain(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut rest = md;
    while let Some(open) = rest.find('[') {
        let link = rest[open..].find("](").and_then(|mid| {
            let end = rest[open + mid..].find(')')?;
            Some((open + mid, open + mid + end))
        });
        let Some((mid, end)) = link else { break };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..mid]);
        out.push_str(" (");
        out.push_str(&rest[mid + 2..end]);
        out.push(')');
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out.replace("**", "").replace('`', "")
}

/// Words wrapped at [`WIDTH`], each line indented by `indent`.
fn wrap(text: &str, indent: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > WIDTH {
            out.push_str(&" ".repeat(indent));
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&" ".repeat(indent));
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn input(def: &Value) -> String {
    let name = def["name"].as_str().unwrap_or_default();
    let mut text = format!("{}.", def["label"].as_str().unwrap_or_default());
    if let Some(help) = def["helpMarkDown"].as_str() {
        text.push(' ');
        text.push_str(&plain(help));
    }
    if let Some(opts) = def["options"].as_object() {
        let names: Vec<&str> = opts
            .keys()
            .map(String::as_str)
            .filter(|k| !k.is_empty())
            .collect();
        text.push_str(&format!(" One of: {}.", names.join(", ")));
    }
    match def["defaultValue"].as_str() {
        Some(d) if !d.is_empty() => text.push_str(&format!(" Default: {d}.")),
        _ => {}
    }
    if let Some((_, note)) = ON_THE_COMMAND_LINE.iter().find(|(n, _)| *n == name) {
        text.push(' ');
        text.push_str(note);
    }
    let value = if def["type"] == "boolean" {
        "[true|false]"
    } else {
        "VALUE"
    };
    format!(
        "  --{name} {value}  ({})\n{}",
        env_var_for(name),
        wrap(&text, 6)
    )
}

fn inputs(task: &Value) -> String {
    let all = task["inputs"].as_array().cloned().unwrap_or_default();
    let mut groups: Vec<(Option<String>, String)> = vec![(None, "General".to_owned())];
    for g in task["groups"].as_array().into_iter().flatten() {
        groups.push((
            g["name"].as_str().map(str::to_owned),
            g["displayName"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    let mut out = String::new();
    for (key, title) in groups {
        let members: Vec<&Value> = all
            .iter()
            .filter(|d| d["groupName"].as_str().map(str::to_owned) == key)
            .collect();
        if members.is_empty() {
            continue;
        }
        out.push_str(&format!("\nInputs: {title}\n"));
        for d in members {
            out.push_str(&input(d));
        }
    }
    out
}

const ENVIRONMENT: &str = "
Environment:
  FLINK_DEPLOY_<INPUT>  any input, e.g. FLINK_DEPLOY_VVP_API_TOKEN (the place for secrets: values on a
                        command line can be read by other users of the machine)
  FLINK_DEPLOY_CONFIG   a config file, like --config
  AZURE_TENANT_ID, AZURE_CLIENT_ID with AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH (PEM with
                        the key) or AZURE_FEDERATED_TOKEN_FILE: Azure sign-in as the Azure SDKs define it;
                        IDENTITY_ENDPOINT/MSI_ENDPOINT, or --azureSubscription alone: managed identity
                        (user-assigned with AZURE_CLIENT_ID); AZURE_AUTHORITY_HOST: another cloud
  HTTPS_PROXY, NO_PROXY  proxy;  SSL_CERT_FILE  trusted CA certificates (PEM)
  NO_COLOR              no colour

Precedence: flags, then FLINK_DEPLOY_* variables, then the config file, then the defaults below.

Exit codes: 0 succeeded (also with warnings), 1 failed, 2 bad input or arguments (nothing was
changed), 130 cancelled (SIGINT or SIGTERM).
";

/// The whole help text.
pub fn text() -> String {
    let task: Value = serde_json::from_str(TASK_JSON).unwrap_or(Value::Null);
    let mut out = format!(
        "flink-deploy {}: deploy Apache Flink jobs to Ververica Platform, a Flink session cluster or\nHDInsight on AKS, wait until they run, and report.\n\nUsage: flink-deploy [OPTIONS] --<input> VALUE ...\n  e.g. flink-deploy --target flink --flinkUrl http://jobmanager:8081 \\\n         --jobName wordcount --artifactPath target/wordcount.jar\n\nOptions:\n",
        env!("CARGO_PKG_VERSION")
    );
    for (name, value, what) in OPTIONS {
        let head = if value.is_empty() {
            format!("  --{name}")
        } else {
            format!("  --{name} {value}")
        };
        out.push_str(&head);
        out.push('\n');
        out.push_str(&wrap(what, 6));
    }
    out.push_str(ENVIRONMENT);
    out.push_str(&inputs(&task));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_is_listed_with_its_task_json_description() {
        let t = text();
        for d in i::ALL {
            assert!(
                t.contains(&format!("  --{} ", d.name)),
                "--{} missing",
                d.name
            );
        }
        let flat = t.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains(
                "Base URL of Ververica Platform, e.g. https://vvp.example.com, without a query"
            ),
            "{t}"
        );
        assert!(
            flat.contains("One of: ververica, hdinsight, flink, ververicaOperator, flinkOperator."),
            "{t}"
        );
        assert!(t.contains("(FLINK_DEPLOY_VVP_API_TOKEN)"), "{t}");
        assert!(t.contains("Inputs: Apache Flink"), "{t}");
        assert!(t.contains("--json"), "{t}");
        assert!(
            t.lines().all(|l| l.chars().count() <= 110),
            "long line in {t}"
        );
    }

    #[test]
    fn markdown_becomes_plain_text() {
        assert_eq!(
            plain("Use **this** `x` [More](https://e.x/#readme) end"),
            "Use this x More (https://e.x/#readme) end"
        );
        assert_eq!(plain("a [b] c"), "a [b] c");
    }
}
