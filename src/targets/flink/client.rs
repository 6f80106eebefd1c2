//! The JobManager REST API (Flink 1.x and 2.x, `/v1` paths without the prefix), one method
//! per call the target makes. Errors quote Flink's own message (the innermost cause of the stack
//! trace it sends) and name the URL.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::judge::{self, Jar, JobSummary, RunParams, Trigger};
use crate::error::{Error, Result};
use crate::http::{display_url, segment, Body, Http, Request, Response};

/// Reads while polling must come back quickly so the overall deadline holds.
const POLL_TIMEOUT: Duration = Duration::from_secs(15);
/// Uploads and `run` (which executes the job's `main`) may take long on a busy cluster.
const SLOW_TIMEOUT: Duration = Duration::from_secs(600);

pub struct Client<'a> {
    http: &'a Http,
    base: String,
    /// The full `Authorization` header value, registered as a secret by the caller.
    auth: Option<String>,
}

/// What a job is started with: the program and where its state comes from.
#[derive(Clone, Debug, Default)]
pub struct RunRequest {
    pub params: RunParams,
    pub savepoint: Option<String>,
    pub allow_non_restored_state: bool,
}

impl RunRequest {
    fn body(&self, with_state: bool) -> Value {
        let mut b = json!({});
        let p = &self.params;
        if let Some(c) = &p.entry_class {
            b["entryClass"] = json!(c);
        }
        // `programArgsList` is understood by Flink 1.x and 2.x alike; the older `programArgs`
        // string is gone from 2.x.
        if !p.args.is_empty() {
            b["programArgsList"] = json!(p.args);
        }
        if let Some(par) = p.parallelism {
            b["parallelism"] = json!(par);
        }
        if !p.flink_configuration.is_empty() {
            b["flinkConfiguration"] = json!(p.flink_configuration);
        }
        if with_state {
            if let Some(sp) = &self.savepoint {
                b["savepointPath"] = json!(sp);
                b["allowNonRestoredState"] = json!(self.allow_non_restored_state);
            }
        }
        b
    }
}

/// An id (from the cluster's own answers, or an input) as one path segment: a hostile or broken
/// answer cannot turn a call on one job into a call on another resource.
fn seg(what: &str, id: &str) -> Result<String> {
    segment(id).map_err(|e| Error::platform(format!("the {what} {}", e.message)))
}

/// A fresh trigger id: sent with stop and savepoint requests so that a repeated request (after
/// a lost answer) is recognised by Flink instead of taking a second savepoint.
fn trigger_id() -> String {
    (0..32)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
        .collect()
}

impl<'a> Client<'a> {
    pub fn new(http: &'a Http, base: &str, auth: Option<String>) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            auth,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> Request {
        let r = Request::new(method, format!("{}{path}", self.base));
        match &self.auth {
            Some(a) => r.header(reqwest::header::AUTHORIZATION, a.clone()),
            None => r,
        }
    }

    /// Map a non-2xx answer to an error that quotes Flink.
    fn error(&self, resp: &Response, what: &str) -> Error {
        let (head, chain) = match judge::rest_error(&resp.body) {
            Some(x) => x,
            None => (resp.server_message(), vec![]),
        };
        let mut e = Error::platform(format!(
            "{what}: {} answered HTTP {}: {head}",
            display_url(&resp.url),
            resp.status
        ))
        .with_details(
            chain
                .into_iter()
                .filter(|c| *c != head)
                .take(8)
                .map(|c| format!("Flink: {c}")),
        );
        if matches!(resp.status, 401 | 403) {
            e = e.with_hint(
                "check flinkAuth and the credential (flinkUsername/flinkPassword or flinkToken)",
            );
        }
        e
    }

    async fn send(&self, req: Request, what: &str) -> Result<Response> {
        let resp = self.http.send(req).await?;
        if resp.is_success() {
            Ok(resp)
        } else {
            Err(self.error(&resp, what))
        }
    }

    async fn get(&self, path: &str, what: &str) -> Result<Value> {
        self.send(self.request(Method::GET, path).timeout(POLL_TIMEOUT), what)
            .await?
            .json()
    }

