//! What the waits read: the resource and its events, on the one waiting mechanism of
//! [`crate::wait`] with the pure decisions of [`super::judge`].

use std::time::Duration;

use serde_json::Value;

use super::client::Crs;
use super::judge::{self, Expect, Observation};
use super::resource::Generation;
use crate::error::Result;
use crate::report::Recorder;
use crate::wait::{self, Backoff, End, Observed, Probe, Settled, Wait};

/// The API server answers reads in milliseconds; the operator acts within a second or two.
pub const PACE: Backoff = Backoff::with_floor(Duration::from_millis(200));

/// One reading: the resource (if it exists) and its events.
pub struct Read {
    pub cr: Option<Value>,
    pub obs: Observation,
    generation: Generation,
}

impl Observed for Read {
    fn shown(&self) -> String {
        self.obs.describe(self.generation)
    }
}

pub struct CrProbe<'a> {
    pub crs: &'a Crs<'a>,
    pub generation: Generation,
}

#[async_trait::async_trait(?Send)]
impl Probe for CrProbe<'_> {
    type Obs = Read;
    async fn probe(&mut self) -> Result<Read> {
        let (cr, events) = self.crs.snapshot().await?;
        Ok(Read {
            obs: Observation::of(cr.as_ref(), &events),
            cr,
            generation: self.generation,
        })
    }
}

pub enum WaitEnd {
    Reached(Observation),
    Failed { obs: Observation, why: String },
    TimedOut { last: Option<Observation> },
}

impl CrProbe<'_> {
    /// Poll until the judge says reached or failed, or `timeout` passes.
    pub async fn until(
        mut self,
        rec: &mut Recorder,
        expect: &Expect,
        timeout: Duration,
    ) -> Result<WaitEnd> {
        let w = Wait::new("the VvpDeployment", timeout, PACE).on_timeline("");
        let end = wait::until(rec, &w, &mut self, |read, _| {
            judge::decide(&read.obs, expect)
        })
        .await?;
        Ok(match end {
            End::Reached(r) => WaitEnd::Reached(r.obs),
            End::Failed { last, why } => WaitEnd::Failed { obs: last.obs, why },
            End::TimedOut { last } => WaitEnd::TimedOut {
                last: last.map(|r| r.obs),
            },
        })
    }
}

/// Watch the reached state for `window`: `Err((why, last))` when it did not hold.
pub async fn settle(
    crs: &Crs<'_>,
    rec: &mut Recorder,
    generation: Generation,
    job: Option<&str>,
    window: Duration,
) -> Result<std::result::Result<(), (String, Option<Observation>)>> {
    let w = Wait::new("the VvpDeployment", window, PACE).on_timeline(" while settling");
    let mut probe = CrProbe { crs, generation };
    let r = wait::settle(rec, &w, &mut probe, |read| {
        judge::settle(&read.obs, generation, job)
    })
    .await?;
    Ok(match r {
        Settled::Held(_) => Ok(()),
        Settled::Lost { why, last } => Err((why, last.map(|r| r.obs))),
    })
}
