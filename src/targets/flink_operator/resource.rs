//! The operator's resources, `FlinkDeployment` and `FlinkSessionJob` (`flink.apache.org/v1beta1`):
//! read from the spec file as written, typed by the operator's own CRD schema, with the inputs
//! laid over it, and checked against that schema before anything is sent.
//!
//! The schemas are the CRDs of the Apache Flink Kubernetes Operator 1.15.0 in `crd/`, byte for
//! byte as published (apache/flink-kubernetes-operator, `helm/flink-kubernetes-operator/crds/`,
//! tag `release-1.15.0`); the tests' Kubernetes API fake serves the same files.
//!
//! Where the CRD says string (`flinkVersion: v1_20`, `image`, `job.args`), the text as written is
//! sent. `flinkConfiguration` is free-form in the CRD (`x-kubernetes-preserve-unknown-fields`),
//! but Flink reads every configuration value as text, so its values are sent as text too (`1.20`
//! stays `1.20`, not the number 1.2); so are labels and annotations, which Kubernetes takes only
//! as strings.

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::kube::{schema, ObjectRef};
use crate::pipeline::inputs as i;
use crate::spec::{Node, NodeKind, Origin, Schema, Ty};
use crate::targets::ververica::spec::{self as vspec, get, get_str, obj};

pub const GROUP: &str = "flink.apache.org";
pub const VERSION: &str = "v1beta1";

const CRD_DEPLOYMENT: &str = include_str!("crd/flinkdeployments.flink.apache.org-v1.yml");
const CRD_SESSION_JOB: &str = include_str!("crd/flinksessionjobs.flink.apache.org-v1.yml");

/// A spec file is a few KiB; the whole CRD is half a MiB, so this leaves room for pod templates.
const SPEC_FILE_LIMIT: u64 = 1024 * 1024;

/// Which of the operator's resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `FlinkDeployment`: an application cluster (with `spec.job`) or a session cluster.
    Deployment = 0,
    /// `FlinkSessionJob`: a job on a session cluster (`spec.deploymentName`).
    SessionJob = 1,
}

/// Each kind's name, plural and CRD.
const KINDS: [(Kind, &str, &str, &str); 2] = [
    (
        Kind::Deployment,
        "FlinkDeployment",
        "flinkdeployments",
        CRD_DEPLOYMENT,
    ),
    (
        Kind::SessionJob,
        "FlinkSessionJob",
        "flinksessionjobs",
        CRD_SESSION_JOB,
    ),
];

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        KINDS.iter().find(|k| k.1 == s).map(|k| k.0)
    }

    fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        KINDS[self.index()].1
    }

    fn plural(self) -> &'static str {
        KINDS[self.index()].2
    }

    /// The `openAPIV3Schema` of the kind's CRD, parsed once.
    pub fn schema(self) -> &'static Value {
        static CELLS: [OnceLock<Value>; 2] = [OnceLock::new(), OnceLock::new()];
        schema::shipped(&CELLS[self.index()], KINDS[self.index()].3, VERSION)
    }

    /// The schema as a type map for the spec reader, built once.
    fn types(self) -> &'static Schema {
        static CELLS: [OnceLock<Schema>; 2] = [OnceLock::new(), OnceLock::new()];
        CELLS[self.index()].get_or_init(|| Schema::from_json_schema(self.name(), self.schema()))
    }
}

/// The resource in the cluster.
pub fn object_ref(kind: Kind, namespace: &str, name: &str) -> ObjectRef {
    ObjectRef {
        group: GROUP.into(),
        version: VERSION.into(),
        plural: kind.plural().into(),
        kind: kind.name().into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}

/// `spec.job.state` as the resource asks for it (the operator's default is `running`).
pub fn job_state(cr: &Value) -> &str {
    get_str(cr, &["spec", "job", "state"]).unwrap_or("running")
}

/// `spec.job.upgradeMode` (the operator's default is `stateless`).
pub fn upgrade_mode(cr: &Value) -> &str {
    get_str(cr, &["spec", "job", "upgradeMode"]).unwrap_or("stateless")
}

/// A `FlinkDeployment` without `spec.job` is a session cluster.
pub fn is_session_cluster(kind: Kind, cr: &Value) -> bool {
    kind == Kind::Deployment && get(cr, &["spec", "job"]).is_none()
}

/// Scalars under `node` read as text: Flink's configuration and Kubernetes' labels are strings.
fn as_text(node: &mut Node) {
    match &mut node.kind {
        NodeKind::Scalar(s) if s.core != crate::spec::scalar::Core::Null => {
            s.core = crate::spec::scalar::Core::Str;
        }
        NodeKind::Scalar(_) => {}
        NodeKind::Seq(items) => items.iter_mut().for_each(as_text),
        NodeKind::Map(entries) => entries.iter_mut().for_each(|e| as_text(&mut e.value)),
    }
}

/// What the spec file is read with besides its text.
pub struct Source<'a> {
    pub path: &'a std::path::Path,
    pub jar_uri: Option<&'a str>,
    pub namespace: &'a str,
    pub vars: &'a crate::config::PipelineVars,
}

