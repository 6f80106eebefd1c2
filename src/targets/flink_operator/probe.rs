//! What the waits read: the resource and its events, on the one waiting mechanism of
//! [`crate::wait`] with the pure decisions of [`super::judge`].

use std::time::Duration;

use super::judge::{self, Expect, Observation};
use crate::error::Result;
use crate::report::Recorder;
use crate::targets::vvp_operator::client::Crs;
use crate::targets::vvp_operator::probe::PACE;
use crate::wait::{self, End, Observed, Probe, Settled, Verdict, Wait};

/// One reading of the resource and its events.
pub struct Read(pub Observation);

impl Observed for Read {
    fn shown(&self) -> String {
        self.0.describe()
    }
}

pub struct Reader<'a>(pub &'a Crs<'a>);

#[async_trait::async_trait(?Send)]
impl Probe for Reader<'_> {
    type Obs = Read;
    async fn probe(&mut self) -> Result<Read> {
        let (cr, events) = self.0.snapshot().await?;
        Ok(Read(Observation::of(cr.as_ref(), &events)))
    }
}

/// Poll until `judge` says done or failed, or `limit` passes.
pub async fn until(
    crs: &Crs<'_>,
    rec: &mut Recorder,
    limit: Duration,
    judge: impl Fn(&Observation) -> Verdict,
) -> Result<End<Observation>> {
    let subject = format!("the {}", crs.obj.kind);
    let w = Wait::new(&subject, limit, PACE).on_timeline("");
    let end = wait::until(rec, &w, &mut Reader(crs), |r, _| judge(&r.0)).await?;
    Ok(match end {
        End::Reached(r) => End::Reached(r.0),
        End::Failed { last, why } => End::Failed { last: last.0, why },
        End::TimedOut { last } => End::TimedOut {
            last: last.map(|r| r.0),
        },
    })
}

/// Watch the reached state for `window`: `Err((why, last))` when it did not hold. `since`
/// says whether the restarts before the state was reached count (a job this run started).
pub async fn settle(
    crs: &Crs<'_>,
    rec: &mut Recorder,
    expect: &Expect,
    reached: &Observation,
    (window, since, allowed): (Duration, crate::health::Since, u64),
) -> Result<std::result::Result<(), (String, Option<Observation>)>> {
    let subject = format!("the {}", crs.obj.kind);
    let w = Wait::new(&subject, window, PACE).on_timeline(" while settling");
    let job = reached.job_id.as_deref();
    let allowance = judge::Allowance {
        since,
        base: reached.restarts_since(expect.since_rv),
        allowed,
    };
    let r = wait::settle(rec, &w, &mut Reader(crs), |r| {
        judge::settle(&r.0, expect, job, allowance)
    })
    .await?;
    Ok(match r {
        Settled::Held(_) => Ok(()),
        Settled::Lost { why, last } => Err((why, last.map(|r| r.0))),
    })
}
