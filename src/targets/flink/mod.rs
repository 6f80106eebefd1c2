//! Apache Flink session clusters through the JobManager REST API.
//!
//! `plan` reads the cluster (version, slots, jobs with the job name, our jars, the savepoint
//! directory) and decides everything; `apply` carries it out. A deploy goes: upload the jar,
//! build the job graph (`/jars/{id}/plan`, so a wrong entry class fails before anything is
//! stopped), stop the running job with a savepoint, start the new jar from it, wait until the
//! job and every vertex run, watch it settle, delete the older jars. When the new job does not
//! come up, it is cancelled and its jar deleted; the old jar and the savepoint stay, so a
//! rollback (or a later deploy, which restores from that savepoint) can repair it.

pub mod client;
pub mod config;
pub mod judge;
mod probe;

use crate::health::Signal;
use std::time::Duration;

use serde_json::Value;

use self::client::{Client, RunRequest};
pub use self::config::{FlinkAuth, FlinkConfig};
use self::judge::{Jar, JobSummary, Purpose, Restore, RunParams};
use super::{Context, CredentialNeed, Needs, Plan, Registration, Target};
use crate::azure::blob::JarUriScheme;
use crate::config::{Action, JobInputs, TokenSource};
use crate::error::{Error, Result};
use crate::health;
use crate::http::display_url;
use crate::pipeline::inputs as i;
use crate::report::Recorder;
use crate::rollback::Outcome;
use crate::wait::{self, End, Hold, Observed, Probe, Settled, Verdict, Wait};

use self::judge::{Health, Trigger};
use self::probe::{Causes, JobProbe, State, TriggerLook};

/// How many ended jobs with the name are looked at for their savepoints.
const HISTORY_DEPTH: usize = 5;
/// A job that was cancelled or stopped should be gone quickly; this bounds the wait.
const END_WAIT: Duration = Duration::from_secs(60);
/// The key of the password or token among the run's credentials.
const CREDENTIAL: &str = "flink-credential";

/// What the platform tells about a started job's health (`crate::health`).
const HEALTH: crate::health::Support = crate::health::Support {
    restarts: Signal::Counted("the job's exception history (`/jobs/{id}/exceptions`), one entry per failure Flink recovered from"),
    checkpoints: Signal::Counted("`/jobs/{id}/checkpoints` (counts.completed, counts.failed, latest.failed.failure_message)"),
};

pub const REGISTRATION: Registration =
    Registration::of::<FlinkConfig>("flink", Action::ON_JOBS, HEALTH);

/// The target with its configuration.
pub type Flink = super::Configured<FlinkConfig>;

/// What the target's code reads while it plans and applies.
pub type Cfg<'a> = super::Settings<'a, FlinkConfig>;

#[async_trait::async_trait(?Send)]
impl Target for Flink {
    fn needs(&self) -> Needs {
        let (source, bearer) = match &self.cfg.auth {
            FlinkAuth::None => (TokenSource::None, false),
            FlinkAuth::Basic { password, .. } => (password.clone(), false),
            FlinkAuth::Bearer(t) => (t.clone(), true),
        };
        Needs {
            // The cluster fetches nothing itself: the jar goes up through /jars/upload.
            jar_scheme: JarUriScheme::Https,
            jar_md5_in_plan: false,
            blob_prefix: "artifacts/namespaces/default".into(),
            credentials: vec![CredentialNeed {
                key: CREDENTIAL,
                source,
                vault_input: i::FLINK_CREDENTIAL_SECRET,
                bearer,
            }],
            rollback: crate::rollback::Rules::ALWAYS,
        }
    }

    async fn plan(&self, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
        plan(self, cx).await
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// What the plan found and decided.
struct Planned {
    name: String,
    /// The job with the name that is not over (RUNNING, or stuck somewhere before an end).
    active: Option<JobSummary>,
    /// Where a job started without a running predecessor gets its state.
    restore: Option<(String, String)>,
    /// What a rollback returns to.
    previous: Option<Previous>,
    /// `savepointDirectory`, if given; otherwise Flink uses its configured default.
    target_dir: Option<String>,
    own_jars: Vec<Jar>,
    /// For `resume` without `artifactPath`: the jar and parameters of the job being resumed.
    resume_jar: Option<(Jar, RunParams)>,
    stateless: bool,
    free_slots: Option<i64>,
    /// How stale the cached REST answers may be.
    cache_ttl: Duration,
    /// The `Authorization` header (already registered as a secret).
    auth: Option<String>,
    /// What the run will do, step by step.
    steps: Vec<Step>,
}

impl Planned {
    fn lines(&self) -> Vec<String> {
        self.steps.iter().map(Step::line).collect()
    }
}

#[derive(Clone)]
struct Previous {
    job_id: String,
    jar: Option<Jar>,
    /// The savepoint the previous job's state is in, when known at plan time (no running
    /// predecessor); otherwise the one the stop takes.
    savepoint: Option<String>,
}

/// One step of the plan, with what it works on.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Cluster {
        version: String,
        url: String,
        task_managers: String,
        free: String,
        total: String,
    },
    NoJobName,
    Upload {
        file: String,
        name: String,
    },
    CancelForStateless {
        name: String,
        job: String,
        state: String,
    },
    StopWithSavepoint {
        name: String,
        job: String,
        since: String,
        dir: String,
    },
    StartFromThatSavepoint {
        allow_non_restored: bool,
    },
    StartFrom {
        name: String,
        path: String,
        why: String,
    },
    StartFresh {
        name: String,
        why: String,
    },
    Wait {
        timeout: u64,
        settle: u64,
        /// What the settle window checks besides RUNNING (`crate::health`).
        health: String,
    },
    DeleteOlderJars {
        name: String,
        count: usize,
    },
    RollbackTo {
        jar: String,
    },
    NoRollbackJar,
    NothingToRollBackTo,
    ParallelismNote {
        parallelism: u32,
        free: i64,
        replacing: bool,
    },
    AlreadyActive {
        name: String,
        job: String,
        state: String,
    },
    ResumeUploaded {
        path: String,
        why: String,
    },
    ResumeJar {
        jar: String,
        path: String,
        why: String,
    },
    Suspend {
        name: String,
        job: String,
        dir: String,
    },
    Savepoint {
        name: String,
        job: String,
        dir: String,
    },
    Cancel {
        name: String,
        job: String,
        state: String,
    },
    DeleteJars {
        name: String,
        count: usize,
    },
    ListSavepoints {
        name: String,
    },
}

impl Step {
    fn line(&self) -> String {
        match self {
            Step::Cluster { version, url, task_managers, free, total } => format!(
                "Flink {version} session cluster at {url}: {task_managers} task manager(s), {free}/{total} slots free"
            ),
            Step::NoJobName => "no jobName given: only the cluster was checked".into(),
            Step::Upload { file, name } => format!(
                "upload {file} as a jar for job `{name}`, then check its entry class and arguments (/jars/…/plan) before anything is stopped"
            ),
            Step::CancelForStateless { name, job, state } => format!(
                "cancel job `{name}` ({job}, {state}) without a savepoint (upgradeStrategy STATELESS) and start the new jar without state"
            ),
            Step::StopWithSavepoint { name, job, since, dir } => format!(
                "stop job `{name}` ({job}, running since {since}) with a savepoint into {dir}"
            ),
            Step::StartFromThatSavepoint { allow_non_restored } => format!(
                "start the new jar from that savepoint (allowNonRestoredState: {allow_non_restored})"
            ),
            Step::StartFrom { name, path, why } => format!(
                "no job named `{name}` is running: start it from savepoint {path} ({why})"
            ),
            Step::StartFresh { name, why } => format!(
                "no job named `{name}` is running: start it without state ({why})"
            ),
            Step::Wait {
                timeout,
                settle,
                health,
            } => format!(
                "wait up to {timeout}s for the job and all its vertices to be RUNNING, then watch it for {settle}s ({health})"
            ),
            Step::DeleteOlderJars { name, count } => {
                format!("then delete {count} older jar(s) uploaded for job `{name}`")
            }
            Step::RollbackTo { jar } => format!("on failure: start {jar} again from the savepoint"),
            Step::NoRollbackJar => "on failure: no rollback possible (the previous job's jar was not uploaded by this task)".into(),
            Step::NothingToRollBackTo => "on failure: nothing to roll back to (no earlier job)".into(),
            Step::ParallelismNote { parallelism, free, replacing } => format!(
                "note: parallelism {parallelism} needs up to {parallelism} slots; {free} are free now{}",
                if *replacing { " (plus those of the job it replaces)" } else { "" }
            ),
            Step::AlreadyActive { name, job, state } => {
                format!("job `{name}` is already {state} ({job}): nothing to resume")
            }
            Step::ResumeUploaded { path, why } => {
                format!("upload the jar and start it from savepoint {path} ({why})")
            }
            Step::ResumeJar { jar, path, why } => {
                format!("start {jar} again from savepoint {path} ({why})")
            }
            Step::Suspend { name, job, dir } => {
                format!("stop job `{name}` ({job}) with a savepoint into {dir}")
            }
            Step::Savepoint { name, job, dir } => format!(
                "take a savepoint of job `{name}` ({job}) into {dir}; the job keeps running"
            ),
            Step::Cancel { name, job, state } => {
                format!("cancel job `{name}` ({job}, {state}) without a savepoint")
            }
            Step::DeleteJars { name, count } => {
                format!("delete {count} jar(s) uploaded for job `{name}`")
            }
            Step::ListSavepoints { name } => format!("list the savepoints of jobs named `{name}`"),
        }
    }
}

