//! JUnit XML in the shape the agent's JUnit reader maps (a `<testsuite>` for the run and one per
//! deployment of a set, one `<testcase>` per step; `failure@message` becomes the error message and its text the stack trace).

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

#[derive(Clone, Debug, PartialEq)]
pub enum CaseOutcome {
    Passed,
    Failed { message: String, details: String },
    Skipped { message: String },
}

#[derive(Clone, Debug)]
pub struct TestCase {
    pub name: String,
    pub classname: String,
    pub seconds: f64,
    pub outcome: CaseOutcome,
    /// Log lines of the step; the agent keeps them for failed cases only.
    pub output: String,
}

#[derive(Clone, Debug)]
pub struct TestSuite {
    pub name: String,
    pub hostname: String,
    /// ISO-8601, UTC.
    pub timestamp: String,
    pub cases: Vec<TestCase>,
}

/// XML 1.0 cannot carry most control characters, even escaped: drop them so the file stays
/// well-formed whatever a server put in an error message.
fn xml_safe(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        })
        .collect()
}

fn secs(v: f64) -> String {
    if v.is_finite() && v >= 0.0 {
        format!("{v:.3}")
    } else {
        "0".into()
    }
}

impl TestSuite {
    pub fn to_xml(&self) -> String {
        to_xml(std::slice::from_ref(self))
    }

    fn write(&self, w: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        let failures = self
            .cases
            .iter()
            .filter(|c| matches!(c.outcome, CaseOutcome::Failed { .. }))
            .count();
        let skipped = self
            .cases
            .iter()
            .filter(|c| matches!(c.outcome, CaseOutcome::Skipped { .. }))
            .count();
        let total: f64 = self.cases.iter().map(|c| c.seconds.max(0.0)).sum();
        let mut suite = BytesStart::new("testsuite");
        let (tests, failures, skipped) = (
            self.cases.len().to_string(),
            failures.to_string(),
            skipped.to_string(),
        );
        let name = xml_safe(&self.name);
        let host = xml_safe(&self.hostname);
        let total = secs(total);
        suite.push_attribute(("name", name.as_str()));
        suite.push_attribute(("hostname", host.as_str()));
        suite.push_attribute(("timestamp", self.timestamp.as_str()));
        suite.push_attribute(("tests", tests.as_str()));
        suite.push_attribute(("failures", failures.as_str()));
        suite.push_attribute(("errors", "0"));
        suite.push_attribute(("skipped", skipped.as_str()));
        suite.push_attribute(("time", total.as_str()));
        w.write_event(Event::Start(suite))?;
        for case in &self.cases {
            write_case(w, case)?;
        }
        w.write_event(Event::End(BytesEnd::new("testsuite")))?;
        Ok(())
    }
}

fn write_case(w: &mut Writer<Vec<u8>>, case: &TestCase) -> std::io::Result<()> {
    let mut tc = BytesStart::new("testcase");
    // The reader drops a testcase without a name.
    let name = if case.name.trim().is_empty() {
        "step".to_owned()
    } else {
        xml_safe(&case.name)
    };
    let class = xml_safe(&case.classname);
    let time = secs(case.seconds);
    tc.push_attribute(("classname", class.as_str()));
    tc.push_attribute(("name", name.as_str()));
    tc.push_attribute(("time", time.as_str()));
    match &case.outcome {
        CaseOutcome::Passed => {
            w.write_event(Event::Empty(tc))?;
        }
        CaseOutcome::Skipped { message } => {
            w.write_event(Event::Start(tc))?;
            let mut s = BytesStart::new("skipped");
            let m = xml_safe(message);
            s.push_attribute(("message", m.as_str()));
            w.write_event(Event::Empty(s))?;
            w.write_event(Event::End(BytesEnd::new("testcase")))?;
        }
        CaseOutcome::Failed { message, details } => {
            w.write_event(Event::Start(tc))?;
            let mut f = BytesStart::new("failure");
            let m = xml_safe(message);
            f.push_attribute(("message", m.as_str()));
            f.push_attribute(("type", "DeploymentFailure"));
            w.write_event(Event::Start(f))?;
            let body = if details.trim().is_empty() {
                message
            } else {
                details
            };
            w.write_event(Event::Text(BytesText::new(&xml_safe(body))))?;
            w.write_event(Event::End(BytesEnd::new("failure")))?;
            if !case.output.is_empty() {
                w.write_event(Event::Start(BytesStart::new("system-out")))?;
                w.write_event(Event::Text(BytesText::new(&xml_safe(&case.output))))?;
                w.write_event(Event::End(BytesEnd::new("system-out")))?;
            }
            w.write_event(Event::End(BytesEnd::new("testcase")))?;
        }
    }
    Ok(())
}

