//! Every form in which the task can render a value it prints: a secret is masked in each of them,
//! not only as written. A value with `'` is printed shell-quoted in `mainArgs` (`it'\''s`), and
//! the rendered spec and diff put that (or the raw value) into YAML, single-quoted (`''`) or
//! double-quoted (`\"`, `\t`, `\x01`); error details quote JSON (`\"`, `\u0007`); URLs carry
//! percent-encoded names; the JUnit file escapes XML (`&amp;`, `&apos;`); summary tables escape
//! `|` and drop line breaks.
//!
//! The renderers' own functions produce the forms where the crate has them (the spec
//! emitter, serde_json, quick-xml), so a form here is the form printed there.

/// Every rendering of `value` the task can print, `value` itself first, without repeats.
pub fn of(value: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut push = |s: String| {
        if !s.trim().is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    let mut quoted = vec![];
    for base in [value.to_owned(), shell_single(value)] {
        for f in [
            Some(base.clone()),
            Some(yaml_single(&base)),
            yaml_double(&base),
            Some(json(&base)),
        ]
        .into_iter()
        .flatten()
        {
            if !quoted.contains(&f) {
                quoted.push(f);
            }
        }
    }
    for f in quoted {
        push(xml(&f));
        push(xml_text(&f));
        push(crate::pipeline::summary::cell(&f));
        push(f);
    }
    push(crate::http::percent_encode(value));
    push(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
    // The value first: callers announce it before its other forms.
    if let Some(at) = out.iter().position(|f| f == value) {
        let v = out.remove(at);
        out.insert(0, v);
    }
    out
}

/// Inside single quotes, as `mainArgs` are joined for Ververica Platform.
fn shell_single(v: &str) -> String {
    v.replace('\'', "'\\''")
}

/// Inside a YAML single-quoted scalar.
fn yaml_single(v: &str) -> String {
    v.replace('\'', "''")
}

/// Inside a YAML double-quoted scalar, as the spec emitter writes it.
fn yaml_double(v: &str) -> Option<String> {
    let text = crate::spec::emit::double(v);
    text.strip_prefix('"')?.strip_suffix('"').map(str::to_owned)
}

/// Inside a JSON string.
fn json(v: &str) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    s.get(1..s.len().saturating_sub(1))
        .unwrap_or_default()
        .to_owned()
}

/// In an XML attribute (all five entities).
fn xml(v: &str) -> String {
    quick_xml::escape::escape(v).into_owned()
}

/// In XML text, where quotes stay as they are.
fn xml_text(v: &str) -> String {
    quick_xml::escape::partial_escape(v).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_value_has_one_form() {
        assert_eq!(of("SECRET-token-123"), vec!["SECRET-token-123"]);
    }

    #[test]
    fn quotes_give_the_shell_yaml_json_and_xml_forms() {
        let forms = of("it's-a-secret");
        for f in [
            "it's-a-secret",
            "it'\\''s-a-secret",
            "it''s-a-secret",
            "it''\\''''s-a-secret",
            "it&apos;s-a-secret",
            "it%27s-a-secret",
        ] {
            assert!(forms.iter().any(|x| x == f), "{f} in {forms:?}");
        }
        assert_eq!(forms[0], "it's-a-secret");
    }

    #[test]
    fn the_forms_are_what_the_renderers_print() {
        let secret = "@Sec9'ret-\"x\"\\y\tz&<|>";
        let forms = of(secret);
        let printed = [
            crate::spec::emit::to_yaml(&serde_json::json!({ "k": secret })),
            crate::spec::emit::to_yaml(&serde_json::json!({ "k": format!("a\u{7}{secret}") })),
            serde_json::json!({ "k": secret }).to_string(),
            quick_xml::escape::escape(secret).into_owned(),
            crate::pipeline::summary::cell(secret),
            crate::http::percent_encode(secret),
        ];
        for p in printed {
            assert!(
                forms.iter().any(|f| p.contains(f.as_str())),
                "no form of the secret in {p:?}: {forms:?}"
            );
        }
    }

    #[test]
    fn mainargs_quoting_then_yaml_is_covered() {
        let secret = "it's-s3cret";
        let args =
            crate::targets::ververica::spec::join_args(&["--password".into(), secret.into()]);
        // The joined string starts with `-`... and is printed single-quoted when YAML needs it.
        for text in [
            crate::spec::emit::to_yaml(&serde_json::json!({ "mainArgs": args })),
            crate::spec::emit::to_yaml(&serde_json::json!({ "mainArgs": format!("'{args}") })),
        ] {
            assert!(
                of(secret).iter().any(|f| text.contains(f.as_str())),
                "{text}"
            );
        }
    }
}
