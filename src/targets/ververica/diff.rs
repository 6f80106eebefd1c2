//! Comparing what is deployed with what this run will deploy: JSON merge patch (RFC 7386, the
//! semantics of VVP's PATCH), the fields that are the platform's and never part of a diff, and
//! the unified diff shown in the log and the summary.

use serde_json::{Map, Value};

use super::SyncingMode;

/// Annotations the platform's controller keeps on a deployment (seed 002 lists them as invalid
/// in a custom resource); any other `com.dataartisans.appmanager.controller.` key is the
/// controller's too.
const CONTROLLER_ANNOTATION_PREFIX: &str = "com.dataartisans.appmanager.controller.";

/// The deployment without what the platform owns: `status`, `metadata.id/createdAt/modifiedAt/
/// resourceVersion` and the controller's annotations. Both sides of a diff go through this.
pub fn clean(v: &Value) -> Value {
    let mut v = v.clone();
    let Some(root) = v.as_object_mut() else {
        return v;
    };
    root.remove("status");
    if let Some(Value::Object(meta)) = root.get_mut("metadata") {
        for k in ["id", "createdAt", "modifiedAt", "resourceVersion"] {
            meta.remove(k);
        }
        let mut drop_annotations = false;
        if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
            let before = ann.len();
            ann.retain(|k, _| !k.starts_with(CONTROLLER_ANNOTATION_PREFIX));
            drop_annotations = ann.is_empty() && before > 0;
        }
        if drop_annotations {
            meta.remove("annotations");
        }
    }
    v
}

/// Apply a JSON merge patch (RFC 7386): objects merge key by key, `null` removes, anything else
/// replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The merge patch that turns `from` into `to` (used to roll a PATCH back).
pub fn merge_patch_between(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(f), Value::Object(t)) => {
            let mut patch = Map::new();
            for (k, fv) in f {
                match t.get(k) {
                    None => {
                        patch.insert(k.clone(), Value::Null);
                    }
                    Some(tv) if !same(fv, tv) => {
                        let sub = if fv.is_object() && tv.is_object() {
                            merge_patch_between(fv, tv)
                        } else {
                            tv.clone()
                        };
                        patch.insert(k.clone(), sub);
                    }
                    Some(_) => {}
                }
            }
            for (k, tv) in t {
                if !f.contains_key(k) {
                    patch.insert(k.clone(), tv.clone());
                }
            }
            Value::Object(patch)
        }
        _ => to.clone(),
    }
}

/// One scalar's canonical text, so `1.9` and `"1.9"`, or `1` and `1.0`, compare equal. VVP
/// stores some fields as strings that YAML files write as numbers (`flinkVersion: 1.9`).
fn canonical(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(format!("{}", f as i64)),
            Some(f) => Some(f.to_string()),
            None => Some(n.to_string()),
        },
        _ => None,
    }
}

