//! Pure decisions over the JobManager's JSON: which job is ours, is it up, did it fail and why,
//! where its state is, which jar it came from. No I/O here, so every rule is tested on answers
//! recorded from a real Flink 2.3 session cluster (`tests/fixtures/flink/`).

use std::collections::BTreeMap;

use serde_json::Value;

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn n(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// Flink's job states that never change again. SUSPENDED is only locally terminal (HA fail-over).
pub fn is_terminal(state: &str) -> bool {
    matches!(state, "FAILED" | "CANCELED" | "FINISHED")
}

/// A job as `/jobs/overview` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSummary {
    pub id: String,
    pub name: String,
    pub state: String,
    /// Milliseconds since the epoch, JobManager clock.
    pub start_time: i64,
    pub end_time: i64,
    /// Subtasks per execution state (`running`, `initializing`, `failed`, …, and `total`).
    pub tasks: BTreeMap<String, i64>,
}

pub fn jobs_from_overview(v: &Value) -> Result<Vec<JobSummary>, String> {
    let jobs = v
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or("no `jobs` list in /jobs/overview")?;
    let mut out: Vec<JobSummary> = jobs
        .iter()
        .filter_map(|j| {
            Some(JobSummary {
                id: s(j, "jid")?.to_owned(),
                name: s(j, "name")?.to_owned(),
                state: s(j, "state").unwrap_or("UNKNOWN").to_owned(),
                start_time: n(j, "start-time"),
                end_time: n(j, "end-time"),
                tasks: j
                    .get("tasks")
                    .and_then(Value::as_object)
                    .map(|t| {
                        t.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_i64()?)))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect();
    // Newest first: history decisions look at the latest runs.
    out.sort_by(|a, b| b.start_time.cmp(&a.start_time).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// Jobs with this name that are not finished for good (RUNNING, but also RESTARTING, CREATED…).
pub fn active_named<'a>(jobs: &'a [JobSummary], name: &str) -> Vec<&'a JobSummary> {
    jobs.iter()
        .filter(|j| j.name == name && !is_terminal(&j.state))
        .collect()
}

/// Jobs with this name that have ended, newest first.
pub fn ended_named<'a>(jobs: &'a [JobSummary], name: &str) -> Vec<&'a JobSummary> {
    jobs.iter()
        .filter(|j| j.name == name && is_terminal(&j.state))
        .collect()
}

/// The job with this id in a `/jobs/overview` answer.
pub fn find_job<'a>(jobs: &'a [JobSummary], id: &str) -> Option<&'a JobSummary> {
    jobs.iter().find(|j| j.id == id)
}

/// What one look at a starting job says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// The job is RUNNING and so is every subtask (finished ones of bounded inputs aside).
    Running,
    /// Not there yet; the text says where it is.
    Starting(String),
    /// The job failed, restarted, or ended; the text says how.
    Failed(String),
}

const TASK_STATES: &[&str] = &[
    "running",
    "initializing",
    "deploying",
    "scheduled",
    "created",
    "reconciling",
    "finished",
    "canceling",
    "canceled",
    "failed",
];

fn task(job: &JobSummary, state: &str) -> i64 {
    job.tasks.get(state).copied().unwrap_or(0)
}

/// `RUNNING (tasks: 1 running, 1 initializing of 2)`: the state as a person would want it shown.
pub fn describe(job: &JobSummary) -> String {
    let parts: Vec<String> = TASK_STATES
        .iter()
        .filter(|st| task(job, st) > 0)
        .map(|st| format!("{} {st}", task(job, st)))
        .collect();
    if parts.is_empty() {
        return job.state.clone();
    }
    format!(
        "{} (tasks: {} of {})",
        job.state,
        parts.join(", "),
        task(job, "total")
    )
}

/// Number of entries in a `/jobs/{id}/exceptions` answer.
pub fn exception_count(exceptions: &Value) -> usize {
    exceptions
        .pointer("/exceptionHistory/entries")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0)
}

/// Is this job up? `job` comes from `/jobs/overview`, `exceptions` from `/jobs/{id}/exceptions`.
///
/// The overview is read because it is current: `/jobs/{id}` and the exception history are
/// served from a cache that is up to `web.refresh-interval` (3 s by default) old, which would
/// make every step that long. Any failure since submission counts, even one Flink already
/// recovered from: a region fail-over restarts tasks without the job leaving RUNNING, so the
/// exception history (late, but complete) is the witness for what happened between two looks.
pub fn assess(job: &JobSummary, exceptions: &Value) -> Health {
    assess_allowing(job, exceptions, 0)
}

/// [`assess`] for a job allowed `restarts` failures (`healthMaxRestarts`): while it has had no
/// more, a restart under way is a job still coming up, not a failure.
pub fn assess_allowing(job: &JobSummary, exceptions: &Value, restarts: u32) -> Health {
    let shown = describe(job);
    let failures = exception_count(exceptions);
    let tolerated = restarts > 0 && failures <= restarts as usize;
    match job.state.as_str() {
        "FAILED" | "CANCELED" | "FINISHED" | "SUSPENDED" => {
            return Health::Failed(format!("the job ended: {shown}"))
        }
        "FAILING" | "RESTARTING" if tolerated => {
            return Health::Starting(format!("{shown} after {failures} failure(s)"))
        }
        "FAILING" | "RESTARTING" | "CANCELLING" => {
            return Health::Failed(format!("the job is failing: {shown}"))
        }
        _ => {}
    }
    if failures > restarts as usize {
        return Health::Failed(format!(
            "the job failed {failures} time(s) since it was submitted; now {shown}"
        ));
    }
    if task(job, "failed") > 0 && !tolerated {
        return Health::Failed(format!("a task failed: {shown}"));
    }
    let (running, finished, total) = (
        task(job, "running"),
        task(job, "finished"),
        task(job, "total"),
    );
    if job.state == "RUNNING" && total > 0 && running > 0 && running + finished == total {
        return Health::Running;
    }
    Health::Starting(shown)
}

