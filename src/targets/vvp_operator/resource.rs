//! The `VvpDeployment` resource of each operator generation, built from the rendered
//! Ververica Platform Deployment and checked against its schema before anything is sent.
//!
//! 2.x (seed 002): `spec.deployment.userMetadata`, `initialSavepointSpec`; built by
//! [`crate::targets::ververica::custom_resource::build`], the same resource
//! `renderCustomResource` writes. 3.x (Ververica Platform 3.1+, "custom resource reference"):
//! not compatible with 2.x: `spec.deployment.metadata` instead of `userMetadata`, the
//! `ververica.platform/owner` label the operator's admission webhook requires (its
//! `instanceId`), `syncingMode` required, `initFields` only at creation, and `savepointNonce` /
//! `restartNonce`, which this task leaves to whoever sets them.
//!
//! The schemas are the CRDs in `crd/` (reconstructed from Ververica's documentation; each file
//! names its sources and assumptions): the same files the tests' Kubernetes API fake serves.

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::kube::{schema, ObjectRef};
use crate::pipeline::inputs as i;
use crate::targets::ververica::custom_resource;
use crate::targets::ververica::spec::get_str;
use crate::targets::ververica::SyncingMode;

pub const GROUP: &str = "ververica.platform";
pub const VERSION: &str = "v1";
pub const PLURAL: &str = "vvpdeployments";
pub const KIND: &str = "VvpDeployment";
/// The label the 3.x operator's webhook requires: its `instanceId`.
pub const OWNER_LABEL: &str = "ververica.platform/owner";

const CRD_2: &str = include_str!("crd/vvp2-vvpdeployment.crd.yaml");
const CRD_3: &str = include_str!("crd/vvp3-vvpdeployment.crd.yaml");

/// Which operator reads the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// Ververica Platform 2.x.
    V2,
    /// Ververica Platform 3.1 and later.
    V3,
}

impl Generation {
    pub fn label(self) -> &'static str {
        match self {
            Generation::V2 => "Ververica Platform 2.x",
            Generation::V3 => "Ververica Platform 3.x",
        }
    }

    /// The `openAPIV3Schema` of the generation's CRD.
    pub fn schema(self) -> &'static Value {
        static S2: OnceLock<Value> = OnceLock::new();
        static S3: OnceLock<Value> = OnceLock::new();
        let (cell, text) = match self {
            Generation::V2 => (&S2, CRD_2),
            Generation::V3 => (&S3, CRD_3),
        };
        schema::shipped(cell, text, VERSION)
    }
}

/// The resource in the cluster.
pub fn object_ref(namespace: &str, name: &str) -> ObjectRef {
    ObjectRef {
        group: GROUP.into(),
        version: VERSION.into(),
        plural: PLURAL.into(),
        kind: KIND.into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}

/// What the resource needs beyond the rendered Deployment.
pub struct Inputs<'a> {
    pub generation: Generation,
    /// The Kubernetes namespace of the resource.
    pub namespace: &'a str,
    pub syncing_mode: SyncingMode,
    pub apikey_secret_name: Option<&'a str>,
    /// 3.x: the operator's `instanceId`.
    pub instance_id: Option<&'a str>,
    pub initial_savepoint: Option<&'a str>,
    /// `initFields` of the spec file, in seed 002's shape (`userMetadata`, `spec`).
    pub init_fields: Option<&'a Value>,
}

/// Build the resource; returns it with warnings worth printing.
pub fn build(deployment: &Value, inp: &Inputs) -> Result<(Value, Vec<String>)> {
    let cr_inputs = custom_resource::Inputs {
        syncing_mode: inp.syncing_mode,
        apikey_secret_name: inp.apikey_secret_name,
        initial_savepoint: inp.initial_savepoint,
        init_fields: inp.init_fields,
    };
    // The 2.x resource checks what every generation needs (a name, a deployment target or
    // session cluster, a jar), so it is built first either way.
    let (v2, warnings) = custom_resource::build(deployment, &cr_inputs).map_err(|mut e| {
        e.message = e
            .message
            .replace("for `renderCustomResource`", "for the VvpDeployment");
        e
    })?;
    let mut cr = match inp.generation {
        Generation::V2 => v2,
        Generation::V3 => v3_from(&v2, inp)?,
    };
    crate::targets::ververica::spec::obj(&mut cr, &["metadata"])
        .insert("namespace".into(), json!(inp.namespace));
    Ok((cr, warnings))
}

