//! What the Ververica waits read (the deployment, a savepoint) and how they end, on the one
//! waiting mechanism of [`crate::wait`] with the pure decisions of [`super::judge`].

use std::time::Duration;

use serde_json::Value;

use super::client::Client;
use super::judge::{self, Expect, Observation, SavepointVerdict, Settle};
use super::DeploymentRef;
use crate::error::Result;
use crate::health::{self, Vital, Vitals};
use crate::report::Recorder;
use crate::wait::{self, Backoff, End, Hold, Observed, Probe, Settled, Verdict, Wait};

/// Ververica Platform's API serves every user of the platform: twice a second is enough.
pub const PACE: Backoff = Backoff::with_floor(Duration::from_millis(500));

/// The deployment as read, or `None` when it is gone.
pub struct Read(pub Option<(Value, Observation)>);

impl Observed for Read {
    fn shown(&self) -> String {
        match &self.0 {
            Some((_, o)) => o.describe(),
            None => "not found".into(),
        }
    }
}

pub struct DeploymentProbe<'a> {
    pub client: &'a Client<'a>,
    pub addr: &'a DeploymentRef,
}

#[async_trait::async_trait(?Send)]
impl Probe for DeploymentProbe<'_> {
    type Obs = Read;
    async fn probe(&mut self) -> Result<Read> {
        let d = self.client.get_deployment(self.addr).await?;
        Ok(Read(d.map(|d| {
            let o = Observation::of(&d);
            (d, o)
        })))
    }
}

pub enum WaitEnd {
    Reached {
        deployment: Value,
        obs: Observation,
        /// Set when the expected new job never showed and the old one was taken as the answer.
        note: Option<String>,
    },
    Failed {
        deployment: Option<Value>,
        obs: Option<Observation>,
        why: String,
    },
    TimedOut {
        last: Option<Observation>,
    },
}

/// Poll the deployment until the judge says reached or failed, or `timeout` passes.
pub async fn until(
    client: &Client<'_>,
    rec: &mut Recorder,
    addr: &DeploymentRef,
    mut expect: Expect,
    timeout: Duration,
) -> Result<WaitEnd> {
    let grace = judge::baseline_grace(timeout);
    let mut note = None;
    let w = Wait::new("the deployment", timeout, PACE).on_timeline("");
    let mut probe = DeploymentProbe { client, addr };
    let end = wait::until(rec, &w, &mut probe, |read, elapsed| {
        let Some((_, obs)) = &read.0 else {
            return Verdict::Failed(format!(
                "the deployment disappeared while waiting for {} (someone deleted it during the run)",
                expect.target
            ));
        };
        if let Some(b) = &expect.baseline {
            if !obs.same_as(b) {
                expect.baseline = None;
            } else if elapsed >= grace {
                note = Some(format!(
                    "Ververica Platform showed no reaction to the change within {}; taking {} as its answer",
                    wait::secs(grace),
                    obs.describe()
                ));
                expect.baseline = None;
            }
        }
        match judge::decide(obs, &expect) {
            judge::Verdict::Reached => Verdict::Done,
            judge::Verdict::Failed(why) => Verdict::Failed(why),
            judge::Verdict::Waiting(_) => Verdict::Pending,
        }
    })
    .await?;
    Ok(match end {
        End::Reached(Read(Some((deployment, obs)))) => WaitEnd::Reached {
            deployment,
            obs,
            note,
        },
        End::Reached(Read(None)) => unreachable!("a missing deployment is never reached"),
        End::Failed { last, why } => {
            let (deployment, obs) = last.0.map_or((None, None), |(d, o)| (Some(d), Some(o)));
            WaitEnd::Failed {
                deployment,
                obs,
                why,
            }
        }
        End::TimedOut { last } => WaitEnd::TimedOut {
            last: last.and_then(|r| r.0).map(|(_, o)| o),
        },
    })
}

/// A settle window's reading: the deployment, and the health counters of its job.
pub struct SettleRead {
    read: Read,
    vitals: Vitals,
}

impl Observed for SettleRead {
    fn shown(&self) -> String {
        match self.vitals.restarts {
            Some(n) if n > 0 => format!("{}, {n} restart(s)", self.read.shown()),
            _ => self.read.shown(),
        }
    }
}

impl Vital for SettleRead {
    fn vitals(&self) -> Vitals {
        self.vitals.clone()
    }
}

/// Reads the deployment, then the Job resource of the job it runs (for its restart count).
struct SettleProbe<'a> {
    deployment: DeploymentProbe<'a>,
}

