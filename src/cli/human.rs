//! The run's log for a person (and, with `--json`, one JSON document for a machine).
//!
//! Outside an agent, [`crate::pipeline::vso::Vso`] hands every logging command and log line
//! here instead of writing `##vso` lines: the renderer reads the same commands the agent would
//! (an issue, an output variable, the task result) and shows them the way a terminal user
//! expects. Steps become headings, warnings and errors are prefixed, output variables are
//! listed at the end, and a line says what the run is still doing when nothing has been printed
//! for a while. Colour is used only when asked for; the caller decides (terminal, `NO_COLOR`).
//!
//! Text arrives here already redacted by the writer in front of it; what is kept for the JSON
//! document is redacted once more at the end, for secrets learnt after it was recorded.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::pipeline::junit::CaseOutcome;
use crate::pipeline::vso::Redactor;
use crate::report::{Exit, StepRecord};

type Sink = Box<dyn Write + Send>;

/// How the run's output looks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// ANSI colours and bold headings.
    pub color: bool,
    /// Debug lines (`--debug`).
    pub debug: bool,
    /// One JSON document on the result stream at the end; the log goes to the log stream.
    pub json: bool,
    /// Say what the run is still doing after this long without a line (`None`: never).
    pub progress_every: Option<Duration>,
}

#[derive(Clone, Copy)]
enum Paint {
    Heading,
    Warning,
    Error,
    Dim,
    Good,
}

impl Paint {
    fn code(self) -> &'static str {
        match self {
            Paint::Heading => "\x1b[1m",
            Paint::Warning => "\x1b[33m",
            Paint::Error => "\x1b[31m",
            Paint::Dim => "\x1b[2m",
            Paint::Good => "\x1b[32m",
        }
    }
}

/// Server text may hold terminal escapes; a person's terminal must only get ours. It may also
/// hold logging commands, which an agent reading this output (a script step) must not obey.
fn printable(line: &str) -> String {
    crate::pipeline::vso::neutralize(line)
        .chars()
        .map(|c| {
            if c == '\t' || !c.is_control() {
                c
            } else {
                '\u{FFFD}'
            }
        })
        .collect()
}

struct State {
    log: Sink,
    result: Sink,
    /// Inside a collapsed group of the agent's log: lines are indented.
    in_group: bool,
    /// The step being run and when it started, for progress lines.
    step: Option<(String, Instant)>,
    /// The last upload or other progress the run reported, for progress lines.
    progress: Option<String>,
    last_line: Instant,
    outputs: BTreeMap<String, String>,
    warnings: Vec<String>,
    errors: Vec<String>,
    details: Vec<String>,
    steps: Vec<StepRecord>,
    result_message: Option<(String, String)>,
    finished: bool,
}

pub struct Human {
    style: Style,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Human {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Human").field("style", &self.style).finish()
    }
}

impl Human {
    /// `log` gets the lines for a person; `result` the JSON document (with `--json`).
    pub fn new(log: Sink, result: Sink, style: Style) -> Arc<Human> {
        let state = Arc::new(Mutex::new(State {
            log,
            result,
            in_group: false,
            step: None,
            progress: None,
            last_line: Instant::now(),
            outputs: BTreeMap::new(),
            warnings: vec![],
            errors: vec![],
            details: vec![],
            steps: vec![],
            result_message: None,
            finished: false,
        }));
        if let Some(every) = style.progress_every.filter(|d| !d.is_zero()) {
            spawn_progress(Arc::downgrade(&state), every, style.color);
        }
        Arc::new(Human { style, state })
    }