/// How a start attempt ended when it did not come up.
struct StartFailure {
    job_id: Option<String>,
    error: Error,
}

/// The job's run parameters from the inputs.
fn params_from_inputs(job: &JobInputs) -> RunParams {
    RunParams {
        entry_class: job.entry_class.clone(),
        args: job.main_args.clone().unwrap_or_default(),
        parallelism: job.parallelism,
        flink_configuration: job.flink_configuration.clone(),
    }
}

fn add_hint(e: Error, hint: &str) -> Error {
    match e.hint.clone() {
        Some(h) => e.with_hint(format!("{h}; {hint}")),
        None => e.with_hint(hint),
    }
}

/// The cluster URL as printed (no credentials or query, no trailing slash).
fn shown(url: &str) -> String {
    display_url(url).trim_end_matches('/').to_owned()
}

fn ms_to_rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// The `Authorization` header for the cluster, registered as a secret before first use.
fn auth_header(f: &FlinkConfig, cx: &Context<'_>) -> Result<Option<String>> {
    use base64::Engine;
    let secret = || {
        cx.creds.get(CREDENTIAL).cloned().ok_or_else(|| {
            Error::input(
                i::FLINK_CREDENTIAL_SECRET,
                "the credential for the Flink cluster could not be read",
            )
            .with_hint("pass flinkPassword/flinkToken as a secret variable, or check the Key Vault secret name")
        })
    };
    let header = match &f.auth {
        FlinkAuth::None => return Ok(None),
        FlinkAuth::Basic { username, .. } => {
            let pair = format!("{username}:{}", secret()?.expose());
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            // The encoded pair is as good as the password.
            cx.rec.secret(&encoded);
            format!("Basic {encoded}")
        }
        FlinkAuth::Bearer(_) => format!("Bearer {}", secret()?.expose()),
    };
    Ok(Some(header))
}

/// What the plan learned from the cluster before deciding anything.
struct Survey {
    url: String,
    name: String,
    jobs: Vec<JobSummary>,
    jars: Vec<Jar>,
    /// The job with the name that is not over.
    active: Option<JobSummary>,
    /// Where savepoints go: `savepointDirectory`, else the cluster's default.
    savepoint_dir: Option<String>,
    /// Ended jobs with the name, newest first, with their checkpoint statistics.
    history: Vec<(JobSummary, Value)>,
}

impl Survey {
    fn savepoint_dir_shown(&self) -> &str {
        self.savepoint_dir
            .as_deref()
            .unwrap_or("the cluster's default directory")
    }

    fn need_savepoint_dir(&self, cfg: Cfg<'_>, what: &str) -> Result<()> {
        if self.savepoint_dir.is_none() && cfg.action != Action::Validate {
            return Err(Error::input(
                i::SAVEPOINT_DIRECTORY,
                format!(
                    "is required to {what}: the cluster at {} has no default savepoint directory",
                    self.url
                ),
            )
            .with_hint("set savepointDirectory (e.g. s3://bucket/savepoints), or execution.checkpointing.savepoint-dir in the cluster's configuration"));
        }
        Ok(())
    }

    fn running(&self, what: &str) -> Result<&JobSummary> {
        let name = &self.name;
        match &self.active {
            Some(j) if j.state == "RUNNING" => Ok(j),
            Some(j) => Err(Error::platform(format!(
                "job `{name}` ({}) is {}, not RUNNING: cannot {what}",
                j.id, j.state
            ))
            .with_hint("wait until it runs, or cancel it (action: cancel)")),
            None => Err(Error::platform(format!(
                "no job named `{name}` is running on {}: nothing to {what}",
                self.url
            ))
            .with_hint(
                "check jobName; it must be the name the job runs under (env.execute(name))",
            )),
        }
    }

    fn start_of(&self, job_id: &str) -> Option<i64> {
        self.jobs
            .iter()
            .find(|j| j.id == job_id)
            .map(|j| j.start_time)
    }

    fn previous(&self, job: &JobSummary, savepoint: Option<String>) -> Previous {
        Previous {
            job_id: job.id.clone(),
            jar: judge::jar_of_job(&self.jars, &self.name, job.start_time).cloned(),
            savepoint,
        }
    }
}

fn wait_step(cfg: Cfg<'_>) -> Step {
    Step::Wait {
        timeout: cfg.timeout.as_secs(),
        settle: cfg.settle.as_secs(),
        health: cfg.health.describe(REGISTRATION.health),
    }
}

/// Deploy (and validate, which shows what a deploy would do).
fn plan_deploy(
    cfg: Cfg<'_>,
    s: &Survey,
    local: Option<&std::path::Path>,
    p: &mut Planned,
) -> Result<()> {
    let name = &s.name;
    if let Some(local) = local {
        p.steps.push(Step::Upload {
            file: local.display().to_string(),
            name: name.clone(),
        });
    }
    match &s.active {
        Some(j) if p.stateless => {
            p.steps.push(Step::CancelForStateless {
                name: name.clone(),
                job: j.id.clone(),
                state: j.state.clone(),
            });
            p.previous = Some(s.previous(j, None));
        }
        Some(j) => {
            if j.state != "RUNNING" {
                return Err(Error::platform(format!(
                    "job `{name}` ({}) is {}: it cannot be stopped with a savepoint",
                    j.id, j.state
                ))
                .with_hint("cancel it (action: cancel) and deploy with initialSavepointPath set to its last savepoint, or use upgradeStrategy: STATELESS"));
            }
            s.need_savepoint_dir(cfg, "stop the running job with a savepoint")?;
            p.steps.push(Step::StopWithSavepoint {
                name: name.clone(),
                job: j.id.clone(),
                since: ms_to_rfc3339(j.start_time),
                dir: s.savepoint_dir_shown().to_owned(),
            });
            p.steps.push(Step::StartFromThatSavepoint {
                allow_non_restored: cfg.job.allow_non_restored_state,
            });
            p.previous = Some(s.previous(j, None));
        }
        None => plan_start(cfg, s, p),
    }
    p.steps.push(wait_step(cfg));
    if !p.own_jars.is_empty() {
        p.steps.push(Step::DeleteOlderJars {
            name: name.clone(),
            count: p.own_jars.len(),
        });
    }
    if cfg.rollback_on_failure {
        p.steps.push(match &p.previous {
            Some(Previous { jar: Some(j), .. }) => Step::RollbackTo {
                jar: judge::jar_display(&j.id),
            },
            Some(_) => Step::NoRollbackJar,
            None => Step::NothingToRollBackTo,
        });
    }
    if let (Some(par), Some(free)) = (cfg.job.parallelism, p.free_slots) {
        if i64::from(par) > free {
            p.steps.push(Step::ParallelismNote {
                parallelism: par,
                free,
                replacing: s.active.is_some(),
            });
        }
    }
    Ok(())
}

/// No job with the name runs: where the new one gets its state.
fn plan_start(cfg: Cfg<'_>, s: &Survey, p: &mut Planned) {
    let name = &s.name;
    let restore = if let Some(sp) = &cfg.job.initial_savepoint_path {
        Restore::Savepoint {
            path: sp.clone(),
            job_id: String::new(),
            why: "initialSavepointPath".into(),
        }
    } else if cfg.job.restore_strategy.as_deref() == Some("NONE") {
        Restore::Fresh("restoreStrategy is NONE".into())
    } else {
        judge::restore_point(&s.history, Purpose::Deploy)
    };
    match restore {
        Restore::Savepoint { path, job_id, why } => {
            p.steps.push(Step::StartFrom {
                name: name.clone(),
                path: path.clone(),
                why: why.clone(),
            });
            // A job restored from its own last stop can roll back to the jar it ran.
            if let Some(start) = s.start_of(&job_id) {
                p.previous = Some(Previous {
                    job_id,
                    jar: judge::jar_of_job(&s.jars, name, start).cloned(),
                    savepoint: Some(path.clone()),
                });
            }
            p.restore = Some((path, why));
        }
        Restore::Fresh(why) => p.steps.push(Step::StartFresh {
            name: name.clone(),
            why,
        }),
    }
}

