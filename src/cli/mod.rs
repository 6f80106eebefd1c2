//! The same binary from a shell, an orchestrator or another CI.
//!
//! **Agent or command line.** The binary speaks the agent's protocol (inputs from `INPUT_*`,
//! service connections from `ENDPOINT_*`, `##vso` logging commands on stdout) when it is started
//! with `--agent` (as the task's launcher does), or with no arguments at all in an environment
//! the agent made for a task step: one of the agent's own variables (`TF_BUILD`, `AGENT_ID`)
//! together with task inputs (`INPUT_*`). Everything else is a command-line run: inputs come from
//! flags, `FLINK_DEPLOY_*` variables and a config file ([`sources`]), Azure sign-in from the
//! standard `AZURE_*` variables ([`azure`]), and the log is written for a person, or as JSON
//! for a machine ([`human`]). `--no-agent` forces a command-line run.
//!
//! Both end in [`crate::run_inputs`]: the same raw inputs, configuration, plan, apply and
//! reports, and the same exit codes.

pub mod args;
pub mod azure;
pub mod help;
pub mod human;
pub mod sources;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use crate::config::raw::{CommandLine, RawInputs};
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::env::AgentEnv;
use crate::pipeline::inputs as i;
use crate::pipeline::vso::{IssueSource, IssueType, Vso};
use crate::report::{self, Exit};

use args::{Color, Parsed};
use human::{Human, Style};

/// How long a step may go without a line before the log says it is still running.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Agent,
    CommandLine,
}

/// The rule in the module documentation.
pub fn mode(parsed: &Parsed, env: &AgentEnv) -> Mode {
    match parsed.options.agent {
        Some(true) => Mode::Agent,
        Some(false) => Mode::CommandLine,
        None => {
            let agent = env.raw("TF_BUILD").is_some() || env.raw("AGENT_ID").is_some();
            let task_inputs = env.names().any(|n| n.starts_with("INPUT_"));
            if parsed.count == 0 && agent && task_inputs {
                Mode::Agent
            } else {
                Mode::CommandLine
            }
        }
    }
}

/// The process: arguments without the program name, and the environment.
pub fn main(args: Vec<OsString>, env: AgentEnv) -> Exit {
    let parsed = args::parse(args);
    if parsed.options.help && parsed.options.agent != Some(true) {
        print!("{}", help::text());
        return Exit::Succeeded;
    }
    if parsed.options.version && parsed.options.agent != Some(true) {
        println!("flink-deploy {}", env!("CARGO_PKG_VERSION"));
        return Exit::Succeeded;
    }
    match mode(&parsed, &env) {
        Mode::Agent if parsed.count > 1 => {
            let vso = Vso::stdout(Default::default(), false);
            let e = Error::new(
                ErrorKind::Input,
                "`--agent` takes no other arguments: under the agent the inputs come from INPUT_* variables",
            );
            report::conclude(&vso, Err(e), 0)
        }
        Mode::Agent => crate::main_with_env(env, None),
        Mode::CommandLine => command_line(parsed, env),
    }
}

fn style(parsed: &Parsed, env: &AgentEnv) -> Style {
    let o = &parsed.options;
    let terminal = if o.json {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    };
    let color = match o.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            terminal
                && env.raw("NO_COLOR").is_none_or(str::is_empty)
                && env.raw("TERM") != Some("dumb")
        }
    };
    Style {
        color,
        debug: o.debug,
        json: o.json,
        progress_every: Some(o.progress_every.unwrap_or(PROGRESS_EVERY)),
    }
}

