//! Property tests of the spec reader: a scalar the user wrote reaches the platform as the text
//! they wrote wherever Ververica Platform's description says string (whatever it looks like and
//! however it is quoted), typed fields are typed, what the task prints as YAML reads back to
//! what it sends, duplicate keys are refused by line, and aliases cannot blow up. Bounded here;
//! FLINK_DEPLOY_LONG=1 (scripts/test --long) runs many more cases.

use flink_deploy::spec::{emit, read, typed, yaml, Limits, Origin, Ty};
use flink_deploy::targets::ververica::spec;
use proptest::prelude::*;
use serde_json::{json, Value};

fn cases(normal: u32) -> u32 {
    if std::env::var("FLINK_DEPLOY_LONG").is_ok_and(|v| v == "1") {
        normal * 50
    } else {
        normal
    }
}

const O: Origin = Origin {
    input: "specFile",
    file: "d.yml",
};

/// Plain scalars a value parser would re-type: floats with trailing zeros, hex, octal, exponents,
/// YAML 1.1 and 1.2 booleans in their spellings, null spellings, dates, leading zeros, base 60,
/// underscores, infinities.
fn retypable() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,3}\\.[0-9]{0,3}0{1,3}",
        "[-+]?[0-9]{1,4}",
        "0[0-7]{1,4}",
        "0o[0-7]{1,4}",
        "0x[0-9a-fA-F]{1,6}",
        "[0-9]\\.?[0-9]{0,2}[eE][-+]?[0-9]{1,2}",
        "\\.[0-9]{1,3}",
        "(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)",
        "(~|null|Null|NULL)",
        "[12][0-9]{3}-[01][0-9]-[0-3][0-9]",
        "[12][0-9]{3}-[01][0-9]-[0-3][0-9]t[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z",
        "[1-9][0-9]?:[0-5][0-9]",
        "[1-9]_[0-9]{3}(_[0-9]{3})?",
        "[-+]?\\.(inf|Inf|INF)",
        "\\.(nan|NaN|NAN)",
        "[0-9]\\.[0-9]{1,2}\\.[0-9]-[a-z0-9]{1,6}",
    ]
}

/// `s` in YAML double quotes; characters outside YAML's printable set are escaped.
fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~'
            | '\u{A0}'..='\u{D7FF}'
            | '\u{E000}'..='\u{FEFE}'
            | '\u{FF00}'..='\u{FFFD}' => out.push(c),
            c if (c as u32) > 0xFFFF => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// A value as the user writes it, and the text YAML defines for it.
fn written() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        retypable().prop_map(|s| (s.clone(), s)),
        // Single quotes: `''` is a quote.
        prop_oneof![retypable(), "[ -~]{0,30}"]
            .prop_map(|s| (format!("'{}'", s.replace('\'', "''")), s)),
        // Double quotes, with escapes for what YAML does not take raw.
        prop_oneof![retypable(), any::<String>()].prop_map(|s| (double_quoted(&s), s)),
    ]
}

/// Where the description says string: one field of each kind the issue names.
const STRING_FIELDS: &[&[&str]] = &[
    &["metadata", "labels", "team"],
    &["metadata", "annotations", "note"],
    &["spec", "template", "metadata", "annotations", "a"],
    &["spec", "template", "spec", "artifact", "flinkVersion"],
    &["spec", "template", "spec", "artifact", "flinkImageTag"],
    &["spec", "template", "spec", "artifact", "mainArgs"],
    &[
        "spec",
        "template",
        "spec",
        "flinkConfiguration",
        "pipeline.max-parallelism",
    ],
    &[
        "spec",
        "template",
        "spec",
        "logging",
        "log4jLoggers",
        "org.apache",
    ],
];

fn spec_with(value: &str) -> String {
    format!(
        "kind: Deployment\nmetadata:\n  name: a\n  labels:\n    team: {value}\n  annotations:\n    note: {value}\nspec:\n  template:\n    metadata:\n      annotations:\n        a: {value}\n    spec:\n      artifact:\n        kind: JAR\n        flinkVersion: {value}\n        flinkImageTag: {value}\n        mainArgs: {value}\n      flinkConfiguration:\n        pipeline.max-parallelism: {value}\n      logging:\n        log4jLoggers:\n          org.apache: {value}\n"
    )
}

fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| &v[*k])
}