/// Resume: the savepoint (input or history) and the jar (artifactPath or the recorded one).
fn plan_resume(
    cfg: Cfg<'_>,
    s: &Survey,
    local: Option<&std::path::Path>,
    p: &mut Planned,
) -> Result<()> {
    let name = &s.name;
    if let Some(j) = &s.active {
        p.steps.push(Step::AlreadyActive {
            name: name.clone(),
            job: j.id.clone(),
            state: j.state.clone(),
        });
        return Ok(());
    }
    let (path, why, from_job) = match &cfg.job.savepoint_location {
        Some(sp) => (sp.clone(), "savepointLocation".to_owned(), None),
        None => match judge::restore_point(&s.history, Purpose::Resume) {
            Restore::Savepoint { path, job_id, why } => (path, why, Some(job_id)),
            Restore::Fresh(why) => return Err(Error::platform(format!(
                "no savepoint is known for job `{name}`: {why}"
            ))
            .with_hint(
                "pass savepointLocation (e.g. the savepointLocation output of the suspend step)",
            )),
        },
    };
    match local {
        Some(_) => p.steps.push(Step::ResumeUploaded {
            path: path.clone(),
            why: why.clone(),
        }),
        None => {
            let (jar, params) = resume_jar(s, from_job.as_deref())?;
            p.steps.push(Step::ResumeJar {
                jar: judge::jar_display(&jar.id),
                path: path.clone(),
                why: why.clone(),
            });
            p.resume_jar = Some((jar, params));
        }
    }
    p.restore = Some((path, why));
    p.steps.push(wait_step(cfg));
    Ok(())
}

/// The jar of the job the savepoint came from (or of the newest job with the name), with the
/// run parameters recorded in its name.
fn resume_jar(s: &Survey, from_job: Option<&str>) -> Result<(Jar, RunParams)> {
    let name = &s.name;
    let job_start = from_job
        .and_then(|id| s.start_of(id))
        .or_else(|| s.history.first().map(|(j, _)| j.start_time))
        .unwrap_or(i64::MAX);
    let jar = judge::jar_of_job(&s.jars, name, job_start).ok_or_else(|| {
        Error::platform(format!(
            "no jar uploaded by this task for job `{name}` is left on {}",
            s.url
        ))
        .with_hint("set artifactPath to the jar to resume with")
    })?;
    let params = judge::parse_jar_name(&jar.name)
        .and_then(|(_, params, _)| params)
        .ok_or_else(|| {
            Error::platform(format!(
                "the run parameters of {} were not recorded",
                judge::jar_display(&jar.id)
            ))
            .with_hint("set artifactPath (and entryClass/mainArgs) to resume with a given jar")
        })?;
    Ok((jar.clone(), params))
}

/// The lifecycle actions on the job with the name.
fn plan_action(cfg: Cfg<'_>, s: &Survey, p: &mut Planned) -> Result<()> {
    let name = s.name.clone();
    match cfg.action {
        Action::Suspend => {
            let j = s.running("suspend")?;
            s.need_savepoint_dir(cfg, "suspend the job")?;
            p.steps.push(Step::Suspend {
                name,
                job: j.id.clone(),
                dir: s.savepoint_dir_shown().to_owned(),
            });
        }
        Action::Savepoint => {
            let j = s.running("take a savepoint of")?;
            s.need_savepoint_dir(cfg, "take a savepoint")?;
            p.steps.push(Step::Savepoint {
                name,
                job: j.id.clone(),
                dir: s.savepoint_dir_shown().to_owned(),
            });
        }
        Action::Cancel => match &s.active {
            Some(j) => p.steps.push(Step::Cancel {
                name,
                job: j.id.clone(),
                state: j.state.clone(),
            }),
            None => {
                return Err(Error::platform(format!(
                    "no job named `{name}` is active on {}: nothing to cancel",
                    s.url
                ))
                .with_hint("check jobName"))
            }
        },
        Action::Delete => {
            if let Some(j) = &s.active {
                return Err(Error::platform(format!(
                    "job `{name}` ({}) is {}: it must be stopped before its jars are deleted",
                    j.id, j.state
                ))
                .with_hint("run action suspend or cancel first"));
            }
            p.steps.push(Step::DeleteJars {
                name,
                count: p.own_jars.len(),
            });
        }
        Action::ListSavepoints => p.steps.push(Step::ListSavepoints { name }),
        _ => {}
    }
    Ok(())
}

/// `upgradeStrategy` as the Flink target understands it: STATELESS or not.
fn stateless(cfg: Cfg<'_>) -> Result<bool> {
    match cfg.job.upgrade_strategy.as_deref() {
        None | Some("STATEFUL") => Ok(false),
        Some("STATELESS") => Ok(true),
        Some(other) => Err(Error::input(
            i::UPGRADE_STRATEGY,
            format!("`{other}` is not supported for target `flink`"),
        )
        .with_hint("use STATEFUL (stop with a savepoint, start from it) or STATELESS (cancel, start without state)")),
    }
}

/// The one job with the name that is not over, if any.
fn the_active_job(jobs: &[JobSummary], name: &str, url: &str) -> Result<Option<JobSummary>> {
    let active = judge::active_named(jobs, name);
    if active.len() > 1 {
        let ids: Vec<String> = active
            .iter()
            .map(|j| format!("{} ({})", j.id, j.state))
            .collect();
        return Err(Error::platform(format!(
            "{} jobs named `{name}` are active on {url}: {}",
            active.len(),
            ids.join(", ")
        ))
        .with_hint("cancel the extra jobs; the task upgrades exactly one job per name"));
    }
    Ok(active.first().map(|j| (*j).clone()))
}

/// What the cluster says about itself: the first plan line and how stale its answers may be.
async fn read_cluster(client: &Client<'_>, url: &str) -> Result<(Step, Duration, Option<i64>)> {
    let conf = client.config().await?;
    let version = conf
        .get("flink-version")
        .and_then(Value::as_str)
        .unwrap_or("(unknown version)")
        .to_owned();
    let overview = client.overview().await.unwrap_or(Value::Null);
    let num = |k: &str| overview.get(k).and_then(Value::as_i64);
    let shown_num = |k: &str| num(k).map_or("?".into(), |n| n.to_string());
    let step = Step::Cluster {
        version,
        url: url.to_owned(),
        task_managers: shown_num("taskmanagers"),
        free: shown_num("slots-available"),
        total: shown_num("slots-total"),
    };
    Ok((step, judge::cache_ttl(&conf), num("slots-available")))
}

/// Everything the plan learns from the cluster about the job with the name.
async fn survey(
    cfg: Cfg<'_>,
    client: &Client<'_>,
    url: &str,
    name: &str,
    cache_ttl: Duration,
) -> Result<Survey> {
    let jobs = client.jobs().await?;
    let active = the_active_job(&jobs, name, url)?;
    let jars = client.jars().await?;
    let cluster_dir = match client.jobmanager_config().await {
        Ok(v) => judge::default_savepoint_dir(&v),
        // Some clusters hide their configuration; Flink itself then decides.
        Err(_) => None,
    };
    let needs_history = active.is_none()
        && matches!(
            cfg.action,
            Action::Deploy | Action::Validate | Action::Resume
        );
    let history = if needs_history {
        self::history(client, &jobs, name, cache_ttl).await
    } else {
        vec![]
    };
    Ok(Survey {
        url: url.to_owned(),
        name: name.to_owned(),
        active,
        savepoint_dir: cfg.job.savepoint_directory.clone().or(cluster_dir),
        history,
        jars,
        jobs,
    })
}

