//! Property test: any string written through our logging-command writer comes back unchanged
//! from Microsoft's task-lib parser and from a port of the agent's parser.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use flink_deploy::pipeline::vso::{format_command, Escaping};
use proptest::prelude::*;

struct Parser {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

fn parser() -> &'static Mutex<Parser> {
    static P: std::sync::OnceLock<Mutex<Parser>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let root = env!("CARGO_MANIFEST_DIR");
        assert!(
            std::path::Path::new(root)
                .join("node_modules/azure-pipelines-task-lib")
                .is_dir(),
            "azure-pipelines-task-lib is not installed: run `npm ci` (scripts/test does)"
        );
        let mut child = Command::new("node")
            .arg(format!("{root}/tests/support/parse-lines.js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Mutex::new(Parser {
            _child: child,
            stdin,
            stdout,
        })
    })
}

fn parse(line: &str) -> serde_json::Value {
    assert!(
        !line.contains('\n') && !line.contains('\r'),
        "a command must be one line: {line:?}"
    );
    let mut p = parser().lock().unwrap_or_else(|e| e.into_inner());
    writeln!(p.stdin, "{line}").unwrap();
    p.stdin.flush().unwrap();
    let mut reply = String::new();
    p.stdout.read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap()
}

fn nasty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(";".to_owned()),
        Just("]".to_owned()),
        Just("[".to_owned()),
        Just("%".to_owned()),
        Just("%AZP25".to_owned()),
        Just("%0A".to_owned()),
        Just("%3B".to_owned()),
        Just("%5D".to_owned()),
        Just("\r".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("=".to_owned()),
        Just("##vso[task.complete result=Failed]".to_owned()),
        Just(" ".to_owned()),
        "[a-zA-Z0-9]{1,4}",
        "[é中😀ß]",
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn property_and_message_round_trip(value in nasty(), message in nasty()) {
        let line = format_command(
            Escaping::default(),
            "task.setvariable",
            &[("variable", "name"), ("value", &value)],
            &message,
        );
        let r = parse(&line);
        // The agent's parser must give back exactly what was written.
        let agent = &r["agent"];
        prop_assert_eq!(agent["command"].as_str(), Some("task.setvariable"));
        prop_assert_eq!(agent["message"].as_str(), Some(message.as_str()));
        if value.is_empty() {
            prop_assert!(agent["properties"].get("value").is_none());
        } else {
            prop_assert_eq!(agent["properties"]["value"].as_str(), Some(value.as_str()));
        }
        // task-lib's parser trims each `key=value` piece (the agent does not), so trailing blanks of
        // a property cannot survive it; everything else must.
        let tl = &r["tasklib"];
        prop_assert!(r.get("tasklibError").is_none(), "task-lib rejected {:?}: {}", line, r);
        prop_assert_eq!(tl["message"].as_str(), Some(message.as_str()));
        let trimmed = value.trim_end_matches([' ', '\t']);
        if !trimmed.is_empty() {
            prop_assert_eq!(tl["properties"]["value"].as_str(), Some(trimmed));
        }
    }
}

#[test]
fn percent_decoding_off_keeps_percent_signs() {
    // With DECODE_PERCENTS=false the agent leaves %AZP25 alone, so we must not write it.
    let line = format_command(
        Escaping { percents: false },
        "task.setsecret",
        &[],
        "50%off",
    );
    assert_eq!(line, "##vso[task.setsecret]50%off");
}
