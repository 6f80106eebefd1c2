//! The HDInsight on AKS Flink job API as data, and the decisions made on it. Everything here is
//! pure (no I/O, no clock), so each rule is tested on JSON bodies shaped like the service's.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::config::HdiConfig;
use crate::pipeline::inputs as i;

/// The `action` values of `ClusterJob.properties` (2023-06-01-preview).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobAction {
    New,
    Update,
    StatelessUpdate,
    Stop,
    Start,
    Savepoint,
    ListSavepoint,
    Cancel,
    Delete,
}

impl JobAction {
    pub const ALL: [JobAction; 9] = [
        JobAction::New,
        JobAction::Update,
        JobAction::StatelessUpdate,
        JobAction::Stop,
        JobAction::Start,
        JobAction::Savepoint,
        JobAction::ListSavepoint,
        JobAction::Cancel,
        JobAction::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobAction::New => "NEW",
            JobAction::Update => "UPDATE",
            JobAction::StatelessUpdate => "STATELESS_UPDATE",
            JobAction::Stop => "STOP",
            JobAction::Start => "START",
            JobAction::Savepoint => "SAVEPOINT",
            JobAction::ListSavepoint => "LIST_SAVEPOINT",
            JobAction::Cancel => "CANCEL",
            JobAction::Delete => "DELETE",
        }
    }

    pub fn parse(s: &str) -> Option<JobAction> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Actions after which the job should be running.
    pub fn starts_job(self) -> bool {
        matches!(
            self,
            JobAction::New | JobAction::Update | JobAction::StatelessUpdate | JobAction::Start
        )
    }

    /// Actions that replace the job's jar (and may be rolled back to the previous one).
    pub fn is_upgrade(self) -> bool {
        matches!(self, JobAction::Update | JobAction::StatelessUpdate)
    }
}

/// `FlinkJobProperties`. The read-only fields are filled by the service; all are optional here
/// because the service fills them at different times (and list items may omit any of them).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobProperties {
    pub job_type: Option<String>,
    pub job_name: Option<String>,
    pub action: Option<String>,
    pub job_jar_directory: Option<String>,
    pub jar_name: Option<String>,
    pub entry_class: Option<String>,
    pub args: Option<String>,
    pub save_point_name: Option<String>,
    /// `map<string,string>` in the spec; kept as JSON values so a number does not fail the list.
    pub flink_configuration: Option<BTreeMap<String, Value>>,
    /// 2024-05-01-preview and later.
    pub run_id: Option<String>,
    pub job_id: Option<String>,
    pub status: Option<String>,
    pub job_output: Option<String>,
    pub action_result: Option<String>,
    pub last_save_point: Option<String>,
}

/// `ClusterJob`: an ARM proxy resource.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ClusterJob {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub properties: JobProperties,
}

/// `ClusterJobList`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterJobList {
    #[serde(default)]
    pub value: Vec<ClusterJob>,
    pub next_link: Option<String>,
}

impl ClusterJob {
    /// The job's name: `properties.jobName`, else the resource name, else the id's last segment.
    pub fn job_name(&self) -> Option<&str> {
        self.properties
            .job_name
            .as_deref()
            .or(self.name.as_deref())
            .or_else(|| self.id.as_deref().and_then(|id| id.rsplit('/').next()))
            .filter(|s| !s.is_empty())
    }

    pub fn status(&self) -> &str {
        self.properties.status.as_deref().unwrap_or("")
    }

    pub fn action_result(&self) -> &str {
        self.properties.action_result.as_deref().unwrap_or("")
    }

    pub fn in_progress(&self) -> bool {
        self.action_result().eq_ignore_ascii_case("IN_PROGRESS")
    }

    /// `directory/jar` as the job references it.
    pub fn jar(&self) -> Option<String> {
        let p = &self.properties;
        match (&p.job_jar_directory, &p.jar_name) {
            (Some(d), Some(n)) => Some(format!("{}/{n}", d.trim_end_matches('/'))),
            (None, Some(n)) => Some(n.clone()),
            _ => None,
        }
    }
}

pub fn find_job<'a>(jobs: &'a [ClusterJob], name: &str) -> Option<&'a ClusterJob> {
    jobs.iter().find(|j| j.job_name() == Some(name))
}

/// What the job should run, as far as the inputs say (every field optional but for NEW).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobDefinition {
    pub jar_directory: Option<String>,
    pub jar_name: Option<String>,
    pub entry_class: Option<String>,
    pub args: Option<String>,
    pub flink_configuration: BTreeMap<String, String>,
}

