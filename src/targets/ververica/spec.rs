//! The Deployment spec: loaded from the spec file (YAML or JSON), placeholders substituted,
//! inputs laid over it structurally. Fields we do not know pass through untouched, since VVP
//! versions differ. Pure functions over `serde_json::Value`; the file read is the caller's.

use serde_json::{json, Map, Value};

use super::{Cfg, Restart};
use crate::config::Action;
use crate::error::{Error, Result};
use crate::pipeline::inputs as i;

/// Seed 000's placeholders and the input that fills each.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("DEPLOYMENTTARGETID", i::DEPLOYMENT_TARGET_ID),
    ("JARURI", "artifactPath` or `jarUri"),
];

/// Parse a spec file. YAML is a superset of JSON, but JSON files get JSON's error messages.
pub fn parse(text: &str, origin: &str) -> Result<Value> {
    let trimmed = text.trim_start();
    let v: Value = if trimmed.starts_with('{') {
        serde_json::from_str(text)
            .map_err(|e| Error::input(i::SPEC_FILE, format!("{origin} is not valid JSON: {e}")))?
    } else {
        serde_yaml_ng::from_str(text)
            .map_err(|e| Error::input(i::SPEC_FILE, format!("{origin} is not valid YAML: {e}")))?
    };
    match v {
        Value::Object(_) => Ok(v),
        Value::Null => Ok(json!({})),
        _ => Err(Error::input(
            i::SPEC_FILE,
            format!("{origin} must hold a Deployment object (kind, metadata, spec)"),
        )),
    }
}

/// Values for placeholders and `${NAME}` references.
pub struct Substitutions<'a> {
    pub deployment_target_id: Option<&'a str>,
    pub jar_uri: Option<&'a str>,
    /// Public pipeline variables by name (`Build.SourceVersion` or `BUILD_SOURCEVERSION`).
    pub variable: &'a dyn Fn(&str) -> Option<String>,
    /// Whether a name is a secret variable: those are never substituted, and the error says so.
    pub is_secret: &'a dyn Fn(&str) -> bool,
}

fn substitute_str(s: &str, subs: &Substitutions, path: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(lit) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = lit;
        } else if let Some(body) = after.strip_prefix("${") {
            let Some(end) = body.find('}') else {
                return Err(Error::input(
                    i::SPEC_FILE,
                    format!("unclosed `${{` in `{path}`"),
                ));
            };
            let name = &body[..end];
            let value = (subs.variable)(name).ok_or_else(|| {
                if (subs.is_secret)(name) {
                    // The rendered spec is printed in the log, the diff and the summary.
                    Error::input(
                        i::SPEC_FILE,
                        format!("placeholder `${{{name}}}` in `{path}` names a secret variable; secrets are not put into the spec file's text"),
                    )
                    .with_hint(format!(
                        "pass it through an input instead, e.g. `flinkConfiguration` or `mainArgs` with `$({name})`: the task sends it to the platform and masks it in its reports"
                    ))
                } else {
                    Error::input(
                        i::SPEC_FILE,
                        format!("placeholder `${{{name}}}` in `{path}` has no value"),
                    )
                    .with_hint(format!(
                        "define the pipeline variable `{name}`, or write `$${{{name}}}` for a literal"
                    ))
                }
            })?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    for (ph, input) in PLACEHOLDERS {
        if out.contains(ph) {
            let value = match *ph {
                "DEPLOYMENTTARGETID" => subs.deployment_target_id,
                _ => subs.jar_uri,
            };
            match value {
                Some(v) => out = out.replace(ph, v),
                None => {
                    return Err(Error::input(
                        i::SPEC_FILE,
                        format!("placeholder `{ph}` in `{path}` has no value"),
                    )
                    .with_hint(format!("set `{input}`")))
                }
            }
        }
    }
    Ok(out)
}