    /// `/config`: the Flink version; also the cheapest proof that the URL is a JobManager.
    pub async fn config(&self) -> Result<Value> {
        self.get("/config", "reading the cluster's version").await
    }

    /// `/overview`: task managers and free slots.
    pub async fn overview(&self) -> Result<Value> {
        self.get("/overview", "reading the cluster overview").await
    }

    /// `/jobmanager/config`: the cluster configuration as key/value list.
    pub async fn jobmanager_config(&self) -> Result<Value> {
        self.get("/jobmanager/config", "reading the cluster configuration")
            .await
    }

    pub async fn jobs(&self) -> Result<Vec<JobSummary>> {
        let v = self.get("/jobs/overview", "listing jobs").await?;
        judge::jobs_from_overview(&v)
            .map_err(|e| Error::platform(format!("{}/jobs/overview: {e}", display_url(&self.base))))
    }

    pub async fn job(&self, id: &str) -> Result<Value> {
        self.get(
            &format!("/jobs/{}", seg("job id", id)?),
            &format!("reading job {id}"),
        )
        .await
    }

    pub async fn exceptions(&self, id: &str) -> Result<Value> {
        self.get(
            &format!("/jobs/{}/exceptions?maxExceptions=10", seg("job id", id)?),
            &format!("reading the exceptions of job {id}"),
        )
        .await
    }

    pub async fn checkpoints(&self, id: &str) -> Result<Value> {
        self.get(
            &format!("/jobs/{}/checkpoints", seg("job id", id)?),
            &format!("reading the checkpoint statistics of job {id}"),
        )
        .await
    }

    pub async fn jars(&self) -> Result<Vec<Jar>> {
        Ok(judge::jars_from_list(
            &self.get("/jars", "listing uploaded jars").await?,
        ))
    }

    /// Upload a jar under `file_name`; returns Flink's jar id.
    pub async fn upload(&self, path: &Path, file_name: &str) -> Result<String> {
        let req = self
            .request(Method::POST, "/jars/upload")
            .body(Body::MultipartFile {
                field: "jarfile".into(),
                path: path.to_owned(),
                file_name: file_name.to_owned(),
                content_type: "application/x-java-archive".into(),
            })
            .timeout(SLOW_TIMEOUT)
            .slow()
            // A repeated upload leaves at most a second copy, which the clean-up removes.
            .retry(true);
        let resp = self
            .send(req, &format!("uploading {}", path.display()))
            .await?;
        let v: Value = resp.json()?;
        judge::uploaded_jar_id(&v).ok_or_else(|| {
            Error::platform(format!(
                "{} did not return the uploaded jar's name",
                display_url(&resp.url)
            ))
            .with_detail(format!("answer: {v}"))
        })
    }

    /// POST `/jars/{id}/<what>`: calls that run the program's `main`, so they may take long.
    fn jar_call(&self, jar_id: &str, what: &str, body: Value) -> Result<Request> {
        Ok(self
            .request(
                Method::POST,
                &format!("/jars/{}/{what}", seg("jar id", jar_id)?),
            )
            .json(body)
            .timeout(SLOW_TIMEOUT)
            .slow())
    }

    /// Build the job graph without running it (`/jars/{id}/plan`): runs the program's `main`,
    /// so a wrong entry class or bad arguments show up before anything is stopped.
    pub async fn check_program(&self, jar_id: &str, run: &RunRequest) -> Result<()> {
        let req = self.jar_call(jar_id, "plan", run.body(false))?.retry(true);
        self.send(req, "checking the program (entry class and arguments)")
            .await?;
        Ok(())
    }