/// Read the spec file: placeholders substituted, typed by its kind's CRD schema.
pub fn read_file(src: &Source<'_>) -> Result<(Kind, Value)> {
    let bytes = crate::fsread::read_regular(src.path, SPEC_FILE_LIMIT).map_err(|e| {
        Error::input(i::SPEC_FILE, format!("`{}` {e}", src.path.display()))
            .with_hint("check the path; relative paths start at System.DefaultWorkingDirectory")
    })?;
    let file = src.path.display().to_string();
    let origin = Origin {
        input: i::SPEC_FILE,
        file: &file,
    };
    let text = crate::spec::decode(&bytes, &origin)?;
    let mut doc = crate::spec::read(&text, &origin, crate::spec::Limits::default())?;
    let kind = file_kind(&doc, &origin)?;
    let variable = |n: &str| src.vars.public(n).map(str::to_owned);
    let is_secret = |n: &str| src.vars.is_secret(n);
    let subs = vspec::Substitutions {
        deployment_target_id: None,
        jar_uri: src.jar_uri,
        variable: &variable,
        is_secret: &is_secret,
    };
    vspec::substitute(&mut doc, &subs, &origin)?;
    check_file_namespace(&doc, src.namespace, &origin)?;
    // A spec copied from the cluster carries the operator's status; it is not ours to send.
    doc.remove("status");
    for path in [
        &["spec", "flinkConfiguration"][..],
        &["metadata", "labels"],
        &["metadata", "annotations"],
    ] {
        if let Some(n) = node_at_mut(&mut doc, path) {
            as_text(n);
        }
    }
    let cr = crate::spec::typed::to_json(&doc, &Ty::over(kind.types(), Ty::silent()), &origin)?;
    Ok((kind, cr))
}

fn node_at_mut<'a>(n: &'a mut Node, path: &[&str]) -> Option<&'a mut Node> {
    path.iter().try_fold(n, |n, k| n.get_mut(k))
}

/// The file's `kind` and `apiVersion`, which decide the schema it is read with.
fn file_kind(doc: &Node, origin: &Origin) -> Result<Kind> {
    let text = |k: &str| doc.get(k).and_then(Node::scalar).map(|s| s.text.clone());
    if !matches!(doc.kind, NodeKind::Map(_)) {
        return Err(origin
            .error(
                Some(doc.mark),
                "must hold one FlinkDeployment or FlinkSessionJob",
            )
            .with_hint(
                "the file's top level is a mapping with apiVersion, kind, metadata and spec",
            ));
    }
    let kind = text("kind").unwrap_or_default();
    let k = Kind::parse(&kind).ok_or_else(|| {
        origin
            .error(
                doc.get("kind").map(|n| n.mark),
                format!("kind is `{kind}`; target flinkOperator applies a FlinkDeployment or a FlinkSessionJob"),
            )
            .with_hint("write `kind: FlinkDeployment` (application or session cluster) or `kind: FlinkSessionJob`")
    })?;
    let want = format!("{GROUP}/{VERSION}");
    match text("apiVersion") {
        Some(v) if v == want => Ok(k),
        v => Err(origin
            .error(
                doc.get("apiVersion").map(|n| n.mark),
                format!(
                    "apiVersion is `{}`; the operator serves {kind} as `{want}`",
                    v.unwrap_or_default()
                ),
            )
            .with_hint(format!("write `apiVersion: {want}`"))),
    }
}

/// `metadata.namespace` in the file must be where the task applies it.
fn check_file_namespace(doc: &Node, namespace: &str, origin: &Origin) -> Result<()> {
    let Some(n) = doc.at(&["metadata", "namespace"]) else {
        return Ok(());
    };
    match n.scalar() {
        Some(s) if s.text != namespace && s.core != crate::spec::scalar::Core::Null => Err(origin
            .error(
                Some(n.mark),
                format!(
                    "metadata.namespace is `{}`, but the task works in namespace `{namespace}`",
                    s.text
                ),
            )
            .with_hint(format!(
                "set `{}: {}`, or remove metadata.namespace from the file",
                i::NAMESPACE,
                s.text
            ))),
        _ => Ok(()),
    }
}

/// The inputs that are laid over the spec file.
#[derive(Clone, Debug, Default)]
pub struct Overlay<'a> {
    pub name: Option<&'a str>,
    pub namespace: &'a str,
    pub jar_uri: Option<&'a str>,
    pub parallelism: Option<u32>,
    pub entry_class: Option<&'a str>,
    pub args: Option<&'a [String]>,
    pub flink_configuration: Option<&'a std::collections::BTreeMap<String, String>>,
    pub initial_savepoint_path: Option<&'a str>,
    pub allow_non_restored_state: bool,
    pub session_cluster: Option<&'a str>,
}