/// Structural equality that ignores scalar representation.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        (Value::Null, Value::Null) => true,
        _ => match (canonical(a), canonical(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// Where `after` holds a scalar equal to `before`'s in another representation, take `before`'s,
/// so the diff shows only real changes.
pub fn align_scalars(after: &mut Value, before: &Value) {
    match (after, before) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a.iter_mut() {
                if let Some(w) = b.get(k) {
                    align_scalars(v, w);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (v, w) in a.iter_mut().zip(b) {
                align_scalars(v, w);
            }
        }
        (a, b) => {
            if a != b && same(a, b) {
                *a = b.clone();
            }
        }
    }
}

/// The deployment as it will be after this run's write: the rendered spec merged into the
/// deployed one (PATCH), or the rendered spec itself (PUT, or nothing deployed yet).
pub fn after(current: Option<&Value>, desired: &Value, mode: SyncingMode) -> Value {
    let desired = clean(desired);
    let mut out = match (current, mode) {
        (Some(cur), SyncingMode::Patch) => {
            let mut c = clean(cur);
            merge_patch(&mut c, &desired);
            c
        }
        _ => desired,
    };
    if let Some(cur) = current {
        align_scalars(&mut out, &clean(cur));
    }
    out
}

/// Whether `spec.template` differs: the change that makes VVP upgrade (restart) the job.
pub fn template_changed(current: &Value, after: &Value) -> bool {
    let empty = Value::Object(Map::new());
    let a = current.pointer("/spec/template").unwrap_or(&empty);
    let b = after.pointer("/spec/template").unwrap_or(&empty);
    !same(a, b)
}

/// A unified diff of two deployments as YAML, or `None` when they are the same.
pub fn unified(
    before: &Value,
    after: &Value,
    before_name: &str,
    after_name: &str,
) -> Option<String> {
    let a = if before.as_object().is_some_and(|m| m.is_empty()) {
        String::new()
    } else {
        super::spec::to_yaml(before)
    };
    let b = super::spec::to_yaml(after);
    if a == b {
        return None;
    }
    let diff = similar::TextDiff::from_lines(&a, &b);
    Some(
        diff.unified_diff()
            .context_radius(3)
            .header(before_name, after_name)
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn running() -> Value {
        super::super::running_fixture()
    }

    #[test]
    fn clean_drops_what_the_platform_owns() {
        let c = clean(&running());
        assert!(c.get("status").is_none());
        let meta = c["metadata"].as_object().unwrap();
        for k in [
            "id",
            "createdAt",
            "modifiedAt",
            "resourceVersion",
            "annotations",
        ] {
            assert!(!meta.contains_key(k), "{k} kept");
        }
        assert_eq!(meta["name"], "vvp-pipeline-demo");
        let mut v = running();
        v["metadata"]["annotations"]["team"] = json!("data");
        let c = clean(&v);
        assert_eq!(c["metadata"]["annotations"], json!({"team": "data"}));
        // A user's own empty annotations stay (they were not emptied by us).
        let c = clean(&json!({"metadata": {"annotations": {}}}));
        assert_eq!(c["metadata"]["annotations"], json!({}));
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        // The examples of RFC 7386 section 3.
        let mut t = json!({"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}, "tags": ["example", "sample"], "content": "This will be unchanged"});
        let p = json!({"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": null}, "tags": ["example"]});
        merge_patch(&mut t, &p);
        assert_eq!(
            t,
            json!({"title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"], "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"})
        );
        let mut t = json!({"a": "b"});
        merge_patch(&mut t, &json!({"a": {"bb": {"ccc": null}}}));
        assert_eq!(t, json!({"a": {"bb": {}}}));
        let mut t = json!(["a", "b"]);
        merge_patch(&mut t, &json!({"a": "c"}));
        assert_eq!(t, json!({"a": "c"}));
    }

    #[test]
    fn the_patch_between_two_specs_round_trips() {
        let from = json!({"spec": {"state": "RUNNING", "template": {"spec": {"parallelism": 4, "flinkConfiguration": {"a": "1", "new": "x"}}}}});
        let to = json!({"spec": {"state": "RUNNING", "template": {"spec": {"parallelism": 2, "flinkConfiguration": {"a": "1"}}}}, "metadata": {"labels": {"l": "v"}}});
        let p = merge_patch_between(&from, &to);
        assert_eq!(
            p,
            json!({"spec": {"template": {"spec": {"parallelism": 2, "flinkConfiguration": {"new": null}}}}, "metadata": {"labels": {"l": "v"}}})
        );
        let mut x = from.clone();
        merge_patch(&mut x, &p);
        assert_eq!(x, to);
    }

    #[test]
    fn scalars_compare_by_value_not_representation() {
        assert!(same(
            &json!({"v": 1.9, "c": 1}),
            &json!({"v": "1.9", "c": 1.0})
        ));
        assert!(!same(&json!({"v": 1.9}), &json!({"v": "1.10"})));
        assert!(!same(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        let mut a = json!({"artifact": {"flinkVersion": 1.9}, "p": 2});
        align_scalars(
            &mut a,
            &json!({"artifact": {"flinkVersion": "1.9"}, "p": 3}),
        );
        assert_eq!(a, json!({"artifact": {"flinkVersion": "1.9"}, "p": 2}));
    }

    #[test]
    fn patch_preview_and_template_change() {
        let cur = running();
        let same_spec = json!({"spec": {"template": {"spec": {"artifact": {"flinkVersion": 1.9}, "parallelism": 1}}}});
        let a = after(Some(&cur), &same_spec, SyncingMode::Patch);
        assert!(!template_changed(&cur, &a));
        assert_eq!(unified(&clean(&cur), &a, "deployed", "after"), None);

        let bumped = json!({"spec": {"template": {"spec": {"parallelism": 3}}}});
        let a = after(Some(&cur), &bumped, SyncingMode::Patch);
        assert!(template_changed(&cur, &a));
        let d = unified(&clean(&cur), &a, "deployed", "after").unwrap();
        assert!(
            d.contains("-      parallelism: 1\n+      parallelism: 3\n"),
            "{d}"
        );
        assert!(d.starts_with("--- deployed\n+++ after\n"), "{d}");

        // State only: no template change, so no restart.
        let suspend = json!({"spec": {"state": "SUSPENDED"}});
        assert!(!template_changed(
            &cur,
            &after(Some(&cur), &suspend, SyncingMode::Patch)
        ));

        // PUT replaces: what the rendered spec leaves out is gone.
        let a = after(Some(&cur), &bumped, SyncingMode::Put);
        assert!(a.pointer("/spec/template/spec/artifact").is_none());
        // Nothing deployed yet: everything is new.
        let d = unified(
            &json!({}),
            &after(None, &bumped, SyncingMode::Patch),
            "deployed",
            "after",
        )
        .unwrap();
        assert!(d.contains("+spec:"), "{d}");
    }
}