impl JobDefinition {
    /// The definition a listed job runs with: what a rollback goes back to.
    pub fn of(job: &ClusterJob) -> JobDefinition {
        let p = &job.properties;
        JobDefinition {
            jar_directory: p.job_jar_directory.clone(),
            jar_name: p.jar_name.clone(),
            entry_class: p.entry_class.clone(),
            args: p.args.clone(),
            flink_configuration: p
                .flink_configuration
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), value_string(v)))
                .collect(),
        }
    }

    pub fn jar(&self) -> Option<String> {
        match (&self.jar_directory, &self.jar_name) {
            (Some(d), Some(n)) => Some(format!("{}/{n}", d.trim_end_matches('/'))),
            _ => None,
        }
    }
}

fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `ClusterJob` body for one action: only the fields that action uses, in the documented
/// order, so the body printed by `validate` is the body that is sent.
pub fn request_body(
    action: JobAction,
    job_name: &str,
    def: &JobDefinition,
    save_point_name: Option<&str>,
) -> Value {
    let mut p = Map::new();
    p.insert("jobType".into(), "FlinkJob".into());
    p.insert("jobName".into(), job_name.into());
    p.insert("action".into(), action.as_str().into());
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            p.insert(k.into(), v.clone().into());
        }
    };
    match action {
        JobAction::New | JobAction::Update | JobAction::StatelessUpdate => {
            put("jobJarDirectory", &def.jar_directory);
            put("jarName", &def.jar_name);
            put("entryClass", &def.entry_class);
            put("args", &def.args);
            if action == JobAction::Update {
                put("savePointName", &save_point_name.map(str::to_owned));
            }
            if !def.flink_configuration.is_empty() {
                let conf: Map<String, Value> = def
                    .flink_configuration
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                p.insert("flinkConfiguration".into(), Value::Object(conf));
            }
        }
        JobAction::Start => {
            put("args", &def.args);
            put("savePointName", &save_point_name.map(str::to_owned));
        }
        _ => {}
    }
    serde_json::json!({ "properties": Value::Object(p) })
}

/// Split a jar URI into the directory the cluster reads and the file name.
pub fn split_jar_uri(uri: &str) -> Result<(String, String), String> {
    if uri.contains(['?', '#']) {
        return Err("must not carry a query string or fragment: the cluster reads the jar from its storage with its own identity, so give the plain abfs:// path (a SAS token would be stored in the job record)".into());
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err("is not a URI".into());
    };
    let Some((dir, name)) = rest.trim_end_matches('/').rsplit_once('/') else {
        return Err("has no directory: give the full path, e.g. abfs://jobs@account.dfs.core.windows.net/jars/job.jar".into());
    };
    if dir.is_empty() || name.is_empty() {
        return Err("has no file name".into());
    }
    Ok((format!("{scheme}://{dir}"), name.to_owned()))
}

/// `args` is one space-separated string on HDInsight, so an argument with whitespace in it
/// cannot be passed.
pub fn args_string(args: &[String]) -> Result<String, String> {
    if let Some(bad) = args
        .iter()
        .find(|a| a.is_empty() || a.contains(char::is_whitespace))
    {
        return Err(format!(
            "argument `{bad}` is empty or contains whitespace; HDInsight on AKS passes arguments as one space-separated string"
        ));
    }
    Ok(args.join(" "))
}

/// `savePointName` is a name (e.g. `savepoint-20e9e9-8a48c6b905e5`); a full path is reduced to
/// its last segment so `savepointLocation` can take either.
pub fn save_point_name(location: &str) -> String {
    location
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(location)
        .to_owned()
}

/// HDInsight asks for lower-case job names (seed 003: "Job name should be in small letter").
pub fn job_name_problem(name: &str) -> Option<String> {
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Some(format!(
            "`{name}` has upper-case letters; HDInsight on AKS job names are lower case"
        ));
    }
    if name.contains(['/', '?', '#', '"', '\\']) || name.chars().any(char::is_control) {
        return Some(format!("`{name}` is not a job name"));
    }
    None
}

/// A job status that means the job is not running and will not start by itself.
pub fn status_is_down(status: &str) -> bool {
    let s = status.to_ascii_uppercase();
    matches!(
        s.as_str(),
        "FAILED" | "CANCELED" | "CANCELLED" | "STOPPED" | "FINISHED" | "SUSPENDED"
    ) || s.ends_with("-FAILED")
        || s.ends_with("_FAILED")
}

fn is_running(status: &str) -> bool {
    status.eq_ignore_ascii_case("RUNNING")
}