/// Any JSON a spec can hold, to print and read back.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        retypable().prop_map(Value::String),
        "[ -~\\n\\t]{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![any::<String>(), retypable(), "[a-z.<]{1,8}"],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(300), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_scalar_reaches_string_fields_as_written((form, text) in written()) {
        let v = spec::parse(&spec_with(&form), "d.yml").unwrap();
        for path in STRING_FIELDS {
            prop_assert_eq!(at(&v, path), &Value::String(text.clone()), "{:?} written as {}", path, form);
        }
        // The same number in a JSON file is its digits where the description says string.
        if serde_json::from_str::<serde_json::Number>(&form).is_ok() {
            let j = format!("{{\"metadata\": {{\"labels\": {{\"team\": {form}}}}}, \"spec\": {{\"template\": {{\"spec\": {{\"artifact\": {{\"flinkVersion\": {form}}}}}}}}}}}");
            let v = spec::parse(&j, "d.json").unwrap();
            prop_assert_eq!(&v["metadata"]["labels"]["team"], &Value::String(text.clone()));
            prop_assert_eq!(&v["spec"]["template"]["spec"]["artifact"]["flinkVersion"], &Value::String(text.clone()));
        }
        // What the log, `validate` and the custom resource show reads back to what is sent.
        let shown = emit::to_yaml(&v);
        let back = typed::to_json(&yaml::parse(&shown, &O, Limits::default()).unwrap(), &Ty::silent(), &O).unwrap();
        prop_assert_eq!(back, v);
    }

    #[test]
    fn typed_fields_are_typed_however_written(n in 1..=i32::MAX, form in 0..4usize, cpu in 0.0f64..64.0) {
        let written = match form {
            0 => n.to_string(),
            1 => format!("\"{n}\""),
            2 => format!("0x{n:x}"),
            _ => format!("0o{n:o}"),
        };
        let cpu_text = format!("{cpu:?}");
        let v = spec::parse(
            &format!("spec:\n  template:\n    spec:\n      parallelism: {written}\n      resources:\n        jobmanager:\n          cpu: {cpu_text}\n"),
            "d.yml",
        ).unwrap();
        prop_assert_eq!(&v["spec"]["template"]["spec"]["parallelism"], &json!(n));
        prop_assert_eq!(v["spec"]["template"]["spec"]["resources"]["jobmanager"]["cpu"].as_f64(), Some(cpu));
    }

    #[test]
    fn text_in_an_integer_field_is_refused_by_line(word in "[a-z]{1,8}", blank in 0..5usize) {
        let lines = "\n".repeat(blank);
        let e = spec::parse(&format!("spec:{lines}\n  template:\n    spec:\n      parallelism: {word}\n"), "d.yml").unwrap_err();
        prop_assert!(e.message.contains(&format!("d.yml, line {}, column 20: `spec.template.spec.parallelism` is `{word}`, not an integer", blank + 4)), "{}", e.message);
    }

    #[test]
    fn printed_yaml_reads_back_to_the_same_values(v in json_value()) {
        let shown = emit::to_yaml(&v);
        let back = typed::to_json(&yaml::parse(&shown, &O, Limits::default()).unwrap(), &Ty::silent(), &O);
        prop_assert_eq!(back.unwrap(), v, "{}", shown);
    }

    #[test]
    fn json_files_are_read_as_json(v in json_value(), tabs in any::<bool>(), ascii in any::<bool>()) {
        // As other tools write JSON: indented with tabs, and with every character beyond ASCII
        // escaped (Python's json.dump), surrogate pairs included.
        let mut text = serde_json::to_string_pretty(&v).unwrap();
        if tabs {
            text = text.lines().map(|l| {
                let body = l.trim_start_matches(' ');
                format!("{}{body}\n", "\t".repeat((l.len() - body.len()) / 2))
            }).collect();
        }
        if ascii {
            let mut escaped = String::new();
            for c in text.chars() {
                if c.is_ascii() {
                    escaped.push(c);
                } else {
                    for u in c.encode_utf16(&mut [0; 2]) {
                        escaped.push_str(&format!("\\u{u:04x}"));
                    }
                }
            }
            text = escaped;
        }
        let back = typed::to_json(&read(&text, &O, Limits::default()).unwrap(), &Ty::silent(), &O).unwrap();
        prop_assert_eq!(back, v, "{}", text);
    }

    #[test]
    fn a_duplicate_key_is_refused_naming_its_line(keys in proptest::collection::vec("[a-d]", 1..8)) {
        let text: String = keys.iter().enumerate().map(|(i, k)| format!("{k}: v{i}\n")).collect();
        let first_dup = keys.iter().enumerate().find(|(i, k)| keys[..*i].contains(k)).map(|(i, _)| i);
        match (yaml::parse(&text, &O, Limits::default()), first_dup) {
            (Ok(_), None) => {}
            (Err(e), Some(i)) => {
                let first = keys.iter().position(|k| *k == keys[i]).unwrap();
                let want = format!("d.yml, line {}, column 1: key `{}` appears twice in this mapping (first on line {})", i + 1, keys[i], first + 1);
                prop_assert!(e.message.contains(&want), "{}", e.message);
            }
            (r, d) => prop_assert!(false, "{:?} for duplicate at {:?}", r.map(|_| ()), d),
        }
    }

    #[test]
    fn nested_aliases_never_blow_up(levels in 2..12usize, fan in 2..12usize) {
        let mut text = String::from("l0: &l0 [x]\n");
        for l in 1..levels {
            let refs = vec![format!("*l{}", l - 1); fan].join(", ");
            text.push_str(&format!("l{l}: &l{l} [{refs}]\n"));
        }
        let expanded: f64 = (1..levels).map(|l| (fan as f64).powi(l as i32)).sum();
        match yaml::parse(&text, &O, Limits::default()) {
            Ok(_) => prop_assert!(expanded < 2.0 * 100_000.0, "{levels}x{fan} expanded to {expanded} nodes"),
            Err(e) => prop_assert!(e.message.contains("alias bomb"), "{}", e.message),
        }
    }
}