/// The gate's view of `/jobs/{id}/checkpoints`: completed and failed since the job started
/// (the statistics belong to the job, which the run submitted), and why the newest failed.
pub fn checkpoint_counts(checkpoints: &Value) -> crate::health::Checkpoints {
    let count = |k: &str| {
        checkpoints
            .pointer(&format!("/counts/{k}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let newest_failed = checkpoints
        .pointer("/latest/failed")
        .filter(|v| !v.is_null())
        .into_iter()
        .chain(
            checkpoints
                .get("history")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|h| s(h, "status") == Some("FAILED")),
        )
        .find_map(|f| s(f, "failure_message"))
        .and_then(|m| message_chain(m).into_iter().next().or(Some(m.to_owned())))
        .filter(|m| !m.is_empty());
    crate::health::Checkpoints {
        completed: count("completed"),
        failed: count("failed"),
        last_failure: newest_failed,
    }
}

/// The highest vertex parallelism in `/jobs/{id}`: the slots a job needs per sharing group.
pub fn max_parallelism(details: &Value) -> Option<i64> {
    details
        .get("vertices")?
        .as_array()?
        .iter()
        .filter_map(|v| v.get("parallelism")?.as_i64())
        .max()
}

/// Lines that explain a failure, from `/jobs/{id}/exceptions`: per failure (newest first) the
/// task, the exception line and its innermost cause.
pub fn root_causes(exceptions: &Value, max: usize) -> Vec<String> {
    let entries = exceptions
        .pointer("/exceptionHistory/entries")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut out = vec![];
    let mut seen = std::collections::BTreeSet::new();
    for e in entries {
        let trace = s(e, "stacktrace").unwrap_or("");
        let chain = message_chain(trace);
        let head = chain
            .first()
            .cloned()
            .or_else(|| s(e, "exceptionName").map(str::to_owned))
            .unwrap_or_else(|| "unknown exception".into());
        let root = chain.last().cloned().unwrap_or_else(|| head.clone());
        // Restarts repeat the same failure; show each distinct one once.
        if !seen.insert(root.clone()) {
            continue;
        }
        let task = s(e, "taskName")
            .map(|t| format!(" in `{t}`"))
            .unwrap_or_default();
        out.push(format!("exception{task}: {head}"));
        if root != head {
            out.push(format!("  root cause: {root}"));
        }
        if out.len() >= max * 2 {
            break;
        }
    }
    out
}

/// Why the job failed, in one line: the innermost cause of the newest failure in the exception
/// history (Flink lists it newest first), or of Flink's `root-exception` where there is no
/// history.
pub fn root_cause(exceptions: &Value) -> Option<String> {
    let newest = exceptions
        .pointer("/exceptionHistory/entries")
        .and_then(Value::as_array)
        .and_then(|e| e.first());
    let trace = newest
        .and_then(|e| s(e, "stacktrace"))
        .or_else(|| s(exceptions, "root-exception"))
        .unwrap_or("");
    message_chain(trace).pop().or_else(|| {
        newest
            .and_then(|e| s(e, "exceptionName"))
            .map(str::to_owned)
    })
}

/// The message lines of a Java stack trace: the first line and each `Caused by:`, without
/// frames, consecutive repeats removed.
pub fn message_chain(trace: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for line in trace.lines() {
        let l = line.trim_end();
        let t = l.trim_start();
        if t.is_empty()
            || t.starts_with("at ")
            || t.starts_with("... ")
            || t == "Internal server error."
            || t == "<Exception on server side:"
            || t == "End of exception on server side>"
        {
            continue;
        }
        // Continuation lines of a multi-line message are indented like frames but are not frames.
        if l.starts_with('\t') && !t.starts_with("Caused by:") && !t.starts_with("Suppressed:") {
            continue;
        }
        if t.starts_with("Suppressed:") {
            continue;
        }
        let msg = t.strip_prefix("Caused by: ").unwrap_or(t).to_owned();
        if out.last() != Some(&msg) {
            out.push(msg);
        }
    }
    out
}

/// An error answer of the REST API (`{"errors": [...]}`) as a headline and the chain behind it.
/// Flink puts a whole stack trace into `errors`; the innermost cause is what names the problem
/// (the missing class, the missing savepoint file).
pub fn rest_error(body: &[u8]) -> Option<(String, Vec<String>)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let errors = v.get("errors")?.as_array()?;
    let mut chain = vec![];
    for e in errors {
        if let Some(t) = e.as_str() {
            for m in message_chain(t) {
                if chain.last() != Some(&m) {
                    chain.push(m);
                }
            }
        }
    }
    let head = chain.last()?.clone();
    Some((head, chain))
}

/// A savepoint trigger as `/jobs/{id}/savepoints/{trigger}` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    InProgress,
    Completed(String),
    Failed(String),
}

pub fn trigger_status(v: &Value) -> Result<Trigger, String> {
    let id = v
        .pointer("/status/id")
        .and_then(Value::as_str)
        .ok_or("no `status.id` in the savepoint status")?;
    match id {
        "IN_PROGRESS" => Ok(Trigger::InProgress),
        "COMPLETED" => {
            let op = v.get("operation").unwrap_or(&Value::Null);
            if let Some(loc) = s(op, "location") {
                return Ok(Trigger::Completed(loc.to_owned()));
            }
            let cause = op.get("failure-cause");
            let text = cause
                .and_then(|c| s(c, "stack-trace"))
                .map(message_chain)
                .and_then(|c| c.last().cloned())
                .or_else(|| cause.and_then(|c| s(c, "class")).map(str::to_owned))
                .unwrap_or_else(|| "no location and no failure cause given".into());
            Ok(Trigger::Failed(text))
        }
        other => Err(format!("unknown savepoint status `{other}`")),
    }
}

