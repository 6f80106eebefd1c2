//! The job as the inputs describe it, for every target: what runs (class, arguments,
//! parallelism, configuration), under which name, and with which state. Each field overrides
//! the spec file where a target reads one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::pipeline::inputs as i;

use super::checks::{
    no_control_chars, no_control_chars_but_whitespace, parse_flink_configuration, split_args,
    valid_resource_name,
};
use super::raw::RawInputs;
use super::settings::PipelineVars;

#[derive(Clone, Debug, Default)]
pub struct JobInputs {
    pub spec_file: Option<PathBuf>,
    pub deployment_name: Option<String>,
    pub entry_class: Option<String>,
    pub main_args: Option<Vec<String>>,
    pub parallelism: Option<u32>,
    pub flink_configuration: BTreeMap<String, String>,
    pub upgrade_strategy: Option<String>,
    pub restore_strategy: Option<String>,
    pub savepoint_location: Option<String>,
    pub allow_non_restored_state: bool,
    pub initial_savepoint_path: Option<String>,
    pub savepoint_directory: Option<String>,
    /// `jobName`, or `deploymentName` when it is empty.
    pub job_name: Option<String>,
}

/// Free-text inputs that end up in a request: one line, of a sane length.
const ONE_LINE: &[&str] = &[
    i::DEPLOYMENT_TARGET_NAME,
    i::SESSION_CLUSTER_NAME,
    i::ENTRY_CLASS,
    i::DISPLAY_NAME,
    i::JOB_NAME,
    i::SAVEPOINT_LOCATION,
    i::INITIAL_SAVEPOINT_PATH,
    i::SAVEPOINT_DIRECTORY,
];

fn check_entry_class(raw: &RawInputs) -> Result<()> {
    if let Some(c) = raw.get(i::ENTRY_CLASS) {
        if !c.split('.').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|ch| ch.is_alphanumeric() || ch == '_' || ch == '$')
        }) {
            return Err(
                crate::config::checks::not_a(i::ENTRY_CLASS, c, "a Java class name")
                    .with_hint("e.g. com.example.MyJob"),
            );
        }
    }
    Ok(())
}

impl JobInputs {
    pub fn from_raw(raw: &RawInputs, vars: &PipelineVars) -> Result<JobInputs> {
        let deployment_name = raw.string(i::DEPLOYMENT_NAME);
        if let Some(n) = &deployment_name {
            if !valid_resource_name(n) {
                return Err(crate::config::checks::not_a(i::DEPLOYMENT_NAME, n, "a valid deployment name")
                    .with_hint("lower-case letters, digits and hyphens, at most 63 characters, e.g. top-speed-windowing; put a human label in displayName"));
            }
        }
        for n in ONE_LINE {
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
        check_entry_class(raw)?;
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
        Ok(JobInputs {
            spec_file: raw.get(i::SPEC_FILE).map(|p| vars.resolve_path(p)),
            deployment_name: deployment_name.clone(),
            entry_class: raw.string(i::ENTRY_CLASS),
            main_args,
            parallelism: raw.number(i::PARALLELISM, 1, 100_000)?.map(|n| n as u32),
            flink_configuration,
            upgrade_strategy: raw.pick(i::UPGRADE_STRATEGY)?.map(str::to_owned),
            restore_strategy: raw.pick(i::RESTORE_STRATEGY)?.map(str::to_owned),
            savepoint_location: raw.string(i::SAVEPOINT_LOCATION),
            allow_non_restored_state: raw.boolean(i::ALLOW_NON_RESTORED_STATE)?,
            initial_savepoint_path: raw.string(i::INITIAL_SAVEPOINT_PATH),
            savepoint_directory: raw.string(i::SAVEPOINT_DIRECTORY),
            job_name: raw.string(i::JOB_NAME).or(deployment_name),
        })
    }
}
