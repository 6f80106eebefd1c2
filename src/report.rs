//! The run's recorder: every step, log line, output variable and summary section goes through
//! it, and at the end it writes the JUnit file and the summary and decides the task result.
//! Targets report here; they never print.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use crate::error::{Error, ErrorKind};
use crate::pipeline::junit::{CaseOutcome, TestCase, TestSuite};
pub use crate::pipeline::summary::cell;
use crate::pipeline::summary::Summary;
use crate::pipeline::vso::{Held, HeldLine, IssueSource, IssueType, Masker, TaskResult, Vso};

#[derive(Clone, Debug)]
pub struct StepRecord {
    pub name: String,
    pub seconds: f64,
    pub outcome: CaseOutcome,
    pub output: Vec<String>,
}

struct Open {
    name: String,
    started: Instant,
    output: Vec<String>,
}

/// The outcome of a whole run, for the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Succeeded,
    SucceededWithIssues,
    /// The deployment (or a platform call) failed.
    Failed,
    /// Bad input: nothing was changed.
    BadInput,
    /// Stopped on a signal from the agent (the run was cancelled or timed out).
    Canceled,
}

impl Exit {
    /// The process exit status.
    pub fn status(self) -> u8 {
        match self {
            Exit::Succeeded | Exit::SucceededWithIssues => 0,
            Exit::Failed => 1,
            Exit::BadInput => 2,
            // 128 + SIGINT, what a shell reports for a job stopped with Ctrl+C.
            Exit::Canceled => 130,
        }
    }

    pub fn code(self) -> ExitCode {
        ExitCode::from(self.status())
    }
}

pub struct Recorder {
    vso: Vso,
    classname: String,
    title: String,
    steps: Vec<StepRecord>,
    open: Option<Open>,
    outputs: BTreeMap<String, String>,
    timeline: Vec<(String, String)>,
    started: time::OffsetDateTime,
    clock: Instant,
    warnings: usize,
    /// Target-written sections, in order.
    pub summary: Summary,
    /// Facts shown at the top of the summary (target, deployment, namespace, URL, …).
    facts: Vec<(String, String)>,
    /// What the run works on, in words, for the message of a run stopped midway.
    subject: Option<String>,
    /// Set once the run may have changed something (a platform, Blob Storage).
    changing: bool,
    /// This recorder is one deployment of a set (see [`Recorder::member`]).
    member: Option<MemberOf>,
    /// The deployments of a set that have ended, in the order they ended.
    members: Vec<MemberReport>,
    /// Deployments of a set still under way: their held lines, shown even when the run is
    /// stopped before they end.
    pending: Vec<(String, Held)>,
    /// The deployments of a set in the order of their files, for the reports.
    order: Vec<String>,
}

/// What makes a recorder one deployment of a set.
struct MemberOf {
    /// The run's own writer: state changes are shown there at once.
    echo: Vso,
    held: Held,
    label: String,
}

/// One deployment of a set as it ended: everything the run's reports show of it.
#[derive(Debug)]
pub struct MemberReport {
    pub label: String,
    pub file: String,
    pub result: MemberResult,
    pub seconds: f64,
    pub subject: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub facts: Vec<(String, String)>,
    pub steps: Vec<StepRecord>,
    pub timeline: Vec<(String, String)>,
    /// What the target wrote to the summary (a diff, a Rollback section).
    pub summary: String,
    pub warnings: usize,
    started: time::OffsetDateTime,
    held: Vec<HeldLine>,
}

/// How one deployment of a set ended.
#[derive(Clone, Debug, PartialEq)]
pub enum MemberResult {
    Succeeded,
    /// Its error's headline.
    Failed(String),
    /// It never started; why.
    NotStarted(String),
    /// It succeeded, then was put back because another deployment failed; how that went.
    PutBack(String),
}

impl MemberResult {
    pub fn word(&self) -> &'static str {
        match self {
            MemberResult::Succeeded => "succeeded",
            MemberResult::Failed(_) => "failed",
            MemberResult::NotStarted(_) => "not started",
            MemberResult::PutBack(_) => "rolled back",
        }
    }

    fn icon(&self) -> &'static str {
        match self {
            MemberResult::Succeeded => "✅",
            MemberResult::Failed(_) => "❌",
            MemberResult::NotStarted(_) => "⏭️",
            MemberResult::PutBack(_) => "↩️",
        }
    }

    fn note(&self) -> &str {
        match self {
            MemberResult::Succeeded => "",
            MemberResult::Failed(s) | MemberResult::NotStarted(s) | MemberResult::PutBack(s) => s,
        }
    }
}