/// The 3.x shape of a 2.x resource: `userMetadata` becomes `metadata`, the owner label is set,
/// `initialSavepointSpec` has no place.
fn v3_from(v2: &Value, inp: &Inputs) -> Result<Value> {
    if inp.initial_savepoint.is_some() {
        return Err(Error::input(
            i::SAVEPOINT_LOCATION,
            "cannot be used with vvpOperatorVersion 3: the 3.x VvpDeployment has no initialSavepointSpec",
        )
        .with_hint("start the deployment from the savepoint in Ververica Platform, or use the ververica target"));
    }
    let instance = inp.instance_id.ok_or_else(|| {
        Error::input(
            i::VVP_OPERATOR_INSTANCE_ID,
            "is required with vvpOperatorVersion 3: the operator's webhook refuses a VvpDeployment without its instanceId in the label ververica.platform/owner",
        )
    })?;
    let mut cr = v2.clone();
    let spec = cr["spec"]
        .as_object_mut()
        .expect("the 2.x resource has a spec");
    let mut dep = spec
        .remove("deployment")
        .and_then(|d| d.as_object().cloned())
        .unwrap_or_default();
    if let Some(m) = dep.remove("userMetadata") {
        dep.insert("metadata".into(), m);
    }
    spec.insert("deployment".into(), Value::Object(reorder(dep)));
    if let Some(Value::Object(mut init)) = spec.remove("initFields") {
        if let Some(m) = init.remove("userMetadata") {
            init.insert("metadata".into(), m);
        }
        spec.insert("initFields".into(), Value::Object(init));
    }
    let meta = crate::targets::ververica::spec::obj(&mut cr, &["metadata"]);
    let labels = meta
        .entry("labels")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("labels is an object");
    labels.insert(OWNER_LABEL.into(), json!(instance));
    Ok(cr)
}

/// `metadata` before `spec`, as the documentation writes it.
fn reorder(mut dep: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for k in ["metadata", "spec"] {
        if let Some(v) = dep.remove(k) {
            out.insert(k.into(), v);
        }
    }
    out.extend(dep);
    out
}

/// The resource against its generation's schema; every violation is named.
pub fn check(cr: &Value, generation: Generation, input: &'static str) -> Result<()> {
    let Some(causes) = schema::violations(cr, generation.schema()) else {
        return Ok(());
    };
    Err(Error::input(
        input,
        format!(
            "the VvpDeployment does not fit the {} resource: {causes}",
            generation.label(),
        ),
    )
    .with_hint(match generation {
        Generation::V2 => "the 2.x operator reads seed 002's resource; for Ververica Platform 3.1+ set vvpOperatorVersion: 3",
        Generation::V3 => "the 3.x operator reads the 3.x resource; for Ververica Platform 2.x set vvpOperatorVersion: 2",
    }))
}

/// The target state the resource asks for.
pub fn wanted_state(cr: &Value) -> String {
    get_str(cr, &["spec", "deployment", "spec", "state"])
        .unwrap_or("RUNNING")
        .to_owned()
}