/// Lay the inputs over the resource (they win over the file), and set its namespace.
pub fn overlay(kind: Kind, cr: &mut Value, o: &Overlay<'_>) {
    let meta = obj(cr, &["metadata"]);
    if let Some(n) = o.name {
        meta.insert("name".into(), json!(n));
    }
    meta.insert("namespace".into(), json!(o.namespace));
    if let (Kind::SessionJob, Some(s)) = (kind, o.session_cluster) {
        obj(cr, &["spec"]).insert("deploymentName".into(), json!(s));
    }
    if let Some(conf) = o.flink_configuration.filter(|c| !c.is_empty()) {
        let c = obj(cr, &["spec", "flinkConfiguration"]);
        for (k, v) in conf {
            c.insert(k.clone(), json!(v));
        }
    }
    if is_session_cluster(kind, cr) {
        return;
    }
    let job = obj(cr, &["spec", "job"]);
    if let Some(u) = o.jar_uri {
        // A file that names its jar with JARURI got it substituted; one without gets it here.
        job.entry("jarURI").or_insert_with(|| json!(u));
    }
    let mut set = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            job.insert(k.into(), v);
        }
    };
    set("parallelism", o.parallelism.map(|p| json!(p)));
    set("entryClass", o.entry_class.map(|c| json!(c)));
    set("args", o.args.map(|a| json!(a)));
    set(
        "initialSavepointPath",
        o.initial_savepoint_path.map(|p| json!(p)),
    );
    set(
        "allowNonRestoredState",
        o.allow_non_restored_state.then_some(json!(true)),
    );
}

