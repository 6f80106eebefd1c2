//! The HDInsight on AKS target's inputs: the cluster, as Azure Resource Manager names it.

use crate::config::checks::{base_url, check_transport, parse_url, shorten, valid_uuid};
use crate::config::{Action, RawInputs, Shared};
use crate::error::{Error, Result};
use crate::pipeline::inputs as i;

#[derive(Clone, Debug)]
pub struct HdiConfig {
    pub subscription_id: String,
    pub resource_group: String,
    pub cluster_pool: String,
    pub cluster_name: String,
    pub api_version: String,
    pub arm_endpoint: String,
    /// The audience of Resource Manager tokens: the connection's
    /// `activeDirectoryServiceEndpointResourceId`, else the ARM resource of its cloud.
    pub arm_resource: String,
}

/// A name that becomes one segment of a Resource Manager path.
fn resource_name(raw: &RawInputs, name: &'static str) -> Result<String> {
    let v = raw
        .string(name)
        .ok_or_else(|| Error::input(name, "is required for target `hdinsight`"))?;
    // ARM names are short (resource groups at most 90 characters); a huge one would only fail
    // later as an unreadable request error.
    // `.` and `..` would be resolved as path steps even when percent-encoded.
    if v.contains(['/', '?', '#', '\\'])
        || matches!(v.as_str(), "." | "..")
        || v.chars().any(char::is_control)
        || v.len() > 255
    {
        return Err(crate::config::checks::not_a(name, &v, "a resource name"));
    }
    Ok(v)
}

impl crate::targets::FromInputs for HdiConfig {
    fn from_raw(raw: &RawInputs, shared: &Shared<'_>) -> Result<HdiConfig> {
        let az = shared.azure.ok_or_else(|| {
            Error::input(i::AZURE_SUBSCRIPTION, "is required for target `hdinsight`").with_hint(
                "select the Azure Resource Manager connection of the cluster's subscription",
            )
        })?;
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
                check_transport(i::HDI_ARM_ENDPOINT, &u, true, shared.allow_insecure_http)?;
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
            return Err(crate::config::checks::not_a(
                i::HDI_API_VERSION,
                &api_version,
                "an API version",
            ));
        }
        if shared.run.action != Action::Validate && shared.job.job_name.is_none() {
            return Err(Error::input(
                i::JOB_NAME,
                "is required for target `hdinsight`",
            ));
        }
        Ok(HdiConfig {
            subscription_id,
            resource_group: resource_name(raw, i::HDI_RESOURCE_GROUP)?,
            cluster_pool: resource_name(raw, i::HDI_CLUSTER_POOL)?,
            cluster_name: resource_name(raw, i::HDI_CLUSTER_NAME)?,
            api_version,
            arm_endpoint,
            arm_resource: az.cloud.arm_audience.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::env::AgentEnv;

    #[test]
    fn resource_names_are_one_path_segment() {
        for bad in [".", "..", "a/b", "a?b", "a#b", "a\\b"] {
            let raw = RawInputs::from_env(AgentEnv::from_pairs([("INPUT_HDIRESOURCEGROUP", bad)]));
            let e = resource_name(&raw, i::HDI_RESOURCE_GROUP).unwrap_err();
            assert!(e.message.contains("is not a resource name"), "{bad}: {e}");
        }
        let raw = RawInputs::from_env(AgentEnv::from_pairs([("INPUT_HDIRESOURCEGROUP", "rg.1")]));
        assert_eq!(resource_name(&raw, i::HDI_RESOURCE_GROUP).unwrap(), "rg.1");
    }
}
