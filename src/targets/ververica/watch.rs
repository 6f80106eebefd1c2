//! The polling loops: the clock, the timeout and the log lines around the pure decisions of
//! `wait.rs`.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::Client;
use super::wait::{self, Expect, Observation, SavepointVerdict, Settle, Verdict};
use crate::config::DeploymentRef;
use crate::error::{Error, ErrorKind, Result};
use crate::report::Recorder;

pub enum WaitEnd {
    Reached {
        deployment: Value,
        obs: Observation,
        /// Set when the expected new job never showed and the old one was taken as the answer.
        note: Option<String>,
    },
    Failed {
        deployment: Value,
        obs: Observation,
        why: String,
    },
    TimedOut {
        last: Option<Observation>,
    },
}

/// One poll, cut short when the wait's own time is up: a hung request must not hold the run
/// past its timeout.
async fn bounded<T>(
    remaining: Duration,
    poll: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(remaining.max(Duration::from_secs(1)), poll).await {
        Ok(r) => r,
        Err(_) => Err(Error::network(format!(
            "no answer within {}",
            secs(remaining.max(Duration::from_secs(1)))
        ))),
    }
}

/// Errors that polling again will not cure.
fn fatal(e: &Error) -> bool {
    e.kind == ErrorKind::Input
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Poll the deployment until `decide` says reached or failed, or `timeout` passes.
pub async fn until(
    client: &Client<'_>,
    rec: &mut Recorder,
    addr: &DeploymentRef,
    mut expect: Expect,
    timeout: Duration,
) -> Result<WaitEnd> {
    let start = Instant::now();
    let grace = wait::baseline_grace(timeout);
    let mut last: Option<Observation> = None;
    let mut errors = 0u32;
    let mut note = None;
    loop {
        let remaining = timeout.saturating_sub(start.elapsed());
        match bounded(remaining, client.get_deployment(addr)).await {
            Ok(Some(d)) => {
                errors = 0;
                let obs = Observation::of(&d);
                if last.as_ref() != Some(&obs) {
                    rec.log(&format!("{:>7}  {}", secs(start.elapsed()), obs.describe()));
                    rec.timeline(&format!("status {}", obs.describe()));
                }
                if let Some(b) = &expect.baseline {
                    if !obs.same_as(b) {
                        expect.baseline = None;
                    } else if start.elapsed() >= grace {
                        note = Some(format!(
                            "Ververica Platform showed no reaction to the change within {}; taking {} as its answer",
                            secs(grace),
                            obs.describe()
                        ));
                        expect.baseline = None;
                    }
                }
                match wait::decide(&obs, &expect) {
                    Verdict::Reached => {
                        return Ok(WaitEnd::Reached {
                            deployment: d,
                            obs,
                            note,
                        })
                    }
                    Verdict::Failed(why) => {
                        return Ok(WaitEnd::Failed {
                            deployment: d,
                            obs,
                            why,
                        })
                    }
                    Verdict::Waiting(_) => {}
                }
                last = Some(obs);
            }
            Ok(None) => {
                return Err(Error::platform(format!(
                    "deployment {addr} in namespace `{}` disappeared while waiting for {}",
                    client.ns, expect.target
                ))
                .with_hint("someone deleted it during the run"))
            }
            Err(e) if fatal(&e) => return Err(e),
            Err(e) => {
                errors += 1;
                rec.log(&format!(
                    "{:>7}  could not read the deployment ({}); trying again",
                    secs(start.elapsed()),
                    e.message
                ));
            }
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Ok(WaitEnd::TimedOut { last });
        }
        let delay = wait::poll_delay(elapsed, errors).min(timeout - elapsed);
        tokio::time::sleep(delay).await;
    }
}

/// Watch a RUNNING deployment for `window`: `Ok(Err(why))` when it did not stay up.
pub async fn settle(
    client: &Client<'_>,
    rec: &mut Recorder,
    addr: &DeploymentRef,
    job: Option<&str>,
    window: Duration,
) -> Result<std::result::Result<Value, String>> {
    let start = Instant::now();
    let mut last_state = Some("RUNNING".to_owned());
    let mut last_good: Option<Value> = None;
    let mut errors = 0u32;
    let mut verdict = Settle::Holding;
    loop {
        let elapsed = start.elapsed();
        let remaining = window.saturating_sub(elapsed);
        if remaining.is_zero() {
            break;
        }
        // Within the window the loop keeps the ≤ 2 s cadence of the main wait.
        tokio::time::sleep(wait::poll_delay(elapsed, errors).min(remaining)).await;
        let left = window.saturating_sub(start.elapsed());
        match bounded(left, client.get_deployment(addr)).await {
            Ok(Some(d)) => {
                errors = 0;
                let obs = Observation::of(&d);
                if last_state.as_deref() != Some(obs.state.as_str()) {
                    rec.log(&format!(
                        "{:>7}  {} (settling)",
                        secs(start.elapsed()),
                        obs.describe()
                    ));
                    rec.timeline(&format!("status {} while settling", obs.describe()));
                    last_state = Some(obs.state.clone());
                }
                verdict = wait::settle(&obs, job);
                match &verdict {
                    Settle::Failed(why) => return Ok(Err(why.clone())),
                    Settle::Holding => last_good = Some(d),
                    Settle::Wobbling(_) => {}
                }
            }
            Ok(None) => {
                return Ok(Err(
                    "the deployment disappeared while it was settling".into()
                ))
            }
            Err(e) if fatal(&e) => return Err(e),
            Err(e) => {
                errors += 1;
                rec.log(&format!(
                    "{:>7}  could not read the deployment ({}); trying again",
                    secs(start.elapsed()),
                    e.message
                ));
            }
        }
    }
    match (verdict, last_good) {
        (Settle::Holding, Some(d)) => Ok(Ok(d)),
        (Settle::Wobbling(s), _) => Ok(Err(format!(
            "it was {s} at the end of the settle window instead of RUNNING"
        ))),
        // Every poll failed: nothing says it stayed up.
        _ => Ok(Err(
            "its state could not be read during the settle window".into()
        )),
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
    let start = Instant::now();
    let mut last = String::new();
    let mut errors = 0u32;
    loop {
        let remaining = timeout.saturating_sub(start.elapsed());
        match bounded(remaining, client.savepoint(id)).await {
            Ok(Some(sp)) => {
                errors = 0;
                let v = wait::savepoint(&sp);
                let state = match &v {
                    SavepointVerdict::Completed { .. } => "COMPLETED".to_owned(),
                    SavepointVerdict::Failed(_) => "FAILED".to_owned(),
                    SavepointVerdict::Waiting(s) => s.clone(),
                };
                if state != last {
                    rec.log(&format!("{:>7}  savepoint {state}", secs(start.elapsed())));
                    rec.timeline(&format!("savepoint {state}"));
                    last = state;
                }
                match v {
                    SavepointVerdict::Completed { .. } => {
                        return Ok(SavepointEnd::Completed { savepoint: sp })
                    }
                    SavepointVerdict::Failed(why) => return Ok(SavepointEnd::Failed(why)),
                    SavepointVerdict::Waiting(_) => {}
                }
            }
            Ok(None) => {
                return Err(Error::platform(format!(
                    "savepoint `{id}` in namespace `{}` disappeared while waiting for it",
                    client.ns
                )))
            }
            Err(e) if fatal(&e) => return Err(e),
            Err(e) => {
                errors += 1;
                rec.log(&format!(
                    "{:>7}  could not read the savepoint ({}); trying again",
                    secs(start.elapsed()),
                    e.message
                ));
            }
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Ok(SavepointEnd::TimedOut(if last.is_empty() {
                "unknown".into()
            } else {
                last
            }));
        }
        tokio::time::sleep(wait::poll_delay(elapsed, errors).min(timeout - elapsed)).await;
    }
}
