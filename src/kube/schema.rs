//! A custom resource checked against its CRD's structural schema (OpenAPI v3 as
//! `apiextensions.k8s.io/v1` restricts it) before it is sent, so bad input fails in the plan
//! with every violation named by its path, the way the API server would name it.
//!
//! Why not a JSON Schema validator: a CRD schema is not plain JSON Schema. Fields it does not
//! declare are not errors to a JSON Schema validator (CRDs never say `additionalProperties:
//! false`), yet server-side apply refuses them; `x-kubernetes-preserve-unknown-fields`,
//! `x-kubernetes-int-or-string`, `x-kubernetes-embedded-resource` and `nullable` have no JSON
//! Schema meaning; and the root `metadata` is the API server's, not the schema's. The subset a
//! structural schema may use is small, so it is checked here.

use serde_json::{Map, Value};

/// One violation: the field's path (`.spec.deployment.spec.state`) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The `openAPIV3Schema` of the version `version` of a CRD (YAML or JSON text).
pub fn crd_schema(crd_text: &str, version: &str) -> Result<Value, String> {
    let crd: Value = crate::spec::read_untyped(crd_text, "the CRD")?;
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
        })
        .and_then(|v| v.pointer("/schema/openAPIV3Schema"))
        .cloned()
        .ok_or_else(|| format!("the CRD has no schema for version {version}"))
}

/// [`crd_schema`] of a CRD the task ships, parsed once into `cell`.
pub fn shipped(
    cell: &'static std::sync::OnceLock<Value>,
    crd_text: &str,
    version: &str,
) -> &'static Value {
    cell.get_or_init(|| {
        crd_schema(crd_text, version).expect("the CRDs shipped with the task parse")
    })
}

