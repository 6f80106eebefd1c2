//! Waiting, once for every target: a probe reads the platform, a pure judge says whether the
//! wait is over, and the loop here adds the clock, the backoff, the bound on each read and the
//! progress lines (kube-rs's `await_condition` is the model; the judge never does I/O, so every
//! target's decisions are tested on fixtures).
//!
//! Two shapes: [`until`] waits for a state (reached, failed or timed out), and [`settle`] watches
//! a state for a fixed window (held, or lost and why). Both poll on [`Backoff`]: often at first,
//! when a fast transition should be seen quickly, never more than 2 s apart while reads succeed
//! (each pause [`spread`] up to a fifth longer, so that many waits do not poll in step),
//! further apart after errors, and never past the wait's own end.

use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::report::Recorder;

/// What the judge says about one observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The wanted state is reached.
    Done,
    /// It will not be reached; the text says why (for the headline error).
    Failed(String),
    /// Not yet.
    Pending,
}

/// What the judge says about one observation during a settle window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Still in the wanted state.
    Holding,
    /// Briefly elsewhere (e.g. a transition the platform reports while it stays up); the window
    /// fails only when this is still so at its end. The text names the state.
    Wobbling(String),
    /// Lost for good; the text says why.
    Lost(String),
}

/// An observation the loop can show: a line is logged whenever `shown` changes.
pub trait Observed {
    fn shown(&self) -> String;
    /// A pace the platform asked for (e.g. `Retry-After` of a long-running operation).
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// Reads the platform once per poll.
#[async_trait::async_trait(?Send)]
pub trait Probe {
    type Obs: Observed;
    async fn probe(&mut self) -> Result<Self::Obs>;
}

/// A probe made of a closure: each call reads once. For a read that needs no state of its own
/// between polls.
pub struct Poll<'a, O, F> {
    read: F,
    _obs: std::marker::PhantomData<&'a O>,
}

/// A [`Poll`] probe: `wait::poll(move || Box::pin(async move { ... }))`.
pub fn poll<'a, O, F>(read: F) -> Poll<'a, O, F>
where
    F: FnMut() -> futures::future::LocalBoxFuture<'a, Result<O>>,
{
    Poll {
        read,
        _obs: std::marker::PhantomData,
    }
}

#[async_trait::async_trait(?Send)]
impl<'a, O, F> Probe for Poll<'a, O, F>
where
    O: Observed + 'a,
    F: FnMut() -> futures::future::LocalBoxFuture<'a, Result<O>>,
{
    type Obs = O;
    async fn probe(&mut self) -> Result<O> {
        (self.read)().await
    }
}

/// The one polling pace: quick at first, so a fast transition is seen within a fraction of a
/// second, at most 500 ms apart in the first minute, 1 s until the third, then 2 s; after failed
/// reads further apart (up to 10 s). A platform that must not be read that often declares a
/// floor (Resource Manager's read quota, Ververica Platform's API server).
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub floor: Duration,
}

impl Backoff {
    pub const fn with_floor(floor: Duration) -> Backoff {
        Backoff { floor }
    }

    /// How long to sleep before poll number `polls` (0 for the second read), `elapsed` into
    /// the wait, after `consecutive_errors` failed reads.
    pub fn delay(&self, polls: u32, elapsed: Duration, consecutive_errors: u32) -> Duration {
        let ceiling = if elapsed < Duration::from_secs(60) {
            Duration::from_millis(500)
        } else if elapsed < Duration::from_secs(180) {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(2)
        };
        let ramp = Duration::from_millis((100.0 * 1.5f64.powi(polls.min(10) as i32)) as u64);
        let base = ramp.min(ceiling).max(self.floor);
        if consecutive_errors == 0 {
            return base;
        }
        base.saturating_mul(2u32.saturating_pow(consecutive_errors.min(5)))
            .min(Duration::from_secs(10).max(self.floor))
    }
}

/// A pause made up to a fifth longer at random: waits that began together (the deployments of
/// a set) drift apart instead of reading the platform in step. Never shorter, so a platform's
/// floor holds.
pub fn spread(d: Duration) -> Duration {
    d + d.mul_f64(fastrand::f64() * 0.2)
}

