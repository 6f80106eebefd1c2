//! Azure Resource Manager calls for HDInsight on AKS Flink jobs: list the cluster's jobs and run
//! a job action as a long-running operation (POST runJob, then the `Location` until not 202).

use std::time::{Duration, Instant};

use reqwest::Method;

use super::config::HdiConfig;
use super::judge::{self as model, ClusterJob, ClusterJobList, LroStep};
use super::probe::{Operation, OperationProbe};
use crate::azure::auth::AzureTokens;
use crate::error::{Error, Result};
use crate::http::{display_url, parse_retry_after, Http, Request, Response};
use crate::pipeline::vso::Masker;
use crate::report::Recorder;
use crate::secret::Secret;
use crate::wait::{self, Backoff, End, Verdict, Wait};

/// Where to go now that the service is retired.
const RETIRED_MOVE: &str = "move the job to Ververica Platform (target: ververica) or to a Flink cluster of your own, e.g. on AKS with the Apache Flink Kubernetes Operator (target: flink)";

/// Resource Manager counts reads against a quota per principal: at most one a second.
pub const PACE: Backoff = Backoff::with_floor(Duration::from_secs(1));

/// Pages of the job list followed at most; a cluster has far fewer jobs than this allows.
const MAX_PAGES: usize = 50;

/// How the POST ended: accepted with an operation to follow, or finished at once.
#[derive(Debug)]
pub struct Accepted {
    pub status: u16,
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
    pub request_id: Option<String>,
}

pub struct Arm<'a> {
    http: &'a Http,
    tokens: &'a AzureTokens,
    masker: Masker,
    hdi: &'a HdiConfig,
    scope: String,
    connection: String,
}

/// The scope of Resource Manager tokens: the audience (see
/// [`crate::azure::connection::Cloud::arm_audience`]) with `/.default`, as Microsoft's tasks ask
/// for it; not the URL the calls go to (which may be an override such as a test endpoint).
pub fn arm_scope(audience: &str) -> String {
    format!("{audience}/.default")
}

impl<'a> Arm<'a> {
    pub fn new(
        http: &'a Http,
        tokens: &'a AzureTokens,
        masker: Masker,
        hdi: &'a HdiConfig,
    ) -> Self {
        let conn = tokens.connection();
        Arm {
            http,
            tokens,
            masker,
            hdi,
            scope: arm_scope(&hdi.arm_resource),
            connection: conn.id.clone(),
        }
    }

    pub fn cluster_label(&self) -> String {
        format!("`{}/{}`", self.hdi.cluster_pool, self.hdi.cluster_name)
    }