/// Substitute in every string (keys stay as written).
pub fn substitute(v: &mut Value, subs: &Substitutions, path: &str) -> Result<()> {
    match v {
        Value::String(s) => *s = substitute_str(s, subs, path)?,
        Value::Array(a) => {
            for (n, x) in a.iter_mut().enumerate() {
                substitute(x, subs, &format!("{path}[{n}]"))?;
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                substitute(x, subs, &p)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The object at `path`, created (or replaced when not an object) on the way.
pub fn obj<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    let mut cur = v;
    for key in path {
        if !cur.is_object() {
            *cur = json!({});
        }
        cur = cur
            .as_object_mut()
            .expect("object")
            .entry(key.to_string())
            .or_insert_with(|| json!({}));
    }
    if !cur.is_object() {
        *cur = json!({});
    }
    cur.as_object_mut().expect("object")
}

pub fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(k))
}

pub fn get_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

/// Quote program arguments back into VVP's single `mainArgs` string.
pub fn join_args(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && !a
                    .chars()
                    .any(|c| c.is_whitespace() || "'\"\\$`".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Append `commit=<rev>` to a jar URI so VVP sees a changed template (seed 000's trick).
pub fn with_commit(uri: &str, rev: &str) -> String {
    with_query(uri, "commit", rev)
}

/// Set `key=value` in a jar URI's query, replacing an earlier value of `key`. Ververica Platform
/// ignores the query when it fetches from Blob Storage (seed 000), but compares it in the
/// template, so a changed value is a changed template.
pub fn with_query(uri: &str, key: &str, value: &str) -> String {
    let (base, query) = match uri.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (uri, None),
    };
    let prefix = format!("{key}=");
    let kept: Vec<&str> = query
        .map(|q| {
            q.split('&')
                .filter(|p| !p.starts_with(&prefix) && !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut params = kept.join("&");
    if !params.is_empty() {
        params.push('&');
    }
    format!("{base}?{params}{key}={value}")
}

/// Render the final Deployment: the spec file (if any) with inputs laid over it.
pub fn render(cfg: Cfg<'_>, file_spec: Option<Value>, jar_uri: Option<&str>) -> Result<Value> {
    let mut d = file_spec.unwrap_or_else(|| json!({}));
    let root = d.as_object_mut().expect("spec is an object");
    root.entry("kind").or_insert_with(|| json!("Deployment"));
    root.entry("apiVersion").or_insert_with(|| json!("v1"));
    render_metadata(cfg, &mut d);
    render_mode_and_state(cfg, &mut d);
    render_template(cfg, &mut d, jar_uri);
    if cfg.own.restart == Restart::Always {
        force_restart(cfg, &mut d);
    }
    check(&d)?;
    Ok(d)
}

fn render_metadata(cfg: Cfg<'_>, d: &mut Value) {
    let meta = obj(d, &["metadata"]);
    if let Some(n) = &cfg.job.deployment_name {
        meta.insert("name".into(), json!(n));
    }
    if let Some(n) = &cfg.own.display_name {
        meta.insert("displayName".into(), json!(n));
    }
    if let Some(id) = &cfg.own.deployment_id {
        meta.insert("id".into(), json!(id));
    }
    meta.insert("namespace".into(), json!(cfg.own.namespace));
}

/// Where the job runs (a deployment target or a session cluster), its desired state, and how
/// it is upgraded and restored.
fn render_mode_and_state(cfg: Cfg<'_>, d: &mut Value) {
    let (job, vvp) = (cfg.job, cfg.own);
    let spec = obj(d, &["spec"]);
    // Inputs choose the mode; the other mode's fields from the file must go, or VVP would get
    // an ambiguous spec.
    if vvp.deployment_target_name.is_some() || vvp.deployment_target_id.is_some() {
        spec.remove("sessionClusterName");
        if vvp.deployment_target_name.is_some() && vvp.deployment_target_id.is_none() {
            spec.remove("deploymentTargetId");
        }
        if vvp.deployment_target_id.is_some() && vvp.deployment_target_name.is_none() {
            spec.remove("deploymentTargetName");
        }
    }
    if vvp.session_cluster_name.is_some() {
        spec.remove("deploymentTargetName");
        spec.remove("deploymentTargetId");
    }
    if let Some(v) = &vvp.deployment_target_name {
        spec.insert("deploymentTargetName".into(), json!(v));
    }
    if let Some(v) = &vvp.deployment_target_id {
        spec.insert("deploymentTargetId".into(), json!(v));
    }
    if let Some(v) = &vvp.session_cluster_name {
        spec.insert("sessionClusterName".into(), json!(v));
    }
    // `deploy` keeps a desired state the spec file states (a deployment kept CANCELLED until a
    // later `resume`, like seed 002's example); without one it means RUNNING.
    let state = match cfg.action {
        Action::Suspend => Some("SUSPENDED"),
        Action::Cancel | Action::Delete => Some("CANCELLED"),
        Action::Resume => Some("RUNNING"),
        _ => None,
    };
    if let Some(s) = state {
        spec.insert("state".into(), json!(s));
    } else {
        spec.entry("state").or_insert_with(|| json!("RUNNING"));
    }
    if let Some(k) = &job.upgrade_strategy {
        obj(d, &["spec", "upgradeStrategy"]).insert("kind".into(), json!(k));
    }
    if let Some(k) = &job.restore_strategy {
        obj(d, &["spec", "restoreStrategy"]).insert("kind".into(), json!(k));
    }
    if job.allow_non_restored_state {
        obj(d, &["spec", "restoreStrategy"]).insert("allowNonRestoredState".into(), json!(true));
    }
}

/// The template: parallelism, Flink configuration and the artifact.
fn render_template(cfg: Cfg<'_>, d: &mut Value, jar_uri: Option<&str>) {
    let job = cfg.job;
    let tspec = obj(d, &["spec", "template", "spec"]);
    if let Some(p) = job.parallelism {
        tspec.insert("parallelism".into(), json!(p));
    }
    if !job.flink_configuration.is_empty() {
        let fc = tspec
            .entry("flinkConfiguration")
            .or_insert_with(|| json!({}));
        if !fc.is_object() {
            *fc = json!({});
        }
        let fc = fc.as_object_mut().expect("object");
        for (k, v) in &job.flink_configuration {
            fc.insert(k.clone(), json!(v));
        }
    }
    let has_artifact_input =
        jar_uri.is_some() || job.entry_class.is_some() || job.main_args.is_some();
    if has_artifact_input {
        let art = obj(d, &["spec", "template", "spec", "artifact"]);
        art.entry("kind").or_insert_with(|| json!("JAR"));
        if let Some(u) = jar_uri {
            art.insert("jarUri".into(), json!(u));
        }
        if let Some(c) = &job.entry_class {
            art.insert("entryClass".into(), json!(c));
        }
        if let Some(a) = &job.main_args {
            art.insert("mainArgs".into(), json!(join_args(a)));
        }
    }
}

/// Forced restart: change the template so VVP upgrades even when nothing else changed.
fn force_restart(cfg: Cfg<'_>, d: &mut Value) {
    let rev = cfg
        .vars
        .source_version
        .clone()
        .or_else(|| cfg.vars.build_id.clone())
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp().to_string());
    if let Some(Value::String(u)) = d.pointer_mut("/spec/template/spec/artifact/jarUri") {
        *u = with_commit(u, &rev);
    } else {
        obj(d, &["spec", "template", "metadata", "annotations"])
            .insert("flink-deploy/restart".into(), json!(rev));
    }
}

/// What VVP would reject anyway, caught before any request.
pub fn check(d: &Value) -> Result<()> {
    if let Some(k) = get_str(d, &["kind"]) {
        if k != "Deployment" {
            return Err(Error::input(
                i::SPEC_FILE,
                format!("`kind` is `{k}`, expected `Deployment`"),
            ));
        }
    }
    let name = get_str(d, &["metadata", "name"]);
    let id = get_str(d, &["metadata", "id"]);
    match (name, id) {
        (None, None) => {
            return Err(Error::input(
                i::DEPLOYMENT_NAME,
                "is required: the spec has no metadata.name and no deployment id was given",
            )
            .with_hint("set deploymentName (or deploymentId), or metadata.name in the spec file"))
        }
        (Some(n), _) if !crate::config::checks::valid_resource_name(n) => {
            return Err(Error::input(
                i::SPEC_FILE,
                format!("metadata.name `{n}` is not a valid deployment name"),
            )
            .with_hint("lower-case letters, digits and hyphens, at most 63 characters"))
        }
        (_, Some(id)) if !crate::config::checks::valid_uuid(id) => {
            return Err(Error::input(
                i::SPEC_FILE,
                format!("metadata.id `{id}` is not a UUID"),
            ))
        }
        _ => {}
    }
    for (field, allowed) in [
        ("upgradeStrategy", &["STATEFUL", "STATELESS", "NONE"][..]),
        (
            "restoreStrategy",
            &["LATEST_STATE", "LATEST_SAVEPOINT", "NONE"][..],
        ),
    ] {
        if let Some(k) = get_str(d, &["spec", field, "kind"]) {
            if !allowed.contains(&k) {
                return Err(Error::input(
                    i::SPEC_FILE,
                    format!(
                        "spec.{field}.kind `{k}` is not one of {}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
    }
    if get_str(d, &["spec", "upgradeStrategy", "kind"]) == Some("STATEFUL")
        && get_str(d, &["spec", "restoreStrategy", "kind"]) == Some("NONE")
    {
        return Err(Error::input(
            i::RESTORE_STRATEGY,
            "`NONE` cannot be used with upgradeStrategy `STATEFUL`",
        )
        .with_hint("a stateful upgrade resumes from state: use LATEST_STATE or LATEST_SAVEPOINT"));
    }
    if let Some(s) = get_str(d, &["spec", "state"]) {
        if !["RUNNING", "SUSPENDED", "CANCELLED"].contains(&s) {
            return Err(Error::input(
                i::SPEC_FILE,
                format!("spec.state `{s}` is not RUNNING, SUSPENDED or CANCELLED"),
            ));
        }
    }
    if let Some(p) = get(d, &["spec", "template", "spec", "parallelism"]) {
        if p.as_u64().is_none_or(|n| n < 1) {
            return Err(Error::input(
                i::SPEC_FILE,
                format!("spec.template.spec.parallelism `{p}` is not a positive number"),
            ));
        }
    }
    Ok(())
}

/// Serialize for logs and diffs. YAML reads best and is what seed 000 keeps in the repository.
pub fn to_yaml(v: &Value) -> String {
    serde_yaml_ng::to_string(v).unwrap_or_else(|_| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "Build.SourceVersion" | "BUILD_SOURCEVERSION" => Some("abc123".into()),
            _ => None,
        }
    }

    fn subs<'a>(target: Option<&'a str>, jar: Option<&'a str>) -> Substitutions<'a> {
        Substitutions {
            deployment_target_id: target,
            jar_uri: jar,
            variable: &vars,
            is_secret: &|n| n == "db.password",
        }
    }

    #[test]
    fn seed_000_placeholders_and_variables() {
        let mut v = parse(
            "spec:\n  deploymentTargetId: DEPLOYMENTTARGETID\n  template:\n    spec:\n      artifact:\n        jarUri: JARURI\n        mainArgs: --rev ${Build.SourceVersion} $${literal}\n",
            "spec.yaml",
        )
        .unwrap();
        substitute(
            &mut v,
            &subs(
                Some("6232cc84-7aa3-4524-b3a8-36cab7203c47"),
                Some("wasbs://c@a/j.jar"),
            ),
            "",
        )
        .unwrap();
        assert_eq!(
            get_str(&v, &["spec", "deploymentTargetId"]),
            Some("6232cc84-7aa3-4524-b3a8-36cab7203c47")
        );
        assert_eq!(
            get_str(&v, &["spec", "template", "spec", "artifact", "jarUri"]),
            Some("wasbs://c@a/j.jar")
        );
        assert_eq!(
            get_str(&v, &["spec", "template", "spec", "artifact", "mainArgs"]),
            Some("--rev abc123 ${literal}")
        );
    }

    #[test]
    fn unresolved_placeholders_are_named() {
        let mut v = parse("spec:\n  deploymentTargetId: DEPLOYMENTTARGETID\n", "f").unwrap();
        let e = substitute(&mut v, &subs(None, None), "").unwrap_err();
        assert!(
            e.message.contains("DEPLOYMENTTARGETID")
                && e.message.contains("spec.deploymentTargetId"),
            "{e}"
        );
        assert!(e.hint.unwrap().contains("deploymentTargetId"));
        let mut v = parse("a: ${Nope.Var}\n", "f").unwrap();
        let e = substitute(&mut v, &subs(None, None), "").unwrap_err();
        assert!(e.message.contains("${Nope.Var}"), "{e}");
        assert!(e
            .hint
            .unwrap()
            .contains("define the pipeline variable `Nope.Var`"));
        let mut v = parse("sink:\n  pw: ${db.password}\n", "f").unwrap();
        let e = substitute(&mut v, &subs(None, None), "").unwrap_err();
        assert!(
            e.message
                .contains("`${db.password}` in `sink.pw` names a secret variable"),
            "{e}"
        );
        assert!(e.hint.unwrap().contains("$(db.password)"));
    }

    #[test]
    fn malformed_files_say_which_format() {
        assert!(parse("{\"a\": }", "x.json")
            .unwrap_err()
            .message
            .contains("not valid JSON"));
        assert!(parse("a: [b", "x.yaml")
            .unwrap_err()
            .message
            .contains("not valid YAML"));
        assert!(parse("- a\n- b\n", "x.yaml")
            .unwrap_err()
            .message
            .contains("Deployment object"));
    }

    #[test]
    fn commit_is_appended_once() {
        assert_eq!(
            with_commit("wasbs://c@a/x.jar", "r1"),
            "wasbs://c@a/x.jar?commit=r1"
        );
        assert_eq!(
            with_commit("https://h/x.jar?commit=r0&a=1", "r1"),
            "https://h/x.jar?a=1&commit=r1"
        );
    }

    #[test]
    fn a_query_value_is_set_once_and_other_parameters_stay() {
        assert_eq!(
            with_query("wasbs://c@a/x.jar", "md5", "ab"),
            "wasbs://c@a/x.jar?md5=ab"
        );
        assert_eq!(
            with_query("wasbs://c@a/x.jar?md5=00&v=1", "md5", "ab"),
            "wasbs://c@a/x.jar?v=1&md5=ab"
        );
        // A key that only starts like another is not replaced.
        assert_eq!(
            with_query("wasbs://c@a/x.jar?md5x=1", "md5", "ab"),
            "wasbs://c@a/x.jar?md5x=1&md5=ab"
        );
    }

    #[test]
    fn args_round_trip_through_quotes() {
        let args = vec!["--name".to_string(), "a b".into(), "it's".into(), "".into()];
        let joined = join_args(&args);
        assert_eq!(crate::config::checks::split_args(&joined).unwrap(), args);
    }
}