/// How a wait ended.
#[derive(Debug)]
pub enum End<O> {
    Reached(O),
    Failed { last: O, why: String },
    TimedOut { last: Option<O> },
}

/// What a wait is about, for its log lines.
pub struct Wait<'a> {
    /// What a failed read could not read, e.g. "the deployment".
    pub subject: &'a str,
    /// How long the wait may take.
    pub limit: Duration,
    /// How often to read.
    pub pace: Backoff,
    /// Add each new state to the summary's timeline (with this suffix).
    pub timeline: Option<&'a str>,
}

impl<'a> Wait<'a> {
    pub fn new(subject: &'a str, limit: Duration, pace: Backoff) -> Self {
        Wait {
            subject,
            limit,
            pace,
            timeline: None,
        }
    }

    /// Add each new state to the timeline, followed by `suffix`.
    pub fn on_timeline(mut self, suffix: &'a str) -> Self {
        self.timeline = Some(suffix);
        self
    }
}

/// Errors that polling again will not cure.
fn fatal(e: &Error) -> bool {
    matches!(e.kind, ErrorKind::Input | ErrorKind::Canceled)
}

pub fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// One read, cut short when the wait's own time is up: a hung request must not hold the run
/// past its timeout.
pub async fn bounded<T>(
    remaining: Duration,
    read: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let limit = remaining.max(Duration::from_secs(1));
    match tokio::time::timeout(limit, read).await {
        Ok(r) => r,
        Err(_) => Err(Error::network(format!("no answer within {}", secs(limit)))),
    }
}

/// Remembers what was last shown, so only changes are logged.
struct Shown {
    start: Instant,
    last: Option<String>,
}

impl Shown {
    fn new() -> Self {
        Shown {
            start: Instant::now(),
            last: None,
        }
    }

    fn state(&mut self, rec: &mut Recorder, w: &Wait<'_>, shown: String) {
        if self.last.as_deref() == Some(shown.as_str()) {
            return;
        }
        rec.log(&format!("{:>7}  {shown}", secs(self.start.elapsed())));
        if let Some(suffix) = w.timeline {
            rec.timeline(&format!("status {shown}{suffix}"));
        }
        self.last = Some(shown);
    }

    fn read_failed(&self, rec: &mut Recorder, w: &Wait<'_>, e: &Error) {
        rec.log(&format!(
            "{:>7}  could not read {} ({}); trying again",
            secs(self.start.elapsed()),
            w.subject,
            e.message
        ));
    }
}

/// Poll until the judge says done or failed, or `w.limit` passes. The judge also gets the time
/// elapsed, for decisions that depend on it (a platform that never reacts to a change).
pub async fn until<P: Probe>(
    rec: &mut Recorder,
    w: &Wait<'_>,
    probe: &mut P,
    mut judge: impl FnMut(&P::Obs, Duration) -> Verdict,
) -> Result<End<P::Obs>> {
    let mut shown = Shown::new();
    let start = shown.start;
    let mut last: Option<P::Obs> = None;
    let mut errors = 0u32;
    let mut polls = 0u32;
    loop {
        let remaining = w.limit.saturating_sub(start.elapsed());
        let mut pace = None;
        match bounded(remaining, probe.probe()).await {
            Ok(obs) => {
                errors = 0;
                shown.state(rec, w, obs.shown());
                pace = obs.retry_after();
                match judge(&obs, start.elapsed()) {
                    Verdict::Done => return Ok(End::Reached(obs)),
                    Verdict::Failed(why) => return Ok(End::Failed { last: obs, why }),
                    Verdict::Pending => last = Some(obs),
                }
            }
            Err(e) if fatal(&e) => return Err(e),
            Err(e) => {
                errors += 1;
                shown.read_failed(rec, w, &e);
            }
        }
        let elapsed = start.elapsed();
        if elapsed >= w.limit {
            return Ok(End::TimedOut { last });
        }
        // A platform's own pace wins, within reason: never a busy loop, never past the end.
        let delay = match pace {
            Some(ra) => ra.max(w.pace.floor).max(Duration::from_millis(100)),
            None => w.pace.delay(polls, elapsed, errors),
        }
        .min(w.limit - elapsed);
        polls += 1;
        tokio::time::sleep(spread(delay).min(w.limit - elapsed)).await;
    }
}