fn now_iso() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Recorder {
    pub fn new(vso: Vso, classname: &str, title: &str) -> Self {
        Self {
            vso,
            classname: classname.to_owned(),
            title: title.to_owned(),
            steps: vec![],
            open: None,
            outputs: BTreeMap::new(),
            timeline: vec![],
            started: time::OffsetDateTime::now_utc(),
            clock: Instant::now(),
            warnings: 0,
            summary: Summary::default(),
            facts: vec![],
            subject: None,
            changing: false,
            member: None,
            members: vec![],
            pending: vec![],
            order: vec![],
        }
    }

    /// A recorder for one deployment of a set, named `label` in the log. Its lines are held
    /// back and shown as one block when it ends ([`Recorder::add_member`]), so a hundred
    /// deployments at once still give a log that reads deployment by deployment; each state
    /// change is shown in this run's log at once as one line, `label: event`. It sets no
    /// output variable of its own: the run sets `deployments` with all of them.
    pub fn member(&mut self, label: &str) -> Recorder {
        let (vso, held) = self.vso.held();
        self.pending.push((label.to_owned(), held.clone()));
        self.order.push(label.to_owned());
        let mut r = Recorder::new(vso, &self.classname, &format!("{}: {label}", self.title));
        r.member = Some(MemberOf {
            echo: self.vso.clone(),
            held,
            label: label.to_owned(),
        });
        r
    }

    /// Close a deployment's recorder: its open step ends with `result`.
    pub fn into_member(
        mut self,
        file: &str,
        result: MemberResult,
        err: Option<&Error>,
    ) -> MemberReport {
        match err {
            Some(e) => self.fail(e),
            None => self.pass(),
        }
        let m = self.member.take();
        let held = m
            .as_ref()
            .map(|m| std::mem::take(&mut *m.held.lock().unwrap_or_else(|p| p.into_inner())))
            .unwrap_or_default();
        MemberReport {
            label: m.map(|m| m.label).unwrap_or_default(),
            file: file.to_owned(),
            result,
            seconds: self.clock.elapsed().as_secs_f64(),
            subject: self.subject,
            outputs: self.outputs,
            facts: self.facts,
            steps: self.steps,
            timeline: self.timeline,
            summary: self.summary.as_str().to_owned(),
            warnings: self.warnings,
            started: self.started,
            held,
        }
    }

    /// A deployment of a set has ended: show its block in the log and keep it for the reports.
    pub fn add_member(&mut self, m: MemberReport) {
        self.pending.retain(|(l, _)| *l != m.label);
        self.show_member(
            &m.label,
            &format!("{} in {:.1}s", m.result.word(), m.seconds),
            m.held.clone(),
        );
        self.members.push(m);
    }

    fn show_member(&self, label: &str, how: &str, lines: Vec<HeldLine>) {
        self.vso.section(&format!("{label}: {how}"));
        self.vso.replay(lines);
        self.vso.info(&format!("(end of {label})"));
    }

    pub fn members(&self) -> &[MemberReport] {
        &self.members
    }

    /// Registers secrets as they become known (tokens, encoded passwords, Key Vault values).
    pub fn masker(&self) -> Masker {
        self.vso.masker()
    }

    /// Mask a secret from here on, in the log and in every report.
    pub fn secret(&self, value: &str) {
        self.vso.set_secret(value);
    }

    /// Text as every report shows it: registered secrets replaced.
    pub fn redact(&self, text: &str) -> String {
        self.vso.redactor().redact(text)
    }

    /// Set a secret pipeline variable for later steps.
    pub fn export_secret(&self, name: &str, value: &str) {
        self.vso.set_variable(name, value, true, false);
    }

    /// The plan, in the log (a collapsed group) and in the summary.
    pub fn plan(&mut self, lines: &[String]) {
        self.vso.group("Plan");
        for l in lines {
            self.vso.info(&format!("• {l}"));
        }
        self.vso.endgroup();
        self.summary.heading(4, "Plan");
        let md: String = lines.iter().map(|l| format!("- {l}\n")).collect();
        self.summary.paragraph(&md);
    }

    /// Start a step; it shows as a section in the log and a testcase in JUnit.
    pub fn begin(&mut self, name: &str) {
        if self.open.is_some() {
            self.pass();
        }
        self.vso.section(name);
        self.open = Some(Open {
            name: name.to_owned(),
            started: Instant::now(),
            output: vec![],
        });
    }

    fn close(&mut self, outcome: CaseOutcome) {
        if let Some(o) = self.open.take() {
            self.steps.push(StepRecord {
                name: o.name,
                seconds: o.started.elapsed().as_secs_f64(),
                outcome,
                output: o.output,
            });
        }
    }

    pub fn pass(&mut self) {
        self.close(CaseOutcome::Passed);
    }

    pub fn fail(&mut self, err: &Error) {
        if self.open.is_none() {
            return;
        }
        let r = self.vso.redactor().clone();
        let mut details = vec![err.message.clone()];
        details.extend(err.details.iter().cloned());
        if let Some(h) = &err.hint {
            details.push(format!("hint: {h}"));
        }
        self.close(CaseOutcome::Failed {
            message: r.redact(&err.headline()),
            details: r.redact(&details.join("\n")),
        });
    }

    /// Close the open step with the result of its work and pass the result on.
    pub fn end<T>(&mut self, r: crate::error::Result<T>) -> crate::error::Result<T> {
        match &r {
            Ok(_) => self.pass(),
            Err(e) => self.fail(e),
        }
        r
    }

    pub fn skip(&mut self, name: &str, reason: &str) {
        if self.open.is_some() {
            self.pass();
        }
        self.steps.push(StepRecord {
            name: name.to_owned(),
            seconds: 0.0,
            outcome: CaseOutcome::Skipped {
                message: reason.to_owned(),
            },
            output: vec![],
        });
    }

    /// A log line, kept with the current step for the JUnit file.
    pub fn log(&mut self, text: &str) {
        self.vso.info(text);
        if let Some(o) = &mut self.open {
            o.output.push(self.vso.redactor().redact(text));
        }
    }

    pub fn debug(&mut self, text: &str) {
        self.vso.debug(text);
    }

    /// A warning issue (the run then ends SucceededWithIssues at best).
    pub fn warn(&mut self, text: &str) {
        self.warnings += 1;
        self.vso
            .log_issue(IssueType::Warning, text, &IssueSource::default());
        if let Some(o) = &mut self.open {
            o.output
                .push(format!("warning: {}", self.vso.redactor().redact(text)));
        }
    }

    /// A red line in the log, e.g. a platform event that explains a failure.
    pub fn error_line(&mut self, text: &str) {
        self.vso.error_line(text);
        if let Some(o) = &mut self.open {
            o.output.push(self.vso.redactor().redact(text));
        }
    }

    pub fn group(&mut self, title: &str, body: &str) {
        self.vso.group(title);
        self.vso.info(body);
        self.vso.endgroup();
    }

    /// Set an output variable (`<step>.<name>` in later steps) and remember it for the summary.
    /// A deployment of a set only remembers it, for `deployments`.
    pub fn output(&mut self, name: &str, value: &str) {
        debug_assert!(crate::pipeline::inputs::OUTPUTS.contains(&name), "{name}");
        if self.member.is_none() {
            self.vso.set_variable(name, value, false, true);
        }
        self.outputs.insert(name.to_owned(), value.to_owned());
    }

    pub fn outputs(&self) -> &BTreeMap<String, String> {
        &self.outputs
    }

    /// A state change with its time, for the summary's timeline.
    pub fn timeline(&mut self, event: &str) {
        if let Some(m) = &self.member {
            m.echo.info(&format!("{}: {event}", m.label));
        }
        let t = self.clock.elapsed().as_secs_f64();
        self.timeline.push((format!("+{t:.1}s"), event.to_owned()));
    }

    pub fn fact(&mut self, key: &str, value: &str) {
        self.facts.push((key.to_owned(), value.to_owned()));
    }

    /// What the run works on, e.g. "deployment `x` in namespace `y`".
    pub fn subject(&mut self, text: &str) {
        self.subject = Some(text.to_owned());
    }

    /// What the run works on, when the target has said.
    pub fn subject_text(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// From here on the run may change things, so stopping early can leave work half done.
    pub fn applying(&mut self) {
        self.changing = true;
    }

    /// The error for a run stopped by `signal`. The step that was running stays open, so
    /// [`Recorder::finish`] records it as failed with this error; when the signal came between
    /// steps, a step `cancelled` stands for it in the JUnit file.
    pub fn cancelled(&mut self, signal: &str) -> Error {
        let (when, on, outcome) = self.interrupted();
        Error::new(
            ErrorKind::Canceled,
            format!("cancelled {when}{on}: {outcome}"),
        )
        .with_detail(format!(
            "{signal} received: stopped at once, without waiting for the platform; a cancelled run is not rolled back"
        ))
    }

    /// The run used up its whole budget (`limit` names it) and was stopped where it stood.
    pub fn out_of_time(&mut self, limit: &str) -> Error {
        let (when, on, outcome) = self.interrupted();
        Error::timeout(format!(
            "stopped {when}{on}: the run used up {limit}; {outcome}"
        ))
        .with_hint("raise timeoutSeconds if the platform is only slow")
    }

    /// Where a run stopped from outside stands: the step, what it worked on, and whether the
    /// platform may still be changing.
    fn interrupted(&mut self) -> (String, String, &'static str) {
        let when = match (&self.open, self.steps.last()) {
            (Some(o), _) => format!("while {}", o.name),
            (None, Some(s)) => format!("after {}", s.name),
            (None, None) => "before the first step".to_owned(),
        };
        if self.open.is_none() {
            self.open = Some(Open {
                name: "cancelled".to_owned(),
                started: Instant::now(),
                output: vec![],
            });
        }
        let on = self
            .subject
            .as_ref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        let outcome = if self.changing {
            "the platform may still be carrying out the last change; run the pipeline again to finish it"
        } else {
            "nothing was changed"
        };
        (when, on, outcome)
    }

    pub fn progress(&self, percent: u8, what: &str) {
        // A deployment of a set is one of many; the run's own progress says how far it is.
        if self.member.is_none() {
            self.vso.set_progress(percent, what);
        }
    }

    pub fn steps(&self) -> &[StepRecord] {
        &self.steps
    }

    /// The run's own suite, then one per deployment of a set.
    fn junit(&self) -> Vec<TestSuite> {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let suite =
            |name: String, started: &time::OffsetDateTime, steps: &[StepRecord]| TestSuite {
                name,
                hostname: host.clone(),
                timestamp: started
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|_| now_iso()),
                cases: steps
                    .iter()
                    .map(|s| TestCase {
                        name: s.name.clone(),
                        classname: self.classname.clone(),
                        seconds: s.seconds,
                        outcome: s.outcome.clone(),
                        output: s.output.join("\n"),
                    })
                    .collect(),
            };
        let mut all = vec![suite(self.title.clone(), &self.started, &self.steps)];
        for m in &self.members {
            let mut steps = m.steps.clone();
            if let MemberResult::NotStarted(why) = &m.result {
                steps.push(StepRecord {
                    name: "deploy".into(),
                    seconds: 0.0,
                    outcome: CaseOutcome::Skipped {
                        message: why.clone(),
                    },
                    output: vec![],
                });
            }
            all.push(suite(
                format!("{}: {}", self.title, m.label),
                &m.started,
                &steps,
            ));
        }
        all
    }

    /// The `deployments` output: every deployment of a set with its outputs, as JSON.
    fn deployments_json(&self) -> String {
        let list: Vec<serde_json::Value> = self
            .members
            .iter()
            .map(|m| {
                let mut o = serde_json::Map::new();
                o.insert("file".into(), m.file.clone().into());
                for (k, v) in &m.outputs {
                    o.insert(k.clone(), v.clone().into());
                }
                o.insert("result".into(), m.result.word().into());
                o.insert("seconds".into(), ((m.seconds * 10.0).round() / 10.0).into());
                if !m.result.note().is_empty() {
                    o.insert("error".into(), m.result.note().into());
                }
                serde_json::Value::Object(o)
            })
            .collect();
        serde_json::Value::Array(list).to_string()
    }

    /// The summary's table of a set, a row per deployment, and what each target wrote.
    fn members_summary(&self, s: &mut Summary) {
        if self.members.is_empty() {
            return;
        }
        let rows: Vec<Vec<String>> = self
            .members
            .iter()
            .map(|m| {
                let get = |k: &str| m.outputs.get(k).cloned().unwrap_or_default();
                let name = m
                    .outputs
                    .get("deploymentName")
                    .cloned()
                    .unwrap_or_else(|| m.label.clone());
                let link = m
                    .facts
                    .iter()
                    .find(|(_, v)| v.starts_with('[') && v.contains("]("))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                vec![
                    format!("{} {name}", m.result.icon()),
                    format!("`{}`", m.file),
                    format!(
                        "{}{}",
                        m.result.word(),
                        if m.result.note().is_empty() {
                            String::new()
                        } else {
                            format!(": {}", m.result.note())
                        }
                    ),
                    get("state"),
                    get("jobId"),
                    format!("{:.1}s", m.seconds),
                    link,
                ]
            })
            .collect();
        s.heading(4, "Deployments").table(
            &[
                "Deployment",
                "File",
                "Result",
                "State",
                "Job id",
                "Time",
                "Link",
            ],
            &rows,
        );
        for m in self.members.iter().filter(|m| !m.summary.trim().is_empty()) {
            s.paragraph(&format!(
                "<details><summary>{}</summary>\n\n{}\n</details>",
                cell(&m.label),
                m.summary.trim_end()
            ));
        }
    }

    fn render_summary(&self, result: &Result<(), Error>) -> String {
        let mut s = Summary::default();
        let status = match result {
            Ok(()) if self.warnings > 0 => "✅ succeeded with warnings",
            Ok(()) => "✅ succeeded",
            Err(e) if e.kind == ErrorKind::Canceled => "⏹️ cancelled",
            Err(_) => "❌ failed",
        };
        s.heading(3, &format!("{} — {status}", self.title));
        if let Err(e) = result {
            s.paragraph(&format!("**Error:** {}", e.message));
            if let Some(h) = &e.hint {
                s.paragraph(&format!("**Hint:** {h}"));
            }
            if !e.details.is_empty() {
                s.code("", &e.details.join("\n"));
            }
        }
        if !self.facts.is_empty() || !self.outputs.is_empty() {
            let mut rows: Vec<Vec<String>> = self
                .facts
                .iter()
                .map(|(k, v)| vec![k.clone(), v.clone()])
                .collect();
            rows.extend(
                self.outputs
                    .iter()
                    .map(|(k, v)| vec![format!("`{k}` (output)"), v.clone()]),
            );
            s.table(&["", ""], &rows);
        }
        let steps: Vec<Vec<String>> = self
            .steps
            .iter()
            .map(|st| {
                let (icon, note) = match &st.outcome {
                    CaseOutcome::Passed => ("✅", String::new()),
                    CaseOutcome::Failed { message, .. } => ("❌", message.clone()),
                    CaseOutcome::Skipped { message } => ("⏭️", message.clone()),
                };
                vec![
                    format!("{icon} {}", st.name),
                    format!("{:.1}s", st.seconds),
                    note,
                ]
            })
            .collect();
        if !steps.is_empty() {
            s.table(&["Step", "Time", "Note"], &steps);
        }
        self.members_summary(&mut s);
        if !self.timeline.is_empty() {
            let rows: Vec<Vec<String>> = self
                .timeline
                .iter()
                .map(|(t, e)| vec![t.clone(), e.clone()])
                .collect();
            s.heading(4, "Timeline").table(&["Time", "Event"], &rows);
        }
        let mut out = s.as_str().to_owned();
        out.push_str(self.summary.as_str());
        self.vso.redactor().redact(&out)
    }

    fn write_junit(&mut self, path: &std::path::Path, reports: &crate::config::ReportConfig) {
        let xml = self
            .vso
            .redactor()
            .redact(&crate::pipeline::junit::to_xml(&self.junit()));
        let overwrites = reports
            .reads
            .iter()
            .find(|r| crate::fsread::same_file(r, path));
        let written = match overwrites {
            Some(r) => Err(format!(
                "it is the same file as `{}`, which the run reads",
                r.display()
            )),
            None => write_file(path, &xml).map_err(|e| e.to_string()),
        };
        match written {
            Ok(()) => {
                self.vso.info(&format!("Test results: {}", path.display()));
                if reports.publish {
                    self.vso
                        .publish_test_results("JUnit", &path.to_string_lossy(), &self.title);
                }
            }
            Err(e) => self.warn(&format!(
                "cannot write the JUnit file `{}` ({e}); the Tests tab gets nothing from this run. Check input `{}` and that the agent can write there",
                path.display(),
                crate::pipeline::inputs::TEST_RESULTS_FILE
            )),
        }
    }

    /// Write the reports and the task result. The one place that decides how the task ends.
    pub fn finish(
        mut self,
        result: Result<(), Error>,
        reports: &crate::config::ReportConfig,
    ) -> Exit {
        if let Err(e) = &result {
            self.fail(e);
        } else {
            self.pass();
        }
        // Deployments a stop cut short still show what they did.
        for (label, held) in std::mem::take(&mut self.pending) {
            let lines = std::mem::take(&mut *held.lock().unwrap_or_else(|p| p.into_inner()));
            self.show_member(&label, "stopped before it ended", lines);
        }
        if !self.members.is_empty() {
            // The log shows them as they ended; the reports in the order of their files.
            let at = |l: &str| self.order.iter().position(|o| o == l);
            let mut members = std::mem::take(&mut self.members);
            members.sort_by_key(|m| at(&m.label));
            self.members = members;
            let json = self.deployments_json();
            self.output("deployments", &json);
            self.warnings += self.members.iter().map(|m| m.warnings).sum::<usize>();
        }
        if let Some(path) = &reports.summary_path {
            let summary = self.render_summary(&result);
            match write_file(path, &summary) {
                Ok(()) => self.vso.upload_summary(&path.to_string_lossy()),
                Err(e) => self.warn(&format!(
                    "cannot write the summary `{}` ({e}); check that the agent can write to Agent.TempDirectory",
                    path.display()
                )),
            }
        }
        if let Some(path) = &reports.junit_path {
            self.write_junit(path, reports);
        }
        self.vso.steps(&self.steps);
        conclude(&self.vso, result, self.warnings)
    }
}

