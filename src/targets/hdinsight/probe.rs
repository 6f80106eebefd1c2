//! What the HDInsight waits read (the job list, a long-running operation), on the one waiting
//! mechanism of [`crate::wait`] with the pure decisions of [`super::judge`].

use std::time::Duration;

use super::client::Arm;
use super::judge::{self as model, ClusterJob, LroStep};
use crate::error::{Error, Result};
use crate::http::{parse_retry_after, Request};
use crate::wait::{self, Observed, Probe};

/// The job as one read of the job list showed it.
pub struct Seen(pub Option<ClusterJob>);

impl Observed for Seen {
    fn shown(&self) -> String {
        match &self.0 {
            Some(j) => super::describe(j),
            None => "not listed".into(),
        }
    }
}

/// Reads the job list for the job `name`.
pub fn job<'p>(arm: &'p Arm<'p>, name: &'p str) -> impl Probe<Obs = Seen> + 'p {
    wait::poll(move || Box::pin(async move { Ok(Seen(arm.find_job(name).await?)) }))
}

/// A long-running operation as one status check saw it.
pub enum Operation {
    Done,
    Failed(Error),
    /// Still running; the service's Retry-After, if it gave one.
    Running(Option<Duration>),
}

impl Observed for Operation {
    fn shown(&self) -> String {
        match self {
            Operation::Done => "the operation finished".into(),
            Operation::Failed(e) => format!("the operation failed: {}", e.message),
            Operation::Running(_) => "the operation is running".into(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Operation::Running(ra) => *ra,
            _ => None,
        }
    }
}

pub struct OperationProbe<'p, 'a> {
    pub arm: &'p Arm<'a>,
    pub url: String,
    pub polls: u32,
}

#[async_trait::async_trait(?Send)]
impl Probe for OperationProbe<'_, '_> {
    type Obs = Operation;
    async fn probe(&mut self) -> Result<Operation> {
        self.polls += 1;
        let resp = self.arm.send(Request::get(&self.url)).await?;
        Ok(match model::lro_step(resp.status) {
            LroStep::Done => Operation::Done,
            LroStep::Error => Operation::Failed(self.arm.error(
                &resp,
                &format!(
                    "the runJob operation on HDInsight cluster {}",
                    self.arm.cluster_label()
                ),
            )),
            LroStep::Poll => {
                if let Some(next) = resp.header("location") {
                    self.url = self.arm.operation_url(next)?;
                }
                Operation::Running(resp.header("retry-after").and_then(parse_retry_after))
            }
        })
    }
}