async fn plan(t: &Flink, cx: &mut Context<'_>) -> Result<Box<dyn Plan>> {
    let cfg = t.settings(cx.run, cx.vars);
    let auth = auth_header(&t.cfg, cx)?;
    let client = Client::new(cx.http, &t.cfg.url, auth.clone());
    let url = shown(&t.cfg.url);
    cx.rec.fact("Flink cluster", &url);
    let (cluster, cache_ttl, free_slots) = read_cluster(&client, &url).await?;
    let mut p = Planned {
        name: String::new(),
        active: None,
        restore: None,
        previous: None,
        target_dir: cfg.job.savepoint_directory.clone(),
        own_jars: vec![],
        resume_jar: None,
        stateless: false,
        free_slots,
        cache_ttl,
        auth,
        steps: vec![cluster],
    };
    let Some(name) = cfg.job.job_name.clone() else {
        // Only `validate` gets here without a job name (config requires it otherwise).
        p.steps.push(Step::NoJobName);
        return Ok(Box::new(FlinkPlan {
            target: t.clone(),
            planned: p,
        }));
    };
    cx.rec.fact("Job name", &name);
    cx.rec.subject(&format!("job `{name}` on {url}"));
    p.stateless = stateless(cfg)?;
    let s = survey(cfg, &client, &url, &name, cache_ttl).await?;
    p.name = name.clone();
    p.active = s.active.clone();
    p.own_jars = judge::owned_jars(&s.jars, &name)
        .into_iter()
        .cloned()
        .collect();
    let local = cx.artifact.local.as_deref();
    match cfg.action {
        Action::Deploy | Action::Validate => plan_deploy(cfg, &s, local, &mut p)?,
        Action::Resume => plan_resume(cfg, &s, local, &mut p)?,
        _ => plan_action(cfg, &s, &mut p)?,
    }
    Ok(Box::new(FlinkPlan {
        target: t.clone(),
        planned: p,
    }))
}

struct FlinkPlan {
    target: Flink,
    planned: Planned,
}

#[async_trait::async_trait(?Send)]
impl Plan for FlinkPlan {
    fn describe(&self) -> Vec<String> {
        self.planned.lines()
    }

    async fn apply(self: Box<Self>, cx: &mut Context<'_>) -> Result<()> {
        let p = self.planned;
        let cfg = self.target.settings(cx.run, cx.vars);
        let client = Client::new(cx.http, &self.target.cfg.url, p.auth.clone());
        let run = Runner {
            target: &self.target,
            client,
            cfg,
            name: p.name.clone(),
            free_slots: p.free_slots,
            cache_ttl: p.cache_ttl,
        };
        let rec = &mut *cx.rec;
        rec.output("deploymentName", &p.name);
        let local = cx.artifact.local.as_deref();
        match cfg.action {
            Action::Deploy => run.deploy(rec, &p, local).await,
            Action::Resume => run.resume(rec, &p, local).await,
            Action::Suspend => run.suspend(rec, &p).await,
            Action::Cancel => run.cancel(rec, &p).await,
            Action::Savepoint => run.savepoint(rec, &p).await,
            Action::Delete => run.delete(rec, &p).await,
            Action::ListSavepoints => run.list_savepoints(rec).await,
            Action::Validate | Action::RenderCustomResource => Ok(()),
        }
    }
}

/// Ended jobs with the name, newest first, each with its checkpoint statistics.
///
/// The statistics are cached by the REST server for `cache_ttl`; read right after a job ended,
/// they may predate its final savepoint. So a job that ended within that time is given until
/// the cache has turned over (clocks of agent and JobManager assumed roughly in step; the wait
/// is capped either way).
async fn history(
    client: &Client<'_>,
    jobs: &[JobSummary],
    name: &str,
    cache_ttl: Duration,
) -> Vec<(JobSummary, Value)> {
    let ended: Vec<&JobSummary> = judge::ended_named(jobs, name)
        .into_iter()
        .take(HISTORY_DEPTH)
        .collect();
    if let Some(newest_end) = ended.iter().map(|j| j.end_time).max() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let fresh_at = newest_end + cache_ttl.as_millis() as i64 + 250;
        if fresh_at > now {
            let wait = Duration::from_millis((fresh_at - now) as u64)
                .min(cache_ttl + Duration::from_secs(1));
            tokio::time::sleep(wait).await;
        }
    }
    let mut out = vec![];
    for j in ended {
        let cps = client.checkpoints(&j.id).await.unwrap_or(Value::Null);
        out.push((j.clone(), cps));
    }
    out
}

/// What a rollback restarts: the previous job's jar and its recorded run parameters, or why
/// there is nothing to restart.
fn rollback_target(
    previous: Option<&Previous>,
) -> std::result::Result<(&Jar, RunParams, &str), String> {
    let prev = previous.ok_or("no job with this name ran before this deploy")?;
    let jar = prev.jar.as_ref().ok_or_else(|| {
        format!(
            "the jar of the previous job {} was not uploaded by this task",
            prev.job_id
        )
    })?;
    let params = judge::parse_jar_name(&jar.name)
        .and_then(|(_, params, _)| params)
        .ok_or_else(|| {
            format!(
                "the run parameters of {} were not recorded",
                judge::jar_display(&jar.id)
            )
        })?;
    Ok((jar, params, &prev.job_id))
}

struct Runner<'a> {
    target: &'a Flink,
    client: Client<'a>,
    cfg: Cfg<'a>,
    name: String,
    /// Free task slots when the plan looked, for the timeout hint.
    free_slots: Option<i64>,
    cache_ttl: Duration,
}

