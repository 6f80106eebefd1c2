//! The `ververicaOperator` target's inputs: the deployment as the Ververica target reads it
//! (spec file, inputs), which operator generation reads the resource, and the cluster.

use super::resource::Generation;
use crate::config::{RawInputs, Shared};
use crate::error::{Error, Result};
use crate::kube::ClusterConfig;
use crate::pipeline::inputs as i;
use crate::targets::ververica::VvpConfig;

/// The deployment as the Ververica target reads it (without a platform to reach: the operator
/// reaches it), which operator reads the resource, and where and how it is applied.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    pub(crate) vvp: VvpConfig,
    pub(crate) generation: Generation,
    /// 3.x: the operator's `instanceId`, the value of the label the operator's webhook checks.
    pub(crate) instance_id: Option<String>,
    /// `None` only for a `validate` without a cluster: the resource is checked against its
    /// schema, not compared with what a cluster holds.
    pub(crate) cluster: Option<ClusterConfig>,
    /// `forceConflicts`: take over fields another field manager owns.
    pub(crate) force: bool,
}

/// Inputs of the Ververica target that have no meaning here: the operator reaches the platform
/// itself, with the token in the secret `apikeySecretName` names.
const NOT_HERE: &[(&str, &str)] = &[
    (i::VVP_URL, "the operator reaches Ververica Platform itself"),
    (
        i::VVP_CONNECTION,
        "the operator reaches Ververica Platform itself",
    ),
    (
        i::VVP_SERVICE,
        "the operator reaches Ververica Platform itself",
    ),
    (
        i::VVP_API_TOKEN,
        "the operator reads the API token from the Kubernetes secret named by apikeySecretName",
    ),
    (
        i::VVP_API_TOKEN_SECRET,
        "the operator reads the API token from the Kubernetes secret named by apikeySecretName",
    ),
    (
        i::DEPLOYMENT_ID,
        "the operator finds the deployment by name (deploymentName or metadata.name)",
    ),
    (
        i::SAVEPOINT_ID,
        "the operator's resource names no savepoint by id",
    ),
];

/// A Kubernetes label value: at most 63 characters, alphanumerics with `-`, `_`, `.` inside.
fn label_value_ok(v: &str) -> bool {
    let b = v.as_bytes();
    !v.is_empty()
        && v.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn generation(raw: &RawInputs) -> Result<(Generation, Option<String>)> {
    let g = match raw.pick(i::VVP_OPERATOR_VERSION)? {
        Some("2") => Generation::V2,
        Some("3") => Generation::V3,
        _ => {
            return Err(Error::input(
                i::VVP_OPERATOR_VERSION,
                "is required for target `ververicaOperator`: the 2.x and 3.x operators read resources that are not compatible",
            )
            .with_hint("2 for Ververica Platform 2.x (seed 002's resource), 3 for Ververica Platform 3.1 and later"))
        }
    };
    let instance = raw.string(i::VVP_OPERATOR_INSTANCE_ID);
    match (g, &instance) {
        (Generation::V2, Some(_)) => Err(Error::input(
            i::VVP_OPERATOR_INSTANCE_ID,
            "is only for vvpOperatorVersion 3: the 2.x operator selects resources by namespace, not by label",
        )),
        (Generation::V3, None) => Err(Error::input(
            i::VVP_OPERATOR_INSTANCE_ID,
            "is required with vvpOperatorVersion 3: the operator's webhook refuses a VvpDeployment whose label ververica.platform/owner is not its instanceId",
        )
        .with_hint("the operator's Helm value vvp-k8s-operator.instanceId")),
        (Generation::V3, Some(v)) if !label_value_ok(v) => Err(crate::config::checks::not_a(i::VVP_OPERATOR_INSTANCE_ID, v, "a Kubernetes label value")
        .with_hint("at most 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit")),
        _ => Ok((g, instance)),
    }
}

impl crate::targets::FromInputs for OperatorConfig {
    fn from_raw(raw: &RawInputs, shared: &Shared<'_>) -> Result<OperatorConfig> {
        crate::targets::operator::refuse_unused(raw, "ververicaOperator", NOT_HERE)?;
        let (generation, instance_id) = generation(raw)?;
        let vvp = VvpConfig::without_platform(raw, shared)?;
        let cluster = crate::targets::operator::cluster_config(
            raw,
            shared,
            "target ververicaOperator applies the VvpDeployment to a cluster",
        )?;
        Ok(OperatorConfig {
            vvp,
            generation,
            instance_id,
            cluster,
            force: raw.boolean(i::FORCE_CONFLICTS)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values() {
        for ok in ["vvp-main", "a", "op_1.x"] {
            assert!(super::label_value_ok(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a b", &"x".repeat(64)] {
            assert!(!super::label_value_ok(bad), "{bad}");
        }
    }
}