/// A run from a shell: inputs from flags, variables and a file; output for a person.
fn command_line(parsed: Parsed, env: AgentEnv) -> Exit {
    let style = style(&parsed, &env);
    let log: Box<dyn std::io::Write + Send> = if style.json {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let human = Human::new(log, Box::new(std::io::stdout()), style);
    let vso = Vso::human(human.clone());
    let exit = match prepare(parsed, env, &vso) {
        Ok(raw) => crate::run_inputs(raw, vso.clone()),
        Err(e) => report::conclude(&vso, Err(e), 0),
    };
    finish(&human, &vso, exit)
}

fn finish(human: &Arc<Human>, vso: &Vso, exit: Exit) -> Exit {
    human.finish(exit, vso.redactor());
    exit
}

fn warn(vso: &Vso, text: &str) {
    vso.log_issue(IssueType::Warning, text, &IssueSource::default());
}

/// Everything a command line gives, as the raw inputs of a run; bad input ends here.
fn prepare(parsed: Parsed, env: AgentEnv, vso: &Vso) -> Result<RawInputs> {
    // Masked before anything else can print them.
    for d in i::ALL.iter().filter(|d| d.secret) {
        if let Some(v) = parsed.inputs.get(d.name) {
            vso.set_secret(v);
        }
    }
    if let Some(e) = parsed.error {
        return Err(e);
    }
    let (from_env, env_warnings) = sources::from_env(&env);
    let config = parsed
        .options
        .config
        .clone()
        .or_else(|| env.raw("FLINK_DEPLOY_CONFIG").map(Into::into));
    let from_file = match &config {
        Some(path) => sources::from_file(path)?,
        None => BTreeMap::new(),
    };
    let given_any = parsed.count > 0 || !from_env.is_empty() || config.is_some();
    if !given_any {
        return Err(Error::new(ErrorKind::Input, "no inputs given")
            .with_hint("e.g. flink-deploy --target flink --flinkUrl http://jobmanager:8081 --jobName wordcount --artifactPath job.jar; `flink-deploy --help` lists the inputs"));
    }
    let mut inputs = sources::merge(parsed.inputs, from_env, from_file);
    for d in i::ALL.iter().filter(|d| d.secret) {
        if let Some(v) = inputs.get(d.name) {
            vso.set_secret(v);
        }
    }
    for w in &env_warnings {
        warn(vso, w);
    }
    for name in &parsed.secret_flags {
        warn(vso, &format!(
            "input `{name}` was given on the command line, where other users of this machine can read it; pass it in {} or the config file",
            sources::env_var_for(name)
        ));
    }
    command_line_inputs(&mut inputs)?;
    let azure = azure::connection(&env, inputs.get(i::AZURE_SUBSCRIPTION).map(|s| s.trim()))?;
    if azure.is_none() {
        if let Some(what) = azure::needed_by(&inputs) {
            return Err(azure::missing(&what));
        }
    }
    let summary = parsed.options.summary;
    Ok(RawInputs::from_command_line(
        inputs,
        env,
        CommandLine { azure, summary },
    ))
}

/// Inputs that mean something else, or nothing, outside an agent.
fn command_line_inputs(inputs: &mut BTreeMap<&'static str, String>) -> Result<()> {
    if inputs
        .get(i::VVP_CONNECTION)
        .is_some_and(|v| !v.trim().is_empty())
    {
        return Err(Error::input(
            i::VVP_CONNECTION,
            "names a service connection, and a command line has none",
        )
        .with_hint(
            "give vvpUrl and vvpApiToken (in FLINK_DEPLOY_VVP_API_TOKEN or the config file)",
        ));
    }
    match inputs.get(i::EXPORT_SECRETS).map(|v| v.trim()) {
        Some(v) if v.eq_ignore_ascii_case("true") => {
            return Err(Error::input(
                i::EXPORT_SECRETS,
                "sets secret pipeline variables, and a command line has no pipeline",
            )
            .with_hint("leave it out: Key Vault secrets named by vvpApiTokenSecret or flinkCredentialSecret are still read for this run"));
        }
        Some(_) => {}
        None => {
            inputs.insert(i::EXPORT_SECRETS, "false".to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Parsed {
        args::parse(a.iter().map(OsString::from).collect())
    }

    #[test]
    fn the_agent_is_recognised_by_its_variables_and_inputs_or_by_flag() {
        let task = AgentEnv::from_pairs([("TF_BUILD", "True"), ("INPUT_TARGET", "flink")]);
        assert_eq!(mode(&parse(&[]), &task), Mode::Agent);
        assert_eq!(
            mode(&parse(&["--target", "flink"]), &task),
            Mode::CommandLine
        );
        assert_eq!(mode(&parse(&["--no-agent"]), &task), Mode::CommandLine);
        let script_step = AgentEnv::from_pairs([("TF_BUILD", "True"), ("AGENT_ID", "7")]);
        assert_eq!(mode(&parse(&[]), &script_step), Mode::CommandLine);
        // An action wrapper elsewhere (GitHub Actions passes INPUT_* too) is not the agent.
        let action = AgentEnv::from_pairs([("INPUT_TARGET", "flink"), ("GITHUB_ACTIONS", "true")]);
        assert_eq!(mode(&parse(&[]), &action), Mode::CommandLine);
        assert_eq!(
            mode(&parse(&["--agent"]), &AgentEnv::default()),
            Mode::Agent
        );
    }

    #[test]
    fn inputs_without_meaning_outside_an_agent() {
        let mut m: BTreeMap<&'static str, String> = BTreeMap::new();
        command_line_inputs(&mut m).unwrap();
        assert_eq!(m[i::EXPORT_SECRETS], "false");
        m.insert(i::EXPORT_SECRETS, "true".into());
        let e = command_line_inputs(&mut m).unwrap_err();
        assert!(e.message.contains("`exportSecrets`"), "{e}");
        let mut m: BTreeMap<&'static str, String> = BTreeMap::new();
        m.insert(i::VVP_CONNECTION, "my-vvp".into());
        let e = command_line_inputs(&mut m).unwrap_err();
        assert!(e.message.contains("`vvpConnection`"), "{e}");
    }
}
