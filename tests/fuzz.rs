//! Property-based fuzzing of the parts that take outside text: the spec loader and placeholder
//! substitution, the input layer, the JUnit writer and the log writer. Bounded here; set
//! FLINK_DEPLOY_LONG=1 (scripts/test --long) for many more cases.

use flink_deploy::config::{Config, RawInputs};
use flink_deploy::error::ErrorKind;
use flink_deploy::pipeline::env::AgentEnv;
use flink_deploy::pipeline::inputs;
use flink_deploy::pipeline::junit::{CaseOutcome, TestCase, TestSuite};
use flink_deploy::pipeline::vso::{Captured, Escaping, Vso};
use flink_deploy::targets::ververica::spec;
use proptest::prelude::*;

fn cases(normal: u32) -> u32 {
    if std::env::var("FLINK_DEPLOY_LONG").is_ok_and(|v| v == "1") {
        normal * 50
    } else {
        normal
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~\\n\\t]{0,200}",
        proptest::collection::vec(
            prop_oneof![
                Just("${".to_owned()),
                Just("$${".to_owned()),
                Just("}".to_owned()),
                Just("JARURI".to_owned()),
                Just("DEPLOYMENTTARGETID".to_owned()),
                Just("${Build.SourceVersion}".to_owned()),
                Just(": ".to_owned()),
                Just("\n  ".to_owned()),
                Just("- ".to_owned()),
                Just("{".to_owned()),
                Just("\"".to_owned()),
                "[a-z]{1,6}",
            ],
            0..30
        )
        .prop_map(|v| v.concat()),
    ]
}

/// Whether `word` occurs in `s` as a whole token (seed 000's placeholders are replaced only so).
fn has_token(s: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    s.match_indices(word).any(|(i, _)| {
        !s[..i].chars().next_back().is_some_and(is_word)
            && !s[i + word.len()..].chars().next().is_some_and(is_word)
    })
}

fn vars(name: &str) -> Option<String> {
    (name == "Build.SourceVersion").then(|| "abc".to_owned())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(400), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn spec_loader_never_panics_and_errors_name_the_input(t in text()) {
        match spec::parse(&t, "spec.yml") {
            Ok(v) => prop_assert!(v.is_object()),
            Err(e) => {
                prop_assert_eq!(e.kind, ErrorKind::Input);
                prop_assert!(e.message.contains("`specFile`"), "{}", e.message);
            }
        }
    }

    #[test]
    fn substitution_resolves_everything_or_names_what_it_could_not(t in text(), jar in proptest::option::of("[a-z:/.]{1,20}")) {
        let subs = spec::Substitutions { deployment_target_id: None, jar_uri: jar.as_deref(), variable: &vars, is_secret: &|_| false };
        let origin = flink_deploy::spec::Origin { input: "specFile", file: "spec.yml" };
        match spec::substitute_str(&t, &subs, "a", &origin, None) {
            Ok(out) => {
                if !t.contains('$') && !has_token(&t, "JARURI") && !has_token(&t, "DEPLOYMENTTARGETID") {
                    prop_assert_eq!(out.as_str(), t.as_str());
                }
                prop_assert!(!has_token(&out, "DEPLOYMENTTARGETID"));
            }
            Err(e) => {
                prop_assert_eq!(e.kind, ErrorKind::Input);
                prop_assert!(e.message.contains("`specFile`: spec.yml"), "{}", e.message);
                prop_assert!(e.message.contains("placeholder") || e.message.contains("unclosed"), "{}", e.message);
            }
        }
    }

    #[test]
    fn any_input_value_is_accepted_or_rejected_by_name(idx in 0..inputs::ALL.len(), value in text()) {
        let def = inputs::ALL[idx];
        let env = AgentEnv::from_pairs([
            (format!("INPUT_{}", def.name.to_uppercase()), value),
            ("INPUT_ACTION".to_owned(), "validate".to_owned()),
        ]);
        if let Err(e) = Config::from_raw(&RawInputs::from_env(env)) {
            prop_assert_eq!(e.kind, ErrorKind::Input);
            prop_assert!(
                inputs::ALL.iter().any(|d| e.message.contains(&format!("`{}`", d.name))),
                "error names no input: {}", e.message
            );
        }
    }

    #[test]
    fn junit_is_always_well_formed(names in proptest::collection::vec(any::<String>(), 0..6), msg in any::<String>(), details in any::<String>()) {
        let cases: Vec<TestCase> = names.iter().enumerate().map(|(i, n)| TestCase {
            name: n.clone(),
            classname: "c".into(),
            seconds: i as f64 * 0.5,
            outcome: if i % 2 == 0 { CaseOutcome::Passed } else { CaseOutcome::Failed { message: msg.clone(), details: details.clone() } },
            output: details.clone(),
        }).collect();
        let xml = TestSuite { name: msg.clone(), hostname: "h".into(), timestamp: "2026-01-01T00:00:00Z".into(), cases }.to_xml();
        let mut r = quick_xml::Reader::from_str(&xml);
        let mut testcases = 0;
        loop {
            match r.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(quick_xml::events::Event::Start(e)) | Ok(quick_xml::events::Event::Empty(e)) => {
                    if e.name().into_inner() == "testcase" { testcases += 1; }
                    for a in e.attributes() { prop_assert!(a.is_ok()); }
                }
                Ok(_) => {}
                Err(e) => prop_assert!(false, "malformed XML: {e}\n{xml}"),
            }
        }
        prop_assert_eq!(testcases, names.len());
    }

    #[test]
    fn log_text_never_issues_commands_or_leaks_secrets(secret in "[A-Za-z0-9%;\\]]{3,24}", t in text()) {
        let out = Captured::default();
        let vso = Vso::new(Box::new(out.clone()), Escaping::default(), true);
        vso.set_secret(&secret);
        let line = format!("{t} {secret} {t}");
        vso.info(&line);
        vso.group(&line);
        vso.endgroup();
        vso.debug(&line);
        let text = out.text();
        let mut lines = text.lines().peekable();
        let first = lines.next().unwrap_or("");
        prop_assert!(first.starts_with("##vso[task.setsecret]"));
        // The value's other renderings (percent-encoded, ...) are announced right after it.
        while lines.peek().is_some_and(|l| l.starts_with("##vso[task.setsecret]")) {
            lines.next();
        }
        for l in lines {
            prop_assert!(!l.contains("##vso["), "{l}");
            // The agent's own prefix (`##[group]`) is not our text: `]%%` is no leak in
            // `##[group]%% *** %%`.
            let body = match l.strip_prefix("##[") {
                Some(rest) => rest.split_once(']').map_or(rest, |(_, b)| b),
                None => l,
            };
            prop_assert!(!body.contains(&secret), "{l}");
        }
    }
}