/// Emit the final issue and `task.complete`, and pick the exit. Also used before a recorder
/// exists (bad input).
pub fn conclude(vso: &Vso, result: Result<(), Error>, warnings: usize) -> Exit {
    match result {
        Ok(()) if warnings > 0 => {
            vso.complete(TaskResult::SucceededWithIssues, "done with warnings");
            Exit::SucceededWithIssues
        }
        Ok(()) => {
            vso.complete(TaskResult::Succeeded, "done");
            Exit::Succeeded
        }
        Err(e) => {
            // The full account, as ordinary lines: the issue below carries the headline, and what
            // explains the failure was shown as errors where it happened.
            if !e.details.is_empty() {
                vso.group("Details of the error");
                for d in &e.details {
                    vso.info(d);
                }
                vso.endgroup();
            }
            vso.log_issue(IssueType::Error, &e.headline(), &IssueSource::default());
            let (result, exit) = match e.kind {
                ErrorKind::Input => (TaskResult::Failed, Exit::BadInput),
                ErrorKind::Canceled => (TaskResult::Canceled, Exit::Canceled),
                _ => (TaskResult::Failed, Exit::Failed),
            };
            vso.complete(result, &e.message);
            exit
        }
    }
}

fn write_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write beside and rename, so a reader never sees half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ReportConfig;
    use crate::pipeline::vso::{Captured, Escaping};

    fn recorder() -> (Recorder, Captured) {
        let out = Captured::default();
        let vso = Vso::new(Box::new(out.clone()), Escaping::default(), false);
        let rec = Recorder::new(
            vso,
            "flink-deploy.ververica",
            "flink-deploy ververica deploy",
        );
        (rec, out)
    }

    fn reports(dir: &tempfile::TempDir) -> ReportConfig {
        ReportConfig {
            junit_path: Some(dir.path().join("junit.xml")),
            summary_path: Some(dir.path().join("summary.md")),
            publish: true,
            reads: vec![],
        }
    }

    #[test]
    fn the_junit_file_never_replaces_a_file_the_run_reads() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("deployment.yaml");
        std::fs::write(&spec, "kind: Deployment\n").unwrap();
        // The test results file is a link to the spec file: same file, another name.
        let mut r = reports(&dir);
        #[cfg(unix)]
        std::os::unix::fs::symlink(&spec, r.junit_path.as_ref().unwrap()).unwrap();
        #[cfg(not(unix))]
        {
            r.junit_path = spec.clone();
        }
        r.reads = vec![spec.clone()];
        let (mut rec, out) = recorder();
        rec.begin("plan");
        let exit = rec.finish(Ok(()), &r);
        assert_eq!(exit, Exit::SucceededWithIssues);
        assert_eq!(
            std::fs::read_to_string(&spec).unwrap(),
            "kind: Deployment\n"
        );
        let log = out.text();
        assert!(log.contains("which the run reads"), "{log}");
        assert!(!log.contains("##vso[results.publish"), "{log}");
    }

    #[test]
    fn a_run_out_of_time_names_its_budget_and_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let (mut rec, out) = recorder();
        rec.applying();
        rec.begin("apply");
        let err = rec.out_of_time("its budget of 80s (6 × timeoutSeconds + 2 × settleSeconds)");
        let exit = rec.finish(Err(err), &reports(&dir));
        assert_eq!(exit, Exit::Failed);
        let log = out.text();
        assert!(
            log.contains("##vso[task.complete result=Failed]stopped while apply: the run used up its budget of 80s (6 × timeoutSeconds + 2 × settleSeconds); the platform may still be carrying out the last change"),
            "{log}"
        );
    }

    /// The `<testcase>` element named `name`, start tag to end tag.
    fn testcase<'a>(xml: &'a str, name: &str) -> &'a str {
        let at = xml
            .find(&format!("name=\"{name}\""))
            .unwrap_or_else(|| panic!("no testcase {name} in {xml}"));
        let rest = &xml[xml[..at].rfind("<testcase").expect("testcase start")..];
        let tag_end = rest.find('>').expect("start tag end") + 1;
        if rest[..tag_end].ends_with("/>") {
            return &rest[..tag_end];
        }
        let close = rest.find("</testcase>").expect("testcase end");
        &rest[..close + "</testcase>".len()]
    }

    fn complete_lines(log: &str) -> Vec<&str> {
        log.lines()
            .filter(|l| l.starts_with("##vso[task.complete"))
            .collect()
    }

    #[test]
    fn the_details_of_an_error_are_its_full_account_not_red_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (mut rec, out) = recorder();
        rec.begin("reach RUNNING");
        rec.log("event STATE_TRANSITION_IS_NEEDED: Transitioning to RUNNING.");
        rec.error_line("event FAILED_CREATING_A_NEW_JOB: Job failed: java.lang.Oops");
        let err = Error::deployment("deployment `a` did not reach RUNNING: java.lang.Oops")
            .with_details([
                "event STATE_TRANSITION_IS_NEEDED: Transitioning to RUNNING.".to_owned(),
                "event FAILED_CREATING_A_NEW_JOB: Job failed: java.lang.Oops".to_owned(),
            ]);
        let exit = rec.finish(Err(err), &reports(&dir));
        assert_eq!(exit, Exit::Failed);
        let log = out.text();
        let red: Vec<&str> = log.lines().filter(|l| l.starts_with("##[error]")).collect();
        assert_eq!(
            red,
            ["##[error]event FAILED_CREATING_A_NEW_JOB: Job failed: java.lang.Oops"],
            "{log}"
        );
        let group = log
            .split("##[group]Details of the error\n")
            .nth(1)
            .and_then(|g| g.split("##[endgroup]").next())
            .unwrap_or_else(|| panic!("no group of details: {log}"));
        assert!(group.contains("event STATE_TRANSITION_IS_NEEDED: Transitioning to RUNNING.\n"));
        assert!(group.contains("event FAILED_CREATING_A_NEW_JOB"));
        assert!(log.contains(
            "##vso[task.logissue type=error]deployment `a` did not reach RUNNING: java.lang.Oops"
        ));
        let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
        assert!(summary.contains("Transitioning to RUNNING."), "{summary}");
    }

    #[test]
    fn a_run_cancelled_mid_step_ends_canceled_with_that_step_failed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut rec, out) = recorder();
        rec.begin("plan");
        rec.pass();
        rec.subject("deployment `top-speed` in namespace `default`");
        rec.applying();
        rec.begin("apply");
        rec.pass();
        rec.begin("reach RUNNING");
        rec.log("TRANSITIONING");
        let err = rec.cancelled("SIGINT");
        let exit = rec.finish(Err(err), &reports(&dir));

        assert_eq!(exit, Exit::Canceled);
        assert_eq!(exit.status(), 130);
        let log = out.text();
        let message = "cancelled while reach RUNNING (deployment `top-speed` in namespace `default`): the platform may still be carrying out the last change; run the pipeline again to finish it";
        assert_eq!(
            complete_lines(&log),
            vec![format!("##vso[task.complete result=Canceled]{message}")],
            "{log}"
        );
        assert!(
            log.contains(&format!("##vso[task.logissue type=error]{message}")),
            "{log}"
        );
        assert!(log.contains("##vso[results.publish"), "{log}");

        let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
        let step = testcase(&xml, "reach RUNNING");
        assert!(
            step.contains(&format!("<failure message=\"{message}\"")),
            "{step}"
        );
        assert!(step.contains("SIGINT received"), "{step}");
        assert!(step.contains("TRANSITIONING"), "{step}");
        for passed in ["plan", "apply"] {
            assert!(
                !testcase(&xml, passed).contains("<failure"),
                "{passed}: {xml}"
            );
        }
        assert!(xml.contains("failures=\"1\""), "{xml}");

        let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
        assert!(summary.contains("⏹️ cancelled"), "{summary}");
        assert!(summary.contains(message), "{summary}");
    }

    #[test]
    fn a_run_cancelled_between_steps_before_any_change_says_nothing_changed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut rec, out) = recorder();
        rec.begin("plan");
        rec.pass();
        let err = rec.cancelled("SIGTERM");
        let exit = rec.finish(Err(err), &reports(&dir));

        assert_eq!(exit, Exit::Canceled);
        let log = out.text();
        assert_eq!(
            complete_lines(&log),
            vec!["##vso[task.complete result=Canceled]cancelled after plan: nothing was changed"],
            "{log}"
        );
        let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
        assert!(
            testcase(&xml, "cancelled").contains("<failure message=\"cancelled after plan"),
            "{xml}"
        );
        assert!(!testcase(&xml, "plan").contains("<failure"), "{xml}");
    }

    #[test]
    fn a_deployment_of_a_set_shows_its_lines_as_one_block_and_sets_no_output_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let (mut rec, out) = recorder();
        let mut a = rec.member("deploy/a.yml");
        a.begin("apply");
        a.log("line of a");
        a.secret("s3cr3t-of-a");
        a.output("state", "RUNNING");
        a.timeline("reached RUNNING");
        let log = out.text();
        assert!(!log.contains("line of a"), "held back: {log}");
        assert!(
            log.contains("##vso[task.setsecret]s3cr3t-of-a"),
            "secrets at once: {log}"
        );
        assert!(
            log.contains("deploy/a.yml: reached RUNNING"),
            "state changes at once: {log}"
        );
        rec.add_member(a.into_member("/w/deploy/a.yml", MemberResult::Succeeded, None));
        let log = out.text();
        let block = log
            .split("##[section]deploy/a.yml: succeeded in")
            .nth(1)
            .expect(&log);
        assert!(block.contains("##[section]apply\nline of a\n"), "{block}");
        rec.finish(Ok(()), &reports(&dir));
        let log = out.text();
        assert!(!log.contains("variable=state;"), "no single output: {log}");
        let json = log
            .lines()
            .find_map(|l| {
                l.strip_prefix("##vso[task.setvariable variable=deployments;isoutput=true]")
            })
            .expect(&log);
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v[0]["state"], "RUNNING");
        assert_eq!(v[0]["result"], "succeeded");
        assert_eq!(v[0]["file"], "/w/deploy/a.yml");
        let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
        assert!(
            xml.contains("name=\"flink-deploy ververica deploy: deploy/a.yml\""),
            "{xml}"
        );
    }

    #[test]
    fn a_cancelled_run_has_an_exit_status_of_its_own() {
        let statuses = [
            Exit::Succeeded,
            Exit::SucceededWithIssues,
            Exit::Failed,
            Exit::BadInput,
            Exit::Canceled,
        ]
        .map(Exit::status);
        assert_eq!(statuses, [0, 0, 1, 2, 130]);
    }
}