/// The resource as applied, without what the API server and the operator own: for the diff,
/// and as the version a rollback applies again.
pub fn applied_part(cr: &Value) -> Value {
    crate::kube::applied_part(cr, &format!("{GROUP}/{VERSION}"), KIND)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({"kind": "Deployment", "apiVersion": "v1",
            "metadata": {"name": "orders", "namespace": "default", "displayName": "Orders", "labels": {"team": "data"}},
            "spec": {"state": "RUNNING", "deploymentTargetName": "vvp-jobs",
                     "template": {"spec": {"artifact": {"kind": "JAR", "jarUri": "s3://jars/orders-1.jar"}, "parallelism": 2}}}})
    }

    fn inputs(generation: Generation) -> Inputs<'static> {
        Inputs {
            generation,
            namespace: "flink",
            syncing_mode: SyncingMode::Patch,
            apikey_secret_name: Some("vvp-token"),
            instance_id: Some("vvp-main"),
            initial_savepoint: None,
            init_fields: None,
        }
    }

    #[test]
    fn both_generations_fit_their_own_schema_and_not_the_other() {
        let (v2, _) = build(&deployment(), &inputs(Generation::V2)).unwrap();
        let (v3, _) = build(&deployment(), &inputs(Generation::V3)).unwrap();
        assert_eq!(v2["metadata"]["namespace"], "flink");
        assert_eq!(
            v2["spec"]["deployment"]["userMetadata"]["displayName"],
            "Orders"
        );
        assert_eq!(v3["metadata"]["labels"][OWNER_LABEL], "vvp-main");
        assert_eq!(
            v3["metadata"]["annotations"]["apikeySecretName"],
            "vvp-token"
        );
        assert_eq!(v3["spec"]["deployment"]["metadata"]["name"], "orders");
        assert!(v3["spec"]["deployment"].get("userMetadata").is_none());
        check(&v2, Generation::V2, "specFile").unwrap();
        check(&v3, Generation::V3, "specFile").unwrap();
        let e = check(&v3, Generation::V2, "specFile").unwrap_err();
        assert!(
            e.message
                .contains(".spec.deployment.userMetadata: Required value"),
            "{e}"
        );
        assert!(e.hint.unwrap().contains("vvpOperatorVersion: 3"));
        let e = check(&v2, Generation::V3, "specFile").unwrap_err();
        assert!(
            e.message
                .contains(".spec.deployment.metadata: Required value"),
            "{e}"
        );
    }

    #[test]
    fn the_3x_resource_needs_the_owner_and_has_no_initial_savepoint() {
        let mut inp = inputs(Generation::V3);
        inp.instance_id = None;
        let e = build(&deployment(), &inp).unwrap_err();
        assert!(e.message.contains("`vvpOperatorInstanceId`"), "{e}");
        let mut inp = inputs(Generation::V3);
        inp.initial_savepoint = Some("s3://sp/1");
        assert!(build(&deployment(), &inp)
            .unwrap_err()
            .message
            .contains("initialSavepointSpec"));
        let init =
            json!({"userMetadata": {"displayName": "x"}, "spec": {"maxJobCreationAttempts": 7}});
        let mut inp = inputs(Generation::V3);
        inp.init_fields = Some(&init);
        let (cr, _) = build(&deployment(), &inp).unwrap();
        assert_eq!(cr["spec"]["initFields"]["metadata"]["displayName"], "x");
        assert_eq!(
            cr["spec"]["initFields"]["spec"]["maxJobCreationAttempts"],
            7
        );
    }

    #[test]
    fn a_schema_violation_names_the_field() {
        let mut d = deployment();
        d["spec"]["state"] = json!("STARTED");
        let (cr, _) = build(&d, &inputs(Generation::V2)).unwrap();
        let e = check(&cr, Generation::V2, "specFile").unwrap_err();
        assert!(e.message.contains("input `specFile`"), "{e}");
        assert!(
            e.message
                .contains(".spec.deployment.spec.state: Unsupported value: \"STARTED\""),
            "{e}"
        );
    }

    #[test]
    fn the_shipped_crds_are_the_ones_the_tests_serve() {
        assert_eq!(
            CRD_2,
            include_str!("../../../tests/fixtures/k8s/vvp/vvp2-vvpdeployment.crd.yaml")
        );
        assert_eq!(
            CRD_3,
            include_str!("../../../tests/fixtures/k8s/vvp/vvp3-vvpdeployment.crd.yaml")
        );
    }

    #[test]
    fn what_is_applied_leaves_out_what_others_own() {
        let live = json!({"apiVersion": "ververica.platform/v1", "kind": "VvpDeployment",
            "metadata": {"name": "orders", "namespace": "flink", "uid": "u", "resourceVersion": "7", "generation": 3,
                         "managedFields": [], "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"syncingMode": "PATCH"}, "status": {"x": 1}});
        assert_eq!(
            applied_part(&live),
            json!({"apiVersion": "ververica.platform/v1", "kind": "VvpDeployment",
                   "metadata": {"name": "orders", "namespace": "flink"}, "spec": {"syncingMode": "PATCH"}})
        );
    }
}
