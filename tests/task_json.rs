//! task/task.json must declare exactly the inputs the code reads (src/pipeline/inputs.rs), with
//! the same types and defaults, and pass the checks tfx and the in-box build apply.

use flink_deploy::pipeline::inputs::{self, Kind};
use serde_json::Value;

fn task() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/task/task.json"))
        .expect("task/task.json");
    serde_json::from_str(&text).expect("task.json is JSON")
}

fn type_name(k: Kind) -> String {
    match k {
        Kind::String => "string".into(),
        Kind::MultiLine => "multiLine".into(),
        Kind::Boolean => "boolean".into(),
        Kind::FilePath => "filePath".into(),
        Kind::PickList(_) => "pickList".into(),
        Kind::Connection(t) => format!("connectedService:{t}"),
    }
}

#[test]
fn inputs_match_the_code() {
    let t = task();
    let declared = t["inputs"].as_array().expect("inputs");
    let names: Vec<&str> = declared
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    let code: Vec<&str> = inputs::ALL.iter().map(|d| d.name).collect();
    assert_eq!(
        names, code,
        "task.json inputs and src/pipeline/inputs.rs differ (names or order)"
    );
    for (json, def) in declared.iter().zip(inputs::ALL) {
        assert_eq!(
            json["type"].as_str(),
            Some(type_name(def.kind).as_str()),
            "type of {}",
            def.name
        );
        assert_eq!(
            json["defaultValue"].as_str().unwrap_or(""),
            def.default,
            "default of {}",
            def.name
        );
        if let Kind::PickList(opts) = def.kind {
            let keys: Vec<&str> = json["options"]
                .as_object()
                .unwrap_or_else(|| panic!("options of {}", def.name))
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(keys, opts, "pick list options of {}", def.name);
        }
        for field in ["label", "helpMarkDown"] {
            assert!(
                json[field].as_str().is_some_and(|s| !s.trim().is_empty()),
                "{} has no {field}",
                def.name
            );
        }
    }
}

#[test]
fn outputs_match_the_code() {
    let t = task();
    let outs: Vec<&str> = t["outputVariables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(outs, inputs::OUTPUTS);
}

#[test]
fn manifest_checks_of_tfx_and_the_inbox_build() {
    let t = task();
    let id = t["id"].as_str().unwrap();
    assert!(flink_deploy::config::checks::valid_uuid(id), "id is a GUID");
    assert_eq!(t["name"], "FlinkDeploy");
    let friendly = t["friendlyName"].as_str().unwrap();
    assert!(!friendly.is_empty() && friendly.chars().count() <= 40);
    assert!(t["instanceNameFormat"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(t["category"], "Deploy");
    assert_eq!(t["minimumAgentVersion"], "4.248.0");
    for handler in ["Node20_1", "Node24"] {
        let target = t["execution"][handler]["target"].as_str().expect(handler);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("task")
            .join(target);
        assert!(path.is_file(), "{handler} target {target} exists");
    }
}

#[test]
fn groups_and_visible_rules_refer_to_real_things() {
    let t = task();
    let groups: Vec<&str> = t["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    let names: Vec<&str> = inputs::ALL.iter().map(|d| d.name).collect();
    let mut rules: Vec<(String, String)> = vec![];
    for i in t["inputs"].as_array().unwrap() {
        let n = i["name"].as_str().unwrap().to_owned();
        if let Some(g) = i["groupName"].as_str() {
            assert!(groups.contains(&g), "{n}: unknown group {g}");
        }
        if let Some(r) = i["visibleRule"].as_str() {
            rules.push((n, r.to_owned()));
        }
    }
    for g in t["groups"].as_array().unwrap() {
        if let Some(r) = g["visibleRule"].as_str() {
            rules.push((g["name"].as_str().unwrap().to_owned(), r.to_owned()));
        }
    }
    for (owner, rule) in rules {
        for clause in rule.split("&&").flat_map(|c| c.split("||")) {
            let field = clause
                .split(|c: char| c == '=' || c == '!' || c == '<' || c == '>' || c.is_whitespace())
                .find(|s| !s.is_empty())
                .unwrap();
            assert!(
                names.contains(&field),
                "{owner}: visibleRule `{rule}` names unknown input {field}"
            );
        }
    }
}

#[test]
fn readme_documents_every_input_and_output() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for d in inputs::ALL {
        assert!(
            readme.contains(&format!("| `{}` |", d.name)),
            "README input table lacks {}",
            d.name
        );
    }
    for o in inputs::OUTPUTS {
        assert!(
            readme.contains(&format!("`{o}`")),
            "README lacks output {o}"
        );
    }
}

#[test]
fn release_pipeline_packages_with_the_same_script() {
    let yml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/azure-pipelines.yml"))
        .unwrap();
    assert!(
        yml.contains("scripts/package --prebuilt"),
        "azure-pipelines.yml must package with scripts/package"
    );
    assert!(
        yml.contains("scripts/test"),
        "azure-pipelines.yml must test with scripts/test"
    );
    for plat in ["linux-arm64", "win32-x64", "darwin-x64", "darwin-arm64"] {
        assert!(
            yml.contains(plat),
            "azure-pipelines.yml builds no {plat} binary"
        );
    }
    let package =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/package")).unwrap();
    for plat in ["linux-arm64", "win32-x64", "darwin-x64", "darwin-arm64"] {
        assert!(
            package.contains(plat),
            "scripts/package does not take {plat}"
        );
    }
}

#[test]
fn the_targets_that_take_several_spec_files_are_those_specfile_is_shown_for() {
    let t = task();
    let rule = t["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "specFile")
        .and_then(|i| i["visibleRule"].as_str())
        .expect("specFile has a visibleRule");
    let mut shown: Vec<&str> = rule
        .split("||")
        .map(|c| {
            c.trim()
                .strip_prefix("target =")
                .expect("target = x")
                .trim()
        })
        .collect();
    shown.sort();
    let mut code = inputs::SPEC_FILE_TARGETS.to_vec();
    code.sort();
    assert_eq!(
        shown, code,
        "inputs::SPEC_FILE_TARGETS and the visibleRule of specFile differ"
    );
}