    pub fn style(&self) -> Style {
        self.style
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn paint(&self, p: Paint, text: &str) -> String {
        paint(self.style.color, p, text)
    }

    fn write(&self, st: &mut State, line: &str) {
        let indent = if st.in_group { "  " } else { "" };
        // A closed stream (the reader went away) must not stop the deployment.
        let _ = writeln!(st.log, "{indent}{line}");
        let _ = st.log.flush();
        st.last_line = Instant::now();
    }

    /// A plain log line.
    pub fn info(&self, text: &str) {
        let mut st = self.lock();
        for line in text.lines() {
            let line = printable(line);
            self.write(&mut st, &line);
        }
        if text.is_empty() {
            self.write(&mut st, "");
        }
    }

    /// The agent's decorated lines (`##[section]`, `##[group]`, `##[error]`, `##[debug]`).
    pub fn decorated(&self, tag: &str, text: &str) {
        let mut st = self.lock();
        for line in text.lines().map(printable) {
            match tag {
                "section" => {
                    st.in_group = false;
                    st.step = Some((line.clone(), Instant::now()));
                    st.progress = None;
                    let heading = self.paint(Paint::Heading, &format!("==> {line}"));
                    self.write(&mut st, &heading);
                }
                "group" => {
                    st.in_group = false;
                    let heading = self.paint(Paint::Heading, &format!("{line}:"));
                    self.write(&mut st, &heading);
                    st.in_group = true;
                }
                "error" => {
                    st.details.push(line.clone());
                    let red = self.paint(Paint::Error, &line);
                    self.write(&mut st, &red);
                }
                "debug" if self.style.debug => {
                    let dim = self.paint(Paint::Dim, &format!("debug: {line}"));
                    self.write(&mut st, &dim);
                }
                _ => {}
            }
        }
    }

    pub fn end_group(&self) {
        self.lock().in_group = false;
    }

    /// A logging command, read as the agent would read it. Values are already unescaped.
    pub fn command(&self, command: &str, props: &[(&str, &str)], data: &str) {
        let prop = |k: &str| {
            props
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| *v)
        };
        match command {
            "task.logissue" => self.issue(prop("type") == Some("error"), data),
            "task.setvariable" if prop("isoutput") == Some("true") => {
                if let Some(name) = prop("variable") {
                    self.lock().outputs.insert(name.to_owned(), data.to_owned());
                }
            }
            "task.complete" => {
                let result = prop("result").unwrap_or("Succeeded").to_owned();
                self.lock().result_message = Some((result, data.to_owned()));
            }
            "task.uploadsummary" => self.info(&format!("Summary: {data}")),
            "task.setprogress" => {
                let pct = prop("value").unwrap_or("0");
                self.lock().progress = Some(format!("{data} {pct}%"));
            }
            _ => {}
        }
    }

    fn issue(&self, error: bool, text: &str) {
        let mut st = self.lock();
        let (prefix, paint) = if error {
            st.errors.push(text.to_owned());
            ("error", Paint::Error)
        } else {
            st.warnings.push(text.to_owned());
            ("warning", Paint::Warning)
        };
        let mut lines = text.lines().map(printable);
        let first = lines.next().unwrap_or_default();
        let line = format!("{}: {first}", self.paint(paint, prefix));
        self.write(&mut st, &line);
        for rest in lines {
            self.write(&mut st, &format!("  {rest}"));
        }
    }

    /// The run's steps as the recorder closed them, for the JSON document.
    pub fn steps(&self, steps: &[StepRecord]) {
        self.lock().steps = steps.to_vec();
    }

    /// The end of the run: output variables and the result for a person, or the JSON document.
    /// Called once, after the reports are written.
    pub fn finish(&self, exit: Exit, redactor: &Redactor) {
        let mut st = self.lock();
        if st.finished {
            return;
        }
        st.finished = true;
        st.in_group = false;
        st.step = None;
        if !st.outputs.is_empty() {
            let heading = self.paint(Paint::Heading, "Outputs:");
            self.write(&mut st, &heading);
            let width = st.outputs.keys().map(String::len).max().unwrap_or(0);
            let lines: Vec<String> = st
                .outputs
                .iter()
                .map(|(k, v)| format!("  {k:<width$}  {}", printable(&redactor.redact(v))))
                .collect();
            for l in lines {
                self.write(&mut st, &l);
            }
        }
        let line = self.result_line(exit, &st);
        self.write(&mut st, &line);
        if self.style.json {
            let doc = document(&st, exit, redactor);
            let _ = writeln!(st.result, "{doc}");
            let _ = st.result.flush();
        }
    }

    fn result_line(&self, exit: Exit, st: &State) -> String {
        let (word, paint) = match exit {
            Exit::Succeeded => ("succeeded", Paint::Good),
            Exit::SucceededWithIssues => ("succeeded with warnings", Paint::Warning),
            Exit::Failed => ("failed", Paint::Error),
            Exit::BadInput => ("failed: bad input, nothing was changed", Paint::Error),
            Exit::Canceled => ("cancelled", Paint::Warning),
        };
        let warnings = match st.warnings.len() {
            0 => String::new(),
            1 => ", 1 warning".to_owned(),
            n => format!(", {n} warnings"),
        };
        format!(
            "{} (exit code {}{warnings})",
            self.paint(paint, &format!("flink-deploy {word}")),
            exit.status()
        )
    }
}

fn paint(color: bool, p: Paint, text: &str) -> String {
    if color {
        format!("{}{text}\x1b[0m", p.code())
    } else {
        text.to_owned()
    }
}