/// The resource against its kind's schema; every violation is named.
pub fn check(cr: &Value, kind: Kind, input: &'static str) -> Result<()> {
    let name = get_str(cr, &["metadata", "name"]).unwrap_or_default();
    if !crate::config::checks::valid_resource_name(name) {
        return Err(Error::input(
            input,
            format!(
                "the {} needs metadata.name, a Kubernetes name (lower-case letters, digits and `-`); it is `{}`",
                kind.name(),
                crate::config::checks::shorten(name)
            ),
        )
        .with_hint("set metadata.name in the spec file, or deploymentName"));
    }
    if kind == Kind::SessionJob && get_str(cr, &["spec", "deploymentName"]).is_none() {
        return Err(Error::input(
            input,
            "the FlinkSessionJob needs spec.deploymentName: the session cluster (a FlinkDeployment without a job) it runs on",
        )
        .with_hint("set spec.deploymentName in the spec file, or sessionClusterName"));
    }
    if !is_session_cluster(kind, cr) && get_str(cr, &["spec", "job", "jarURI"]).is_none() {
        return Err(Error::input(
            input,
            format!("the {} has no spec.job.jarURI", kind.name()),
        )
        .with_hint("write `jarURI: JARURI` in the spec file and give artifactPath or jarUri, or write the jar's URI there"));
    }
    let Some(causes) = schema::violations(cr, kind.schema()) else {
        return Ok(());
    };
    Err(Error::input(
        input,
        format!(
            "the {} does not fit the operator's schema (Apache Flink Kubernetes Operator 1.15): {causes}",
            kind.name(),
        ),
    )
    .with_hint("the fields and values the operator's CRD allows are in its reference: https://nightlies.apache.org/flink/flink-kubernetes-operator-docs-stable/docs/custom-resource/reference/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_crds_are_the_ones_the_tests_serve() {
        assert_eq!(
            CRD_DEPLOYMENT,
            include_str!("../../../tests/fixtures/k8s/flink-kubernetes-operator-1.15.0/flinkdeployments.flink.apache.org-v1.yml")
        );
        assert_eq!(
            CRD_SESSION_JOB,
            include_str!("../../../tests/fixtures/k8s/flink-kubernetes-operator-1.15.0/flinksessionjobs.flink.apache.org-v1.yml")
        );
    }

    fn read(text: &str) -> Result<(Kind, Value)> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("job.yaml");
        std::fs::write(&p, text).unwrap();
        let vars = crate::config::PipelineVars::default();
        read_file(&Source {
            path: &p,
            jar_uri: Some("https://acct.blob.core.windows.net/jars/job-1.jar"),
            namespace: "flink",
            vars: &vars,
        })
    }

    const DEPLOYMENT: &str = "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata:\n  name: orders\n  labels: {release: 1.10}\nspec:\n  image: flink:1.20\n  flinkVersion: v1_20\n  serviceAccount: flink\n  flinkConfiguration:\n    taskmanager.numberOfTaskSlots: 2\n    pipeline.max-parallelism: 0x10\n    table.exec.mini-batch.enabled: yes\n    custom.version: 1.20\n  jobManager: {resource: {memory: 2048m, cpu: 1}}\n  taskManager: {resource: {memory: 2048m, cpu: 0.5}}\n  job:\n    jarURI: JARURI\n    parallelism: 2\n    args: [--since, 2024-01-01, 10]\n    upgradeMode: savepoint\nstatus: {lifecycleState: STABLE}\n";

    #[test]
    fn values_reach_the_operator_as_written() {
        let (kind, cr) = read(DEPLOYMENT).unwrap();
        assert_eq!(kind, Kind::Deployment);
        assert_eq!(cr["spec"]["flinkVersion"], "v1_20");
        let conf = &cr["spec"]["flinkConfiguration"];
        assert_eq!(conf["taskmanager.numberOfTaskSlots"], "2");
        assert_eq!(conf["pipeline.max-parallelism"], "0x10");
        assert_eq!(conf["table.exec.mini-batch.enabled"], "yes");
        assert_eq!(conf["custom.version"], "1.20");
        assert_eq!(cr["metadata"]["labels"]["release"], "1.10");
        assert_eq!(
            cr["spec"]["job"]["args"],
            json!(["--since", "2024-01-01", "10"])
        );
        assert_eq!(cr["spec"]["job"]["parallelism"], 2);
        assert_eq!(cr["spec"]["taskManager"]["resource"]["cpu"], 0.5);
        assert_eq!(
            cr["spec"]["job"]["jarURI"],
            "https://acct.blob.core.windows.net/jars/job-1.jar"
        );
        assert!(cr.get("status").is_none());
        check(&cr, kind, i::SPEC_FILE).unwrap();
    }

    #[test]
    fn the_wrong_kind_namespace_or_field_is_refused_with_its_place() {
        let e = read("apiVersion: v1\nkind: Deployment\n").unwrap_err();
        assert!(e.message.contains("line 2"), "{e}");
        assert!(e.message.contains("FlinkSessionJob"), "{e}");
        let e = read("apiVersion: flink.apache.org/v1\nkind: FlinkSessionJob\n").unwrap_err();
        assert!(e.message.contains("flink.apache.org/v1beta1"), "{e}");
        let e = read(&DEPLOYMENT.replace("name: orders", "name: orders\n  namespace: prod"))
            .unwrap_err();
        assert!(e.message.contains("task works in namespace `flink`"), "{e}");
        let (kind, mut cr) = read(&DEPLOYMENT.replace("v1_20", "v1_21")).unwrap();
        let e = check(&cr, kind, i::SPEC_FILE).unwrap_err();
        assert!(
            e.message
                .contains(".spec.flinkVersion: Unsupported value: \"v1_21\""),
            "{e}"
        );
        cr["spec"]["flinkVersion"] = json!("v1_20");
        cr["spec"]["job"]["upgradeMode"] = json!("last_state");
        let e = check(&cr, kind, i::SPEC_FILE).unwrap_err();
        assert!(e.message.contains(".spec.job.upgradeMode"), "{e}");
        let e = read("apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nspec:\n  job:\n    parallelism: two\n").unwrap_err();
        assert!(e.message.contains("spec.job.parallelism"), "{e}");
    }

    #[test]
    fn inputs_win_over_the_file_and_a_session_job_needs_its_cluster() {
        let (kind, mut cr) = read("apiVersion: flink.apache.org/v1beta1\nkind: FlinkSessionJob\nmetadata: {name: enrich}\nspec:\n  job: {upgradeMode: stateless}\n").unwrap();
        assert_eq!(kind, Kind::SessionJob);
        let e = check(&cr, kind, i::SPEC_FILE).unwrap_err();
        assert!(e.message.contains("spec.deploymentName"), "{e}");
        let conf = [("a.b".to_owned(), "1.0".to_owned())].into();
        overlay(
            kind,
            &mut cr,
            &Overlay {
                namespace: "flink",
                session_cluster: Some("session"),
                jar_uri: Some("https://x/j.jar"),
                parallelism: Some(3),
                flink_configuration: Some(&conf),
                ..Default::default()
            },
        );
        assert_eq!(cr["spec"]["deploymentName"], "session");
        assert_eq!(cr["spec"]["job"]["jarURI"], "https://x/j.jar");
        assert_eq!(cr["spec"]["job"]["parallelism"], 3);
        assert_eq!(cr["spec"]["flinkConfiguration"]["a.b"], "1.0");
        assert_eq!(cr["metadata"]["namespace"], "flink");
        check(&cr, kind, i::SPEC_FILE).unwrap();
        assert_eq!(job_state(&cr), "running");
        assert_eq!(upgrade_mode(&cr), "stateless");
    }
}
