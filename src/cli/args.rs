//! The command line: the task's inputs as `--<inputName> value` (or `--input-name value`), and
//! the options of a run outside an agent. Parsing collects everything it can and keeps the
//! first problem, so `--json` and `--color` still shape how that problem is reported.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::pipeline::inputs::{self as i, InputDef, Kind};

/// When colour is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Color {
    /// On a terminal, unless `NO_COLOR` is set or `TERM=dumb`.
    #[default]
    Auto,
    Always,
    Never,
}

/// The options of a command-line run (everything that is not a task input).
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub config: Option<PathBuf>,
    pub json: bool,
    pub summary: Option<PathBuf>,
    pub color: Color,
    pub debug: bool,
    /// `None`: the default interval.
    pub progress_every: Option<Duration>,
    pub agent: Option<bool>,
    pub help: bool,
    pub version: bool,
}

/// What the command line says: options, inputs given as flags, and the first problem found.
#[derive(Debug, Default)]
pub struct Parsed {
    pub options: Options,
    pub inputs: BTreeMap<&'static str, String>,
    /// Secret inputs given as flags, for a warning (their values are masked like any secret).
    pub secret_flags: Vec<&'static str>,
    /// How many arguments there were (the agent starts the binary with none or `--agent`).
    pub count: usize,
    pub error: Option<Error>,
}

/// Names compared the way the command line accepts them: case, `-` and `_` do not matter, so
/// `--deploymentName`, `--deployment-name` and `FLINK_DEPLOY_DEPLOYMENT_NAME` all name one input.
pub fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The input a flag, environment variable or config key names.
pub fn input_named(name: &str) -> Option<&'static InputDef> {
    let n = normalize(name);
    i::ALL.iter().find(|d| normalize(d.name) == n)
}

/// The options besides the inputs, as `--help` lists them: (name, value, description).
pub const OPTIONS: &[(&str, &str, &str)] = &[
    ("config", "FILE", "read inputs from a YAML or JSON file (keys: input names); also FLINK_DEPLOY_CONFIG"),
    ("json", "", "print one JSON document at the end on stdout (result, exitCode, outputs, steps, warnings, errors); the log goes to stderr"),
    ("junit", "FILE", "write the JUnit results to FILE (the input testResultsFile)"),
    ("summary", "FILE", "write the Markdown summary to FILE (e.g. $GITHUB_STEP_SUMMARY)"),
    ("color", "WHEN", "auto (on a terminal, unless NO_COLOR is set), always or never"),
    ("progress-interval", "SECONDS", "say what the run is still doing after this long without a line (default 30, 0: never)"),
    ("debug", "", "also print debug lines"),
    ("agent", "", "run as the Azure Pipelines task: inputs from INPUT_* variables, logging commands on stdout"),
    ("no-agent", "", "run as a command line even where the agent's variables are set"),
    ("help", "", "this text (-h)"),
    ("version", "", "the version (-V)"),
];