#[async_trait::async_trait(?Send)]
impl Probe for SettleProbe<'_> {
    type Obs = SettleRead;
    async fn probe(&mut self) -> Result<SettleRead> {
        let read = self.deployment.probe().await?;
        let job = read.0.as_ref().and_then(|(_, o)| o.job_id.clone());
        let vitals = match job {
            // A job that cannot be read now is read again at the next poll; the deployment
            // still tells whether it runs.
            Some(id) => match self.deployment.client.job(&id).await {
                Ok(Some(j)) => judge::job_vitals(&j),
                _ => Vitals::default(),
            },
            None => Vitals::default(),
        };
        Ok(SettleRead { read, vitals })
    }
}

/// Watch a RUNNING deployment for `window`, with the health gate counted `from`:
/// `Ok(Err(why))` when it did not stay up.
pub async fn settle(
    client: &Client<'_>,
    rec: &mut Recorder,
    addr: &DeploymentRef,
    job: Option<&str>,
    window: Duration,
    mut watch: health::Watch,
) -> Result<std::result::Result<Value, String>> {
    let w = Wait::new("the deployment", window, PACE).on_timeline(" while settling");
    let mut probe = SettleProbe {
        deployment: DeploymentProbe { client, addr },
    };
    let r = health::settle(rec, &w, &mut probe, &mut watch, |seen| match &seen.read.0 {
        None => Hold::Lost("the deployment disappeared while it was settling".into()),
        Some((_, obs)) => match judge::settle(obs, job) {
            Settle::Holding => Hold::Holding,
            Settle::Wobbling(s) => Hold::Wobbling(s),
            Settle::Failed(why) => Hold::Lost(why),
        },
    })
    .await?;
    Ok(match r {
        Settled::Held(seen) => Ok(seen.read.0.map(|(d, _)| d).unwrap_or(Value::Null)),
        Settled::Lost { why, .. } => Err(why),
    })
}

/// A savepoint as read.
pub struct SavepointRead(pub Option<Value>);

impl Observed for SavepointRead {
    fn shown(&self) -> String {
        match self.0.as_ref().map(judge::savepoint) {
            Some(SavepointVerdict::Completed { .. }) => "savepoint COMPLETED".into(),
            Some(SavepointVerdict::Failed(_)) => "savepoint FAILED".into(),
            Some(SavepointVerdict::Waiting(s)) => format!("savepoint {s}"),
            None => "savepoint not found".into(),
        }
    }
}

struct SavepointProbe<'a> {
    client: &'a Client<'a>,
    id: &'a str,
}

#[async_trait::async_trait(?Send)]
impl Probe for SavepointProbe<'_> {
    type Obs = SavepointRead;
    async fn probe(&mut self) -> Result<SavepointRead> {
        Ok(SavepointRead(self.client.savepoint(self.id).await?))
    }
}

pub enum SavepointEnd {
    Completed { savepoint: Value },
    Failed(String),
    TimedOut(String),
}

pub async fn savepoint(
    client: &Client<'_>,
    rec: &mut Recorder,
    id: &str,
    timeout: Duration,
) -> Result<SavepointEnd> {
    let w = Wait::new("the savepoint", timeout, PACE).on_timeline("");
    let mut probe = SavepointProbe { client, id };
    let end = wait::until(rec, &w, &mut probe, |read, _| match &read.0 {
        None => Verdict::Failed(format!(
            "savepoint `{id}` in namespace `{}` disappeared while waiting for it",
            client.ns
        )),
        Some(sp) => match judge::savepoint(sp) {
            SavepointVerdict::Completed { .. } => Verdict::Done,
            SavepointVerdict::Failed(why) => Verdict::Failed(why),
            SavepointVerdict::Waiting(_) => Verdict::Pending,
        },
    })
    .await?;
    Ok(match end {
        End::Reached(SavepointRead(sp)) => SavepointEnd::Completed {
            savepoint: sp.unwrap_or(Value::Null),
        },
        End::Failed { why, .. } => SavepointEnd::Failed(why),
        End::TimedOut { last } => SavepointEnd::TimedOut(
            last.and_then(|r| r.0)
                .as_ref()
                .map(judge::savepoint)
                .map(|v| match v {
                    SavepointVerdict::Waiting(s) => s,
                    _ => "unknown".into(),
                })
                .unwrap_or_else(|| "unknown".into()),
        ),
    })
}
