//! The `flinkOperator` target's inputs: the resource (a spec file, or a kind and a name for the
//! actions that work on what is deployed), the inputs laid over it, and the cluster.

use super::resource::Kind;
use crate::config::checks::valid_resource_name;
use crate::config::{Action, RawInputs, Shared};
use crate::error::{Error, Result};
use crate::kube::ClusterConfig;
use crate::pipeline::inputs as i;

#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// `flinkResourceKind`; with a spec file, the file's kind decides (and must agree).
    pub(crate) kind: Option<Kind>,
    /// `sessionClusterName`: a FlinkSessionJob's `spec.deploymentName`.
    pub(crate) session_cluster: Option<String>,
    /// `None` only for a `validate` without a cluster: the resource is checked against its
    /// schema, not compared with what a cluster holds.
    pub(crate) cluster: Option<ClusterConfig>,
    /// `forceConflicts`: take over fields another field manager owns.
    pub(crate) force: bool,
}

/// Inputs of other targets that mean nothing to the operator's resources; given, they would be
/// silently ignored, so they are refused.
const NOT_HERE: &[(&str, &str)] = &[
    (i::VVP_URL, "the operator runs the job in the cluster"),
    (i::VVP_CONNECTION, "the operator runs the job in the cluster"),
    (i::VVP_SERVICE, "the operator runs the job in the cluster"),
    (i::VVP_API_TOKEN, "there is no Ververica Platform here"),
    (i::VVP_API_TOKEN_SECRET, "there is no Ververica Platform here"),
    (i::DEPLOYMENT_ID, "the resource is found by its name (deploymentName or metadata.name)"),
    (i::DEPLOYMENT_TARGET_NAME, "a FlinkDeployment is its own cluster; a FlinkSessionJob names its session cluster with sessionClusterName"),
    (i::DEPLOYMENT_TARGET_ID, "a FlinkDeployment is its own cluster; a FlinkSessionJob names its session cluster with sessionClusterName"),
    (i::DISPLAY_NAME, "the operator's resources have no display name"),
    (i::UPGRADE_STRATEGY, "the operator upgrades by spec.job.upgradeMode in the spec file"),
    (i::RESTORE_STRATEGY, "the operator restores by spec.job.upgradeMode in the spec file"),
    (i::SAVEPOINT_ID, "the operator's resources name no savepoint by id"),
    (i::SAVEPOINT_LOCATION, "start from a savepoint with initialSavepointPath"),
    (i::SAVEPOINT_DIRECTORY, "set the savepoint directory in flinkConfiguration (execution.checkpointing.savepoint-dir)"),
    (i::VVP_OPERATOR_VERSION, "it is for target ververicaOperator"),
    (i::VVP_OPERATOR_INSTANCE_ID, "it is for target ververicaOperator"),
    (i::APIKEY_SECRET_NAME, "it is for target ververicaOperator"),
    (i::FLINK_URL, "the operator reaches the job's cluster itself"),
];

fn kind(raw: &RawInputs, action: Action) -> Result<Option<Kind>> {
    let kind = raw.pick(i::FLINK_RESOURCE_KIND)?.and_then(Kind::parse);
    let file = raw.get(i::SPEC_FILE).is_some();
    if matches!(action, Action::Deploy | Action::Validate) && !file {
        return Err(Error::input(
            i::SPEC_FILE,
            format!("is required for action `{}` with target `flinkOperator`: the FlinkDeployment or FlinkSessionJob is written in it", action.as_str()),
        )
        .with_hint("a YAML file with apiVersion flink.apache.org/v1beta1, kind, metadata and spec; JARURI and ${Variable} are filled in"));
    }
    if kind.is_none() && !file {
        return Err(Error::input(
            i::FLINK_RESOURCE_KIND,
            format!(
                "is required for action `{}` without specFile: the task needs to know which resource `deploymentName` names",
                action.as_str()
            ),
        )
        .with_hint("FlinkDeployment or FlinkSessionJob"));
    }
    if !file && raw.get(i::DEPLOYMENT_NAME).is_none() {
        return Err(Error::input(
            i::DEPLOYMENT_NAME,
            format!(
                "is required for action `{}` without specFile: the resource's metadata.name",
                action.as_str()
            ),
        ));
    }
    Ok(kind)
}

impl crate::targets::FromInputs for OperatorConfig {
    fn from_raw(raw: &RawInputs, shared: &Shared<'_>) -> Result<OperatorConfig> {
        crate::targets::operator::refuse_unused(raw, "flinkOperator", NOT_HERE)?;
        let action = shared.run.action;
        let kind = kind(raw, action)?;
        let session_cluster = raw.string(i::SESSION_CLUSTER_NAME);
        if let Some(s) = &session_cluster {
            if kind == Some(Kind::Deployment) {
                return Err(Error::input(
                    i::SESSION_CLUSTER_NAME,
                    "is for a FlinkSessionJob; a FlinkDeployment is its own cluster",
                ));
            }
            if !valid_resource_name(s) {
                return Err(crate::config::checks::not_a(i::SESSION_CLUSTER_NAME, s, "a Kubernetes name")
                .with_hint("the session cluster's FlinkDeployment name: lower-case letters, digits and `-`"));
            }
        }
        let cluster = crate::targets::operator::cluster_config(
            raw,
            shared,
            "target flinkOperator applies the resource to a cluster",
        )?;
        Ok(OperatorConfig {
            kind,
            session_cluster,
            cluster,
            force: raw.boolean(i::FORCE_CONFLICTS)?,
        })
    }
}