/// Edit distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (x, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = x + 1;
        for (y, cb) in b.iter().enumerate() {
            let cur = row[y + 1];
            row[y + 1] = (prev + usize::from(ca != *cb)).min(row[y] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The input whose name is closest to `name`, with its distance.
pub fn closest_input(name: &str) -> (&'static str, usize) {
    let n = normalize(name);
    i::ALL
        .iter()
        .map(|d| (d.name, distance(&n, &normalize(d.name))))
        .min_by_key(|(_, d)| *d)
        .unwrap_or(("target", usize::MAX))
}

fn bad(message: String, hint: &str) -> Error {
    Error::new(ErrorKind::Input, message).with_hint(hint)
}

const SEE_HELP: &str = "`flink-deploy --help` lists the inputs and options";

fn unknown(flag: &str) -> Error {
    let n = normalize(flag);
    let option = OPTIONS
        .iter()
        .map(|(o, _, _)| (*o, distance(&n, &normalize(o))))
        .min_by_key(|(_, d)| *d)
        .filter(|(_, d)| *d <= 2);
    let (input, _) = closest_input(flag);
    let guess = match option {
        Some((o, _)) => format!("the option `--{o}` or the input `--{input}`"),
        None => format!("the input `--{input}`"),
    };
    bad(
        format!("unknown option `--{flag}`; did you mean {guess}?"),
        SEE_HELP,
    )
}

/// Split `--name=value`; the value is otherwise the next argument.
fn split(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (arg, None),
    }
}

struct Cursor {
    args: Vec<String>,
    at: usize,
}

impl Cursor {
    /// The value of `--flag`: after `=`, or the next argument (which may start with `-`, as
    /// program arguments do).
    fn value(&mut self, flag: &str, inline: Option<&str>) -> Result<String, Error> {
        if let Some(v) = inline {
            return Ok(v.to_owned());
        }
        self.at += 1;
        self.args.get(self.at).cloned().ok_or_else(|| {
            bad(
                format!("option `--{flag}` needs a value"),
                "give it as `--name value` or `--name=value`",
            )
        })
    }

    /// A boolean input may stand alone (`--rollbackOnFailure`): it then means true.
    fn boolean(&mut self, inline: Option<&str>) -> String {
        if let Some(v) = inline {
            return v.to_owned();
        }
        match self.args.get(self.at + 1) {
            Some(next) if !next.starts_with("--") => {
                self.at += 1;
                next.clone()
            }
            _ => "true".to_owned(),
        }
    }
}

fn seconds(flag: &str, v: &str) -> Result<Duration, Error> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|s| *s <= 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| {
            bad(
                format!("option `--{flag}`: `{v}` is not a number of seconds"),
                "use a whole number from 0 to 86400",
            )
        })
}

fn option(p: &mut Parsed, c: &mut Cursor, name: &str, inline: Option<&str>) -> Result<bool, Error> {
    let o = &mut p.options;
    match normalize(name).as_str() {
        "config" => o.config = Some(c.value(name, inline)?.into()),
        "json" => o.json = true,
        "junit" => {
            let v = c.value(name, inline)?;
            put(
                p,
                i::find(i::TEST_RESULTS_FILE).expect("in the catalogue"),
                name,
                v,
            )?;
        }
        "summary" => o.summary = Some(c.value(name, inline)?.into()),
        "color" | "colour" => {
            o.color = match c.value(name, inline)?.as_str() {
                "auto" => Color::Auto,
                "always" => Color::Always,
                "never" => Color::Never,
                other => {
                    return Err(bad(
                        format!("option `--color`: `{other}` is not auto, always or never"),
                        "use --color auto, --color always or --color never",
                    ))
                }
            }
        }
        "progressinterval" => o.progress_every = Some(seconds(name, &c.value(name, inline)?)?),
        "debug" => o.debug = true,
        "agent" => o.agent = Some(true),
        "noagent" => o.agent = Some(false),
        "help" => o.help = true,
        "version" => o.version = true,
        _ => return Ok(false),
    }
    Ok(true)
}

fn put(p: &mut Parsed, def: &'static InputDef, flag: &str, value: String) -> Result<(), Error> {
    if p.inputs.insert(def.name, value).is_some() {
        return Err(bad(
            format!("input `{}` is given twice (last as `--{flag}`)", def.name),
            "give each input once",
        ));
    }
    if def.secret {
        p.secret_flags.push(def.name);
    }
    Ok(())
}

fn one(p: &mut Parsed, c: &mut Cursor) -> Result<(), Error> {
    let arg = c.args[c.at].clone();
    let name = match arg.as_str() {
        "-h" => "help",
        "-V" => "version",
        a => a.strip_prefix("--").ok_or_else(|| {
            bad(
                format!(
                    "unexpected argument `{}`",
                    crate::config::checks::shorten(a)
                ),
                "inputs are given as `--name value`, e.g. `--target flink`",
            )
        })?,
    };
    let (name, inline) = split(name);
    if option(p, c, name, inline)? {
        return Ok(());
    }
    let def = input_named(name).ok_or_else(|| unknown(name))?;
    let value = if def.kind == Kind::Boolean {
        c.boolean(inline)
    } else {
        c.value(name, inline)?
    };
    put(p, def, name, value)
}