impl Runner<'_> {
    fn jar_uri(&self, jar_id: &str) -> String {
        format!("{}/jars/{jar_id}", self.client.base())
    }

    fn outputs(&self, rec: &mut Recorder, job_id: &str, state: &str, savepoint: Option<&str>) {
        if !job_id.is_empty() {
            rec.output("deploymentId", job_id);
            rec.output("jobId", job_id);
        }
        rec.output("state", state);
        if let Some(sp) = savepoint {
            rec.output("savepointLocation", sp);
        }
    }

    /// Upload the jar under a name that records the job and its run parameters.
    async fn upload(
        &self,
        rec: &mut Recorder,
        local: &std::path::Path,
        params: &RunParams,
    ) -> Result<String> {
        rec.begin("upload jar");
        // Parameters holding a secret must not end up in a file name on the cluster.
        let json = serde_json::to_string(params).unwrap_or_default();
        let clean = rec.redact(&json) == json;
        let (file_name, recorded) = judge::jar_file_name(
            &self.name,
            params,
            &crate::artifact::file_name(local),
            clean,
        );
        if !recorded {
            rec.warn(&format!(
                "the run parameters of job `{}` are not stored with its jar ({}): a later rollback or resume to this jar cannot restart it",
                self.name,
                if clean { "they are too long" } else { "they contain a secret" }
            ));
        }
        let r = self.client.upload(local, &file_name).await;
        let jar_id = rec.end(r)?;
        rec.log(&format!("uploaded {}", judge::jar_display(&jar_id)));
        rec.timeline(&format!("jar uploaded: {}", judge::jar_display(&jar_id)));
        Ok(jar_id)
    }

    /// Run the program's `main` without starting it; on failure the new jar is removed again.
    async fn check_program(
        &self,
        rec: &mut Recorder,
        jar_id: &str,
        run: &RunRequest,
    ) -> Result<()> {
        rec.begin("check program");
        let r = self.client.check_program(jar_id, run).await;
        let r = match r {
            Ok(()) => Ok(()),
            Err(e) => {
                let jars = self.client.jars().await.unwrap_or_default();
                let entries: Vec<String> = jars
                    .iter()
                    .find(|j| j.id == jar_id)
                    .map(|j| j.entries.clone())
                    .unwrap_or_default();
                let mut e = e.context(format!("job `{}`", self.name));
                if e.message.contains("ClassNotFoundException")
                    || e.details.iter().any(|d| d.contains("entry point class"))
                {
                    e = add_hint(
                        e,
                        &match entries.is_empty() {
                            true => "check entryClass; the jar's manifest names no main class"
                                .to_owned(),
                            false => format!(
                                "check entryClass; the jar's manifest names {}",
                                entries.join(", ")
                            ),
                        },
                    );
                } else {
                    e = add_hint(
                        e,
                        "the job's main method failed; check mainArgs and the program",
                    );
                }
                Err(e.with_detail("nothing was stopped or started; the uploaded jar was deleted"))
            }
        };
        if r.is_err() {
            self.delete_jar_quietly(rec, jar_id).await;
        }
        rec.end(r)
    }

    async fn delete_jar_quietly(&self, rec: &mut Recorder, jar_id: &str) {
        match self.client.delete_jar(jar_id).await {
            Ok(()) => rec.log(&format!("deleted {}", judge::jar_display(jar_id))),
            Err(e) => rec.log(&format!(
                "could not delete {}: {}",
                judge::jar_display(jar_id),
                e.message
            )),
        }
    }

    async fn deploy(
        &self,
        rec: &mut Recorder,
        p: &Planned,
        local: Option<&std::path::Path>,
    ) -> Result<()> {
        let local = local.expect("config requires artifactPath for deploy");
        let params = params_from_inputs(self.cfg.job);
        let jar_id = self.upload(rec, local, &params).await?;
        let mut run = RunRequest {
            params,
            savepoint: None,
            allow_non_restored_state: self.cfg.job.allow_non_restored_state,
        };
        self.check_program(rec, &jar_id, &run).await?;

        let mut previous = p.previous.clone();
        if let Some(active) = &p.active {
            let stopped = if p.stateless {
                self.cancel_job(rec, &active.id, "cancel running job")
                    .await
                    .map(|()| None)
            } else {
                self.stop_with_savepoint(rec, active, p.target_dir.as_deref())
                    .await
                    .map(Some)
            };
            match stopped {
                Ok(sp) => {
                    if let Some(prev) = previous.as_mut() {
                        prev.savepoint = sp.clone();
                    }
                    run.savepoint = sp;
                }
                Err(e) => {
                    // The old job is untouched or still running: only the new jar goes.
                    self.delete_jar_quietly(rec, &jar_id).await;
                    return Err(e);
                }
            }
        } else if let Some((path, why)) = &p.restore {
            rec.log(&format!("starting from savepoint {path} ({why})"));
            run.savepoint = Some(path.clone());
        }

        match self.start_and_watch(rec, &jar_id, &run, "").await {
            Ok(job_id) => {
                self.outputs(rec, &job_id, "RUNNING", run.savepoint.as_deref());
                rec.output("jarUri", &self.jar_uri(&jar_id));
                self.clean_jars(rec, &p.own_jars, &jar_id).await;
                Ok(())
            }
            Err(fail) => {
                self.recover(
                    rec,
                    fail,
                    &jar_id,
                    previous.as_ref(),
                    run.savepoint.as_deref(),
                )
                .await
            }
        }
    }

    /// After a start that did not come up: cancel it, drop its jar, roll back if asked.
    async fn recover(
        &self,
        rec: &mut Recorder,
        fail: StartFailure,
        new_jar: &str,
        previous: Option<&Previous>,
        savepoint: Option<&str>,
    ) -> Result<()> {
        let err = fail.error;
        if let Some(id) = &fail.job_id {
            if let Err(e) = self.cancel_job(rec, id, "cancel failed job").await {
                rec.warn(&format!(
                    "the failed job {id} could not be cancelled: {}",
                    e.message
                ));
            }
        }
        rec.begin("remove new jar");
        self.delete_jar_quietly(rec, new_jar).await;
        rec.pass();

        let rules = Target::needs(self.target).rollback;
        if !crate::rollback::wanted(self.cfg.rollback_on_failure, rules, &err) {
            return Err(self.left_behind(rec, err, previous, savepoint));
        }
        let outcome = match rollback_target(previous) {
            Err(reason) => Outcome::Skipped(reason),
            Ok((jar, params, job_id)) => {
                // The savepoint the previous job's state is in: known at plan time when it
                // was not running, else the one the stop took.
                let sp = previous.and_then(|p| p.savepoint.as_deref()).or(savepoint);
                match self.rollback(rec, jar, params, job_id, sp).await {
                    Ok(rb_id) => Outcome::Done(format!(
                        "{} runs again as job {rb_id}{}",
                        judge::jar_display(&jar.id),
                        sp.map(|s| format!(", restored from {s}"))
                            .unwrap_or_default()
                    )),
                    Err(e) => Outcome::Failed(e),
                }
            }
        };
        let done = matches!(outcome, Outcome::Done(_));
        let err = crate::rollback::conclude(rec, err, outcome, &format!("job `{}`", self.name));
        if done {
            return Err(err);
        }
        Err(self.left_behind(rec, err, previous, savepoint))
    }

    /// A deploy that did not come up and was not rolled back: what is left to repair it with.
    fn left_behind(
        &self,
        rec: &mut Recorder,
        mut err: Error,
        previous: Option<&Previous>,
        savepoint: Option<&str>,
    ) -> Error {
        self.outputs(rec, "", "FAILED", savepoint);
        let mut keep = vec![];
        if let Some(sp) = savepoint {
            keep.push(format!("the previous state is in savepoint {sp}"));
        }
        if let Some(Previous { jar: Some(j), .. }) = previous {
            keep.push(format!(
                "the previous jar {} is kept",
                judge::jar_display(&j.id)
            ));
        }
        if !keep.is_empty() {
            err = err.with_detail(keep.join("; "));
            err = add_hint(
                err,
                "fix the job and deploy again: with no job running, deploy restores from the last stopped job's savepoint (or set initialSavepointPath); rollbackOnFailure: true restarts the previous jar automatically",
            );
        }
        err
    }

    /// Start the previous jar again from the savepoint; returns the new job id.
    async fn rollback(
        &self,
        rec: &mut Recorder,
        jar: &Jar,
        params: RunParams,
        job_id: &str,
        savepoint: Option<&str>,
    ) -> Result<String> {
        rec.log(&format!(
            "rolling back to {} (the jar of job {job_id}){}",
            judge::jar_display(&jar.id),
            savepoint
                .map(|s| format!(" from savepoint {s}"))
                .unwrap_or_default()
        ));
        rec.timeline("rollback started");
        let run = RunRequest {
            params,
            savepoint: savepoint.map(str::to_owned),
            allow_non_restored_state: false,
        };
        match self
            .start_and_watch(rec, &jar.id, &run, " (rollback)")
            .await
        {
            Ok(rb_id) => {
                self.outputs(rec, &rb_id, "ROLLED_BACK", savepoint);
                rec.output("jarUri", &self.jar_uri(&jar.id));
                rec.timeline(&format!("rolled back: job {rb_id} RUNNING"));
                Ok(rb_id)
            }
            Err(fail) => {
                if let Some(id) = &fail.job_id {
                    if let Err(e) = self.cancel_job(rec, id, "cancel failed rollback").await {
                        rec.warn(&format!(
                            "the rollback job {id} could not be cancelled: {}",
                            e.message
                        ));
                    }
                }
                Err(fail.error)
            }
        }
    }

    /// Start a job and watch it until it runs and settles. `label` marks rollback steps.
    async fn start_and_watch(
        &self,
        rec: &mut Recorder,
        jar_id: &str,
        run: &RunRequest,
        label: &str,
    ) -> std::result::Result<String, StartFailure> {
        rec.begin(&format!("start job{label}"));
        let started = self
            .client
            .run(jar_id, run)
            .await
            .map_err(|e| e.context(format!("job `{}`", self.name)));
        let job_id = match rec.end(started) {
            Ok(id) => id,
            Err(error) => {
                return Err(StartFailure {
                    job_id: None,
                    error,
                })
            }
        };
        rec.log(&format!(
            "submitted {} as job {job_id}{}",
            judge::jar_display(jar_id),
            run.savepoint
                .as_deref()
                .map(|s| format!(" from savepoint {s}"))
                .unwrap_or_default()
        ));
        rec.timeline(&format!("job {job_id} submitted{label}"));

        rec.begin(&format!("wait for RUNNING{label}"));
        let r = self.wait_running(rec, &job_id).await;
        if let Err(error) = rec.end(r) {
            return Err(StartFailure {
                job_id: Some(job_id),
                error,
            });
        }
        if self.cfg.settle.is_zero() {
            if let Some(sp) = &run.savepoint {
                if !self.confirm_restore(rec, &job_id, sp).await {
                    rec.log(&format!("started from savepoint {sp}; Flink's checkpoint statistics do not show it yet (settleSeconds is 0)"));
                }
            }
        } else {
            rec.begin(&format!("settle {}s{label}", self.cfg.settle.as_secs()));
            let r = self.settle(rec, &job_id, run.savepoint.as_deref()).await;
            if let Err(error) = rec.end(r) {
                return Err(StartFailure {
                    job_id: Some(job_id),
                    error,
                });
            }
            rec.timeline(&format!("job {job_id} settled"));
        }
        Ok(job_id)
    }

    /// A failure as an error that names the job and quotes Flink's exceptions. The history is
    /// cached by the REST server, so it may take one cache lifetime to show the failure.
    async fn failure(&self, rec: &mut Recorder, job_id: &str, why: &str, phase: &str) -> Error {
        let w = self.wait(
            "the job's exceptions",
            self.cache_ttl + Duration::from_secs(1),
        );
        let client = &self.client;
        let mut probe = wait::poll(move || {
            Box::pin(async move {
                let v = client.exceptions(job_id).await?;
                Ok(Causes(judge::root_causes(&v, 3), judge::root_cause(&v)))
            })
        });
        let Causes(causes, root) =
            match wait::until(rec, &w, &mut probe, |c, _| match c.0.is_empty() {
                true => Verdict::Pending,
                false => Verdict::Done,
            })
            .await
            {
                Ok(End::Reached(c)) => c,
                Ok(End::TimedOut { last: Some(c) }) => c,
                _ => Causes(vec![], None),
            };
        for c in &causes {
            rec.error_line(c);
        }
        rec.timeline(&format!("job {job_id} failed"));
        let message = format!("job `{}` ({job_id}) {phase}: {why}", self.name);
        Error::deployment(match root {
            Some(r) => format!("{message}: {r}"),
            None => message,
        })
        .with_details(causes)
    }

    /// A look at the job that allows the restarts of `healthMaxRestarts`.
    fn job_probe<'p>(&'p self, job_id: &'p str) -> JobProbe<'p> {
        let mut probe = JobProbe::new(&self.client, job_id);
        probe.allowed_restarts = self.cfg.health.max_restarts;
        probe
    }

    fn wait(&self, subject: &'static str, limit: Duration) -> Wait<'static> {
        Wait::new(subject, limit, probe::PACE)
    }

    /// Why a start ran out of time: the cluster's capacity, as far as it tells.
    async fn not_running_in_time(&self, job_id: &str, last: String) -> Error {
        let parallel = match self.client.job(job_id).await {
            Ok(d) => judge::max_parallelism(&d),
            Err(_) => None,
        };
        let free = self
            .free_slots
            .map(|f| format!(" ({f} were free before the deploy)"))
            .unwrap_or_default();
        let capacity = match self.client.overview().await {
            Ok(o) => judge::capacity_now(&o)
                .map(|c| format!("; {c}"))
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        Error::timeout(format!(
            "job `{}` ({job_id}) is not RUNNING after {}s; last state: {last}{capacity}",
            self.name,
            self.cfg.timeout.as_secs()
        ))
        .with_hint(match parallel {
            Some(par) => format!("the job needs {par} task slot(s) per slot-sharing group{free}; add task managers or lower parallelism, or raise timeoutSeconds"),
            None => "raise timeoutSeconds, or check the cluster's task managers".into(),
        })
    }

    async fn wait_running(&self, rec: &mut Recorder, job_id: &str) -> Result<()> {
        let w = self.wait("the job", self.cfg.timeout);
        let mut probe = self.job_probe(job_id);
        let end = wait::until(rec, &w, &mut probe, |look, _| match &look.health {
            Health::Running => Verdict::Done,
            Health::Failed(why) => Verdict::Failed(why.clone()),
            Health::Starting(_) => Verdict::Pending,
        })
        .await?;
        match end {
            End::Reached(_) => {
                rec.log(&format!(
                    "job {job_id} is RUNNING, and so are all its tasks"
                ));
                rec.timeline(&format!("job {job_id} RUNNING, all vertices running"));
                Ok(())
            }
            End::Failed { why, .. } => {
                Err(self.failure(rec, job_id, &why, "did not come up").await)
            }
            End::TimedOut { last } => {
                let last = last.map(|l| l.shown()).unwrap_or_default();
                Err(self.not_running_in_time(job_id, last).await)
            }
        }
    }

    /// Watch a running job for `settleSeconds`; meanwhile confirm where its state came from.
    async fn settle(
        &self,
        rec: &mut Recorder,
        job_id: &str,
        savepoint: Option<&str>,
    ) -> Result<()> {
        let w = self.wait("the job", self.cfg.settle);
        let mut probe = self.job_probe(job_id);
        probe.unconfirmed = savepoint;
        probe.count_checkpoints = self.cfg.health.checkpoints > 0;
        // The gate counts the restarts (from the exception history, which shows a failure up
        // to one cache lifetime late): a restart under way is a wobble until then, so the
        // headline says how often the job restarted and why.
        probe.allowed_restarts = u32::MAX;
        // Every job the run watches is one it submitted: Flink's counters are since its start.
        let mut watch = health::Watch::new(self.cfg.health, health::Since::Started);
        let held = health::settle(rec, &w, &mut probe, &mut watch, |look| {
            match (&look.job, &look.health) {
                (None, _) => Hold::Lost("it is no longer listed by the cluster".into()),
                (_, Health::Failed(why)) => Hold::Lost(why.clone()),
                // A restart allowed by healthMaxRestarts: the job must be back by the end.
                (_, Health::Starting(s)) => Hold::Wobbling(s.clone()),
                _ => Hold::Holding,
            }
        })
        .await?;
        self.report_restore(rec, job_id, &probe);
        if let Settled::Lost { why, .. } = held {
            return Err(self
                .failure(rec, job_id, &why, "failed while settling")
                .await);
        }
        rec.log(&format!(
            "job {job_id} ran {}s without a failure",
            self.cfg.settle.as_secs()
        ));
        if let Some(sp) = probe.unconfirmed {
            rec.log(&format!(
                "Flink's checkpoint statistics do not show the restore from {sp} yet (they refresh every {}s)",
                self.cache_ttl.as_secs()
            ));
        }
        Ok(())
    }

    /// Say where the job's state came from, when the checkpoint statistics told.
    fn report_restore(&self, rec: &mut Recorder, job_id: &str, probe: &JobProbe<'_>) {
        match &probe.restored {
            Some((true, path)) => {
                rec.log(&format!(
                    "Flink restored the job's state from {path} (checkpoint statistics of job {job_id})"
                ));
                rec.timeline(&format!("state restored from {path}"));
            }
            Some((false, path)) => rec.warn(&format!(
                "job {job_id} restored from {path}, not from {}",
                probe
                    .unconfirmed
                    .unwrap_or("the savepoint it was started from")
            )),
            None => {}
        }
    }

    /// Flink's checkpoint statistics say which savepoint the job's state came from. Returns
    /// whether they said anything yet (they are cached like the job details).
    async fn confirm_restore(&self, rec: &mut Recorder, job_id: &str, savepoint: &str) -> bool {
        let mut probe = JobProbe::new(&self.client, job_id);
        probe.unconfirmed = Some(savepoint);
        // Only the restore check of the probe is wanted here; its look at the job is cheap.
        let _ = probe.probe().await;
        let told = probe.restored.is_some();
        if let Some((false, path)) = &probe.restored {
            rec.warn(&format!(
                "job {job_id} restored from {path}, not from {savepoint}"
            ));
        } else {
            self.report_restore(rec, job_id, &probe);
        }
        told
    }

    /// Stop with a savepoint and wait until the job has ended; returns the savepoint.
    async fn stop_with_savepoint(
        &self,
        rec: &mut Recorder,
        job: &JobSummary,
        dir: Option<&str>,
    ) -> Result<String> {
        rec.begin("stop job with savepoint");
        let r = self.stop_inner(rec, job, dir).await;
        rec.end(r)
    }

    async fn stop_inner(
        &self,
        rec: &mut Recorder,
        job: &JobSummary,
        dir: Option<&str>,
    ) -> Result<String> {
        let trigger = self.client.stop(&job.id, dir).await?;
        let sp = self
            .await_savepoint(rec, &job.id, &trigger, "stopping")
            .await?;
        rec.output("savepointLocation", &sp);
        rec.log(&format!("job {} stopped with savepoint {sp}", job.id));
        rec.timeline(&format!("job {} stopped with savepoint", job.id));
        self.await_end(rec, &job.id).await?;
        Ok(sp)
    }

    async fn await_savepoint(
        &self,
        rec: &mut Recorder,
        job_id: &str,
        trigger: &str,
        doing: &str,
    ) -> Result<String> {
        let w = self.wait("the savepoint", self.cfg.timeout);
        let client = &self.client;
        let mut probe = wait::poll(move || {
            Box::pin(
                async move { Ok(TriggerLook(client.savepoint_status(job_id, trigger).await?)) },
            )
        });
        let end = wait::until(rec, &w, &mut probe, |t, _| match &t.0 {
            Trigger::Completed(_) => Verdict::Done,
            Trigger::Failed(cause) => Verdict::Failed(cause.clone()),
            Trigger::InProgress => Verdict::Pending,
        })
        .await?;
        match end {
            End::Reached(TriggerLook(Trigger::Completed(loc))) => Ok(loc),
            End::Reached(_) => unreachable!("only a completed savepoint is reached"),
            End::Failed { why, .. } => Err(Error::platform(format!(
                "{doing} job `{}` ({job_id}) with a savepoint failed: {why}",
                self.name
            ))
            .with_hint("the job keeps running; check the savepoint directory (savepointDirectory) and the job's checkpointing")),
            End::TimedOut { .. } => Err(Error::timeout(format!(
                "the savepoint of job `{}` ({job_id}) is not complete after {}s",
                self.name,
                self.cfg.timeout.as_secs()
            ))
            .with_hint("raise timeoutSeconds; large state takes longer to write")),
        }
    }

    /// Wait until a stopped or cancelled job has ended, so its slots are free again.
    async fn await_end(&self, rec: &mut Recorder, job_id: &str) -> Result<String> {
        let w = self.wait("the job", END_WAIT);
        let client = &self.client;
        let mut probe = wait::poll(move || {
            Box::pin(async move {
                let jobs = client.jobs().await?;
                Ok(State(
                    judge::find_job(&jobs, job_id)
                        .map_or_else(|| "UNKNOWN".to_owned(), |j| j.state.clone()),
                ))
            })
        });
        let end = wait::until(rec, &w, &mut probe, |s, _| {
            if judge::is_terminal(&s.0) {
                Verdict::Done
            } else {
                Verdict::Pending
            }
        })
        .await?;
        match end {
            End::Reached(State(state)) => Ok(state),
            End::Failed { last, .. } | End::TimedOut { last: Some(last) } => {
                Err(self.not_ended(job_id, &last.0))
            }
            End::TimedOut { last: None } => Err(self.not_ended(job_id, "UNKNOWN")),
        }
    }

    fn not_ended(&self, job_id: &str, state: &str) -> Error {
        Error::timeout(format!(
            "job `{}` ({job_id}) has not ended {}s after it was stopped; last state {state}",
            self.name,
            END_WAIT.as_secs()
        ))
    }

    async fn cancel_job(&self, rec: &mut Recorder, job_id: &str, step: &str) -> Result<()> {
        rec.begin(step);
        let r = async {
            self.client.cancel(job_id).await?;
            let state = self.await_end(rec, job_id).await?;
            rec.log(&format!("job {job_id} is {state}"));
            rec.timeline(&format!("job {job_id} {state}"));
            Ok(())
        }
        .await;
        rec.end(r)
    }

    /// Delete our jars for the job other than `keep`.
    async fn clean_jars(&self, rec: &mut Recorder, own: &[Jar], keep: &str) {
        let old: Vec<&Jar> = own.iter().filter(|j| j.id != keep).collect();
        if old.is_empty() {
            return;
        }
        rec.begin("delete old jars");
        for j in old {
            match self.client.delete_jar(&j.id).await {
                Ok(()) => rec.log(&format!("deleted {}", judge::jar_display(&j.id))),
                Err(e) => rec.warn(&format!(
                    "could not delete {}: {}",
                    judge::jar_display(&j.id),
                    e.message
                )),
            }
        }
        rec.pass();
        rec.timeline("old jars deleted");
    }

    async fn resume(
        &self,
        rec: &mut Recorder,
        p: &Planned,
        local: Option<&std::path::Path>,
    ) -> Result<()> {
        if let Some(j) = &p.active {
            rec.log(&format!(
                "job `{}` is already {} as {}",
                self.name, j.state, j.id
            ));
            self.outputs(rec, &j.id, "RUNNING", None);
            return Ok(());
        }
        let (path, why) = p
            .restore
            .clone()
            .expect("plan found a savepoint to resume from");
        let (jar_id, params, uploaded) = match local {
            Some(local) => {
                let params = params_from_inputs(self.cfg.job);
                let id = self.upload(rec, local, &params).await?;
                (id, params, true)
            }
            None => {
                let (jar, params) = p.resume_jar.clone().expect("plan found the jar to resume");
                (jar.id, params, false)
            }
        };
        let run = RunRequest {
            params,
            savepoint: Some(path.clone()),
            allow_non_restored_state: self.cfg.job.allow_non_restored_state,
        };
        if uploaded {
            self.check_program(rec, &jar_id, &run).await?;
        }
        rec.log(&format!("resuming from savepoint {path} ({why})"));
        match self.start_and_watch(rec, &jar_id, &run, "").await {
            Ok(job_id) => {
                self.outputs(rec, &job_id, "RUNNING", Some(&path));
                rec.output("jarUri", &self.jar_uri(&jar_id));
                if uploaded {
                    self.clean_jars(rec, &p.own_jars, &jar_id).await;
                }
                Ok(())
            }
            Err(fail) => {
                if let Some(id) = &fail.job_id {
                    let _ = self.cancel_job(rec, id, "cancel failed job").await;
                }
                if uploaded {
                    self.delete_jar_quietly(rec, &jar_id).await;
                }
                self.outputs(rec, "", "FAILED", Some(&path));
                Err(fail
                    .error
                    .with_detail(format!("the state is still in savepoint {path}")))
            }
        }
    }

    async fn suspend(&self, rec: &mut Recorder, p: &Planned) -> Result<()> {
        let job = p.active.as_ref().expect("plan found the running job");
        let sp = self
            .stop_with_savepoint(rec, job, p.target_dir.as_deref())
            .await?;
        self.outputs(rec, &job.id, "SUSPENDED", Some(&sp));
        Ok(())
    }

    async fn cancel(&self, rec: &mut Recorder, p: &Planned) -> Result<()> {
        let job = p.active.as_ref().expect("plan found the active job");
        self.cancel_job(rec, &job.id, "cancel job").await?;
        self.outputs(rec, &job.id, "CANCELLED", None);
        Ok(())
    }

    async fn savepoint(&self, rec: &mut Recorder, p: &Planned) -> Result<()> {
        let job = p.active.as_ref().expect("plan found the running job");
        rec.begin("take savepoint");
        let r = match self
            .client
            .savepoint(&job.id, p.target_dir.as_deref())
            .await
        {
            Ok(trigger) => {
                self.await_savepoint(rec, &job.id, &trigger, "taking a savepoint of")
                    .await
            }
            Err(e) => Err(e),
        };
        let sp = rec.end(r)?;
        rec.log(&format!("savepoint of job {} written to {sp}", job.id));
        rec.timeline("savepoint completed");
        self.outputs(rec, &job.id, "RUNNING", Some(&sp));
        Ok(())
    }

    async fn delete(&self, rec: &mut Recorder, p: &Planned) -> Result<()> {
        rec.begin("delete jars");
        let r = async {
            for j in &p.own_jars {
                self.client.delete_jar(&j.id).await?;
                rec.log(&format!("deleted {}", judge::jar_display(&j.id)));
            }
            Ok(())
        }
        .await;
        rec.end(r)?;
        self.outputs(rec, "", "DELETED", None);
        Ok(())
    }

    async fn list_savepoints(&self, rec: &mut Recorder) -> Result<()> {
        rec.begin("list savepoints");
        let jobs = rec.end(self.client.jobs().await)?;
        let mut rows: Vec<Vec<String>> = vec![];
        for j in jobs.iter().filter(|j| j.name == self.name).take(10) {
            let cps = self.client.checkpoints(&j.id).await.unwrap_or(Value::Null);
            for (path, at, kind) in judge::savepoints_in_history(&cps) {
                rows.push(vec![
                    ms_to_rfc3339(at),
                    j.id.clone(),
                    j.state.clone(),
                    kind,
                    path,
                ]);
            }
        }
        rows.sort_by(|a, b| b[0].cmp(&a[0]));
        if rows.is_empty() {
            rec.log(&format!(
                "no savepoints of jobs named `{}` are known to the cluster",
                self.name
            ));
        }
        for r in &rows {
            rec.log(&format!(
                "{}  job {} ({})  {}  {}",
                r[0], r[1], r[2], r[3], r[4]
            ));
        }
        rec.summary.heading(4, "Savepoints");
        rec.summary
            .table(&["Taken", "Job", "Job state", "Type", "Location"], &rows);
        if let Some(newest) = rows.first() {
            rec.output("savepointLocation", &newest[4]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, RawInputs};
    use crate::pipeline::env::AgentEnv;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        // (the configuration as the task builds it; `view` is what the target's code reads)
        let mut all = vec![
            ("target", "flink"),
            ("flinkUrl", "http://127.0.0.1:8081"),
            ("jobName", "demo"),
            ("artifactPath", "job.jar"),
        ];
        all.extend_from_slice(pairs);
        let env = AgentEnv::from_pairs(
            all.iter()
                .map(|(k, v)| (format!("INPUT_{}", k.to_uppercase()), v.to_string())),
        );
        Config::from_raw(&RawInputs::from_env(env)).unwrap()
    }

    fn job(id: &str, state: &str, start: i64) -> JobSummary {
        let end = if judge::is_terminal(state) {
            start + 50
        } else {
            -1
        };
        judge::summary(id, state, start, end)
    }

    fn jar(id: &str, uploaded: i64, args: &[&str]) -> Jar {
        let params = RunParams {
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        };
        let name = judge::jar_file_name("demo", &params, "job.jar", true).0;
        Jar {
            id: format!("{id}_{name}"),
            name,
            uploaded,
            entries: vec![],
        }
    }

    fn survey(active: Option<JobSummary>, history: Vec<(JobSummary, Value)>) -> Survey {
        Survey {
            url: "http://127.0.0.1:8081".into(),
            name: "demo".into(),
            jobs: active
                .iter()
                .cloned()
                .chain(history.iter().map(|(j, _)| j.clone()))
                .collect(),
            jars: vec![
                jar("v2", 200, &["--version", "v2"]),
                jar("v1", 100, &["--version", "v1"]),
            ],
            active,
            savepoint_dir: Some("file:/sp".into()),
            history,
        }
    }

    fn view(c: &Config) -> Cfg<'_> {
        let t = c
            .target
            .as_any()
            .downcast_ref::<Flink>()
            .expect("a Flink target");
        t.settings(&c.run, &c.vars)
    }

    fn planned(cfg: &Config) -> Planned {
        Planned {
            name: "demo".into(),
            active: None,
            restore: None,
            previous: None,
            target_dir: None,
            own_jars: vec![],
            resume_jar: None,
            stateless: view(cfg).job.upgrade_strategy.as_deref() == Some("STATELESS"),
            free_slots: Some(1),
            cache_ttl: Duration::from_secs(3),
            auth: None,
            steps: vec![],
        }
    }

    fn stopped_history() -> Vec<(JobSummary, Value)> {
        let cps: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/flink/checkpoints-restored-stopped.json"
        ))
        .unwrap();
        vec![(job("old", "FINISHED", 250), cps)]
    }

    #[test]
    fn an_upgrade_stops_the_running_job_and_can_roll_back_to_the_jar_it_started_from() {
        let c = cfg(&[("rollbackOnFailure", "true"), ("parallelism", "4")]);
        let s = survey(Some(job("run", "RUNNING", 250)), vec![]);
        let mut p = planned(&c);
        plan_deploy(view(&c), &s, None, &mut p).unwrap();
        let lines = p.lines();
        let prev = p.previous.unwrap();
        assert_eq!(prev.job_id, "run");
        assert!(
            prev.jar.unwrap().id.starts_with("v2_"),
            "the newest jar uploaded before it started"
        );
        assert!(
            prev.savepoint.is_none(),
            "the savepoint comes from the stop"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("with a savepoint into file:/sp")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("on failure: start job.jar (jar v2)")),
            "{lines:?}"
        );
        assert!(lines.iter().any(|l| l.contains("parallelism 4 needs up to 4 slots; 1 are free now (plus those of the job it replaces)")), "{lines:?}");
    }

    #[test]
    fn a_job_that_is_not_running_is_not_stopped_with_a_savepoint() {
        let c = cfg(&[]);
        let s = survey(Some(job("r", "RESTARTING", 250)), vec![]);
        let e = plan_deploy(view(&c), &s, None, &mut planned(&c)).unwrap_err();
        assert!(
            e.message
                .contains("is RESTARTING: it cannot be stopped with a savepoint"),
            "{e}"
        );
        assert!(e.hint.unwrap().contains("STATELESS"));
        // STATELESS cancels it instead.
        let c = cfg(&[("upgradeStrategy", "STATELESS")]);
        let mut p = planned(&c);
        plan_deploy(view(&c), &s, None, &mut p).unwrap();
        let lines = p.lines();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("cancel job `demo` (r, RESTARTING)")),
            "{lines:?}"
        );
    }

    #[test]
    fn without_a_running_job_deploy_restores_the_last_stopped_one_unless_told_otherwise() {
        let c = cfg(&[]);
        let s = survey(None, stopped_history());
        let mut p = planned(&c);
        plan_deploy(view(&c), &s, None, &mut p).unwrap();
        let (path, why) = p.restore.unwrap();
        assert!(path.ends_with("savepoint-34f4fe-16fa11f93e08"), "{path}");
        assert!(why.contains("stopped with this savepoint"));
        assert_eq!(
            p.previous.unwrap().savepoint.as_deref(),
            Some(path.as_str())
        );

        let c = cfg(&[("restoreStrategy", "NONE")]);
        let mut p = planned(&c);
        plan_deploy(view(&c), &s, None, &mut p).unwrap();
        assert!(p.restore.is_none());

        let c = cfg(&[("initialSavepointPath", "s3://b/sp-1")]);
        let mut p = planned(&c);
        plan_deploy(view(&c), &s, None, &mut p).unwrap();
        assert_eq!(p.restore.unwrap().0, "s3://b/sp-1");
        assert!(
            p.previous.is_none(),
            "a given savepoint names no job to roll back to"
        );
    }

    #[test]
    fn a_missing_savepoint_directory_is_an_input_error_before_anything_changes() {
        let c = cfg(&[]);
        let mut s = survey(Some(job("run", "RUNNING", 250)), vec![]);
        s.savepoint_dir = None;
        let e = plan_deploy(view(&c), &s, None, &mut planned(&c)).unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Input);
        assert!(e.message.contains("`savepointDirectory`"), "{e}");
        assert!(s
            .need_savepoint_dir(view(&cfg(&[("action", "validate")])), "x")
            .is_ok());
    }

    #[test]
    fn resume_takes_the_stopped_jobs_savepoint_and_its_recorded_jar() {
        let c = cfg(&[("action", "resume")]);
        let s = survey(None, stopped_history());
        let mut p = planned(&c);
        plan_resume(view(&c), &s, None, &mut p).unwrap();
        let (jar, params) = p.resume_jar.unwrap();
        assert!(jar.id.starts_with("v2_"));
        assert_eq!(params.args, vec!["--version", "v2"]);
        assert!(p
            .restore
            .unwrap()
            .0
            .ends_with("savepoint-34f4fe-16fa11f93e08"));

        let none = survey(None, vec![]);
        let e = plan_resume(view(&c), &none, None, &mut planned(&c)).unwrap_err();
        assert!(
            e.message.contains("no savepoint is known for job `demo`"),
            "{e}"
        );
        assert!(e.hint.unwrap().contains("savepointLocation"));

        let c = cfg(&[("action", "resume"), ("savepointLocation", "file:/sp/x")]);
        let mut s = survey(None, vec![]);
        s.jars.clear();
        let e = plan_resume(view(&c), &s, None, &mut planned(&c)).unwrap_err();
        assert!(
            e.hint.unwrap().contains("artifactPath"),
            "no jar left: say how to give one"
        );
        let mut p = planned(&c);
        plan_resume(view(&c), &s, Some(std::path::Path::new("job.jar")), &mut p).unwrap();
        assert_eq!(p.restore.unwrap().0, "file:/sp/x");
    }

    #[test]
    fn a_rollback_needs_the_previous_jar_and_its_recorded_parameters() {
        assert!(rollback_target(None)
            .unwrap_err()
            .contains("no job with this name ran"));
        let mut prev = Previous {
            job_id: "old".into(),
            jar: None,
            savepoint: None,
        };
        assert!(rollback_target(Some(&prev))
            .unwrap_err()
            .contains("was not uploaded by this task"));
        prev.jar = Some(jar("v1", 1, &["--version", "v1"]));
        let (j, params, id) = rollback_target(Some(&prev)).unwrap();
        assert!(j.id.starts_with("v1_"));
        assert_eq!(params.args, vec!["--version", "v1"]);
        assert_eq!(id, "old");
        let unrecorded = judge::jar_file_name("demo", &RunParams::default(), "job.jar", false).0;
        prev.jar = Some(Jar {
            id: format!("u_{unrecorded}"),
            name: unrecorded,
            uploaded: 1,
            entries: vec![],
        });
        assert!(rollback_target(Some(&prev))
            .unwrap_err()
            .contains("were not recorded"));
    }

    #[test]
    fn actions_on_a_job_need_it_running() {
        let s = survey(None, vec![]);
        assert!(s
            .running("suspend")
            .unwrap_err()
            .message
            .contains("no job named `demo` is running"));
        let s = survey(Some(job("c", "CREATED", 1)), vec![]);
        assert!(s
            .running("suspend")
            .unwrap_err()
            .message
            .contains("is CREATED, not RUNNING"));
    }
}
