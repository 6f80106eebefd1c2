//! The tree to JSON, typed by the platform's schema.
//!
//! - The schema says string: the scalar's text as written, whatever it looks like (`1.20`,
//!   `0x1F`, `yes`, `~`, `2024-01-01`, a JSON number's digits). Where a value parser would have
//!   sent a different value, the platform now gets the user's text.
//! - It says integer, number or boolean: the typed value; text that is not one is an error that
//!   names the field, the line and the fix. Quoting does not matter (`"4"` is 4): the platform's
//!   type decides, and `${Var}` placeholders substituted into such a field still type.
//! - It says object or list: a mapping or a list; an empty value (`key:`, `~`, `null`) leaves the
//!   field out (as if it were not written) rather than sending a `null` the platform's
//!   description does not allow.
//! - It is silent: YAML 1.2 core resolution, as a value parser reads it, so fields the task
//!   does not know pass through as before.

use serde_json::{Map, Number, Value};

use super::scalar::{self, Core};
use super::schema::{Kind, Ty};
use super::yaml::{Node, NodeKind, Scalar};
use super::{join_path, Origin};
use crate::error::{Error, Result};

/// The tree as JSON. The root is never left out: an empty document is an empty object.
pub fn to_json(node: &Node, ty: &Ty, origin: &Origin) -> Result<Value> {
    Ok(convert(node, ty, "", origin)?.unwrap_or_else(|| Value::Object(Map::new())))
}

fn what(n: &Node) -> &'static str {
    match n.kind {
        NodeKind::Scalar(_) => "a single value",
        NodeKind::Seq(_) => "a list",
        NodeKind::Map(_) => "a mapping",
    }
}

fn shown(path: &str) -> String {
    if path.is_empty() {
        "the document".into()
    } else {
        format!("`{path}`")
    }
}

fn mismatch(node: &Node, path: &str, want: &str, origin: &Origin) -> Error {
    origin
        .error(
            Some(node.mark),
            format!(
                "{} is {}; the platform expects {want}",
                shown(path),
                what(node)
            ),
        )
        .with_hint(format!(
            "write {want} for `{}`",
            path.rsplit('.').next().unwrap_or(path)
        ))
}

/// `None`: leave the field out.
fn convert(node: &Node, ty: &Ty, path: &str, origin: &Origin) -> Result<Option<Value>> {
    let kind = ty.kind();
    match (&node.kind, kind) {
        (NodeKind::Scalar(s), Kind::Str) => Ok(Some(Value::String(s.text.clone()))),
        (NodeKind::Scalar(s), Kind::Silent) => silent(node, s, path, origin).map(Some),
        (NodeKind::Scalar(s), _) if s.core == Core::Null => Ok(None),
        (NodeKind::Scalar(s), Kind::Int(bits)) => int(node, s, bits, path, origin).map(Some),
        (NodeKind::Scalar(s), Kind::Num) => number(node, s, path, origin).map(Some),
        (NodeKind::Scalar(s), Kind::Bool) => match scalar::bool_value(&s.text) {
            Some(b) => Ok(Some(Value::Bool(b))),
            None => Err(origin
                .error(
                    Some(node.mark),
                    format!("{} is `{}`, not a boolean", shown(path), s.text),
                )
                .with_hint("write true or false")),
        },
        (NodeKind::Scalar(_), Kind::Obj) => Err(mismatch(node, path, "a mapping", origin)),
        (NodeKind::Scalar(_), Kind::Arr) => Err(mismatch(node, path, "a list", origin)),
        (NodeKind::Map(entries), Kind::Obj | Kind::Silent) => {
            let mut out = Map::with_capacity(entries.len());
            for e in entries {
                let p = join_path(path, &e.key);
                if let Some(v) = convert(&e.value, &ty.field(&e.key), &p, origin)? {
                    out.insert(e.key.clone(), v);
                }
            }
            Ok(Some(Value::Object(out)))
        }
        (NodeKind::Seq(items), Kind::Arr | Kind::Silent) => {
            let item = ty.item();
            let mut out = Vec::with_capacity(items.len());
            for (n, i) in items.iter().enumerate() {
                let p = format!("{path}[{n}]");
                match convert(i, &item, &p, origin)? {
                    Some(v) => out.push(v),
                    // An empty item cannot be left out of a list without moving the others.
                    None => {
                        return Err(origin
                            .error(Some(i.mark), format!("`{p}` is empty"))
                            .with_hint("remove the empty list item"))
                    }
                }
            }
            Ok(Some(Value::Array(out)))
        }
        (_, Kind::Str) => Err(mismatch(node, path, "a string", origin)),
        (_, Kind::Int(_)) => Err(mismatch(node, path, "an integer", origin)),
        (_, Kind::Num) => Err(mismatch(node, path, "a number", origin)),
        (_, Kind::Bool) => Err(mismatch(node, path, "true or false", origin)),
        (_, Kind::Obj) => Err(mismatch(node, path, "a mapping", origin)),
        (_, Kind::Arr) => Err(mismatch(node, path, "a list", origin)),
    }
}

