//! The Ververica Platform operator's `VvpDeployment` resource (seed 002), for GitOps users who
//! let the operator apply the deployment instead of this task.
//!
//! The schema seed 002 publishes requires `deployment.userMetadata.displayName`, one of
//! `deploymentTargetName`/`sessionClusterName`, and `template.spec.artifact`; those are checked
//! here so the task fails before it writes a resource the operator would reject.

use serde_json::{json, Map, Value};

use super::spec::{get, get_str};
use super::SyncingMode;
use crate::error::{Error, Result};
use crate::pipeline::inputs as i;

pub const API_VERSION: &str = "ververica.platform/v1";

/// The keys the operator keeps in `userMetadata` (seed 002: "invalid keys will be erased").
const USER_METADATA_KEYS: &[&str] = &["name", "namespace", "displayName", "labels", "annotations"];

pub struct Inputs<'a> {
    pub syncing_mode: SyncingMode,
    pub apikey_secret_name: Option<&'a str>,
    /// `savepointLocation` or `initialSavepointPath`: becomes `initialSavepointSpec`.
    pub initial_savepoint: Option<&'a str>,
    /// `initFields` from the spec file (PATCH mode only).
    pub init_fields: Option<&'a Value>,
}

/// Build the resource from the rendered Deployment. Returns it with warnings worth printing.
pub fn build(deployment: &Value, inp: &Inputs) -> Result<(Value, Vec<String>)> {
    let mut warnings = vec![];
    let name = get_str(deployment, &["metadata", "name"]).ok_or_else(|| {
        Error::input(
            i::DEPLOYMENT_NAME,
            "is required for `renderCustomResource`: the operator finds the deployment by name",
        )
        .with_hint("set deploymentName or metadata.name in the spec file")
    })?;
    let spec = get(deployment, &["spec"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    if get_str(&spec, &["deploymentTargetName"]).is_none()
        && get_str(&spec, &["sessionClusterName"]).is_none()
    {
        return Err(Error::input(
            i::DEPLOYMENT_TARGET_NAME,
            "is required for `renderCustomResource`: the operator's VvpDeployment names its deployment target (or session cluster) by name",
        )
        .with_hint("set deploymentTargetName (a deploymentTargetId alone is not accepted by the operator), or sessionClusterName"));
    }
    let artifact = get(&spec, &["template", "spec", "artifact"]);
    let artifact_ok = artifact.is_some_and(|a| {
        let kind = a.get("kind").and_then(Value::as_str).unwrap_or("");
        (kind == "JAR" && a.get("jarUri").is_some_and(Value::is_string))
            || (kind == "PYTHON" && a.get("pythonArtifactUri").is_some_and(Value::is_string))
            || (kind.eq_ignore_ascii_case("sqlscript")
                && a.get("sqlScript").is_some_and(Value::is_string))
    });
    if !artifact_ok {
        return Err(Error::input(
            i::JAR_URI,
            "is required for `renderCustomResource`: spec.template.spec.artifact needs `kind: JAR` and a `jarUri`",
        )
        .with_hint("give jarUri (the operator does not upload jars), or set the artifact in the spec file"));
    }

    let mut user = Map::new();
    if let Some(Value::Object(meta)) = deployment.get("metadata") {
        for k in USER_METADATA_KEYS {
            if let Some(v) = meta.get(*k) {
                user.insert((*k).to_owned(), v.clone());
            }
        }
    }
    if let Some(Value::Object(ann)) = user.get_mut("annotations") {
        ann.retain(|k, _| !k.starts_with("com.dataartisans.appmanager.controller."));
    }
    user.entry("displayName").or_insert_with(|| json!(name));

    let mut cr_spec = Map::new();
    cr_spec.insert(
        "syncingMode".into(),
        json!(match inp.syncing_mode {
            SyncingMode::Patch => "PATCH",
            SyncingMode::Put => "PUT",
        }),
    );
    if let Some(loc) = inp.initial_savepoint {
        cr_spec.insert(
            "initialSavepointSpec".into(),
            json!({ "savepointLocation": loc }),
        );
        // Seed 002: the operator uses the initial savepoint only for a new deployment that is
        // created CANCELLED with a restore strategy other than NONE.
        if get_str(&spec, &["state"]) != Some("CANCELLED") {
            warnings.push("initialSavepointSpec is used only when the deployment is created with state CANCELLED; the operator will ignore it".to_owned());
        }
        if get_str(&spec, &["restoreStrategy", "kind"]) == Some("NONE") {
            warnings.push("initialSavepointSpec is ignored with restoreStrategy NONE".to_owned());
        }
    }
    cr_spec.insert(
        "deployment".into(),
        json!({ "userMetadata": Value::Object(user), "spec": spec }),
    );
    if let Some(init) = inp.init_fields {
        if inp.syncing_mode == SyncingMode::Put {
            return Err(Error::input(
                i::SYNCING_MODE,
                "`PUT` cannot be used with `initFields` in the spec file: the operator supports initFields only in PATCH mode",
            )
            .with_hint("use syncingMode PATCH, or remove initFields"));
        }
        cr_spec.insert("initFields".into(), init.clone());
    }

    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    if let Some(secret) = inp.apikey_secret_name {
        metadata.insert("annotations".into(), json!({ "apikeySecretName": secret }));
    }
    let cr = json!({
        "apiVersion": API_VERSION,
        "kind": "VvpDeployment",
        "metadata": Value::Object(metadata),
        "spec": Value::Object(cr_spec),
    });
    Ok((cr, warnings))
}

/// `renderCustomResource`: the rendered deployment as the operator's resource, written to
/// `customResourcePath` for GitOps.
pub struct CrPlan {
    resource: Value,
    desired: Value,
    path: std::path::PathBuf,
}

pub async fn plan(
    t: &super::Ververica,
    cx: &mut crate::targets::Context<'_>,
) -> Result<Box<dyn crate::targets::Plan>> {
    let (run, vars) = (cx.run.clone(), cx.vars.clone());
    let cfg = t.settings(&run, &vars);
    let r = super::deploy::render(cfg, cx)?;
    let (resource, warnings) = build(&r.desired, &super::cr_inputs(cfg, r.init_fields.as_ref()))?;
    for w in warnings {
        cx.rec.warn(&w);
    }
    let path = cfg.own.custom_resource_path.clone().ok_or_else(|| {
        Error::input(
            i::CUSTOM_RESOURCE_PATH,
            "is required for action `renderCustomResource`",
        )
    })?;
    // The configuration compared the paths as written; a link or a second name for the spec
    // file or the jar is only seen on the file system.
    let reads = [
        (i::SPEC_FILE, cfg.job.spec_file.clone()),
        (i::ARTIFACT_PATH, cx.artifact.local.clone()),
    ];
    for (input, read) in reads {
        if let Some(read) = read.filter(|r| crate::fsread::same_file(r, &path)) {
            return Err(Error::input(
                i::CUSTOM_RESOURCE_PATH,
                format!(
                    "`{}` is the same file as `{}` ({input}); the run would write over it",
                    path.display(),
                    read.display()
                ),
            )
            .with_hint(format!(
                "give `{}` a file of its own",
                i::CUSTOM_RESOURCE_PATH
            )));
        }
    }
    Ok(Box::new(CrPlan {
        resource,
        desired: r.desired,
        path,
    }))
}

#[async_trait::async_trait(?Send)]
impl crate::targets::Plan for CrPlan {
    fn describe(&self) -> Vec<String> {
        vec![format!(
            "write the operator's VvpDeployment `{}` ({} mode) to {}",
            get_str(&self.resource, &["metadata", "name"]).unwrap_or("?"),
            get_str(&self.resource, &["spec", "syncingMode"]).unwrap_or("?"),
            self.path.display()
        )]
    }

    async fn apply(self: Box<Self>, cx: &mut crate::targets::Context<'_>) -> Result<()> {
        let rec = &mut *cx.rec;
        let yaml = super::spec::to_yaml(&self.resource);
        rec.begin("render custom resource");
        let r = super::write_file(&self.path, &yaml);
        rec.end(r)?;
        // A large spec is printed once, in the rendered deployment spec the resource carries.
        let large = yaml.len() > super::spec::LARGE_TEXT;
        if !large {
            rec.group("VvpDeployment", &yaml);
        }
        rec.log(&format!(
            "wrote the VvpDeployment to {}{}",
            self.path.display(),
            if large {
                format!(" ({})", super::spec::digest(&yaml))
            } else {
                String::new()
            }
        ));
        if let Some(n) = get_str(&self.resource, &["metadata", "name"]) {
            rec.output("deploymentName", n);
        }
        if let Some(u) = get_str(
            &self.desired,
            &["spec", "template", "spec", "artifact", "jarUri"],
        ) {
            rec.output("jarUri", u);
        }
        rec.summary.heading(4, "VvpDeployment");
        if large {
            rec.summary.paragraph(&format!(
                "Written to `{}` ({}).",
                self.path.display(),
                super::spec::digest(&yaml)
            ));
        } else {
            rec.summary
                .details(&self.path.display().to_string(), "yaml", &yaml);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({
            "kind": "Deployment", "apiVersion": "v1",
            "metadata": {"name": "test-cr", "namespace": "default", "labels": {"env": "ci"},
                          "annotations": {"com.dataartisans.appmanager.controller.deployment.spec.version": "4", "team": "data"}},
            "spec": {"state": "CANCELLED", "deploymentTargetName": "test-target", "maxJobCreationAttempts": 99,
                     "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "file:///flink/examples/streaming/TopSpeedWindowing.jar"}}}}
        })
    }

    fn inputs() -> Inputs<'static> {
        Inputs {
            syncing_mode: SyncingMode::Patch,
            apikey_secret_name: None,
            initial_savepoint: None,
            init_fields: None,
        }
    }

    #[test]
    fn seed_002_example_shape() {
        let init = json!({"userMetadata": {"displayName": "abc"}, "spec": {"maxSavepointCreationAttempts": 999}});
        let (cr, warnings) = build(
            &deployment(),
            &Inputs {
                apikey_secret_name: Some("example-secret-name"),
                initial_savepoint: Some("s3://bucket/path/to/savepoint-abc123"),
                init_fields: Some(&init),
                ..inputs()
            },
        )
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(cr["apiVersion"], "ververica.platform/v1");
        assert_eq!(cr["kind"], "VvpDeployment");
        assert_eq!(cr["metadata"]["name"], "test-cr");
        assert_eq!(
            cr["metadata"]["annotations"]["apikeySecretName"],
            "example-secret-name"
        );
        assert_eq!(cr["spec"]["syncingMode"], "PATCH");
        assert_eq!(
            cr["spec"]["initialSavepointSpec"]["savepointLocation"],
            "s3://bucket/path/to/savepoint-abc123"
        );
        let user = &cr["spec"]["deployment"]["userMetadata"];
        assert_eq!(user["name"], "test-cr");
        assert_eq!(user["namespace"], "default");
        assert_eq!(user["displayName"], "test-cr");
        assert_eq!(user["annotations"], json!({"team": "data"}));
        assert_eq!(
            cr["spec"]["deployment"]["spec"]["deploymentTargetName"],
            "test-target"
        );
        assert_eq!(cr["spec"]["initFields"], init);
    }

    #[test]
    fn what_the_operator_would_reject_is_an_input_error() {
        let mut d = deployment();
        d["spec"]
            .as_object_mut()
            .unwrap()
            .remove("deploymentTargetName");
        d["spec"]["deploymentTargetId"] = json!("6232cc84-7aa3-4524-b3a8-36cab7203c47");
        let e = build(&d, &inputs()).unwrap_err();
        assert!(e.message.contains("`deploymentTargetName`"), "{e}");

        let mut d = deployment();
        d["spec"]["template"]["spec"]["artifact"]
            .as_object_mut()
            .unwrap()
            .remove("jarUri");
        assert!(build(&d, &inputs())
            .unwrap_err()
            .message
            .contains("`jarUri`"));

        let init = json!({"spec": {}});
        let e = build(
            &deployment(),
            &Inputs {
                syncing_mode: SyncingMode::Put,
                init_fields: Some(&init),
                ..inputs()
            },
        )
        .unwrap_err();
        assert!(e.message.contains("`syncingMode`"), "{e}");
    }

    #[test]
    fn initial_savepoint_conditions_are_warned_about() {
        let mut d = deployment();
        d["spec"]["state"] = json!("RUNNING");
        let (_, w) = build(
            &d,
            &Inputs {
                initial_savepoint: Some("s3://b/sp"),
                ..inputs()
            },
        )
        .unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("CANCELLED"));
    }
}
