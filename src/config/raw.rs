//! Step one of reading the inputs: strings exactly as the agent passed them, and typed readers
//! that name the input in every error.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::pipeline::env::AgentEnv;
use crate::pipeline::inputs::{self as i, Kind};

/// The inputs as strings, plus the environment they came from. Only the configuration step
/// reads `env`; everything after it works on the typed configuration.
pub struct RawInputs {
    values: BTreeMap<&'static str, String>,
    pub env: AgentEnv,
    /// Set when the inputs came from a command line rather than from the agent.
    pub command_line: Option<CommandLine>,
}

/// What a command-line run has instead of the agent's service connection and report folder
/// (see [`crate::cli`]).
#[derive(Clone, Debug, Default)]
pub struct CommandLine {
    /// The Azure sign-in from the standard `AZURE_*` environment variables, when they name one.
    pub azure: Option<crate::azure::connection::AzureConnection>,
    /// `--summary FILE`: where the Markdown summary goes (none is written otherwise).
    pub summary: Option<std::path::PathBuf>,
}

impl RawInputs {
    pub fn from_env(env: AgentEnv) -> Self {
        let mut values = BTreeMap::new();
        for def in i::ALL {
            if let Some(v) = env.input(def.name) {
                values.insert(def.name, v.to_owned());
            }
        }
        RawInputs {
            values,
            env,
            command_line: None,
        }
    }

    /// Inputs given on a command line; values are trimmed and empty ones count as unset, as the
    /// agent does.
    pub fn from_command_line(
        given: BTreeMap<&'static str, String>,
        env: AgentEnv,
        command_line: CommandLine,
    ) -> Self {
        let values = given
            .into_iter()
            .map(|(k, v)| (k, v.trim().to_owned()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        RawInputs {
            values,
            env,
            command_line: Some(command_line),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn string(&self, name: &'static str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// Every secret value known from inputs and service connections, to be masked first.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = i::ALL
            .iter()
            .filter(|d| d.secret)
            .filter_map(|d| self.get(d.name))
            .map(str::to_owned)
            .collect();
        for conn in i::ALL
            .iter()
            .filter(|d| matches!(d.kind, Kind::Connection(_)))
        {
            if let Some(ep) = self.get(conn.name).and_then(|id| self.env.endpoint(id)) {
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
        if let Some(azure) = self.command_line.as_ref().and_then(|c| c.azure.as_ref()) {
            out.extend(azure.secrets().into_iter().map(str::to_owned));
        }
        out
    }

    /// A pick list input, matched case-insensitively; the canonical spelling comes back.
    pub fn pick(&self, name: &'static str) -> Result<Option<&'static str>> {
        let Some(Kind::PickList(options)) = i::find(name).map(|d| d.kind) else {
            unreachable!("{name} is a pick list");
        };
        match self.get(name) {
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

    pub fn boolean(&self, name: &'static str) -> Result<bool> {
        let default = i::find(name).map(|d| d.default == "true").unwrap_or(false);
        match self.get(name) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(Error::input(name, format!("`{v}` is not a boolean"))
                .with_hint("use true or false")),
        }
    }

    pub fn number(&self, name: &'static str, min: u64, max: u64) -> Result<Option<u64>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let n: u64 = v.parse().map_err(|_| {
            crate::config::checks::not_a(name, v, "a whole number")
                .with_hint(format!("use a number from {min} to {max}"))
        })?;
        if n < min || n > max {
            return Err(Error::input(name, format!("{n} is out of range"))
                .with_hint(format!("use a number from {min} to {max}")));
        }
        Ok(Some(n))
    }

    /// Every boolean and pick list is checked whether or not this target reads it: a typo in
    /// an input that only matters on another path would otherwise pass silently.
    pub fn check_typed(&self) -> Result<()> {
        for def in i::ALL {
            match def.kind {
                Kind::Boolean => {
                    self.boolean(def.name)?;
                }
                Kind::PickList(_) => {
                    self.pick(def.name)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