    /// Start a job from an uploaded jar; returns the job id.
    pub async fn run(&self, jar_id: &str, run: &RunRequest) -> Result<String> {
        // Not retried: a repeated run would start the job twice.
        let req = self.jar_call(jar_id, "run", run.body(true))?.retry(false);
        let resp = self.send(req, "starting the job").await?;
        let v: Value = resp.json()?;
        v.get("jobid")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::platform(format!(
                    "{} did not return a job id",
                    display_url(&resp.url)
                ))
                .with_detail(format!("answer: {v}"))
            })
    }

    /// Stop with a savepoint (`/jobs/{id}/stop`); returns the trigger id to poll.
    pub async fn stop(&self, job_id: &str, target_directory: Option<&str>) -> Result<String> {
        let doing = format!("stopping job {job_id} with a savepoint");
        let body = json!({"drain": false});
        self.post_trigger(
            job_id,
            "stop",
            body,
            ("targetDirectory", target_directory),
            &doing,
        )
        .await
    }

    /// Trigger a savepoint and keep the job running; returns the trigger id to poll.
    pub async fn savepoint(&self, job_id: &str, target_directory: Option<&str>) -> Result<String> {
        let doing = format!("triggering a savepoint of job {job_id}");
        // This request uses hyphenated keys, unlike /stop.
        let body = json!({"cancel-job": false});
        let dir = ("target-directory", target_directory);
        self.post_trigger(job_id, "savepoints", body, dir, &doing)
            .await
    }

    /// POST `/jobs/{id}/<what>` with a new trigger id and the target directory (under the key
    /// this request names it with) added to `body`; returns the trigger id to poll.
    async fn post_trigger(
        &self,
        job_id: &str,
        what: &str,
        mut body: Value,
        (dir_key, dir): (&str, Option<&str>),
        doing: &str,
    ) -> Result<String> {
        body["triggerId"] = json!(trigger_id());
        if let Some(d) = dir {
            body[dir_key] = json!(d);
        }
        let req = self
            .request(
                Method::POST,
                &format!("/jobs/{}/{what}", seg("job id", job_id)?),
            )
            .json(body)
            .retry(true);
        self.trigger(req, doing).await
    }

    async fn trigger(&self, req: Request, what: &str) -> Result<String> {
        let resp = self.send(req, what).await?;
        let v: Value = resp.json()?;
        v.get("request-id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::platform(format!("{what}: no request-id in the answer"))
                    .with_detail(format!("answer: {v}"))
            })
    }

    pub async fn savepoint_status(&self, job_id: &str, trigger: &str) -> Result<Trigger> {
        let v = self
            .get(
                &format!(
                    "/jobs/{}/savepoints/{}",
                    seg("job id", job_id)?,
                    seg("trigger id", trigger)?
                ),
                &format!("reading the savepoint status of job {job_id}"),
            )
            .await?;
        judge::trigger_status(&v).map_err(|e| {
            Error::platform(format!("savepoint of job {job_id}: {e}"))
                .with_detail(format!("answer: {v}"))
        })
    }

    /// Cancel a job (no savepoint). Idempotent on Flink's side.
    pub async fn cancel(&self, job_id: &str) -> Result<()> {
        let req = self
            .request(
                Method::PATCH,
                &format!("/jobs/{}?mode=cancel", seg("job id", job_id)?),
            )
            .retry(true);
        self.send(req, &format!("cancelling job {job_id}")).await?;
        Ok(())
    }

    pub async fn delete_jar(&self, jar_id: &str) -> Result<()> {
        let req = self.request(Method::DELETE, &format!("/jars/{}", seg("jar id", jar_id)?));
        self.send(req, &format!("deleting jar {}", judge::jar_display(jar_id)))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_bodies_carry_state_only_when_running() {
        let r = RunRequest {
            params: RunParams {
                entry_class: Some("a.B".into()),
                args: vec!["--x".into(), "1".into()],
                parallelism: Some(3),
                flink_configuration: [("k".to_owned(), "v".to_owned())].into(),
            },
            savepoint: Some("file:/sp".into()),
            allow_non_restored_state: true,
        };
        let run = r.body(true);
        assert_eq!(run["entryClass"], "a.B");
        assert_eq!(run["programArgsList"], json!(["--x", "1"]));
        assert_eq!(run["parallelism"], 3);
        assert_eq!(run["flinkConfiguration"]["k"], "v");
        assert_eq!(run["savepointPath"], "file:/sp");
        assert_eq!(run["allowNonRestoredState"], true);
        let plan = r.body(false);
        assert!(plan.get("savepointPath").is_none());
        assert_eq!(RunRequest::default().body(true), json!({}));
    }

    #[test]
    fn trigger_ids_are_32_hex_digits() {
        let t = trigger_id();
        assert_eq!(t.len(), 32);
        assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(t, trigger_id());
    }
}