/// What `/jobs/{id}/checkpoints` says about a job's state on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateFacts {
    pub completed: i64,
    /// Newest completed savepoint: (path, trigger time, checkpoint type).
    pub savepoint: Option<(String, i64, String)>,
    /// Newest completed checkpoint's trigger time.
    pub checkpoint_time: Option<i64>,
    /// What the job was started from: (path, is a savepoint).
    pub restored: Option<(String, bool)>,
}

pub fn state_facts(checkpoints: &Value) -> StateFacts {
    let latest = checkpoints.get("latest").unwrap_or(&Value::Null);
    // The entries of `latest`, where Flink has one (it writes `null` where not).
    let entry = |k: &str| latest.get(k).filter(|v| !v.is_null());
    let savepoint = entry("savepoint").and_then(|sp| {
        Some((
            s(sp, "external_path")?.to_owned(),
            n(sp, "trigger_timestamp"),
            s(sp, "checkpoint_type").unwrap_or("SAVEPOINT").to_owned(),
        ))
    });
    let checkpoint_time = entry("completed").map(|c| n(c, "trigger_timestamp"));
    let restored = entry("restored").and_then(|r| {
        Some((
            s(r, "external_path")?.to_owned(),
            r.get("is_savepoint")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        ))
    });
    StateFacts {
        completed: checkpoints
            .pointer("/counts/completed")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        savepoint,
        checkpoint_time,
        restored,
    }
}

/// Every completed savepoint in a job's checkpoint history: (path, trigger time, type).
pub fn savepoints_in_history(checkpoints: &Value) -> Vec<(String, i64, String)> {
    let mut out: Vec<(String, i64, String)> = checkpoints
        .get("history")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter(|h| {
            h.get("is_savepoint").and_then(Value::as_bool) == Some(true)
                && s(h, "status") == Some("COMPLETED")
        })
        .filter_map(|h| {
            Some((
                s(h, "external_path")?.to_owned(),
                n(h, "trigger_timestamp"),
                s(h, "checkpoint_type").unwrap_or("SAVEPOINT").to_owned(),
            ))
        })
        .collect();
    // The history is bounded (web.checkpoints.history); the latest savepoint may have scrolled
    // out of it but is still in `latest`.
    if let Some(sp) = state_facts(checkpoints).savepoint {
        if !out.iter().any(|o| o.0 == sp.0) {
            out.push(sp);
        }
    }
    out.sort_by_key(|sp| std::cmp::Reverse(sp.1));
    out
}

/// Where a job's state should come from when no job with its name is running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restore {
    Savepoint {
        path: String,
        /// The ended job the savepoint belongs to.
        job_id: String,
        why: String,
    },
    Fresh(String),
}

/// Why the restore point is needed: `deploy` only continues a job that was stopped with a
/// savepoint; `resume` takes the last savepoint whatever ended the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Deploy,
    Resume,
}

/// A job that never completed a checkpoint and then failed or was cancelled: an upgrade that
/// did not come up. Its state is still the savepoint it was started from.
fn failed_start(job: &JobSummary, f: &StateFacts) -> bool {
    matches!(job.state.as_str(), "FAILED" | "CANCELED") && f.completed == 0
}

/// The restore point, from the ended jobs with the name, newest first, each with its
/// `/jobs/{id}/checkpoints`. Failed starts are looked through: after an upgrade that did not
/// come up, the job that was stopped for it still decides.
pub fn restore_point(history: &[(JobSummary, Value)], purpose: Purpose) -> Restore {
    let mut fallback: Option<(String, String)> = None;
    for (job, cps) in history {
        let f = state_facts(cps);
        if failed_start(job, &f) {
            if let (None, Some((path, true))) = (&fallback, &f.restored) {
                fallback = Some((path.clone(), job.id.clone()));
            }
            continue;
        }
        let newest_is_savepoint = match (&f.savepoint, f.checkpoint_time) {
            (Some((_, t, _)), Some(c)) => *t >= c,
            (Some(_), None) => true,
            _ => false,
        };
        return match (&f.savepoint, purpose) {
            (Some((path, _, _)), Purpose::Deploy)
                if job.state == "FINISHED" && newest_is_savepoint =>
            {
                Restore::Savepoint {
                    path: path.clone(),
                    job_id: job.id.clone(),
                    why: format!("job {} was stopped with this savepoint", job.id),
                }
            }
            (Some((path, _, _)), Purpose::Resume) => Restore::Savepoint {
                path: path.clone(),
                job_id: job.id.clone(),
                why: format!("the last savepoint of job {} (ended {})", job.id, job.state),
            },
            (_, Purpose::Deploy) => Restore::Fresh(format!(
                "the last job with this name ({}) ended {} without a final savepoint",
                job.id, job.state
            )),
            (None, Purpose::Resume) => Restore::Fresh(format!(
                "the last job with this name ({}) ended {} and took no savepoint",
                job.id, job.state
            )),
        };
    }
    match fallback {
        Some((path, job_id)) => Restore::Savepoint {
            why: format!("job {job_id} was started from it and never came up"),
            path,
            job_id,
        },
        None => Restore::Fresh("the cluster remembers no earlier job with this name".into()),
    }
}

/// A jar as `/jars` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jar {
    pub id: String,
    pub name: String,
    /// Upload time, milliseconds since the epoch, JobManager clock.
    pub uploaded: i64,
    /// Entry classes the jar's manifest declares.
    pub entries: Vec<String>,
}