fn silent(node: &Node, s: &Scalar, path: &str, origin: &Origin) -> Result<Value> {
    match s.core {
        Core::Str => Ok(Value::String(s.text.clone())),
        _ => scalar::core_value(&s.text).map_err(|why| {
            origin
                .error(
                    Some(node.mark),
                    format!("{} is `{}`: {why}", shown(path), s.text),
                )
                .with_hint("quote the value to send it as text")
        }),
    }
}

fn int(node: &Node, s: &Scalar, bits: u8, path: &str, origin: &Origin) -> Result<Value> {
    let text = s.text.trim();
    let n = scalar::int_value(text)
        .filter(|n| bits != 32 || n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()));
    match n {
        Some(n) => Ok(Value::Number(n)),
        None => Err(origin
            .error(
                Some(node.mark),
                format!(
                    "{} is `{}`, not {}",
                    shown(path),
                    s.text,
                    if bits == 32 && scalar::is_int(text) {
                        "an integer the platform takes (32 bits)"
                    } else {
                        "an integer"
                    }
                ),
            )
            .with_hint("write a whole number, e.g. 4")),
    }
}

fn number(node: &Node, s: &Scalar, path: &str, origin: &Origin) -> Result<Value> {
    let text = s.text.trim();
    let v = scalar::int_value(text).map(Value::Number).or_else(|| {
        scalar::float_value(text)
            .and_then(Number::from_f64)
            .map(Value::Number)
    });
    v.ok_or_else(|| {
        origin
            .error(
                Some(node.mark),
                format!("{} is `{}`, not a number", shown(path), s.text),
            )
            .with_hint("write a number, e.g. 0.5")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{yaml, Limits, Schema};
    use serde_json::json;

    const O: Origin = Origin {
        input: "specFile",
        file: "d.yml",
    };

    fn schema() -> Schema {
        Schema::parse("R\n  s string\n  i int32\n  n number\n  b boolean\n  m {string}\n  l [string]\n  li [int32]\n  o O\nO\n  x int64\n").unwrap()
    }

    fn conv(text: &str) -> Result<Value> {
        let s = schema();
        to_json(&yaml::parse(text, &O, Limits::default())?, &s.ty(), &O)
    }

    #[test]
    fn strings_keep_the_text_and_typed_fields_are_typed() {
        let v = conv("s: 1.20\ni: \"4\"\nn: 1e3\nb: TRUE\nm: {a: 0x1F, b: yes, c: ~, d: 2001-12-14}\nl: [007, .5]\no: {x: 0o17}\nfree: 1.20\nfree2: [0x1F, yes, ~]\n").unwrap();
        assert_eq!(
            v,
            json!({"s": "1.20", "i": 4, "n": 1000.0, "b": true,
                   "m": {"a": "0x1F", "b": "yes", "c": "~", "d": "2001-12-14"},
                   "l": ["007", ".5"], "o": {"x": 15}, "free": 1.2, "free2": [31, "yes", null]})
        );
    }

    #[test]
    fn empty_typed_values_are_left_out() {
        assert_eq!(
            conv("i:\nm: ~\nl: null\no:\ns:\n").unwrap(),
            json!({"s": ""})
        );
    }

    /// The error for `text`, which must name `want` in its message or hint.
    fn refused(text: &str, want: &str) -> Error {
        let e = conv(text).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
        e
    }

    #[test]
    fn wrong_types_name_the_field_line_and_fix() {
        let e = refused("a: 1\ni: two\n", "whole number");
        assert_eq!(
            e.message,
            "input `specFile`: d.yml, line 2, column 4: `i` is `two`, not an integer"
        );
        for (text, want) in [
            ("i: 3000000000\n", "32 bits"),
            ("i: 2.0\n", "not an integer"),
            ("b: yes\n", "write true or false"),
            ("n: .inf\n", "not a number"),
            (
                "m: a=b\n",
                "`m` is a single value; the platform expects a mapping",
            ),
            ("s: [a]\n", "`s` is a list; the platform expects a string"),
            ("li: [1, ~]\n", "`li[1]` is empty"),
            ("free: .nan\n", "quote the value"),
        ] {
            refused(text, want);
        }
    }
}
