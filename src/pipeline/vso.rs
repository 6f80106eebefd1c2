//! The one place that writes to the pipeline log.
//!
//! Every `##vso[...]` command and every `##[...]` decoration is produced here, with the agent's
//! escaping (`CommandStringConvertor` / task-lib `taskcommand.ts`). Everything else in the crate
//! logs through [`Vso`], which also redacts every secret registered with [`Vso::set_secret`], so a
//! value masked once can never reach stdout again, even before the agent would mask it.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// How the agent will unescape what we write; `DECODE_PERCENTS=false` turns off `%AZP25`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Escaping {
    pub percents: bool,
}

impl Default for Escaping {
    fn default() -> Self {
        Self { percents: true }
    }
}

impl Escaping {
    /// Escape a property value: `%` first (so our own escapes are not re-escaped), then CR, LF,
    /// `]` and `;`.
    pub fn property(self, value: &str) -> String {
        self.escape(value, true)
    }

    /// Escape command data (the message): `%`, CR and LF. `]` and `;` are safe after the first `]`.
    pub fn message(self, value: &str) -> String {
        self.escape(value, false)
    }

    fn escape(self, value: &str, property: bool) -> String {
        let mut out = String::with_capacity(value.len());
        for c in value.chars() {
            match c {
                '%' if self.percents => out.push_str("%AZP25"),
                '\r' => out.push_str("%0D"),
                '\n' => out.push_str("%0A"),
                ']' if property => out.push_str("%5D"),
                ';' if property => out.push_str("%3B"),
                c => out.push(c),
            }
        }
        out
    }
}

/// Format one logging command line (without the newline).
pub fn format_command(esc: Escaping, command: &str, props: &[(&str, &str)], data: &str) -> String {
    let mut line = format!("##vso[{command}");
    let mut first = true;
    for (k, v) in props {
        // task-lib omits properties with empty values; the agent ignores them anyway.
        if v.is_empty() {
            continue;
        }
        line.push(if first { ' ' } else { ';' });
        first = false;
        line.push_str(k);
        line.push('=');
        line.push_str(&esc.property(v));
    }
    line.push(']');
    line.push_str(&esc.message(data));
    line
}

/// Text that came from elsewhere (a server message, a file) must not be able to issue commands:
/// the agent looks for `##vso[` anywhere in a line, and `##[` at its start.
pub fn neutralize(line: &str) -> String {
    if line.contains("##") {
        line.replace("##vso[", "#\u{2060}#vso[")
            .replace("##[", "#\u{2060}#[")
    } else {
        line.to_owned()
    }
}

/// Values that must never be printed. Shared by the log writer, the JUnit writer and the summary.
///
/// Each value is masked in every form the task can render it in ([`super::forms`]), and where a
/// message was cut short (`…`, see [`crate::config::checks::shorten`]) the start of a secret
/// that runs into the cut is masked too: cutting first would otherwise print what masking was
/// meant to hide.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<Mutex<Vec<String>>>,
}

/// The shortest line of a multi-line secret that is masked on its own.
const MIN_LINE: usize = 3;

/// Where a message was shortened.
pub const CUT: char = '…';

/// The lines of a multi-line value that are masked on their own, the way the agent masks
/// multi-line values; very short fragments (`{` of a JSON secret) would mask ordinary text and
/// are left to the whole value.
fn lines_of(value: &str) -> Vec<&str> {
    if !value.contains(['\n', '\r']) {
        return vec![value];
    }
    value
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| l.len() >= MIN_LINE)
        .collect()
}