pub fn jars_from_list(v: &Value) -> Vec<Jar> {
    let mut out: Vec<Jar> = v
        .get("files")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter_map(|f| {
            Some(Jar {
                id: s(f, "id")?.to_owned(),
                name: s(f, "name")?.to_owned(),
                uploaded: n(f, "uploaded"),
                entries: f
                    .get("entry")
                    .and_then(Value::as_array)
                    .map(|es| {
                        es.iter()
                            .filter_map(|e| s(e, "name").map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect();
    out.sort_by(|a, b| b.uploaded.cmp(&a.uploaded).then(a.id.cmp(&b.id)));
    out
}

/// The jar id in the answer of `/jars/upload`: the last segment of `filename`.
pub fn uploaded_jar_id(v: &Value) -> Option<String> {
    let f = s(v, "filename")?;
    let id = f.rsplit(['/', '\\']).next()?;
    (!id.is_empty()).then(|| id.to_owned())
}

/// How a job was started: what a rollback or a resume needs to start the same program again.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunParams {
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub entry_class: Option<String>,
    #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    #[serde(rename = "f", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flink_configuration: BTreeMap<String, String>,
}

const JAR_PREFIX: &str = "fd";
const NOT_RECORDED: &str = "x";
/// File names stay far below the 255-byte limit of common file systems; Flink prepends a UUID.
const MAX_JAR_NAME: usize = 200;

/// The tag that marks the jars uploaded for one job name.
pub fn job_tag(job_name: &str) -> String {
    use md5::{Digest, Md5};
    let d = Md5::digest(job_name.as_bytes());
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The file name a jar is uploaded under: `fd.<tag>.<run parameters>.<original name>.jar`.
///
/// Flink keeps nothing about how a job was started (no arguments, no jar), so the jar's own
/// name carries the job it belongs to and the parameters to start it again with. `record` is
/// false when the parameters must not be stored (they hold a secret) or do not fit; a rollback
/// to such a jar is refused rather than guessed.
pub fn jar_file_name(
    job_name: &str,
    params: &RunParams,
    original: &str,
    record: bool,
) -> (String, bool) {
    use base64::Engine;
    let tag = job_tag(job_name);
    let stem: String = original
        .strip_suffix(".jar")
        .unwrap_or(original)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = serde_json::to_vec(params)
        .map(|j| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(j))
        .unwrap_or_default();
    let fixed = JAR_PREFIX.len() + tag.len() + ".jar".len() + 3;
    let (payload, recorded) = if record && fixed + encoded.len() + 8 <= MAX_JAR_NAME {
        (encoded, true)
    } else {
        (NOT_RECORDED.to_owned(), false)
    };
    let room = MAX_JAR_NAME
        .saturating_sub(fixed + payload.len() + 1)
        .max(1);
    let stem: String = if stem.is_empty() {
        "job".into()
    } else {
        stem.chars().take(room).collect()
    };
    (format!("{JAR_PREFIX}.{tag}.{payload}.{stem}.jar"), recorded)
}

/// What a jar's name says: the job tag, the run parameters (when recorded) and the original
/// file name. `None` for jars this task did not upload.
pub fn parse_jar_name(name: &str) -> Option<(String, Option<RunParams>, String)> {
    use base64::Engine;
    let mut parts = name.splitn(4, '.');
    if parts.next()? != JAR_PREFIX {
        return None;
    }
    let tag = parts.next()?;
    if tag.len() != 12 || !tag.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let payload = parts.next()?;
    let rest = parts.next()?;
    let params = if payload == NOT_RECORDED {
        None
    } else {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        Some(serde_json::from_slice::<RunParams>(&bytes).ok()?)
    };
    Some((tag.to_owned(), params, rest.to_owned()))
}

/// Jars uploaded for this job name, newest first.
pub fn owned_jars<'a>(jars: &'a [Jar], job_name: &str) -> Vec<&'a Jar> {
    let tag = job_tag(job_name);
    jars.iter()
        .filter(|j| parse_jar_name(&j.name).is_some_and(|(t, _, _)| t == tag))
        .collect()
}

/// The jar a job was most likely started from: the newest of our jars for its name uploaded
/// before the job started. Jars uploaded later belong to later attempts.
pub fn jar_of_job<'a>(jars: &'a [Jar], job_name: &str, job_start: i64) -> Option<&'a Jar> {
    owned_jars(jars, job_name)
        .into_iter()
        .filter(|j| j.uploaded <= job_start)
        .max_by_key(|j| j.uploaded)
}

/// A jar's name as shown in the log: the original file name and the jar id's UUID part.
pub fn jar_display(jar_id: &str) -> String {
    let (uuid, name) = jar_id.split_once('_').unwrap_or(("", jar_id));
    let shown = parse_jar_name(name)
        .map(|(_, _, orig)| orig)
        .unwrap_or_else(|| name.to_owned());
    if uuid.is_empty() {
        shown
    } else {
        format!("{shown} (jar {uuid})")
    }
}

/// The savepoint directory the cluster uses when a request names none.
pub fn default_savepoint_dir(jobmanager_config: &Value) -> Option<String> {
    let entries = jobmanager_config.as_array()?;
    let get = |k: &str| {
        entries
            .iter()
            .find(|e| s(e, "key") == Some(k))
            .and_then(|e| s(e, "value"))
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
    };
    get("execution.checkpointing.savepoint-dir").or_else(|| get("state.savepoints.dir"))
}

/// How old `/jobs/{id}`, its exceptions and checkpoint statistics may be: the REST cache lives
/// for `web.refresh-interval`, which `/config` reports as `refresh-interval` (ms).
pub fn cache_ttl(config: &Value) -> std::time::Duration {
    let ms = config
        .get("refresh-interval")
        .and_then(Value::as_u64)
        .unwrap_or(3000);
    std::time::Duration::from_millis(ms.min(60_000))
}

/// The cluster's capacity as `/overview` shows it when a start ran out of time: a task manager
/// that died or left the cluster is the usual reason tasks stay SCHEDULED, and the numbers from
/// before the deploy would hide it.
pub fn capacity_now(overview: &Value) -> Option<String> {
    let managers = overview.get("taskmanagers")?.as_i64()?;
    let free = overview.get("slots-available").and_then(Value::as_i64)?;
    let total = overview
        .get("slots-total")
        .and_then(Value::as_i64)
        .unwrap_or(free);
    Some(if managers == 0 {
        "the cluster has no task manager now".to_owned()
    } else {
        format!(
            "the cluster has {managers} task manager(s) with {free} of {total} slot(s) free now"
        )
    })
}

/// A job named `demo` as the jobs overview lists it, for tests.
#[cfg(test)]
pub(crate) fn summary(id: &str, state: &str, start: i64, end: i64) -> JobSummary {
    JobSummary {
        id: id.into(),
        name: "demo".into(),
        state: state.into(),
        start_time: start,
        end_time: end,
        tasks: Default::default(),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn capacity_now_names_a_cluster_without_task_managers() {
        let none = serde_json::json!({"taskmanagers": 0, "slots-total": 0, "slots-available": 0});
        assert_eq!(
            capacity_now(&none).as_deref(),
            Some("the cluster has no task manager now")
        );
        let some = serde_json::json!({"taskmanagers": 1, "slots-total": 4, "slots-available": 2});
        assert_eq!(
            capacity_now(&some).as_deref(),
            Some("the cluster has 1 task manager(s) with 2 of 4 slot(s) free now")
        );
        assert_eq!(capacity_now(&serde_json::json!({"jobs": []})), None);
    }

    use super::*;
    use serde_json::json;

    fn fx(name: &str) -> Value {
        let text = match name {
            "checkpoints-failed-start" => {
                include_str!("../../../tests/fixtures/flink/checkpoints-failed-start.json")
            }
            "checkpoints-restored-stopped" => {
                include_str!("../../../tests/fixtures/flink/checkpoints-restored-stopped.json")
            }
            "checkpoints-running-with-savepoint" => {
                include_str!(
                    "../../../tests/fixtures/flink/checkpoints-running-with-savepoint.json"
                )
            }
            "exceptions-none" => include_str!("../../../tests/fixtures/flink/exceptions-none.json"),
            "exceptions-v3" => include_str!("../../../tests/fixtures/flink/exceptions-v3.json"),
            "checkpoints-never-completed" => {
                include_str!("../../../tests/fixtures/flink/checkpoints-never-completed.json")
            }
            "config" => include_str!("../../../tests/fixtures/flink/config.json"),
            "jars" => include_str!("../../../tests/fixtures/flink/jars.json"),
            "job-waiting-for-slots" => {
                include_str!("../../../tests/fixtures/flink/job-waiting-for-slots.json")
            }
            "jobmanager-config" => {
                include_str!("../../../tests/fixtures/flink/jobmanager-config.json")
            }
            "jobs-overview" => include_str!("../../../tests/fixtures/flink/jobs-overview.json"),
            "jobs-overview-active" => {
                include_str!("../../../tests/fixtures/flink/jobs-overview-active.json")
            }
            "savepoint-completed" => {
                include_str!("../../../tests/fixtures/flink/savepoint-completed.json")
            }
            "savepoint-failed" => {
                include_str!("../../../tests/fixtures/flink/savepoint-failed.json")
            }
            "savepoint-in-progress" => {
                include_str!("../../../tests/fixtures/flink/savepoint-in-progress.json")
            }
            "stop-terminal-job" => {
                include_str!("../../../tests/fixtures/flink/stop-terminal-job.json")
            }
            other => panic!("no fixture {other}"),
        };
        serde_json::from_str(text).unwrap()
    }

    fn raw(name: &str) -> &'static [u8] {
        match name {
            "plan-main-error" => {
                include_bytes!("../../../tests/fixtures/flink/plan-main-error.json")
            }
            "plan-wrong-entry-class" => {
                include_bytes!("../../../tests/fixtures/flink/plan-wrong-entry-class.json")
            }
            "run-wrong-entry-class" => {
                include_bytes!("../../../tests/fixtures/flink/run-wrong-entry-class.json")
            }
            "run-bad-savepoint" => {
                include_bytes!("../../../tests/fixtures/flink/run-bad-savepoint.json")
            }
            other => panic!("no fixture {other}"),
        }
    }

    #[test]
    fn overview_lists_jobs_newest_first_and_finds_the_active_one() {
        let jobs = jobs_from_overview(&fx("jobs-overview")).unwrap();
        assert_eq!(jobs.len(), 6);
        assert!(jobs.windows(2).all(|w| w[0].start_time >= w[1].start_time));
        // Every job in the recording has ended; none is active.
        assert!(active_named(&jobs, "demo").is_empty());
        assert_eq!(ended_named(&jobs, "demo").len(), 3);
        assert_eq!(ended_named(&jobs, "demo")[0].state, "CANCELED");

        let mut running = jobs.clone();
        running[0].state = "RESTARTING".into();
        let name = running[0].name.clone();
        assert_eq!(active_named(&running, &name).len(), 1);
        assert!(jobs_from_overview(&json!({"x": 1})).is_err());
    }

    fn overview_job(name: &str) -> JobSummary {
        let jobs = jobs_from_overview(&fx("jobs-overview-active")).unwrap();
        jobs.into_iter().find(|j| j.name == name).unwrap()
    }

    #[test]
    fn a_job_is_up_only_when_it_and_every_subtask_run() {
        let none = fx("exceptions-none");
        let running = overview_job("ov-running");
        assert_eq!(running.tasks["total"], 2);
        assert_eq!(assess(&running, &none), Health::Running);
        assert_eq!(describe(&running), "RUNNING (tasks: 2 running of 2)");
        // The operator of the slow job is still in its open(): one subtask INITIALIZING.
        match assess(&overview_job("ov-slow"), &none) {
            Health::Starting(s) => {
                assert_eq!(s, "RUNNING (tasks: 1 running, 1 initializing of 2)")
            }
            h => panic!("{h:?}"),
        }
        let mut empty = running.clone();
        empty.tasks.clear();
        assert!(matches!(assess(&empty, &none), Health::Starting(s) if s == "RUNNING"));
    }

    #[test]
    fn restarts_within_healthmaxrestarts_are_a_job_still_coming_up_and_one_more_is_a_failure() {
        let none = fx("exceptions-none");
        let v3 = fx("exceptions-v3");
        assert_eq!(exception_count(&v3), 2);
        let running = overview_job("ov-running");
        assert_eq!(assess_allowing(&running, &v3, 2), Health::Running);
        assert!(matches!(
            assess_allowing(&running, &v3, 1),
            Health::Failed(s) if s.contains("failed 2 time(s)")
        ));
        let restarting = overview_job("ov-failing");
        assert!(matches!(
            assess_allowing(&restarting, &none, 1),
            Health::Starting(s) if s.starts_with("RESTARTING")
        ));
        assert!(matches!(
            assess_allowing(&restarting, &none, 0),
            Health::Failed(_)
        ));
    }

    #[test]
    fn checkpoint_counts_come_from_counts_and_the_newest_failure_message() {
        let c = checkpoint_counts(&fx("checkpoints-failed-start"));
        assert_eq!((c.completed, c.failed, c.last_failure), (0, 11, None));
        // Recorded from Flink 2.3: a job whose snapshots outlast the checkpoint timeout, read
        // after the failed deploy cancelled it (its last checkpoint was aborted by the cancel;
        // the gate read the ones before, "Checkpoint expired before completing.").
        let c = checkpoint_counts(&fx("checkpoints-never-completed"));
        assert_eq!((c.completed, c.failed), (0, 22));
        assert_eq!(
            c.last_failure.as_deref(),
            Some("Checkpoint Coordinator is suspending.")
        );
        let v = json!({
            "counts": {"completed": 2, "failed": 3},
            "latest": {"failed": null},
            "history": [
                {"status": "COMPLETED"},
                {"status": "FAILED", "failure_message": "Checkpoint expired before completing."},
                {"status": "FAILED", "failure_message": "older"}
            ]
        });
        let c = checkpoint_counts(&v);
        assert_eq!((c.completed, c.failed), (2, 3));
        assert_eq!(
            c.last_failure.as_deref(),
            Some("Checkpoint expired before completing.")
        );
        let latest = json!({"counts": {}, "latest": {"failed": {"failure_message": "java.io.IOException: disk full\n\tat x"}}});
        assert_eq!(
            checkpoint_counts(&latest).last_failure.as_deref(),
            Some("java.io.IOException: disk full")
        );
    }

    #[test]
    fn any_failure_since_submission_is_a_failure_even_when_running_again() {
        let none = fx("exceptions-none");
        assert!(matches!(
            assess(&overview_job("ov-failing"), &none),
            Health::Failed(s) if s.contains("failing: RESTARTING (tasks: 1 canceled, 1 failed of 2)")
        ));
        // Region fail-over: every subtask RUNNING again, but the history shows the failures.
        let h = assess(&overview_job("ov-running"), &fx("exceptions-v3"));
        assert!(
            matches!(&h, Health::Failed(s) if s.contains("failed 2 time(s)")),
            "{h:?}"
        );
        let mut failed_task = overview_job("ov-slow");
        failed_task.tasks.insert("failed".into(), 1);
        assert!(
            matches!(assess(&failed_task, &none), Health::Failed(s) if s.contains("a task failed"))
        );
        for st in ["RESTARTING", "FAILING", "FINISHED", "SUSPENDED", "CANCELED"] {
            let mut j = overview_job("ov-running");
            j.state = st.into();
            assert!(matches!(assess(&j, &none), Health::Failed(_)), "{st}");
        }
    }

    #[test]
    fn finished_subtasks_of_bounded_inputs_do_not_hold_the_job_back() {
        let none = fx("exceptions-none");
        let mut j = overview_job("ov-running");
        j.tasks.insert("running".into(), 1);
        j.tasks.insert("finished".into(), 1);
        assert_eq!(assess(&j, &none), Health::Running);
        j.tasks.insert("running".into(), 0);
        j.tasks.insert("finished".into(), 2);
        assert!(matches!(assess(&j, &none), Health::Starting(_)));
    }

    #[test]
    fn parallelism_from_job_details() {
        assert_eq!(max_parallelism(&fx("job-waiting-for-slots")), Some(40));
        assert_eq!(max_parallelism(&json!({})), None);
    }

    #[test]
    fn root_causes_name_the_task_and_the_exception_once() {
        let lines = root_causes(&fx("exceptions-v3"), 3);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("sum v3 -> Sink: Writer"), "{}", lines[0]);
        assert!(
            lines[0].contains(
                "java.lang.IllegalStateException: test job v3 fails on start: the summing operator refuses to open"
            ),
            "{}",
            lines[0]
        );
        assert!(root_causes(&fx("exceptions-none"), 3).is_empty());
        let nested = json!({"exceptionHistory": {"entries": [{
            "exceptionName": "org.apache.flink.runtime.JobException",
            "taskName": "map (1/2)",
            "stacktrace": "org.apache.flink.runtime.JobException: Recovery is suppressed\n\tat a.b(C.java:1)\nCaused by: java.io.IOException: disk full\n\tat d.e(F.java:2)\n"
        }]}});
        assert_eq!(
            root_causes(&nested, 3),
            vec![
                "exception in `map (1/2)`: org.apache.flink.runtime.JobException: Recovery is suppressed",
                "  root cause: java.io.IOException: disk full"
            ]
        );
    }

    #[test]
    fn the_root_cause_is_the_innermost_cause_of_the_newest_failure() {
        assert_eq!(
            root_cause(&fx("exceptions-v3")).as_deref(),
            Some("java.lang.IllegalStateException: test job v3 fails on start: the summing operator refuses to open")
        );
        assert_eq!(root_cause(&fx("exceptions-none")), None);
        let nested = json!({"exceptionHistory": {"entries": [
            {"exceptionName": "org.apache.flink.runtime.JobException", "stacktrace": "org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy\n\tat a.b(C.java:1)\nCaused by: java.io.IOException: disk full\n\tat d.e(F.java:2)\n"},
            {"exceptionName": "java.lang.RuntimeException", "stacktrace": "java.lang.RuntimeException: an older failure\n"}
        ]}});
        assert_eq!(
            root_cause(&nested).as_deref(),
            Some("java.io.IOException: disk full")
        );
        // Older Flink: only the root exception.
        let legacy = json!({"root-exception": "java.lang.ClassCastException: a cannot be cast to b\n\tat x.y(Z.java:3)\n", "all-exceptions": []});
        assert_eq!(
            root_cause(&legacy).as_deref(),
            Some("java.lang.ClassCastException: a cannot be cast to b")
        );
        let unnamed = json!({"exceptionHistory": {"entries": [{"exceptionName": "java.lang.Error", "stacktrace": ""}]}});
        assert_eq!(root_cause(&unnamed).as_deref(), Some("java.lang.Error"));
    }

    #[test]
    fn rest_errors_lead_with_the_innermost_cause() {
        let (head, chain) = rest_error(raw("plan-wrong-entry-class")).unwrap();
        assert_eq!(
            head,
            "java.lang.ClassNotFoundException: flinkdeploy.testjob.Nope"
        );
        assert!(chain.iter().any(|c| c.contains(
            "The program's entry point class 'flinkdeploy.testjob.Nope' was not found in the jar file."
        )));
        assert!(!chain
            .iter()
            .any(|c| c.contains("\tat ") || c.contains("Exception on server side")));

        let (head, _) = rest_error(raw("run-wrong-entry-class")).unwrap();
        assert!(head.contains("ClassNotFoundException"), "{head}");

        let (head, _) = rest_error(raw("plan-main-error")).unwrap();
        assert_eq!(
            head,
            "java.lang.IllegalArgumentException: --version must be v1, v2 or v3, not v9"
        );
        let (head, chain) = rest_error(raw("run-bad-savepoint")).unwrap();
        assert!(
            head.contains(
                "Cannot find checkpoint or savepoint file/directory 'file:/nonexistent/sp'"
            ),
            "{head}"
        );
        // Repeats collapse: "Could not execute application." appears once per distinct line.
        assert!(chain.len() < 12, "{chain:?}");
        assert!(rest_error(b"not json").is_none());
        assert!(rest_error(br#"{"errors": []}"#).is_none());
    }

    #[test]
    fn savepoint_triggers() {
        assert_eq!(
            trigger_status(&fx("savepoint-in-progress")).unwrap(),
            Trigger::InProgress
        );
        assert_eq!(
            trigger_status(&fx("savepoint-completed")).unwrap(),
            Trigger::Completed("file:/flink/savepoints/savepoint-c3876d-6613f639ff59".into())
        );
        match trigger_status(&fx("savepoint-failed")).unwrap() {
            Trigger::Failed(t) => assert!(t.contains("Could not find Flink job"), "{t}"),
            t => panic!("{t:?}"),
        }
        assert!(trigger_status(&fx("stop-terminal-job")).is_err());
    }

    #[test]
    fn state_facts_from_checkpoint_statistics() {
        let f = state_facts(&fx("checkpoints-restored-stopped"));
        let (path, _, kind) = f.savepoint.clone().unwrap();
        assert!(path.ends_with("savepoint-34f4fe-16fa11f93e08"), "{path}");
        assert_eq!(kind, "SYNC_SAVEPOINT");
        assert_eq!(
            f.restored,
            Some((
                "file:/flink/savepoints/savepoint-e92b3f-aea7c450064c".into(),
                true
            ))
        );
        assert!(f.completed > 0);
        let failed = state_facts(&fx("checkpoints-failed-start"));
        assert_eq!(failed.completed, 0);
        assert!(failed.savepoint.is_none());
        let sps = savepoints_in_history(&fx("checkpoints-running-with-savepoint"));
        assert_eq!(sps.len(), 1);
        assert_eq!(sps[0].2, "SAVEPOINT");
    }

    fn job(id: &str, state: &str, start: i64) -> JobSummary {
        summary(id, state, start, start + 10)
    }

    #[test]
    fn deploy_continues_a_job_stopped_with_a_savepoint_and_looks_through_failed_upgrades() {
        let stopped = (job("v2", "FINISHED", 2), fx("checkpoints-restored-stopped"));
        let failed_v3 = (job("v3", "CANCELED", 3), fx("checkpoints-failed-start"));
        match restore_point(&[failed_v3.clone(), stopped.clone()], Purpose::Deploy) {
            Restore::Savepoint { path, job_id, .. } => {
                assert!(path.ends_with("savepoint-34f4fe-16fa11f93e08"));
                assert_eq!(job_id, "v2");
            }
            r => panic!("{r:?}"),
        }
        // The stopped job expired from the cluster's memory: the failed start still knows the
        // savepoint it was started from.
        match restore_point(&[failed_v3], Purpose::Deploy) {
            Restore::Savepoint { path, why, .. } => {
                assert!(path.ends_with("savepoint-34f4fe-16fa11f93e08"));
                assert!(why.contains("never came up"));
            }
            r => panic!("{r:?}"),
        }
        assert!(matches!(
            restore_point(&[], Purpose::Deploy),
            Restore::Fresh(_)
        ));
    }

    #[test]
    fn deploy_after_a_cancel_starts_fresh_but_resume_takes_the_last_savepoint() {
        // Cancelled after a manual savepoint and more checkpoints: cancel discards state.
        let cancelled = (
            job("c", "CANCELED", 5),
            fx("checkpoints-running-with-savepoint"),
        );
        assert!(matches!(
            restore_point(std::slice::from_ref(&cancelled), Purpose::Deploy),
            Restore::Fresh(w) if w.contains("CANCELED")
        ));
        match restore_point(&[cancelled], Purpose::Resume) {
            Restore::Savepoint { path, .. } => {
                assert!(path.ends_with("savepoint-c3876d-6613f639ff59"))
            }
            r => panic!("{r:?}"),
        }
        // A FINISHED job whose newest state is a checkpoint (not stopped by us): fresh.
        let mut cps = fx("checkpoints-restored-stopped");
        cps["latest"]["completed"]["trigger_timestamp"] = json!(i64::MAX);
        assert!(matches!(
            restore_point(&[(job("f", "FINISHED", 1), cps)], Purpose::Deploy),
            Restore::Fresh(_)
        ));
    }

    #[test]
    fn jar_names_carry_the_job_and_the_run_parameters() {
        let p = RunParams {
            entry_class: Some("flinkdeploy.testjob.StatefulSum".into()),
            args: vec!["--version".into(), "v2".into(), "a b;c]".into()],
            parallelism: Some(2),
            flink_configuration: BTreeMap::from([("k".into(), "v".into())]),
        };
        let (name, recorded) = jar_file_name("my job/1", &p, "state ful+job-1.0.jar", true);
        assert!(recorded);
        assert!(name.len() <= MAX_JAR_NAME);
        assert!(name.ends_with(".state_ful_job-1.0.jar"), "{name}");
        assert!(name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
        let (tag, back, orig) = parse_jar_name(&name).unwrap();
        assert_eq!(tag, job_tag("my job/1"));
        assert_eq!(back.unwrap(), p);
        assert_eq!(orig, "state_ful_job-1.0.jar");

        let (name, recorded) = jar_file_name("j", &p, "a.jar", false);
        assert!(!recorded);
        assert_eq!(parse_jar_name(&name).unwrap().1, None);

        let long = RunParams {
            args: vec!["x".repeat(400)],
            ..Default::default()
        };
        let (name, recorded) = jar_file_name("j", &long, &"n".repeat(500), true);
        assert!(!recorded && name.len() <= MAX_JAR_NAME, "{}", name.len());

        assert!(parse_jar_name("job.jar").is_none());
        assert!(parse_jar_name("fd.nothex.x.job.jar").is_none());
        assert!(parse_jar_name("fd.0123456789ab.!!!.job.jar").is_none());
    }

    #[test]
    fn the_jar_of_a_job_is_the_newest_own_jar_uploaded_before_it_started() {
        let mk = |id: &str, job: &str, t: i64| Jar {
            id: format!("{id}_x"),
            name: jar_file_name(job, &RunParams::default(), "job.jar", true).0,
            uploaded: t,
            entries: vec![],
        };
        let jars = vec![
            mk("v3", "demo", 300),
            mk("v2", "demo", 200),
            mk("other", "other", 250),
            mk("v1", "demo", 100),
            Jar {
                id: "plain_job.jar".into(),
                name: "job.jar".into(),
                uploaded: 260,
                entries: vec![],
            },
        ];
        assert_eq!(owned_jars(&jars, "demo").len(), 3);
        assert_eq!(jar_of_job(&jars, "demo", 250).unwrap().id, "v2_x");
        assert_eq!(jar_of_job(&jars, "demo", 200).unwrap().id, "v2_x");
        assert!(jar_of_job(&jars, "demo", 50).is_none());
        assert!(jar_of_job(&jars, "nobody", 1000).is_none());
    }

    #[test]
    fn jar_list_and_upload_answers() {
        let jars = jars_from_list(&fx("jars"));
        assert_eq!(jars.len(), 1);
        assert_eq!(jars[0].entries, vec!["flinkdeploy.testjob.StatefulSum"]);
        assert_eq!(
            uploaded_jar_id(
                &json!({"filename": "/flink/web/flink-web-upload/abc_fd.x.jar", "status": "success"})
            ),
            Some("abc_fd.x.jar".into())
        );
        assert_eq!(uploaded_jar_id(&json!({"status": "success"})), None);
        assert_eq!(
            jar_display("3e9c4330-c759_fd.0123456789ab.x.job.jar"),
            "job.jar (jar 3e9c4330-c759)"
        );
    }

    #[test]
    fn savepoint_directory_of_the_cluster() {
        assert_eq!(
            default_savepoint_dir(&fx("jobmanager-config")).as_deref(),
            Some("file:///flink/savepoints")
        );
        assert_eq!(
            default_savepoint_dir(&json!([{"key": "state.savepoints.dir", "value": "s3://b/sp"}]))
                .as_deref(),
            Some("s3://b/sp")
        );
        assert_eq!(default_savepoint_dir(&json!([])), None);
    }

    #[test]
    fn the_rest_cache_lifetime_comes_from_the_cluster() {
        assert_eq!(cache_ttl(&fx("config")).as_millis(), 3000);
        assert_eq!(
            cache_ttl(&json!({"refresh-interval": 500})).as_millis(),
            500
        );
        assert_eq!(cache_ttl(&json!({})).as_millis(), 3000);
    }
}