fn result_name(exit: Exit) -> &'static str {
    match exit {
        Exit::Succeeded => "succeeded",
        Exit::SucceededWithIssues => "succeededWithIssues",
        Exit::Failed => "failed",
        Exit::BadInput => "badInput",
        Exit::Canceled => "canceled",
    }
}

/// The JSON document of a run: result, exit code, message, outputs, steps, warnings, errors.
fn document(st: &State, exit: Exit, r: &Redactor) -> String {
    use serde_json::{json, Value};
    // One line on stdout: an agent reading it (a script step) must find no command in it.
    let red = |s: &str| Value::String(crate::pipeline::vso::neutralize(&r.redact(s)));
    let steps: Vec<Value> = st
        .steps
        .iter()
        .map(|s| {
            let (outcome, message) = match &s.outcome {
                CaseOutcome::Passed => ("passed", None),
                CaseOutcome::Failed { message, .. } => ("failed", Some(message)),
                CaseOutcome::Skipped { message } => ("skipped", Some(message)),
            };
            let mut v = json!({
                "name": red(&s.name),
                "outcome": outcome,
                "seconds": (s.seconds * 1000.0).round() / 1000.0,
            });
            if let Some(m) = message {
                v["message"] = red(m);
            }
            v
        })
        .collect();
    let outputs: serde_json::Map<String, Value> = st
        .outputs
        .iter()
        .map(|(k, v)| (k.clone(), red(v)))
        .collect();
    let doc = json!({
        "result": result_name(exit),
        "exitCode": exit.status(),
        "message": st.result_message.as_ref().map(|(_, m)| red(m)).unwrap_or(Value::Null),
        "outputs": outputs,
        "steps": steps,
        "warnings": st.warnings.iter().map(|w| red(w)).collect::<Vec<_>>(),
        "errors": st.errors.iter().map(|e| red(e)).collect::<Vec<_>>(),
        "details": st.details.iter().map(|d| red(d)).collect::<Vec<_>>(),
    });
    doc.to_string()
}