/// How a settle window ended.
#[derive(Debug)]
pub enum Settled<O> {
    /// The state held to the end; the last good observation.
    Held(O),
    /// It did not; the observation that showed it (if one did) and why.
    Lost { last: Option<O>, why: String },
}

/// Watch for `w.limit` whether the state holds.
pub async fn settle<P: Probe>(
    rec: &mut Recorder,
    w: &Wait<'_>,
    probe: &mut P,
    mut judge: impl FnMut(&P::Obs) -> Hold,
) -> Result<Settled<P::Obs>> {
    let mut shown = Shown::new();
    let start = shown.start;
    let mut errors = 0u32;
    let mut hold = Hold::Holding;
    let mut last_good: Option<P::Obs> = None;
    let mut polls = 0u32;
    loop {
        let remaining = w.limit.saturating_sub(start.elapsed());
        if remaining.is_zero() {
            break;
        }
        let delay = spread(w.pace.delay(polls, start.elapsed(), errors));
        polls += 1;
        tokio::time::sleep(delay.min(remaining)).await;
        let left = w.limit.saturating_sub(start.elapsed());
        match bounded(left, probe.probe()).await {
            Ok(obs) => {
                errors = 0;
                shown.state(rec, w, obs.shown());
                hold = judge(&obs);
                match &hold {
                    Hold::Lost(why) => {
                        return Ok(Settled::Lost {
                            why: why.clone(),
                            last: Some(obs),
                        })
                    }
                    Hold::Holding => last_good = Some(obs),
                    Hold::Wobbling(_) => {}
                }
            }
            Err(e) if fatal(&e) => return Err(e),
            Err(e) => {
                errors += 1;
                shown.read_failed(rec, w, &e);
            }
        }
    }
    Ok(match (hold, last_good) {
        (Hold::Holding, Some(o)) => Settled::Held(o),
        (Hold::Wobbling(s), _) => Settled::Lost {
            last: None,
            why: format!("it was {s} at the end of the settle window instead of RUNNING"),
        },
        // Every read failed: nothing says it stayed up.
        _ => Settled::Lost {
            last: None,
            why: "its state could not be read during the settle window".into(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_at_most_two_seconds_apart_unless_erroring() {
        let vvp = Backoff::with_floor(Duration::from_millis(500));
        for s in [0, 30, 61, 179, 181, 3600] {
            let d = vvp.delay(3, Duration::from_secs(s), 0);
            assert!(
                d <= Duration::from_secs(2) && d >= Duration::from_millis(500),
                "{d:?}"
            );
        }
        assert!(vvp.delay(0, Duration::ZERO, 1) > vvp.delay(0, Duration::ZERO, 0));
        assert_eq!(
            vvp.delay(9, Duration::from_secs(600), 20),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn without_a_floor_the_first_polls_come_quickly() {
        let quick = Backoff::with_floor(Duration::ZERO);
        assert_eq!(quick.delay(0, Duration::ZERO, 0).as_millis(), 100);
        assert!(quick.delay(3, Duration::ZERO, 0) > quick.delay(1, Duration::ZERO, 0));
        assert_eq!(quick.delay(50, Duration::ZERO, 0).as_millis(), 500);
    }

    #[test]
    fn a_spread_pause_is_never_shorter_and_at_most_a_fifth_longer() {
        let d = Duration::from_millis(500);
        let seen: Vec<Duration> = (0..200).map(|_| spread(d)).collect();
        assert!(seen.iter().all(|s| *s >= d && *s <= d.mul_f64(1.2)));
        assert!(seen.iter().any(|s| *s != seen[0]), "the pauses differ");
    }

    #[test]
    fn a_floor_holds_even_when_reads_fail() {
        let arm = Backoff::with_floor(Duration::from_secs(15));
        assert_eq!(arm.delay(0, Duration::ZERO, 0), Duration::from_secs(15));
        assert_eq!(arm.delay(0, Duration::ZERO, 3), Duration::from_secs(15));
    }
}