/// Every violation in one line (`None` when the object fits), as the API server lists them.
pub fn violations(object: &Value, schema: &Value) -> Option<String> {
    let causes = validate(object, schema);
    (!causes.is_empty()).then(|| {
        causes
            .iter()
            .map(Cause::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Every violation of `schema` by `object`, in document order.
pub fn validate(object: &Value, schema: &Value) -> Vec<Cause> {
    let mut out = vec![];
    check(object, schema, "", true, &mut out);
    out
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

fn push(out: &mut Vec<Cause>, path: &str, message: String) {
    out.push(Cause {
        field: if path.is_empty() {
            ".".into()
        } else {
            path.into()
        },
        message,
    });
}

fn check(v: &Value, schema: &Value, path: &str, root: bool, out: &mut Vec<Cause>) {
    if v.is_null() && flag(schema, "nullable") {
        return;
    }
    if !type_ok(v, schema, path, out) {
        return;
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            let allowed: Vec<String> = e.iter().map(Value::to_string).collect();
            push(
                out,
                path,
                format!(
                    "Unsupported value: {}: supported values: {}",
                    shown(v),
                    allowed.join(", ")
                ),
            );
        }
    }
    match v {
        Value::String(s) => string_rules(s, schema, path, out),
        Value::Number(_) => number_rules(v, schema, path, out),
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(m) = bound(schema, "minItems", len, true) {
                push(out, path, format!("must have at least {m} items"));
            }
            if let Some(m) = bound(schema, "maxItems", len, false) {
                push(out, path, format!("must have at most {m} items"));
            }
            if let Some(item) = schema.get("items") {
                for (n, x) in items.iter().enumerate() {
                    check(x, item, &format!("{path}[{n}]"), false, out);
                }
            }
        }
        Value::Object(m) => object_rules(m, schema, path, root, out),
        _ => {}
    }
    junctors(v, schema, path, out);
}

/// The declared type; `x-kubernetes-int-or-string` takes either.
fn type_ok(v: &Value, schema: &Value, path: &str, out: &mut Vec<Cause>) -> bool {
    let actual = type_of(v);
    if flag(schema, "x-kubernetes-int-or-string") {
        if matches!(actual, "integer" | "string") {
            return true;
        }
        push(
            out,
            path,
            format!(
                "Invalid value: {}: must be an integer or a string",
                shown(v)
            ),
        );
        return false;
    }
    let Some(want) = schema.get("type").and_then(Value::as_str) else {
        return true;
    };
    let ok = actual == want || (want == "number" && actual == "integer");
    if !ok {
        push(
            out,
            path,
            format!("Invalid value: {}: must be of type {want}", shown(v)),
        );
    }
    ok
}

/// A count against `schema[key]`: `min` fails below it, otherwise above it.
fn bound(schema: &Value, key: &str, n: u64, min: bool) -> Option<u64> {
    let m = schema.get(key).and_then(Value::as_u64)?;
    let out = if min { n < m } else { n > m };
    out.then_some(m)
}

fn string_rules(s: &str, schema: &Value, path: &str, out: &mut Vec<Cause>) {
    let len = s.chars().count() as u64;
    if let Some(m) = bound(schema, "minLength", len, true) {
        push(
            out,
            path,
            format!("Invalid value: {s:?}: must be at least {m} characters long"),
        );
    }
    if let Some(m) = bound(schema, "maxLength", len, false) {
        push(
            out,
            path,
            format!("Too long: may not be more than {m} characters"),
        );
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
        // A pattern the regex engine cannot read is the schema's problem, not the input's.
        if let Ok(re) = regex::Regex::new(p) {
            if !re.is_match(s) {
                push(
                    out,
                    path,
                    format!("Invalid value: {s:?}: should match '{p}'"),
                );
            }
        }
    }
}

fn number_rules(v: &Value, schema: &Value, path: &str, out: &mut Vec<Cause>) {
    let Some(x) = v.as_f64() else { return };
    let (int32, int64) = match schema.get("format").and_then(Value::as_str) {
        Some("int32") => (true, false),
        Some("int64") => (false, true),
        _ => (false, false),
    };
    if int32 && (x < i32::MIN as f64 || x > i32::MAX as f64) {
        push(
            out,
            path,
            format!("Invalid value: {v}: must fit in 32 bits"),
        );
    }
    if int64 && !(v.is_i64() || v.is_u64()) {
        push(out, path, format!("Invalid value: {v}: must be an integer"));
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let excl = flag(schema, "exclusiveMinimum");
        if x < min || (excl && x == min) {
            let op = if excl {
                "greater than"
            } else {
                "greater than or equal to"
            };
            push(
                out,
                path,
                format!("Invalid value: {v}: should be {op} {min}"),
            );
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let excl = flag(schema, "exclusiveMaximum");
        if x > max || (excl && x == max) {
            let op = if excl {
                "less than"
            } else {
                "less than or equal to"
            };
            push(
                out,
                path,
                format!("Invalid value: {v}: should be {op} {max}"),
            );
        }
    }
}

fn object_rules(
    m: &Map<String, Value>,
    schema: &Value,
    path: &str,
    root: bool,
    out: &mut Vec<Cause>,
) {
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !m.contains_key(r) {
            push(out, &format!("{path}.{r}"), "Required value".into());
        }
    }
    if let Some(n) = bound(schema, "minProperties", m.len() as u64, true) {
        push(out, path, format!("must have at least {n} properties"));
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    let keeps_unknown = flag(schema, "x-kubernetes-preserve-unknown-fields")
        || matches!(additional, Some(Value::Bool(true)));
    let embedded = flag(schema, "x-kubernetes-embedded-resource");
    for (k, x) in m {
        let p = format!("{path}.{k}");
        if let Some(s) = props.and_then(|ps| ps.get(k)) {
            // The root's (or an embedded resource's) metadata is ObjectMeta, whatever the
            // schema says about it.
            let meta = (root || embedded) && k == "metadata";
            if meta {
                object_meta(x, &p, out);
            } else {
                check(x, s, &p, false, out);
            }
        } else if let Some(s @ Value::Object(_)) = additional {
            check(x, s, &p, false, out);
        } else if (root || embedded) && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            if k == "metadata" {
                object_meta(x, &p, out);
            }
        } else if !keeps_unknown {
            push(out, &p, "field not declared in schema".into());
        }
    }
}

/// What the API server checks of `metadata` itself: its known fields' types.
fn object_meta(v: &Value, path: &str, out: &mut Vec<Cause>) {
    let Some(m) = v.as_object() else {
        push(
            out,
            path,
            format!("Invalid value: {}: must be of type object", shown(v)),
        );
        return;
    };
    for k in ["name", "namespace", "generateName"] {
        if let Some(x) = m.get(k).filter(|x| !x.is_string()) {
            push(
                out,
                &format!("{path}.{k}"),
                format!("Invalid value: {}: must be of type string", shown(x)),
            );
        }
    }
    for k in ["labels", "annotations"] {
        match m.get(k) {
            Some(Value::Object(map)) => {
                for (key, val) in map {
                    if !val.is_string() {
                        push(
                            out,
                            &format!("{path}.{k}.{key}"),
                            format!("Invalid value: {}: must be of type string", shown(val)),
                        );
                    }
                }
            }
            Some(other) => push(
                out,
                &format!("{path}.{k}"),
                format!("Invalid value: {}: must be of type object", shown(other)),
            ),
            None => {}
        }
    }
}

/// `allOf`, `anyOf`, `oneOf` (in structural schemas they only add rules, such as "one of these
/// fields is required"), and `not`.
fn junctors(v: &Value, schema: &Value, path: &str, out: &mut Vec<Cause>) {
    // Sub-schemas of a junctor may not declare fields the outer schema does not, so an unknown
    // field found inside one is already reported (or allowed) by the outer schema.
    let sub = |s: &Value| -> Vec<Cause> {
        let mut c = vec![];
        check(v, s, path, false, &mut c);
        c.retain(|x| x.message != "field not declared in schema");
        c
    };
    let list = |k: &str| {
        schema
            .get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for s in list("allOf") {
        out.extend(sub(&s));
    }
    let any = list("anyOf");
    if !any.is_empty() {
        let results: Vec<Vec<Cause>> = any.iter().map(sub).collect();
        if results.iter().all(|r| !r.is_empty()) {
            let alts: Vec<String> = results
                .iter()
                .map(|r| {
                    r.iter()
                        .map(Cause::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .collect();
            push(
                out,
                path,
                format!("must match one of the alternatives ({})", alts.join(" | ")),
            );
        }
    }
    let one = list("oneOf");
    if !one.is_empty() {
        let matching = one.iter().filter(|s| sub(s).is_empty()).count();
        if matching != 1 {
            push(
                out,
                path,
                format!(
                    "must match exactly one of {} alternatives ({matching} match)",
                    one.len()
                ),
            );
        }
    }
    if let Some(n) = schema.get("not") {
        if sub(n).is_empty() {
            push(out, path, "must not match the excluded shape".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "required": ["spec"], "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
            "spec": {"type": "object", "required": ["mode"], "properties": {
                "mode": {"type": "string", "enum": ["PATCH", "PUT"]},
                "count": {"type": "integer", "format": "int32", "minimum": 0},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "port": {"x-kubernetes-int-or-string": true},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "map": {"type": "object", "additionalProperties": {"type": "string"}},
                "list": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "boolean"}}}},
                "art": {"type": "object", "properties": {"kind": {"type": "string"}, "jarUri": {"type": "string"}, "sql": {"type": "string"}},
                        "anyOf": [{"required": ["jarUri"]}, {"required": ["sql"]}]}
            }}
        }})
    }

    fn fields(v: Value) -> Vec<String> {
        validate(&v, &schema())
            .into_iter()
            .map(|c| c.to_string())
            .collect()
    }

    #[test]
    fn a_valid_resource_passes_with_free_form_and_metadata_fields() {
        let ok = json!({"apiVersion": "x/v1", "kind": "X",
            "metadata": {"name": "a", "labels": {"ververica.platform/owner": "op"}, "anything": {"goes": 1}},
            "spec": {"mode": "PATCH", "count": 3, "name": "abc", "port": "http", "free": {"a": {"b": 1}},
                     "map": {"k": "v"}, "list": [{"a": true}], "art": {"kind": "JAR", "jarUri": "s3://j"}}});
        assert_eq!(fields(ok), Vec::<String>::new());
    }

    #[test]
    fn violations_are_named_by_path_like_the_api_server() {
        let bad = json!({"metadata": {"labels": {"n": 1}},
            "spec": {"mode": "MERGE", "count": -1, "name": "ABCDEFG", "port": 1.5, "extra": 1,
                     "map": {"k": 2}, "list": [{"a": "yes", "b": 1}], "art": {"kind": "JAR"}}});
        let got = fields(bad);
        let expect = [
            ".metadata.labels.n: Invalid value: 1: must be of type string",
            ".spec.mode: Unsupported value: \"MERGE\": supported values: \"PATCH\", \"PUT\"",
            ".spec.count: Invalid value: -1: should be greater than or equal to 0",
            ".spec.name: Too long: may not be more than 5 characters",
            ".spec.name: Invalid value: \"ABCDEFG\": should match '^[a-z]+$'",
            ".spec.port: Invalid value: 1.5: must be an integer or a string",
            ".spec.extra: field not declared in schema",
            ".spec.map.k: Invalid value: 2: must be of type string",
            ".spec.list[0].a: Invalid value: \"yes\": must be of type boolean",
            ".spec.list[0].b: field not declared in schema",
        ];
        for e in expect {
            assert!(got.iter().any(|g| g == e), "missing {e} in {got:#?}");
        }
        assert!(
            got.iter()
                .any(|g| g.starts_with(".spec.art: must match one of the alternatives")),
            "{got:#?}"
        );
        assert_eq!(got.len(), expect.len() + 1, "{got:#?}");
        assert_eq!(
            fields(json!({"spec": {}})),
            vec![".spec.mode: Required value"]
        );
        assert_eq!(fields(json!({})), vec![".spec: Required value"]);
    }
}