/// A line now and then while a step runs without printing anything (a long wait, an upload),
/// so a person can tell a slow platform from a hung run.
fn spawn_progress(state: Weak<Mutex<State>>, every: Duration, color: bool) {
    let tick = every.min(Duration::from_secs(1));
    let spawned = std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || loop {
            std::thread::sleep(tick);
            let Some(state) = state.upgrade() else {
                return;
            };
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            if st.finished {
                return;
            }
            let Some((step, started)) = st.step.clone() else {
                continue;
            };
            if st.last_line.elapsed() < every {
                continue;
            }
            let doing = st.progress.clone().unwrap_or(step);
            let line = paint(
                color,
                Paint::Dim,
                &format!(
                    "  … still {doing} ({})",
                    crate::wait::secs(started.elapsed())
                ),
            );
            let _ = writeln!(st.log, "{line}");
            let _ = st.log.flush();
            st.last_line = Instant::now();
        });
    // Without the thread the run only loses its progress lines.
    drop(spawned);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::vso::Captured;

    fn human(style: Style) -> (Arc<Human>, Captured, Captured) {
        let (log, result) = (Captured::default(), Captured::default());
        let h = Human::new(Box::new(log.clone()), Box::new(result.clone()), style);
        (h, log, result)
    }

    #[test]
    fn steps_are_headings_issues_are_prefixed_and_outputs_come_last() {
        let (h, log, result) = human(Style::default());
        h.decorated("section", "plan");
        h.decorated("group", "Plan");
        h.info("• create deployment `x`");
        h.end_group();
        h.command(
            "task.setvariable",
            &[("variable", "jobId"), ("isoutput", "true")],
            "j-1",
        );
        h.command(
            "task.setvariable",
            &[("variable", "x"), ("isoutput", "false")],
            "no",
        );
        h.command("task.logissue", &[("type", "warning")], "slow platform");
        h.command(
            "task.complete",
            &[("result", "SucceededWithIssues")],
            "done",
        );
        h.finish(Exit::SucceededWithIssues, &Redactor::default());
        assert_eq!(
            log.text(),
            "==> plan\nPlan:\n  • create deployment `x`\nwarning: slow platform\nOutputs:\n  jobId  j-1\nflink-deploy succeeded with warnings (exit code 0, 1 warning)\n"
        );
        assert_eq!(result.text(), "", "no JSON unless asked");
    }

    #[test]
    fn colour_only_when_asked_and_terminal_escapes_from_servers_are_neutralised() {
        let (h, log, _) = human(Style {
            color: true,
            ..Style::default()
        });
        h.command("task.logissue", &[("type", "error")], "boom");
        h.info("server says \x1b[2Jcleared");
        let text = log.text();
        assert!(text.starts_with("\x1b[31merror\x1b[0m: boom\n"), "{text:?}");
        assert!(text.contains("server says \u{FFFD}[2Jcleared"), "{text:?}");
        let (plain, log, _) = human(Style::default());
        plain.command("task.logissue", &[("type", "error")], "boom");
        assert!(!log.text().contains('\x1b'), "{:?}", log.text());
    }

    #[test]
    fn the_json_document_has_result_outputs_steps_and_errors() {
        let (h, log, result) = human(Style {
            json: true,
            ..Style::default()
        });
        let r = Redactor::default();
        h.command(
            "task.setvariable",
            &[("variable", "state"), ("isoutput", "true")],
            "RUNNING s3cr3t",
        );
        h.decorated(
            "error",
            "platform event: OOM ##vso[task.complete result=Succeeded]",
        );
        h.command("task.logissue", &[("type", "error")], "deployment failed");
        h.steps(&[StepRecord {
            name: "apply".into(),
            seconds: 1.23456,
            outcome: CaseOutcome::Failed {
                message: "deployment failed".into(),
                details: String::new(),
            },
            output: vec![],
        }]);
        h.command(
            "task.complete",
            &[("result", "Failed")],
            "deployment failed",
        );
        // Learnt after the value was recorded: still masked in the document.
        r.add("s3cr3t");
        h.finish(Exit::Failed, &r);
        let doc: serde_json::Value = serde_json::from_str(result.text().trim()).unwrap();
        assert_eq!(doc["result"], "failed");
        assert_eq!(doc["exitCode"], 1);
        assert_eq!(doc["outputs"]["state"], "RUNNING ***");
        assert_eq!(doc["steps"][0]["name"], "apply");
        assert_eq!(doc["steps"][0]["outcome"], "failed");
        assert_eq!(doc["steps"][0]["seconds"], 1.235);
        assert_eq!(doc["errors"][0], "deployment failed");
        assert!(doc["details"][0]
            .as_str()
            .unwrap()
            .starts_with("platform event: OOM #\u{2060}#vso["));
        assert!(!result.text().contains("##vso["));
        assert!(log.text().contains("flink-deploy failed (exit code 1)"));
        assert_eq!(result.text().lines().count(), 1);
    }

    #[test]
    fn behind_the_log_writer_no_logging_command_is_written_and_secrets_stay_masked() {
        use crate::pipeline::vso::{IssueSource, IssueType, TaskResult, Vso};
        let (h, log, result) = human(Style {
            json: true,
            ..Style::default()
        });
        let vso = Vso::human(h.clone());
        vso.set_secret("tok-3f9e");
        vso.section("apply");
        vso.info("PATCH with tok-3f9e\n##vso[task.complete result=Succeeded]");
        vso.set_variable("state", "RUNNING", false, true);
        vso.set_variable("exported", "tok-3f9e", true, false);
        vso.log_issue(IssueType::Warning, "slow tok-3f9e", &IssueSource::default());
        vso.set_progress(50, "uploading the artifact");
        vso.complete(TaskResult::Succeeded, "done");
        h.finish(Exit::SucceededWithIssues, vso.redactor());
        let text = log.text();
        assert_eq!(
            text,
            "==> apply\nPATCH with ***\n#\u{2060}#vso[task.complete result=Succeeded]\nwarning: slow ***\nOutputs:\n  state  RUNNING\nflink-deploy succeeded with warnings (exit code 0, 1 warning)\n"
        );
        assert!(!text.contains("##vso["), "{text}");
        let doc: serde_json::Value = serde_json::from_str(result.text().trim()).unwrap();
        assert_eq!(doc["outputs"], serde_json::json!({"state": "RUNNING"}));
        assert!(!result.text().contains("tok-3f9e"));
    }

    #[test]
    fn a_quiet_step_gets_progress_lines() {
        let (h, log, _) = human(Style {
            progress_every: Some(Duration::from_millis(200)),
            ..Style::default()
        });
        h.decorated("section", "wait for RUNNING");
        std::thread::sleep(Duration::from_millis(700));
        h.finish(Exit::Succeeded, &Redactor::default());
        let text = log.text();
        assert!(text.contains("  … still wait for RUNNING ("), "{text}");
        let (quiet, log, _) = human(Style::default());
        quiet.decorated("section", "wait for RUNNING");
        std::thread::sleep(Duration::from_millis(300));
        assert!(!log.text().contains("still"), "{}", log.text());
    }
}