/// Read the arguments (without the program name).
pub fn parse(args: Vec<OsString>) -> Parsed {
    let mut p = Parsed {
        count: args.len(),
        ..Parsed::default()
    };
    let mut strings = Vec::with_capacity(args.len());
    for a in args {
        match a.into_string() {
            Ok(s) => strings.push(s),
            Err(a) => {
                p.error.get_or_insert(bad(
                    format!("argument `{}` is not UTF-8", a.to_string_lossy()),
                    "give inputs as UTF-8 text",
                ));
            }
        }
    }
    let mut c = Cursor {
        args: strings,
        at: 0,
    };
    while c.at < c.args.len() {
        if let Err(e) = one(&mut p, &mut c) {
            p.error.get_or_insert(e);
        }
        c.at += 1;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Parsed {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn inputs_take_their_task_names_kebab_case_and_equals() {
        let p = parse_strs(&[
            "--target",
            "flink",
            "--flink-url=http://127.0.0.1:8081",
            "--jobName",
            "j",
            "--mainArgs",
            "--input a --n 2",
            "--rollbackOnFailure",
            "--allowNonRestoredState",
            "false",
        ]);
        assert!(p.error.is_none(), "{:?}", p.error);
        assert_eq!(p.inputs["target"], "flink");
        assert_eq!(p.inputs["flinkUrl"], "http://127.0.0.1:8081");
        assert_eq!(p.inputs["jobName"], "j");
        assert_eq!(p.inputs["mainArgs"], "--input a --n 2");
        assert_eq!(p.inputs["rollbackOnFailure"], "true");
        assert_eq!(p.inputs["allowNonRestoredState"], "false");
    }

    #[test]
    fn options_are_read_beside_the_inputs() {
        let p = parse_strs(&[
            "--json",
            "--junit",
            "out/junit.xml",
            "--summary=s.md",
            "--color",
            "never",
            "--progress-interval",
            "5",
            "--config",
            "c.yml",
        ]);
        assert!(p.error.is_none(), "{:?}", p.error);
        let o = &p.options;
        assert!(o.json);
        assert_eq!(o.color, Color::Never);
        assert_eq!(o.summary.as_deref(), Some(std::path::Path::new("s.md")));
        assert_eq!(o.config.as_deref(), Some(std::path::Path::new("c.yml")));
        assert_eq!(o.progress_every, Some(Duration::from_secs(5)));
        assert_eq!(p.inputs["testResultsFile"], "out/junit.xml");
    }

    #[test]
    fn an_unknown_flag_names_itself_and_the_closest_input() {
        let p = parse_strs(&["--json", "--deploymentNme", "x"]);
        let e = p.error.expect("rejected");
        assert_eq!(e.kind, ErrorKind::Input);
        assert!(
            e.message.contains("`--deploymentNme`") && e.message.contains("`--deploymentName`"),
            "{e}"
        );
        assert!(p.options.json, "options after the problem are still read");
        let e = parse_strs(&["--jsn"]).error.unwrap();
        assert!(e.message.contains("`--json`"), "{e}");
        let e = parse_strs(&["deploy"]).error.unwrap();
        assert!(e.message.contains("unexpected argument `deploy`"), "{e}");
    }

    #[test]
    fn repeated_inputs_and_missing_values_are_errors() {
        let e = parse_strs(&["--jobName", "a", "--job-name", "b"])
            .error
            .unwrap();
        assert!(e.message.contains("`jobName` is given twice"), "{e}");
        let e = parse_strs(&["--flinkUrl"]).error.unwrap();
        assert!(e.message.contains("`--flinkUrl` needs a value"), "{e}");
        let e = parse_strs(&["--color", "pink"]).error.unwrap();
        assert!(e.message.contains("`pink`"), "{e}");
    }

    #[test]
    fn secret_inputs_given_as_flags_are_noted() {
        let p = parse_strs(&["--vvpApiToken", "t0k", "--vvpUrl", "http://x"]);
        assert_eq!(p.secret_flags, vec!["vvpApiToken"]);
    }

    #[test]
    fn no_option_shadows_an_input() {
        for (o, _, _) in OPTIONS {
            assert!(input_named(o).is_none(), "--{o} is also an input");
        }
        let mut seen = std::collections::BTreeSet::new();
        for d in i::ALL {
            assert!(seen.insert(normalize(d.name)), "{} twice", d.name);
        }
    }
}
