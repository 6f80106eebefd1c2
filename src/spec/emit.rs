//! JSON as block-style YAML that reads back to the same values in YAML 1.2 and in YAML 1.1
//! (kubectl's go-yaml and PyYAML still resolve `yes`, `on`, `1_000`, `1:20` and dates). A string
//! is written plain only when no reader could take it for anything else; otherwise quoted (single
//! quotes, or double quotes with escapes for what single quotes cannot hold), and text over
//! several lines as a literal block. The log, the diff, `validate` and the operator's resource
//! all show values through here, so what is shown is what is sent.

use serde_json::{Number, Value};

use super::scalar::{self, Core};

/// The YAML text of a value.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => seq(&mut out, a, 0),
        _ => {
            out.push_str(&inline(v, 2));
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

fn map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize) {
    let mut first = true;
    for (k, v) in m {
        if !first {
            pad(out, indent);
        }
        first = false;
        // YAML limits an implicit key to 1024 characters; a longer one is written explicitly.
        let explicit = k.chars().count() > 1000;
        if explicit {
            out.push_str("? ");
            out.push_str(&key(k));
            out.push('\n');
            pad(out, indent);
        } else {
            out.push_str(&key(k));
        }
        out.push(':');
        match v {
            Value::Object(c) if !c.is_empty() => {
                out.push('\n');
                pad(out, indent + 2);
                map(out, c, indent + 2);
            }
            // Lists under a key sit at the key's column, as libyaml writes them.
            Value::Array(a) if !a.is_empty() => {
                let at = if explicit { indent + 2 } else { indent };
                out.push('\n');
                pad(out, at);
                seq(out, a, at);
            }
            _ => {
                out.push(' ');
                out.push_str(&inline(v, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn seq(out: &mut String, a: &[Value], indent: usize) {
    let mut first = true;
    for v in a {
        if !first {
            pad(out, indent);
        }
        first = false;
        out.push_str("- ");
        match v {
            Value::Object(_) if is_block(v) => map(out, v.as_object().expect("object"), indent + 2),
            Value::Array(c) if is_block(v) => seq(out, c, indent + 2),
            _ => {
                out.push_str(&inline(v, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// A scalar (or an empty collection) on the current line; a literal block continues on the
/// lines below at `indent`.
fn inline(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => string(s, indent, false),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A float always has a point and a signed exponent: YAML 1.1 reads `1e16` as a string.
fn number(n: &Number) -> String {
    let t = n.to_string();
    if n.is_f64() {
        let (mant, exp) = match t.split_once(['e', 'E']) {
            Some((m, e)) => (m.to_owned(), Some(e.to_owned())),
            None => (t.clone(), None),
        };
        let mant = if mant.contains('.') {
            mant
        } else {
            format!("{mant}.0")
        };
        return match exp {
            Some(e) if e.starts_with(['-', '+']) => format!("{mant}e{e}"),
            Some(e) => format!("{mant}e+{e}"),
            None => mant,
        };
    }
    t
}

fn key(k: &str) -> String {
    string(k, 0, true)
}

/// Characters a plain or single-quoted scalar may hold (tab only when quoted).
fn printable(c: char) -> bool {
    matches!(c, ' '..='~')
        || (c >= '\u{A0}'
            && !matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}'
            ))
}

/// Whether a plain scalar would read back as this string in YAML 1.1 and 1.2.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let last = s.chars().last().unwrap_or(first);
    // `-` starts a plain scalar when a non-space follows (`--build 4242`), as YAML allows.
    let dash_ok = first == '-' && s[1..].starts_with(|c: char| !c.is_whitespace());
    !first.is_whitespace()
        && !last.is_whitespace()
        && (dash_ok || !"-?:,[]{}#&*!|>'\"%@`".contains(first))
        && !s.starts_with("...")
        && !s.starts_with("---")
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && s.chars().all(|c| printable(c) && c != '\t')
        && scalar::resolve(s) == Core::Str
        && !scalar::is_special_in_yaml_1_1(s)
}

fn string(s: &str, indent: usize, is_key: bool) -> String {
    if plain_ok(s) {
        return s.to_owned();
    }
    if !is_key && literal_ok(s) {
        return literal(s, indent);
    }
    if s.chars().all(|c| printable(c) || c == '\t') {
        return format!("'{}'", s.replace('\'', "''"));
    }
    double(s)
}

fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n', '\t'])
        && s.chars().all(|c| c == '\n' || c == '\t' || printable(c))
}

fn literal(s: &str, indent: usize) -> String {
    let body = s.trim_end_matches('\n');
    let chomp = match s.len() - body.len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let mut out = format!("|{chomp}");
    // Every line break of the text, the trailing ones too for `|+`.
    let lines: Vec<&str> = if chomp == "+" {
        s.strip_suffix('\n').unwrap_or(s).split('\n').collect()
    } else {
        body.split('\n').collect()
    };
    for line in lines {
        out.push('\n');
        if !line.is_empty() {
            pad(&mut out, indent);
            out.push_str(line);
        }
    }
    out
}

/// A double-quoted scalar, escaping what single quotes cannot hold.
pub fn double(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if printable(c) => out.push(c),
            c if (c as u32) <= 0xFF => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_style_like_libyaml() {
        let v = json!({"kind": "Deployment", "metadata": {"name": "a", "labels": {}},
            "spec": {"args": ["x", {"name": "A", "value": "b"}, ["m"]], "none": [], "m": 2, "n": "z", "f": 0.5, "big": 1e16, "z": null, "t": true}});
        assert_eq!(
            to_yaml(&v),
            "kind: Deployment\nmetadata:\n  name: a\n  labels: {}\nspec:\n  args:\n  - x\n  - name: A\n    value: b\n  - - m\n  none: []\n  m: 2\n  'n': z\n  f: 0.5\n  big: 1.0e+16\n  z: null\n  t: true\n"
        );
    }

    #[test]
    fn strings_that_look_like_something_else_are_quoted() {
        for s in [
            "1.20",
            "0x1F",
            "1e3",
            "yes",
            "On",
            "~",
            "null",
            "",
            " a",
            "a ",
            "a: b",
            "x #y",
            "- x",
            "-",
            "---x",
            "-1",
            "-.inf",
            "2001-12-14",
            "1_000",
            "1:20",
            "=",
            "<<",
            ".inf",
            "...",
            "#c",
            "@a",
            "true",
            "017",
            "'a",
            "n",
        ] {
            let y = to_yaml(&json!({ "k": s }));
            assert!(y.starts_with("k: '"), "{s:?} -> {y}");
        }
        for s in [
            "rocksdb",
            "10s",
            "1G",
            "6232cc84-7aa3-4524-b3a8-36cab7203c47",
            "s3://b/x?a=1",
            "a-b",
            "1.9.2-stream1",
            "-x",
            "--build 4242",
        ] {
            assert_eq!(to_yaml(&json!({ "k": s })), format!("k: {s}\n"));
        }
        assert_eq!(to_yaml(&json!({"k": "it's"})), "k: it's\n");
        assert_eq!(to_yaml(&json!({"k": "'a'"})), "k: '''a'''\n");
        assert_eq!(
            to_yaml(&json!({"k": "a\u{1}\u{FEFF}\u{85}\"\\"})),
            "k: \"a\\x01\\uFEFF\\x85\\\"\\\\\"\n"
        );
        assert_eq!(to_yaml(&json!({"1.0": "x"})), "'1.0': x\n");
    }

    #[test]
    fn text_over_lines_is_a_literal_block() {
        assert_eq!(
            to_yaml(&json!({"s": {"q": "a\n  b\n"}})),
            "s:\n  q: |\n    a\n      b\n"
        );
        assert_eq!(to_yaml(&json!({"q": "a\n\nb"})), "q: |-\n  a\n\n  b\n");
        assert_eq!(to_yaml(&json!({"q": "a\n\n"})), "q: |+\n  a\n\n");
        assert_eq!(to_yaml(&json!({"q": " a\nb"})), "q: \" a\\nb\"\n");
        assert_eq!(to_yaml(&json!({"q": "a\r\nb"})), "q: \"a\\r\\nb\"\n");
    }
}