/// One file with several suites: the run's own steps, and one suite per deployment of a set
/// (the agent's reader turns each suite into its own group of results).
pub fn to_xml(suites: &[TestSuite]) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let res: std::io::Result<()> = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.write_event(Event::Start(BytesStart::new("testsuites")))?;
        for s in suites {
            s.write(&mut w)?;
        }
        w.write_event(Event::End(BytesEnd::new("testsuites")))?;
        Ok(())
    })();
    // Writing into a Vec cannot fail.
    debug_assert!(res.is_ok());
    let mut xml = String::from_utf8(w.into_inner()).unwrap_or_default();
    xml.push('\n');
    xml
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::events::Event;
    use quick_xml::Reader;

    fn suite(cases: Vec<TestCase>) -> TestSuite {
        TestSuite {
            name: "flink-deploy".into(),
            hostname: "agent-1".into(),
            timestamp: "2026-11-22T10:00:00Z".into(),
            cases,
        }
    }

    fn case(name: &str, outcome: CaseOutcome) -> TestCase {
        TestCase {
            name: name.into(),
            classname: "flink-deploy.ververica".into(),
            seconds: 1.5,
            outcome,
            output: "line <1> & \"2\"".into(),
        }
    }

    /// Parse back with quick-xml and collect (element, attribute, value) triples.
    pub(crate) fn attrs(xml: &str) -> Vec<(String, String, String)> {
        let mut r = Reader::from_str(xml);
        let mut out = vec![];
        loop {
            match r.read_event().expect("well-formed XML") {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    let el = e.name().into_inner().to_owned();
                    for a in e.attributes() {
                        let a = a.unwrap();
                        out.push((
                            el.clone(),
                            a.key.into_inner().to_owned(),
                            a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                                .unwrap()
                                .into_owned(),
                        ));
                    }
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn counts_and_failure_text() {
        let xml = suite(vec![
            case("render spec", CaseOutcome::Passed),
            case(
                "reach RUNNING",
                CaseOutcome::Failed {
                    message: "deployment `a` FAILED <&>".into(),
                    details: "event: GENERAL_FAILURE\nboom".into(),
                },
            ),
            case(
                "rollback",
                CaseOutcome::Skipped {
                    message: "disabled".into(),
                },
            ),
        ])
        .to_xml();
        let a = attrs(&xml);
        let get = |el: &str, k: &str| {
            a.iter()
                .find(|(e, key, _)| e == el && key == k)
                .map(|(_, _, v)| v.clone())
        };
        assert_eq!(get("testsuite", "tests").as_deref(), Some("3"));
        assert_eq!(get("testsuite", "failures").as_deref(), Some("1"));
        assert_eq!(get("testsuite", "skipped").as_deref(), Some("1"));
        assert_eq!(get("testsuite", "time").as_deref(), Some("4.500"));
        assert_eq!(
            get("failure", "message").as_deref(),
            Some("deployment `a` FAILED <&>")
        );
        assert!(xml.contains("event: GENERAL_FAILURE\nboom"));
        assert!(
            xml.contains("<system-out>line &lt;1&gt; &amp; &quot;2&quot;</system-out>")
                || xml.contains("<system-out>line &lt;1&gt; &amp; \"2\"</system-out>")
        );
    }

    #[test]
    fn one_file_holds_a_suite_per_deployment() {
        let mut b = suite(vec![case("apply", CaseOutcome::Passed)]);
        b.name = "flink-deploy: deploy/b.yml".into();
        let xml = to_xml(&[suite(vec![case("plan", CaseOutcome::Passed)]), b]);
        let names: Vec<String> = attrs(&xml)
            .into_iter()
            .filter(|(e, k, _)| e == "testsuite" && k == "name")
            .map(|(_, _, v)| v)
            .collect();
        assert_eq!(names, ["flink-deploy", "flink-deploy: deploy/b.yml"]);
        assert_eq!(xml.matches("<testsuites>").count(), 1);
    }

    #[test]
    fn control_characters_never_break_the_file() {
        let xml = suite(vec![case(
            "x\u{1}y",
            CaseOutcome::Failed {
                message: "\u{0}bad\u{b}".into(),
                details: String::new(),
            },
        )])
        .to_xml();
        let a = attrs(&xml);
        assert!(a.iter().any(|(_, k, v)| k == "name" && v == "xy"));
        assert!(a
            .iter()
            .any(|(e, k, v)| e == "failure" && k == "message" && v == "bad"));
    }
}