/// How far an action has got, judged from the job's list entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep polling; the text says what is awaited.
    Waiting(String),
    Done,
    /// The action failed; the text is the reason (the service's `jobOutput` where it gave one).
    Failed(String),
}

/// Has the action `sent` finished? `before` is the job as listed before the request (to tell a
/// new result from an old one), `now` the job as listed now (`None`: not listed).
pub fn judge(sent: JobAction, before: Option<&ClusterJob>, now: Option<&ClusterJob>) -> Verdict {
    let Some(now) = now else {
        return match sent {
            JobAction::Delete => Verdict::Done,
            // Right after the request a new job may not be listed yet.
            JobAction::New => Verdict::Waiting("the job is not listed yet".into()),
            _ => Verdict::Failed("the job is no longer listed on the cluster".into()),
        };
    };
    if let Some(a) = now.properties.action.as_deref() {
        if !a.eq_ignore_ascii_case(sent.as_str()) {
            return Verdict::Waiting(format!("the job still shows the previous action {a}"));
        }
    }
    if let (Some(b), Some(n)) = (
        before.and_then(|b| b.properties.run_id.as_deref()),
        now.properties.run_id.as_deref(),
    ) {
        if b == n {
            return Verdict::Waiting(format!("the job still shows the previous run {b}"));
        }
    }
    let output = now
        .properties
        .job_output
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty());
    let result = now.action_result().to_ascii_uppercase();
    match result.as_str() {
        "" | "IN_PROGRESS" => Verdict::Waiting(format!(
            "{} is in progress{}",
            sent.as_str(),
            status_suffix(now.status())
        )),
        "FAILED" => Verdict::Failed(match output.and_then(root_cause) {
            Some(o) => o,
            None => format!(
                "{} failed without output{}",
                sent.as_str(),
                status_suffix(now.status())
            ),
        }),
        "SUCCESS" => {
            if sent == JobAction::Delete {
                return Verdict::Waiting("DELETE succeeded; the job is still listed".into());
            }
            if !sent.starts_job() || now.status().is_empty() || is_running(now.status()) {
                return Verdict::Done;
            }
            if status_is_down(now.status()) {
                return Verdict::Failed(match output.and_then(root_cause) {
                    Some(o) => format!(
                        "job status is {} after {}: {o}",
                        now.status(),
                        sent.as_str()
                    ),
                    None => format!("job status is {} after {}", now.status(), sent.as_str()),
                });
            }
            Verdict::Waiting(format!(
                "{} succeeded; job status is {}",
                sent.as_str(),
                now.status()
            ))
        }
        other => Verdict::Waiting(format!("actionResult is {other}")),
    }
}

fn status_suffix(status: &str) -> String {
    if status.is_empty() {
        String::new()
    } else {
        format!(" (job status {status})")
    }
}

/// While the job settles after starting: `Err` once it is no longer running.
pub fn settled(now: Option<&ClusterJob>) -> Result<(), String> {
    match now {
        None => Err("the job is no longer listed on the cluster".into()),
        Some(j) if status_is_down(j.status()) => Err(
            match j.properties.job_output.as_deref().and_then(root_cause) {
                Some(cause) => format!("job status became {}: {cause}", j.status()),
                None => format!("job status became {}", j.status()),
            },
        ),
        Some(_) => Ok(()),
    }
}

/// Why an action failed, in one line, from the job's `jobOutput` (the Flink client's output):
/// the innermost `Caused by:` of a Java stack trace in it, else its first line.
pub fn root_cause(output: &str) -> Option<String> {
    if output
        .lines()
        .any(|l| l.trim_start().starts_with("Caused by:"))
    {
        if let Some(inner) = crate::targets::flink::judge::message_chain(output).pop() {
            return Some(inner);
        }
    }
    output
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

/// An action that would change nothing because the job is already where it would take it.
pub fn already_done(action: JobAction, job: Option<&ClusterJob>) -> Option<String> {
    let status = job
        .map(|j| j.status().to_ascii_uppercase())
        .unwrap_or_default();
    match (action, job) {
        (JobAction::Delete, None) => {
            Some("the job is not listed on the cluster: nothing to delete".into())
        }
        (JobAction::Stop, Some(_)) if status == "STOPPED" => {
            Some("the job is already STOPPED".into())
        }
        (JobAction::Start, Some(_)) if status == "RUNNING" => {
            Some("the job is already RUNNING".into())
        }
        (JobAction::Cancel, Some(_)) if status == "CANCELED" || status == "CANCELLED" => {
            Some(format!("the job is already {status}"))
        }
        _ => None,
    }
}

/// What to do with the runJob response or an operation-status response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LroStep {
    /// 202: poll the Location again.
    Poll,
    /// 200/201/204: the operation is over.
    Done,
    /// Anything else is an error response.
    Error,
}