impl Redactor {
    pub fn add(&self, secret: &str) {
        let mut s = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        let mut candidates = vec![secret];
        if secret.contains(['\n', '\r']) {
            candidates.extend(lines_of(secret));
        }
        for c in candidates {
            for f in super::forms::of(c) {
                if !f.trim().is_empty() && !s.contains(&f) {
                    s.push(f);
                }
            }
        }
        // Longest first, so a secret containing another is replaced whole.
        s.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    pub fn redact(&self, text: &str) -> String {
        let s = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = text.to_owned();
        for secret in s.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        if out.contains(CUT) {
            out = mask_cut_starts(&out, &s);
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.lock().map(|s| s.is_empty()).unwrap_or(true)
    }
}

/// Mask the start of a secret that ends where a message was cut: `…Bearer SECRET-ab…` keeps
/// `Bearer ` and shows `***…`.
fn mask_cut_starts(text: &str, secrets: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(CUT) {
        let before = &rest[..at];
        let cut = secrets
            .iter()
            .filter_map(|s| cut_start(before, s))
            .max()
            .unwrap_or(0);
        out.push_str(&before[..before.len() - cut]);
        if cut > 0 {
            out.push_str("***");
        }
        out.push(CUT);
        rest = &rest[at + CUT.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// The length in bytes of the longest start of `secret` that `before` ends with, if it is long
/// enough to tell (at least three characters, or all but the last of a shorter secret).
fn cut_start(before: &str, secret: &str) -> Option<usize> {
    let chars = secret.chars().count();
    let least = 3.min(chars.saturating_sub(1)).max(1);
    secret
        .char_indices()
        .skip(least)
        .map(|(i, _)| i)
        .filter(|&i| before.ends_with(&secret[..i]))
        .max()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskResult {
    Succeeded,
    SucceededWithIssues,
    Failed,
    Canceled,
}

impl TaskResult {
    /// The agent parses this with a case-sensitive `Enum.TryParse`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskResult::Succeeded => "Succeeded",
            TaskResult::SucceededWithIssues => "SucceededWithIssues",
            TaskResult::Failed => "Failed",
            TaskResult::Canceled => "Canceled",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueType {
    Error,
    Warning,
}

/// Where an issue points, for `task.logissue sourcepath/linenumber`.
#[derive(Clone, Debug, Default)]
pub struct IssueSource {
    pub path: Option<String>,
    pub line: Option<u32>,
    pub code: Option<String>,
}

type Sink = Box<dyn Write + Send>;

/// A handle that can only register secrets and redact text: what code that learns a secret
/// (a token, a Key Vault value, an encoded password) needs, without the rest of the log.
#[derive(Clone)]
pub struct Masker(Vso);

impl Masker {
    /// Register a secret with the agent and with our redactor; see [`Vso::set_secret`].
    pub fn add(&self, value: &str) {
        self.0.set_secret(value);
    }

    /// Register a secret unless it is already masked as a whole.
    pub fn add_once(&self, value: &str) {
        if self.0.redactor.redact(value) != "***" {
            self.0.set_secret(value);
        }
    }

    pub fn redact(&self, text: &str) -> String {
        self.0.redactor.redact(text)
    }
}

/// The pipeline log writer.
#[derive(Clone)]
pub struct Vso {
    out: Arc<Mutex<Sink>>,
    esc: Escaping,
    debug: bool,
    redactor: Redactor,
    /// Outside an agent: the same commands and lines, rendered for a person instead.
    human: Option<Arc<crate::cli::human::Human>>,
    /// Log lines and commands kept back (one deployment of a set), replayed as a whole by
    /// [`Vso::replay`]; secrets still reach the agent at once.
    held: Option<Held>,
}

/// What a held writer kept back, in order.
pub type Held = Arc<Mutex<Vec<HeldLine>>>;

/// One log line or logging command kept back by a held writer.
#[derive(Clone, Debug)]
pub enum HeldLine {
    Info(String),
    Decorated(&'static str, String),
    EndGroup,
    Command(String, Vec<(String, String)>, String),
}

impl Vso {
    pub fn new(out: Sink, esc: Escaping, debug: bool) -> Self {
        Self {
            out: Arc::new(Mutex::new(out)),
            esc,
            debug,
            redactor: Redactor::default(),
            human: None,
            held: None,
        }
    }

    /// A writer that keeps its lines and commands back until [`Vso::replay`], so the log of
    /// one deployment of a set reads as one block however the deployments interleave. It
    /// shares the redactor, and secrets are announced to the agent at once.
    pub fn held(&self) -> (Vso, Held) {
        let held = Held::default();
        let mut v = self.clone();
        v.held = Some(held.clone());
        (v, held)
    }

    /// Write what a held writer kept back, redacted with every secret known by now.
    pub fn replay(&self, lines: Vec<HeldLine>) {
        for l in lines {
            match l {
                HeldLine::Info(t) => self.info(&t),
                HeldLine::Decorated(tag, t) => self.decorated(tag, &t),
                HeldLine::EndGroup => self.endgroup(),
                HeldLine::Command(c, props, data) => {
                    let props: Vec<(&str, &str)> = props
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    self.command(&c, &props, &data);
                }
            }
        }
    }

    /// Keep `line` back when this writer is held; true when it was.
    fn hold(&self, line: impl FnOnce() -> HeldLine) -> bool {
        match &self.held {
            Some(h) => {
                h.lock().unwrap_or_else(|p| p.into_inner()).push(line());
                true
            }
            None => false,
        }
    }

    /// A writer for a run outside an agent: no `##vso` line is written; everything is redacted
    /// as usual and handed to `human`.
    pub fn human(human: Arc<crate::cli::human::Human>) -> Self {
        Self {
            debug: human.style().debug,
            human: Some(human),
            ..Self::new(Box::new(std::io::sink()), Escaping::default(), false)
        }
    }

    /// The run's steps as the recorder closed them (for a machine-readable result).
    pub fn steps(&self, steps: &[crate::report::StepRecord]) {
        if let Some(h) = &self.human {
            h.steps(steps);
        }
    }

    pub fn stdout(esc: Escaping, debug: bool) -> Self {
        Self::new(Box::new(std::io::stdout()), esc, debug)
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    pub fn masker(&self) -> Masker {
        Masker(self.clone())
    }

    pub fn escaping(&self) -> Escaping {
        self.esc
    }

    pub fn debug_enabled(&self) -> bool {
        self.debug
    }

    fn write_line(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A closed stdout (agent gone) must not turn into a panic mid-deployment.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn command(&self, command: &str, props: &[(&str, &str)], data: &str) {
        if self.hold(|| {
            HeldLine::Command(
                command.to_owned(),
                props
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                data.to_owned(),
            )
        }) {
            return;
        }
        let data = self.redactor.redact(data);
        let props: Vec<(&str, String)> = props
            .iter()
            .map(|(k, v)| (*k, self.redactor.redact(v)))
            .collect();
        let props: Vec<(&str, &str)> = props.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Some(h) = &self.human {
            return h.command(command, &props, &data);
        }
        self.write_line(&format_command(self.esc, command, &props, &data));
    }

    /// Register a secret with the agent and with our own redactor, before anything could print it.
    /// Multi-line values are registered line by line too, since the agent masks per line.
    pub fn set_secret(&self, value: &str) {
        if value.trim().is_empty() {
            return;
        }
        self.redactor.add(value);
        // Same rule as the redactor: a line such as `{` of a JSON secret would make the agent
        // mask every brace in the rest of the job's log.
        for part in lines_of(value) {
            // Not redacted: this is the one line whose purpose is to carry the value to the agent.
            self.write_line(&format_command(self.esc, "task.setsecret", &[], part));
            self.announce_forms(part);
        }
    }

    /// Tell the agent the other forms the task may print a value in: the agent masks a value
    /// and its own encodings, not a shell- or YAML-quoted one, and it masks the whole log.
    fn announce_forms(&self, value: &str) {
        for f in super::forms::of(value).iter().skip(1) {
            if !f.contains(['\n', '\r']) && f.trim().len() >= MIN_LINE {
                self.write_line(&format_command(self.esc, "task.setsecret", &[], f));
            }
        }
    }

    /// Redact a value the agent already masks (a secret variable) from everything the task
    /// writes, without announcing it again; only its other forms are announced.
    pub fn mask_known_secret(&self, value: &str) {
        // A pipeline's secret variables include values such as `1` or `prod`; masking those
        // would rewrite ids and output variables. The agent still masks them in the log.
        const MIN: usize = 6;
        if value.trim().len() >= MIN {
            self.redactor.add(value);
            for part in lines_of(value) {
                self.announce_forms(part);
            }
        }
    }

    pub fn set_variable(&self, name: &str, value: &str, secret: bool, output: bool) {
        if secret {
            self.set_secret(value);
            // The value itself must reach the agent unredacted.
            self.write_line(&format_command(
                self.esc,
                "task.setvariable",
                &[
                    ("variable", name),
                    ("issecret", "true"),
                    ("isoutput", if output { "true" } else { "false" }),
                ],
                value,
            ));
        } else {
            self.command(
                "task.setvariable",
                &[
                    ("variable", name),
                    ("isoutput", if output { "true" } else { "false" }),
                ],
                value,
            );
        }
    }

    pub fn log_issue(&self, kind: IssueType, message: &str, source: &IssueSource) {
        let line = source.line.map(|l| l.to_string()).unwrap_or_default();
        self.command(
            "task.logissue",
            &[
                (
                    "type",
                    match kind {
                        IssueType::Error => "error",
                        IssueType::Warning => "warning",
                    },
                ),
                ("sourcepath", source.path.as_deref().unwrap_or("")),
                ("linenumber", &line),
                ("code", source.code.as_deref().unwrap_or("")),
            ],
            message,
        );
    }

    pub fn set_progress(&self, percent: u8, operation: &str) {
        self.command(
            "task.setprogress",
            &[("value", &percent.min(100).to_string())],
            operation,
        );
    }

    pub fn complete(&self, result: TaskResult, message: &str) {
        self.command("task.complete", &[("result", result.as_str())], message);
    }

    pub fn upload_summary(&self, path: &str) {
        self.command("task.uploadsummary", &[], path);
    }

    pub fn publish_test_results(&self, kind: &str, file: &str, run_title: &str) {
        self.command(
            "results.publish",
            &[
                ("type", kind),
                ("mergeResults", "false"),
                ("runTitle", run_title),
                ("publishRunAttachments", "true"),
                ("resultFiles", file),
                ("failTaskOnFailedTests", "false"),
            ],
            "",
        );
    }

    /// Plain log text. Each line is redacted and made unable to issue commands.
    pub fn info(&self, text: &str) {
        if self.hold(|| HeldLine::Info(text.to_owned())) {
            return;
        }
        if let Some(h) = &self.human {
            return h.info(&self.redactor.redact(text));
        }
        for line in self.redactor.redact(text).lines() {
            self.write_line(&neutralize(line));
        }
        if text.is_empty() {
            self.write_line("");
        }
    }

    fn decorated(&self, tag: &'static str, text: &str) {
        if self.hold(|| HeldLine::Decorated(tag, text.to_owned())) {
            return;
        }
        if let Some(h) = &self.human {
            return h.decorated(tag, &self.redactor.redact(text));
        }
        for line in self.redactor.redact(text).lines() {
            self.write_line(&format!("##[{tag}]{}", neutralize(line)));
        }
    }

    pub fn group(&self, title: &str) {
        self.decorated("group", title);
    }

    pub fn endgroup(&self) {
        if self.hold(|| HeldLine::EndGroup) {
            return;
        }
        if let Some(h) = &self.human {
            return h.end_group();
        }
        self.write_line("##[endgroup]");
    }

    pub fn section(&self, title: &str) {
        self.decorated("section", title);
    }

    pub fn error_line(&self, text: &str) {
        self.decorated("error", text);
    }

    /// Written only with `System.Debug=true`.
    pub fn debug(&self, text: &str) {
        if self.debug {
            self.decorated("debug", text);
        }
    }
}

/// A sink that keeps everything written, for tests.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(esc: Escaping, debug: bool) -> (Vso, Captured) {
        let c = Captured::default();
        (Vso::new(Box::new(c.clone()), esc, debug), c)
    }

    #[test]
    fn property_escaping_does_percent_first() {
        let e = Escaping::default();
        assert_eq!(e.property("a%0Ab;c]d\r\n"), "a%AZP250Ab%3Bc%5Dd%0D%0A");
        assert_eq!(e.message("50%;]\n"), "50%AZP25;]%0A");
        let raw = Escaping { percents: false };
        assert_eq!(raw.property("50%;"), "50%%3B");
    }

    #[test]
    fn commands_have_no_space_after_separators_and_skip_empty_values() {
        let line = format_command(
            Escaping::default(),
            "task.logissue",
            &[("type", "error"), ("sourcepath", ""), ("code", "E1")],
            "boom",
        );
        assert_eq!(line, "##vso[task.logissue type=error;code=E1]boom");
    }

    #[test]
    fn secrets_are_redacted_everywhere_but_in_setsecret() {
        let (vso, out) = capture(Escaping::default(), false);
        vso.set_secret("tok;en%1");
        vso.info("the token is tok;en%1 here");
        vso.log_issue(
            IssueType::Error,
            "failed with tok;en%1",
            &IssueSource::default(),
        );
        let text = out.text();
        assert!(text.contains("##vso[task.setsecret]tok;en%AZP251"));
        assert_eq!(text.matches("tok;en").count(), 1, "{text}");
        assert!(text.contains("the token is *** here"));
    }

    #[test]
    fn plain_text_cannot_issue_commands() {
        let (vso, out) = capture(Escaping::default(), false);
        vso.info("server said ##vso[task.complete result=Succeeded]\n##[section]x");
        let text = out.text();
        assert!(!text.contains("##vso["), "{text}");
        assert!(!text.lines().any(|l| l.starts_with("##[")), "{text}");
    }

    #[test]
    fn debug_lines_only_with_system_debug() {
        let (quiet, q) = capture(Escaping::default(), false);
        quiet.debug("hidden");
        assert_eq!(q.text(), "");
        let (loud, l) = capture(Escaping::default(), true);
        loud.debug("shown");
        assert_eq!(l.text(), "##[debug]shown\n");
    }

    #[test]
    fn multiline_secret_is_masked_per_line() {
        let (vso, out) = capture(Escaping::default(), false);
        vso.set_secret("line-one\nline-two");
        vso.info("x line-two y");
        let text = out.text();
        assert!(text.contains("##vso[task.setsecret]line-one\n"));
        assert!(text.contains("##vso[task.setsecret]line-two\n"));
        assert!(text.contains("x *** y"));
    }

    #[test]
    fn short_lines_of_a_multiline_secret_are_not_announced_alone() {
        let (vso, out) = capture(Escaping::default(), false);
        vso.set_secret("{\n  \"key\": \"s3cr3t-value\"\n}");
        vso.info("a {block} of text");
        let text = out.text();
        let announced: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("##vso[task.setsecret]"))
            .collect();
        // The line, then its other renderings (JSON-escaped, XML-escaped, ...); never `{` or `}`.
        assert_eq!(announced[0], "\"key\": \"s3cr3t-value\"");
        let line_forms: Vec<String> = super::super::forms::of("\"key\": \"s3cr3t-value\"")
            .iter()
            .map(|f| Escaping::default().message(f))
            .collect();
        assert!(
            announced.iter().all(|a| line_forms.iter().any(|f| f == a)),
            "{announced:?}"
        );
        assert!(announced.contains(&r#"\"key\": \"s3cr3t-value\""#));
        assert!(text.contains("a {block} of text"), "{text}");
    }

    #[test]
    fn a_secret_is_masked_in_each_form_it_is_printed_in() {
        let (vso, out) = capture(Escaping::default(), false);
        vso.set_secret(r#"it's-@Sec9"ret"#);
        vso.info(r#"mainArgs: '--password ''it''\''''s-@Sec9"ret'''"#);
        vso.info(r#"answer: {"message": "bad it's-@Sec9\"ret"}"#);
        vso.info(r#"<failure message="it&apos;s-@Sec9&quot;ret"/>"#);
        vso.info("GET /x/it%27s-%40Sec9%22ret");
        let text = out.text();
        let printed: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("##vso[task.setsecret]"))
            .collect();
        assert_eq!(
            printed,
            vec![
                "mainArgs: '--password ''***'''",
                r#"answer: {"message": "bad ***"}"#,
                r#"<failure message="***"/>"#,
                "GET /x/***",
            ]
        );
        // The agent is told the quoted forms too.
        assert!(
            text.contains("##vso[task.setsecret]it'\\''s-@Sec9\"ret\n"),
            "{text}"
        );
    }

    #[test]
    fn the_start_of_a_secret_cut_by_shortening_is_masked() {
        let (vso, out) = capture(Escaping::default(), false);
        let token = "tok-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnopqrstuvwxyz";
        vso.set_secret(token);
        let echoed = format!("HTTP 401: invalid bearer {token} for this realm");
        let cut = crate::config::checks::shorten(&echoed);
        assert!(cut.contains("tok-0123"), "the cut leaves a start: {cut}");
        vso.info(&format!("VVP said {cut}"));
        let text = out.text();
        let line = text.lines().last().unwrap();
        assert!(
            line.starts_with("VVP said HTTP 401: invalid bearer ***… ("),
            "{line}"
        );
        // Text before an ordinary cut stays as it is.
        assert_eq!(vso.redactor().redact("a long message…"), "a long message…");
        assert_eq!(vso.redactor().redact("x tok…"), "x ***…");
    }

    #[test]
    fn a_known_secret_is_redacted_without_being_announced_again() {
        let (vso, out) = capture(Escaping::default(), false);
        vso.mask_known_secret("pipeline-secret-1");
        vso.info("--password pipeline-secret-1");
        let text = out.text();
        assert!(!text.contains("task.setsecret"), "{text}");
        assert!(text.contains("--password ***"), "{text}");
        assert_eq!(vso.redactor().redact("x pipeline-secret-1"), "x ***");
        vso.mask_known_secret("prod");
        vso.set_variable("jobId", "prod-7", false, true);
        assert!(out.text().contains("]prod-7\n"), "{}", out.text());
    }
}