    fn cluster_path(&self) -> String {
        let h = self.hdi;
        format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.HDInsight/clusterpools/{}/clusters/{}",
            h.arm_endpoint.trim_end_matches('/'),
            enc(&h.subscription_id),
            enc(&h.resource_group),
            enc(&h.cluster_pool),
            enc(&h.cluster_name)
        )
    }

    pub fn jobs_url(&self) -> String {
        format!(
            "{}/jobs?api-version={}",
            self.cluster_path(),
            self.hdi.api_version
        )
    }

    pub fn run_job_url(&self) -> String {
        format!(
            "{}/runJob?api-version={}",
            self.cluster_path(),
            self.hdi.api_version
        )
    }

    async fn token(&self) -> Result<Secret> {
        let t = self
            .tokens
            .token(self.http, &self.scope)
            .await
            .map_err(|e| e.context(format!("HDInsight cluster {}", self.cluster_label())))?;
        // Register each new token once: one that is already masked redacts to exactly `***`.
        self.masker.add_once(t.expose());
        Ok(t)
    }

    pub(super) async fn send(&self, req: Request) -> Result<Response> {
        let t = self.token().await?;
        self.http
            .send(
                req.bearer(Some(t.expose()))
                    .timeout(self.tokens.request_timeout()),
            )
            .await
    }

    /// Every job on the cluster (all pages).
    pub async fn list_jobs(&self) -> Result<Vec<ClusterJob>> {
        let mut url = self.jobs_url();
        let mut jobs = vec![];
        for _ in 0..MAX_PAGES {
            let resp = self.send(Request::get(&url)).await?;
            if !resp.is_success() {
                return Err(self.error(
                    &resp,
                    &format!(
                        "list the jobs of HDInsight cluster {}",
                        self.cluster_label()
                    ),
                ));
            }
            let page: ClusterJobList = resp.json()?;
            jobs.extend(page.value);
            match page.next_link.filter(|l| !l.is_empty()) {
                None => return Ok(jobs),
                Some(next) => {
                    url = model::same_origin_url(&self.hdi.arm_endpoint, &next).map_err(|e| {
                        Error::platform(format!(
                            "the job list of HDInsight cluster {} has a nextLink {e}",
                            self.cluster_label()
                        ))
                    })?;
                }
            }
        }
        Err(Error::platform(format!(
            "the job list of HDInsight cluster {} has more than {MAX_PAGES} pages",
            self.cluster_label()
        )))
    }

    pub async fn find_job(&self, name: &str) -> Result<Option<ClusterJob>> {
        Ok(model::find_job(&self.list_jobs().await?, name).cloned())
    }

    /// POST runJob. Throttling (429) and 503 are answered before the request is taken on, so
    /// those are sent again after Retry-After; any other failure is not repeated, since the
    /// action may have started.
    pub async fn run_job(&self, body: &serde_json::Value, deadline: Instant) -> Result<Accepted> {
        let url = self.run_job_url();
        let action = body["properties"]["action"]
            .as_str()
            .unwrap_or("?")
            .to_owned();
        let what = format!(
            "runJob {action} on HDInsight cluster {}",
            self.cluster_label()
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self
                .send(
                    Request::new(Method::POST, &url)
                        .json(body.clone())
                        .retry(false),
                )
                .await?;
            if matches!(resp.status, 429 | 503) && attempt < self.http.policy.max_attempts {
                let ra = resp.header("retry-after").and_then(parse_retry_after);
                let wait = self.http.policy.delay(attempt, ra);
                if Instant::now() + wait < deadline {
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            return match model::lro_step(resp.status) {
                LroStep::Error => Err(self.error(&resp, &what)),
                _ => Ok(Accepted {
                    status: resp.status,
                    // The spec declares `final-state-via: location` and no Azure-AsyncOperation.
                    location: if resp.status == 202 {
                        resp.header("location").map(str::to_owned)
                    } else {
                        None
                    },
                    retry_after: resp.header("retry-after").and_then(parse_retry_after),
                    request_id: resp.request_id().map(str::to_owned),
                }),
            };
        }
    }

    /// Follow the operation's `Location` until it stops answering 202. Returns how many status
    /// checks that took.
    pub async fn wait_operation(
        &self,
        rec: &mut Recorder,
        accepted: &Accepted,
        deadline: Instant,
    ) -> Result<u32> {
        if accepted.status != 202 {
            return Ok(0);
        }
        let Some(loc) = &accepted.location else {
            return Err(Error::platform(format!(
                "runJob on HDInsight cluster {} answered 202 without a Location header",
                self.cluster_label()
            ))
            .with_details(
                accepted
                    .request_id
                    .iter()
                    .map(|id| format!("request id: {id}")),
            ));
        };
        let url = self.operation_url(loc)?;
        // Resource Manager asks for a pause before the first status check, as before each next.
        let first = accepted.retry_after.unwrap_or(PACE.floor).max(PACE.floor);
        tokio::time::sleep(first.min(deadline.saturating_duration_since(Instant::now()))).await;
        let w = Wait::new(
            "the runJob operation",
            deadline.saturating_duration_since(Instant::now()),
            PACE,
        );
        let mut probe = OperationProbe {
            arm: self,
            url,
            polls: 0,
        };
        let end = wait::until(rec, &w, &mut probe, |o, _| match o {
            Operation::Done => Verdict::Done,
            Operation::Failed(e) => Verdict::Failed(e.message.clone()),
            Operation::Running(_) => Verdict::Pending,
        })
        .await?;
        match end {
            End::Reached(_) => Ok(probe.polls),
            End::Failed { last, .. } => match last {
                Operation::Failed(e) => Err(e),
                _ => unreachable!("only a failed operation fails the wait"),
            },
            End::TimedOut { .. } => Err(Error::timeout(format!(
                "the runJob operation on HDInsight cluster {} was still running after {} status checks",
                self.cluster_label(),
                probe.polls
            ))
            .with_detail(format!("operation: {}", display_url(&probe.url)))
            .with_hint("raise timeoutSeconds; the action goes on on the cluster and a re-run waits for it")),
        }
    }

    /// An operation URL the service gave, checked to stay on the Resource Manager endpoint.
    pub(super) fn operation_url(&self, loc: &str) -> Result<String> {
        model::same_origin_url(&self.hdi.arm_endpoint, loc).map_err(|e| {
            Error::platform(format!(
                "the runJob operation Location of HDInsight cluster {} {e}",
                self.cluster_label()
            ))
        })
    }

    /// An ARM error response as an [`Error`] that names what failed, quotes the service's code,
    /// message and request id, and hints at the fix where the status tells it.
    pub fn error(&self, resp: &Response, what: &str) -> Error {
        let (code, message) = arm_error(resp);
        let h = self.hdi;
        if let Some(c) = code
            .as_deref()
            .filter(|c| model::service_gone(c, &message, &h.api_version))
        {
            return Error::platform(format!(
                "{what}: HDInsight on AKS no longer answers: Resource Manager does not serve its clusters any more ({} answered HTTP {}: {c}: {message}); Microsoft retired the service on 2025-01-31",
                display_url(&resp.url),
                resp.status
            ))
            .with_details(resp.request_id().map(|id| format!("request id: {id}")))
            .with_hint(RETIRED_MOVE);
        }
        let mut e = match (resp.status, code.as_deref()) {
            (404, Some(c)) => match model::missing_resource(c, &message, h) {
                Some((missing, input)) => Error::platform(format!(
                    "{what}: {missing} does not exist ({} answered HTTP 404: {c}: {message})",
                    display_url(&resp.url)
                ))
                .with_hint(match input {
                    crate::pipeline::inputs::HDI_CLUSTER_NAME
                    | crate::pipeline::inputs::HDI_CLUSTER_POOL => format!(
                        "check the input `{input}` (and that service connection `{}` is for the right subscription); if it is right, the cluster was removed when Microsoft retired HDInsight on AKS (2025-01-31): {RETIRED_MOVE}",
                        self.connection
                    ),
                    _ => format!(
                        "check the input `{input}` (and that service connection `{}` is for the right subscription)",
                        self.connection
                    ),
                }),
                None => resp.error(what),
            },
            _ => resp.error(what),
        };
        if e.details.is_empty() {
            if let Some(id) = resp.request_id() {
                e = e.with_detail(format!("request id: {id}"));
            }
        }
        match resp.status {
            401 => e.with_hint(format!(
                "Resource Manager rejected the token of service connection `{}` (issued for `{}`); check that the connection is for the cluster's tenant and cloud, and its activeDirectoryServiceEndpointResourceId",
                self.connection, self.scope
            )),
            403 => e.with_hint(format!(
                "give the service principal of connection `{}` a role on cluster `{}` (or its pool or resource group `{}`) that allows Microsoft.HDInsight/clusterpools/clusters/runJob/action and jobs/read, e.g. Contributor",
                self.connection, h.cluster_name, h.resource_group
            )),
            409 => e.with_hint("another action is still running on this job; wait until its actionResult is no longer IN_PROGRESS, then re-run"),
            400 if code
                .as_deref()
                .is_some_and(|c| c.contains("ApiVersion") || c == "NoRegisteredProviderFound") =>
            e.with_hint(format!(
                "check the input `{}` (the documented version is 2023-06-01-preview)",
                crate::pipeline::inputs::HDI_API_VERSION
            )),
            _ => e,
        }
    }
}

/// `{"error":{"code","message"}}` of an ARM error response.
pub fn arm_error(resp: &Response) -> (Option<String>, String) {
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    let code = v["error"]["code"].as_str().map(str::to_owned);
    let message = v["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| resp.server_message());
    (code, message)
}

/// One path segment; the configuration has refused `.`, `..` and empty names.
fn enc(segment: &str) -> String {
    crate::http::percent_encode(segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_is_the_resource_not_the_url() {
        assert_eq!(
            arm_scope("https://management.azure.com"),
            "https://management.azure.com/.default"
        );
        // A resource id with its trailing slash keeps it, as Microsoft's tasks ask for it.
        assert_eq!(
            arm_scope("https://management.core.windows.net/"),
            "https://management.core.windows.net//.default"
        );
        assert_eq!(
            arm_scope("https://management.adfs.azurestack.local/4de154de-f8a8-4017-af41-df619da68155"),
            "https://management.adfs.azurestack.local/4de154de-f8a8-4017-af41-df619da68155/.default"
        );
    }

    #[test]
    fn arm_errors_are_read_from_the_common_shape() {
        let r = Response {
            status: 404,
            headers: Default::default(),
            body: br#"{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'rg' could not be found."}}"#.to_vec(),
            url: "https://management.azure.com/x?api-version=1".into(),
            attempts: 1,
        };
        assert_eq!(
            arm_error(&r),
            (
                Some("ResourceGroupNotFound".into()),
                "Resource group 'rg' could not be found.".into()
            )
        );
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(enc("my pool"), "my%20pool");
        assert_eq!(enc("rg_1.a-b"), "rg_1.a-b");
        assert_eq!(enc("../x?y#z"), "..%2Fx%3Fy%23z");
    }
}