pub fn lro_step(status: u16) -> LroStep {
    match status {
        202 => LroStep::Poll,
        200 | 201 | 204 => LroStep::Done,
        _ => LroStep::Error,
    }
}

/// Resolve a `Location`/`nextLink` against the ARM endpoint and refuse any other origin: the
/// bearer token for Resource Manager must go nowhere else.
pub fn same_origin_url(arm_endpoint: &str, link: &str) -> Result<String, String> {
    let base = url::Url::parse(&format!("{}/", arm_endpoint.trim_end_matches('/')))
        .map_err(|e| format!("ARM endpoint `{arm_endpoint}` is not a URL ({e})"))?;
    let u = base
        .join(link)
        .map_err(|e| format!("`{}` is not a URL ({e})", crate::http::display_url(link)))?;
    if u.origin() != base.origin() {
        return Err(format!(
            "`{}` is not on the Resource Manager endpoint {}; the token is not sent there",
            crate::http::display_url(u.as_str()),
            base.origin().ascii_serialization()
        ));
    }
    Ok(u.to_string())
}

/// The savepoints in a LIST_SAVEPOINT `jobOutput`. The format is not documented: a JSON array
/// (of strings or of objects with a path/name), or text with one path per line or comma.
pub fn parse_savepoints(output: &str) -> Vec<String> {
    let output = output.trim();
    if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(output) {
        return items
            .iter()
            .filter_map(|it| match it {
                Value::String(s) => Some(s.trim().to_owned()),
                Value::Object(o) => ["path", "location", "savepointPath", "name"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(Value::as_str))
                    .map(|s| s.trim().to_owned()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
            .collect();
    }
    let mut out: Vec<String> = vec![];
    for token in output.split(|c: char| c == ',' || c == ';' || c.is_whitespace()) {
        let t = token
            .trim()
            .trim_matches(|c| matches!(c, '"' | '\'' | '[' | ']' | '(' | ')'));
        let looks_like = t.contains("://") || t.to_ascii_lowercase().starts_with("savepoint-");
        if looks_like && !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    out
}

/// The API versions of HDInsight on AKS that Microsoft published (azure-rest-api-specs): a
/// Resource Manager that no longer serves one of them no longer serves the service.
pub const PUBLISHED_API_VERSIONS: &[&str] = &[
    "2023-06-01-preview",
    "2023-11-01-preview",
    "2024-05-01-preview",
];

/// Whether an ARM error says the resource provider no longer serves HDInsight on AKS clusters
/// (the service was retired): the resource type is unknown (`InvalidResourceType`), or no
/// provider is registered for it (`NoRegisteredProviderFound`) with a published API version, or
/// with none supported at all. `NoRegisteredProviderFound` for an API version Microsoft never
/// published, while others are supported, is a wrong version instead.
pub fn service_gone(code: &str, message: &str, api_version: &str) -> bool {
    let msg = message.to_ascii_lowercase();
    match code {
        "InvalidResourceType" => {
            msg.contains("clusterpools") || msg.contains("microsoft.hdinsight") || msg.is_empty()
        }
        "NoRegisteredProviderFound" => {
            let supported = msg
                .split("supported api-versions are '")
                .nth(1)
                .and_then(|rest| rest.split('\'').next())
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .count()
                });
            PUBLISHED_API_VERSIONS.contains(&api_version) || supported == Some(0)
        }
        _ => false,
    }
}

/// Which part of the cluster's address an ARM 404 says is missing, from the error code (and, for
/// `ResourceNotFound`, the resource named in the message): a description and the input to check.
pub fn missing_resource(
    code: &str,
    message: &str,
    hdi: &HdiConfig,
) -> Option<(String, &'static str)> {
    let msg = message.to_ascii_lowercase();
    let pool = hdi.cluster_pool.to_ascii_lowercase();
    let cluster = hdi.cluster_name.to_ascii_lowercase();
    match code {
        "SubscriptionNotFound" | "InvalidSubscriptionId" => Some((
            format!("subscription `{}`", hdi.subscription_id),
            i::HDI_SUBSCRIPTION_ID,
        )),
        "ResourceGroupNotFound" => Some((
            format!("resource group `{}`", hdi.resource_group),
            i::HDI_RESOURCE_GROUP,
        )),
        "ParentResourceNotFound" => Some((
            format!("cluster pool `{}`", hdi.cluster_pool),
            i::HDI_CLUSTER_POOL,
        )),
        "ResourceNotFound" => {
            if msg.contains(&format!("clusterpools/{pool}/clusters/{cluster}")) {
                Some((
                    format!(
                        "cluster `{}` in pool `{}`",
                        hdi.cluster_name, hdi.cluster_pool
                    ),
                    i::HDI_CLUSTER_NAME,
                ))
            } else if msg.contains(&format!("clusterpools/{pool}")) {
                Some((
                    format!("cluster pool `{}`", hdi.cluster_pool),
                    i::HDI_CLUSTER_POOL,
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/hdinsight/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn list(name: &str) -> Vec<ClusterJob> {
        serde_json::from_str::<ClusterJobList>(&fixture(name))
            .expect("fixture parses")
            .value
    }

    fn one(name: &str, job: &str) -> ClusterJob {
        find_job(&list(name), job).cloned().expect("job in fixture")
    }

    fn hdi() -> HdiConfig {
        HdiConfig {
            subscription_id: "10e32bab-26da-4cc4-a441-52b318f824e6".into(),
            resource_group: "hiloResourcegroup".into(),
            cluster_pool: "clusterpool1".into(),
            cluster_name: "cluster1".into(),
            api_version: "2023-06-01-preview".into(),
            arm_resource: "https://management.azure.com/".into(),
            arm_endpoint: "https://management.azure.com".into(),
        }
    }

    #[test]
    fn the_documented_list_parses_and_finds_jobs_by_name() {
        let jobs = list("list-stopped.json");
        let j = find_job(&jobs, "job1").expect("job1");
        assert_eq!(j.status(), "STOPPED");
        assert_eq!(j.action_result(), "SUCCESS");
        assert_eq!(j.properties.action.as_deref(), Some("STOP"));
        assert_eq!(
            j.properties.last_save_point.as_deref(),
            Some("abfs://flinkjob@hilosa.dfs.core.windows.net/savepoints/savepoint-20e9e9-8a48c6b905e5")
        );
        assert_eq!(
            j.jar().as_deref(),
            Some("abfs://flinkjob@hilosa.dfs.core.windows.net/jars/flink-sleep-job-0.0.1-SNAPSHOT.jar")
        );
        assert!(find_job(&jobs, "job2").is_none());
        assert!(find_job(&jobs, "JOB1").is_none());
    }

    #[test]
    fn a_job_without_job_name_is_found_by_its_resource_id() {
        let j: ClusterJob = serde_json::from_str(
            r#"{"id":"/subscriptions/s/resourceGroups/r/providers/Microsoft.HDInsight/clusterPools/p/clusters/c/jobs/from-id","properties":{"jobType":"FlinkJob"}}"#,
        )
        .unwrap();
        assert_eq!(j.job_name(), Some("from-id"));
    }

    #[test]
    fn numbers_in_flink_configuration_do_not_fail_the_list() {
        let jobs: ClusterJobList = serde_json::from_str(
            r#"{"value":[{"properties":{"jobName":"a","flinkConfiguration":{"parallelism":2}}}]}"#,
        )
        .unwrap();
        let d = JobDefinition::of(&jobs.value[0]);
        assert_eq!(d.flink_configuration["parallelism"], "2");
    }

    /// The verdict waits, saying why.
    fn assert_waiting(v: Verdict, why: &str) {
        match v {
            Verdict::Waiting(w) => assert!(w.contains(why), "{w}"),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn in_progress_keeps_waiting() {
        let before = one("list-running.json", "orders");
        let now = one("list-savepoint-in-progress.json", "orders");
        assert_waiting(
            judge(JobAction::Savepoint, Some(&before), Some(&now)),
            "in progress",
        );
    }

    #[test]
    fn success_of_the_sent_action_is_done() {
        let before = one("list-running.json", "orders");
        let now = one("list-savepoint-success.json", "orders");
        assert_eq!(
            judge(JobAction::Savepoint, Some(&before), Some(&now)),
            Verdict::Done
        );
        let stopped = one("list-stopped.json", "job1");
        assert_eq!(judge(JobAction::Stop, None, Some(&stopped)), Verdict::Done);
    }

    #[test]
    fn a_result_for_another_action_is_not_ours() {
        // The list still shows the STOP that ran before our START.
        let stopped = one("list-stopped.json", "job1");
        assert_waiting(
            judge(JobAction::Start, Some(&stopped), Some(&stopped)),
            "previous action STOP",
        );
    }

    #[test]
    fn the_same_run_id_as_before_is_not_ours() {
        let before = one("list-run-id.json", "orders");
        let mut now = before.clone();
        assert!(matches!(
            judge(JobAction::Update, Some(&before), Some(&now)),
            Verdict::Waiting(_)
        ));
        now.properties.run_id = Some("job-2".into());
        assert_eq!(
            judge(JobAction::Update, Some(&before), Some(&now)),
            Verdict::Done
        );
    }

    #[test]
    fn failed_quotes_job_output() {
        let now = one("list-update-failed.json", "orders");
        match judge(JobAction::Update, None, Some(&now)) {
            Verdict::Failed(why) => {
                assert!(why.contains("ClassNotFoundException"), "{why}")
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn the_root_cause_is_the_first_line_or_the_innermost_cause_of_job_output() {
        let now = one("list-new-failed-trace.json", "orders");
        let output = now.properties.job_output.clone().unwrap();
        assert_eq!(
            root_cause(&output).as_deref(),
            Some("java.lang.NoSuchMethodError: 'void com.example.orders.Codec.decode(java.lang.String)'")
        );
        match judge(JobAction::New, None, Some(&now)) {
            Verdict::Failed(why) => assert_eq!(
                why,
                "java.lang.NoSuchMethodError: 'void com.example.orders.Codec.decode(java.lang.String)'"
            ),
            v => panic!("{v:?}"),
        }
        let one_line = one("list-update-failed.json", "orders");
        assert_eq!(
            root_cause(one_line.properties.job_output.as_deref().unwrap()).as_deref(),
            Some("Job submission failed: org.apache.flink.client.program.ProgramInvocationException: java.lang.ClassNotFoundException: com.example.orders.OrdersJobV2")
        );
        assert_eq!(
            root_cause("\n  Savepoint failed.\n  see the logs\n").as_deref(),
            Some("Savepoint failed.")
        );
        assert_eq!(root_cause(" \n"), None);
        // A job that went down while settling names the cause, not the whole output.
        let mut down = one("list-running.json", "orders");
        down.properties.status = Some("FAILED".into());
        down.properties.job_output = Some(output);
        let why = settled(Some(&down)).unwrap_err();
        assert!(why.ends_with("Codec.decode(java.lang.String)'"), "{why}");
        assert!(!why.contains('\n'), "{why}");
    }

    #[test]
    fn starting_actions_wait_for_running_and_fail_on_a_down_status() {
        let mut now = one("list-running.json", "orders");
        now.properties.action = Some("NEW".into());
        assert_eq!(judge(JobAction::New, None, Some(&now)), Verdict::Done);
        now.properties.status = Some("INITIALIZING".into());
        assert!(matches!(
            judge(JobAction::New, None, Some(&now)),
            Verdict::Waiting(_)
        ));
        now.properties.status = Some("FAILED".into());
        assert!(matches!(
            judge(JobAction::New, None, Some(&now)),
            Verdict::Failed(_)
        ));
        // STOP-FAILED with SUCCESS is in the spec's own example; for STOP the action is what counts.
        let odd = one("list-spec-example.json", "flink-job-1");
        assert_eq!(judge(JobAction::Stop, None, Some(&odd)), Verdict::Done);
    }

    #[test]
    fn delete_is_done_when_the_job_is_gone() {
        let before = one("list-stopped.json", "job1");
        assert_eq!(judge(JobAction::Delete, Some(&before), None), Verdict::Done);
        let mut still = before.clone();
        still.properties.action = Some("DELETE".into());
        assert!(matches!(
            judge(JobAction::Delete, Some(&before), Some(&still)),
            Verdict::Waiting(_)
        ));
        assert!(matches!(
            judge(JobAction::Stop, Some(&before), None),
            Verdict::Failed(_)
        ));
        assert!(matches!(
            judge(JobAction::New, None, None),
            Verdict::Waiting(_)
        ));
    }

    #[test]
    fn settling_fails_when_the_job_goes_down() {
        let running = one("list-running.json", "orders");
        assert!(settled(Some(&running)).is_ok());
        let mut failed = running.clone();
        failed.properties.status = Some("FAILED".into());
        failed.properties.job_output = Some("java.lang.OutOfMemoryError".into());
        let e = settled(Some(&failed)).unwrap_err();
        assert!(
            e.contains("FAILED") && e.contains("OutOfMemoryError"),
            "{e}"
        );
        assert!(settled(None).is_err());
    }

    #[test]
    fn bodies_carry_only_the_fields_of_their_action() {
        let def = JobDefinition {
            jar_directory: Some("abfs://flinkjob@hilosa.dfs.core.windows.net/jars".into()),
            jar_name: Some("job.jar".into()),
            entry_class: Some("com.example.Job".into()),
            args: Some("--a 1".into()),
            flink_configuration: [("parallelism".to_owned(), "2".to_owned())].into(),
        };
        let new = request_body(JobAction::New, "orders", &def, Some("sp-1"));
        assert_eq!(
            new,
            serde_json::json!({"properties": {"jobType": "FlinkJob", "jobName": "orders", "action": "NEW",
                "jobJarDirectory": "abfs://flinkjob@hilosa.dfs.core.windows.net/jars", "jarName": "job.jar",
                "entryClass": "com.example.Job", "args": "--a 1", "flinkConfiguration": {"parallelism": "2"}}})
        );
        let upd = request_body(JobAction::Update, "orders", &def, Some("sp-1"));
        assert_eq!(upd["properties"]["savePointName"], "sp-1");
        let stateless = request_body(JobAction::StatelessUpdate, "orders", &def, Some("sp-1"));
        assert!(stateless["properties"].get("savePointName").is_none());
        let start = request_body(JobAction::Start, "orders", &def, None);
        assert_eq!(
            start,
            serde_json::json!({"properties": {"jobType": "FlinkJob", "jobName": "orders", "action": "START", "args": "--a 1"}})
        );
        for a in [
            JobAction::Stop,
            JobAction::Savepoint,
            JobAction::ListSavepoint,
            JobAction::Cancel,
            JobAction::Delete,
        ] {
            let b = request_body(a, "orders", &def, Some("sp"));
            assert_eq!(
                b,
                serde_json::json!({"properties": {"jobType": "FlinkJob", "jobName": "orders", "action": a.as_str()}})
            );
        }
    }

    #[test]
    fn action_names_round_trip() {
        for a in JobAction::ALL {
            assert_eq!(JobAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(
            JobAction::parse("stateless_update"),
            Some(JobAction::StatelessUpdate)
        );
        assert_eq!(JobAction::parse("RE_LAUNCH"), None);
    }

    #[test]
    fn jar_uris_split_into_directory_and_name() {
        assert_eq!(
            split_jar_uri("abfs://flinkjob@hilosa.dfs.core.windows.net/jars/job.jar").unwrap(),
            (
                "abfs://flinkjob@hilosa.dfs.core.windows.net/jars".to_owned(),
                "job.jar".to_owned()
            )
        );
        assert!(
            split_jar_uri("abfs://c@a.dfs.core.windows.net/jars/job.jar?sig=x")
                .unwrap_err()
                .contains("query")
        );
        assert!(split_jar_uri("job.jar").is_err());
        assert!(split_jar_uri("abfs://hostonly").is_err());
    }

    #[test]
    fn args_join_and_refuse_whitespace() {
        assert_eq!(args_string(&["--a".into(), "1".into()]).unwrap(), "--a 1");
        assert!(args_string(&["a b".into()]).unwrap_err().contains("`a b`"));
        assert_eq!(args_string(&[]).unwrap(), "");
    }

    #[test]
    fn savepoint_names_from_paths() {
        assert_eq!(
            save_point_name("abfs://c@a.dfs.core.windows.net/sp/savepoint-20e9e9-8a48c6b905e5/"),
            "savepoint-20e9e9-8a48c6b905e5"
        );
        assert_eq!(save_point_name("savepoint-1"), "savepoint-1");
    }

    #[test]
    fn job_names_must_be_lower_case() {
        assert!(job_name_problem("Orders").unwrap().contains("lower case"));
        assert!(job_name_problem("a/b").is_some());
        assert!(job_name_problem("orders-v2").is_none());
    }

    #[test]
    fn already_done_cases() {
        let stopped = one("list-stopped.json", "job1");
        let running = one("list-running.json", "orders");
        assert!(already_done(JobAction::Stop, Some(&stopped)).is_some());
        assert!(already_done(JobAction::Stop, Some(&running)).is_none());
        assert!(already_done(JobAction::Start, Some(&running)).is_some());
        assert!(already_done(JobAction::Start, Some(&stopped)).is_none());
        assert!(already_done(JobAction::Delete, None).is_some());
        assert!(already_done(JobAction::Delete, Some(&stopped)).is_none());
        assert!(already_done(JobAction::Savepoint, Some(&running)).is_none());
    }

    #[test]
    fn lro_steps() {
        assert_eq!(lro_step(202), LroStep::Poll);
        assert_eq!(lro_step(200), LroStep::Done);
        assert_eq!(lro_step(204), LroStep::Done);
        assert_eq!(lro_step(409), LroStep::Error);
        assert_eq!(lro_step(500), LroStep::Error);
    }

    #[test]
    fn links_stay_on_the_arm_endpoint() {
        let arm = "https://management.azure.com";
        assert_eq!(
            same_origin_url(arm, "/subscriptions/s/operationResults/1?api-version=x").unwrap(),
            "https://management.azure.com/subscriptions/s/operationResults/1?api-version=x"
        );
        assert!(same_origin_url(arm, "https://management.azure.com/x").is_ok());
        assert!(same_origin_url(arm, "https://evil.example/x").is_err());
        assert!(same_origin_url(arm, "http://management.azure.com/x").is_err());
        // The spec's own example Location is a placeholder on another host.
        assert!(same_origin_url(arm, "http://azure.async.operation/status").is_err());
    }

    #[test]
    fn savepoint_lists_in_several_shapes() {
        let p1 = "abfs://c@a.dfs.core.windows.net/sp/savepoint-aaaaaa-111111111111";
        let p2 = "abfs://c@a.dfs.core.windows.net/sp/savepoint-aaaaaa-222222222222";
        assert_eq!(parse_savepoints(&format!("{p1}\n{p2}\n")), vec![p1, p2]);
        assert_eq!(
            parse_savepoints(&format!("[\"{p1}\", \"{p2}\"]")),
            vec![p1, p2]
        );
        assert_eq!(
            parse_savepoints(&format!(
                "[{{\"path\":\"{p1}\"}},{{\"name\":\"savepoint-x\"}}]"
            )),
            vec![p1, "savepoint-x"]
        );
        assert_eq!(
            parse_savepoints(&format!("Savepoints: {p1}, {p2}")),
            vec![p1, p2]
        );
        assert_eq!(
            parse_savepoints(&format!("Savepoint completed. Path: {p1}")),
            vec![p1]
        );
        assert!(parse_savepoints("no savepoints found").is_empty());
    }

    #[test]
    fn a_resource_provider_that_no_longer_serves_clusterpools_means_the_service_is_gone() {
        let v = "2023-06-01-preview";
        assert!(service_gone(
            "InvalidResourceType",
            "The resource type 'clusterpools' could not be found in the namespace 'Microsoft.HDInsight' for api version '2023-06-01-preview'.",
            v
        ));
        assert!(service_gone(
            "NoRegisteredProviderFound",
            "No registered resource provider found for location 'westus3' and API version '2023-06-01-preview' for type 'clusterpools'. The supported api-versions are ''. The supported locations are ''.",
            v
        ));
        // A version never published, while the provider still serves others: a wrong input.
        assert!(!service_gone(
            "NoRegisteredProviderFound",
            "No registered resource provider found for location 'westus3' and API version '2021-01-01' for type 'clusterpools'. The supported api-versions are '2023-06-01-preview, 2023-11-01-preview'.",
            "2021-01-01"
        ));
        assert!(service_gone(
            "NoRegisteredProviderFound",
            "No registered resource provider found for location 'westus3' and API version '2021-01-01' for type 'clusterpools'. The supported api-versions are ''.",
            "2021-01-01"
        ));
        assert!(!service_gone(
            "ResourceNotFound",
            "The Resource 'Microsoft.HDInsight/clusterpools/p/clusters/c' was not found.",
            v
        ));
        assert!(!service_gone("AuthorizationFailed", "", v));
    }

    #[test]
    fn arm_404_codes_name_the_missing_part() {
        let h = hdi();
        let (what, input) = missing_resource(
            "ResourceGroupNotFound",
            "Resource group 'hiloResourcegroup' could not be found.",
            &h,
        )
        .unwrap();
        assert!(what.contains("hiloResourcegroup"));
        assert_eq!(input, "hdiResourceGroup");
        assert_eq!(
            missing_resource("SubscriptionNotFound", "", &h).unwrap().1,
            "hdiSubscriptionId"
        );
        assert_eq!(
            missing_resource(
                "ParentResourceNotFound",
                "Parent resource 'clusterpool1' not found.",
                &h
            )
            .unwrap()
            .1,
            "hdiClusterPool"
        );
        let cluster = missing_resource(
            "ResourceNotFound",
            "The Resource 'Microsoft.HDInsight/clusterpools/clusterpool1/clusters/cluster1' under resource group 'hiloResourcegroup' was not found.",
            &h,
        )
        .unwrap();
        assert_eq!(cluster.1, "hdiClusterName");
        let pool = missing_resource(
            "ResourceNotFound",
            "The Resource 'Microsoft.HDInsight/clusterPools/clusterpool1' under resource group 'hiloResourcegroup' was not found.",
            &h,
        )
        .unwrap();
        assert_eq!(pool.1, "hdiClusterPool");
        assert!(missing_resource("NotFound", "job missing", &h).is_none());
    }
}
