//! What the Flink waits read, on the one waiting mechanism of [`crate::wait`] with the pure
//! decisions of [`super::judge`].

use std::time::Duration;

use serde_json::Value;

use super::client::Client;
use super::judge::{self, Health, JobSummary, Trigger};
use crate::error::Result;
use crate::health::{Vital, Vitals};
use crate::wait::{Backoff, Observed, Probe};

/// A JobManager answers from memory: the first looks come quickly, so a job that is up is seen
/// within a fraction of a second.
pub const PACE: Backoff = Backoff::with_floor(Duration::ZERO);

/// One look at a job: as `/jobs/overview` lists it, and what that says about its health.
pub struct Look {
    pub job: Option<JobSummary>,
    pub health: Health,
    /// The health gate's counters: failures in the exception history, checkpoint statistics.
    pub vitals: Vitals,
}

impl Vital for Look {
    fn vitals(&self) -> Vitals {
        self.vitals.clone()
    }
}

impl Observed for Look {
    fn shown(&self) -> String {
        match (&self.health, &self.job) {
            (Health::Starting(s), _) => s.clone(),
            (Health::Running, Some(j)) => judge::describe(j),
            (Health::Running, None) => "RUNNING".into(),
            (Health::Failed(why), _) => why.clone(),
        }
    }
}

/// Reads the job from the (uncached) overview and its exception history.
pub struct JobProbe<'a> {
    pub client: &'a Client<'a>,
    pub job_id: &'a str,
    /// A savepoint the job should have restored from, until the statistics confirm it.
    pub unconfirmed: Option<&'a str>,
    /// What the checkpoint statistics said about the restore: (as expected, the path).
    pub restored: Option<(bool, String)>,
    /// Failures the job may have had (`healthMaxRestarts`).
    pub allowed_restarts: u32,
    /// Read the checkpoint statistics on every look (`healthCheckpoints`).
    pub count_checkpoints: bool,
}

impl<'a> JobProbe<'a> {
    pub fn new(client: &'a Client<'a>, job_id: &'a str) -> Self {
        JobProbe {
            client,
            job_id,
            unconfirmed: None,
            restored: None,
            allowed_restarts: 0,
            count_checkpoints: false,
        }
    }

    /// The checkpoint statistics, when the gate counts checkpoints or a restore is still to be
    /// confirmed: Flink's statistics say which savepoint the job's state came from (they are
    /// cached like the job details, so this is tried on every look until they tell).
    async fn read_checkpoints(&mut self) -> Option<crate::health::Checkpoints> {
        if self.unconfirmed.is_none() && !self.count_checkpoints {
            return None;
        }
        let cps = self.client.checkpoints(self.job_id).await.ok()?;
        if let Some(savepoint) = self.unconfirmed {
            let norm = |s: &str| s.trim_end_matches('/').replace("file:///", "file:/");
            if let Some((path, _)) = judge::state_facts(&cps).restored {
                self.restored = Some((norm(&path) == norm(savepoint), path));
                self.unconfirmed = None;
            }
        }
        self.count_checkpoints
            .then(|| judge::checkpoint_counts(&cps))
    }
}

#[async_trait::async_trait(?Send)]
impl Probe for JobProbe<'_> {
    type Obs = Look;
    async fn probe(&mut self) -> Result<Look> {
        let checkpoints = self.read_checkpoints().await;
        let jobs = self.client.jobs().await?;
        let Some(job) = judge::find_job(&jobs, self.job_id).cloned() else {
            return Ok(Look {
                job: None,
                health: Health::Starting("not listed by the cluster yet".into()),
                vitals: Vitals::default(),
            });
        };
        // Missing history (older clusters, archived jobs) must not hide the job's own state.
        let exceptions = self.client.exceptions(self.job_id).await.ok();
        let history = exceptions.as_ref().unwrap_or(&Value::Null);
        let health = judge::assess_allowing(&job, history, self.allowed_restarts);
        Ok(Look {
            job: Some(job),
            health,
            vitals: Vitals {
                // Each entry of the history is a failure Flink restarted the job from (or,
                // once the job is FAILED, the last one, which the state already reports).
                restarts: exceptions.map(|e| judge::exception_count(&e) as u64),
                checkpoints,
            },
        })
    }
}

/// The state of a savepoint (or stop-with-savepoint) trigger.
pub struct TriggerLook(pub Trigger);

impl Observed for TriggerLook {
    fn shown(&self) -> String {
        match &self.0 {
            Trigger::Completed(loc) => format!("savepoint completed: {loc}"),
            Trigger::Failed(cause) => format!("savepoint failed: {cause}"),
            Trigger::InProgress => "savepoint in progress".into(),
        }
    }
}

/// The state of a job that was asked to end.
pub struct State(pub String);

impl Observed for State {
    fn shown(&self) -> String {
        self.0.clone()
    }
}

/// The root causes in a job's exception history, as far as the cache shows them yet: the lines
/// that explain the failure, and the one that says why.
pub struct Causes(pub Vec<String>, pub Option<String>);

impl Observed for Causes {
    fn shown(&self) -> String {
        match self.0.len() {
            0 => "no exception recorded yet".into(),
            n => format!("{n} root cause(s) recorded"),
        }
    }
}
