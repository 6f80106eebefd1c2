//! The health gate, stated once for every target: RUNNING only says the tasks were deployed, so
//! during the settle window the run also asks that the job did not restart more often than
//! `healthMaxRestarts` since it started, and (with `healthCheckpoints` > 0) that it completed
//! that many checkpoints since it started.
//!
//! A platform tells what it can: each target declares in its [`Registration`] what its API
//! counts ([`Support`]); a gate the platform cannot check is refused as bad input, with the
//! reason, before anything changes. The target's probe turns what it read into [`Vitals`]; the
//! pure [`Watch`] decides; [`settle`] joins it to the target's own judge on the one settle loop
//! of [`crate::wait`]. A failure of the gate is a failure of the change like a job that fell
//! over: the error names it, and it is rolled back by the rules of [`crate::rollback`].
//!
//! [`Registration`]: crate::targets::Registration

use crate::config::RawInputs;
use crate::error::{Error, Result};
use crate::pipeline::inputs as i;
use crate::report::Recorder;
use crate::wait::{self, Hold, Probe, Settled, Wait};

/// What the user asked of a started job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gate {
    /// Completed checkpoints required within the settle window; 0: not checked.
    pub checkpoints: u32,
    /// Restarts allowed since the job started.
    pub max_restarts: u32,
}

/// Whether a platform's API counts a signal, and where (or why not), for errors and the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Counted; the text names the field or endpoint.
    Counted(&'static str),
    /// Not exposed; the text says why, for the error that refuses the gate.
    Unseen(&'static str),
}

/// What a target's platform can tell about a started job's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Support {
    pub restarts: Signal,
    pub checkpoints: Signal,
}

impl Gate {
    pub fn from_raw(raw: &RawInputs) -> Result<Gate> {
        Ok(Gate {
            checkpoints: raw.number(i::HEALTH_CHECKPOINTS, 0, 100)?.unwrap_or(0) as u32,
            max_restarts: raw.number(i::HEALTH_MAX_RESTARTS, 0, 10)?.unwrap_or(0) as u32,
        })
    }

    /// Refuse what the settle window or the target cannot check, naming the input and why.
    pub fn check(&self, target: &str, support: Support, settle_secs: u64) -> Result<()> {
        if self.checkpoints == 0 {
            return Ok(());
        }
        if let Signal::Unseen(why) = support.checkpoints {
            return Err(Error::input(
                i::HEALTH_CHECKPOINTS,
                format!("cannot be checked on target `{target}`: {why}"),
            )
            .with_hint(format!(
                "set {} to 0 for this target; {} still fails a job that leaves RUNNING within {}",
                i::HEALTH_CHECKPOINTS,
                i::SETTLE_SECONDS,
                i::SETTLE_SECONDS
            )));
        }
        if settle_secs == 0 {
            return Err(Error::input(
                i::HEALTH_CHECKPOINTS,
                format!(
                    "asks for {} checkpoint(s) within {}, which is 0",
                    self.checkpoints,
                    i::SETTLE_SECONDS
                ),
            )
            .with_hint(format!(
                "give {} a few checkpoint intervals, or set {} to 0",
                i::SETTLE_SECONDS,
                i::HEALTH_CHECKPOINTS
            )));
        }
        Ok(())
    }

    /// The plan's words for the gate, e.g. "no restart, 2 completed checkpoints".
    pub fn describe(&self, support: Support) -> String {
        let restarts = match (support.restarts, self.max_restarts) {
            (Signal::Unseen(_), _) => "restarts not counted by the platform".to_owned(),
            (_, 0) => "no restart".to_owned(),
            (_, n) => format!("at most {n} restart(s)"),
        };
        match self.checkpoints {
            0 => restarts,
            n => format!("{restarts}, {n} completed checkpoint(s)"),
        }
    }
}

/// Checkpoint statistics as a platform reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoints {
    pub completed: u64,
    pub failed: u64,
    /// Why the newest failed checkpoint failed.
    pub last_failure: Option<String>,
}

/// One reading of a job's health counters; `None` where this reading did not tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vitals {
    pub restarts: Option<u64>,
    pub checkpoints: Option<Checkpoints>,
}

/// What an observation of a settle window says about the job's health.
pub trait Vital {
    fn vitals(&self) -> Vitals;
}

/// Where the counts start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// The run started this job: the platform's counters are since its start.
    Started,
    /// The job ran before the run: count from the run's first reading.
    FirstReading,
}

/// The pure decision over a settle window's readings.
#[derive(Clone, Debug)]
pub struct Watch {
    gate: Gate,
    base: Option<Vitals>,
    last: Vitals,
}

fn since(now: u64, base: Option<u64>) -> u64 {
    now.saturating_sub(base.unwrap_or(0))
}

impl Watch {
    pub fn new(gate: Gate, from: Since) -> Watch {
        let base = match from {
            Since::Started => Some(Vitals {
                restarts: Some(0),
                checkpoints: Some(Checkpoints::default()),
            }),
            Since::FirstReading => None,
        };
        Watch {
            gate,
            base,
            last: Vitals::default(),
        }
    }

    fn restarts(&self) -> Option<u64> {
        let base = self.base.as_ref().and_then(|b| b.restarts);
        Some(since(self.last.restarts?, base))
    }

    fn checkpoints(&self) -> Option<(u64, u64)> {
        let now = self.last.checkpoints.as_ref()?;
        let base = self.base.as_ref().and_then(|b| b.checkpoints.as_ref());
        Some((
            since(now.completed, base.map(|b| b.completed)),
            since(now.failed, base.map(|b| b.failed)),
        ))
    }

    /// One reading: lost once the job restarted more often than allowed.
    pub fn observe(&mut self, v: &Vitals) -> Hold {
        let base = self.base.get_or_insert_with(Vitals::default);
        // Counted from the first reading that tells (a job that ran before the run).
        if base.restarts.is_none() {
            base.restarts = v.restarts;
        }
        if base.checkpoints.is_none() {
            base.checkpoints = v.checkpoints.clone();
        }
        // A counter that went back belongs to another JobManager (a fail-over): its counts
        // start again from there, so only what it counted since is new.
        if let (Some(b), Some(n)) = (base.restarts, v.restarts) {
            if n < b {
                base.restarts = Some(0);
            }
        }
        if let (Some(b), Some(n)) = (&mut base.checkpoints, &v.checkpoints) {
            if n.completed < b.completed || n.failed < b.failed {
                *b = Checkpoints::default();
            }
        }
        if v.restarts.is_some() {
            self.last.restarts = v.restarts;
        }
        if v.checkpoints.is_some() {
            self.last.checkpoints = v.checkpoints.clone();
        }
        match self.restarts() {
            Some(n) if n > u64::from(self.gate.max_restarts) => Hold::Lost(format!(
                "the job restarted {n} time{} since it started{}",
                if n == 1 { "" } else { "s" },
                match self.gate.max_restarts {
                    0 => String::new(),
                    m => format!(" ({} allows {m})", i::HEALTH_MAX_RESTARTS),
                }
            )),
            _ => Hold::Holding,
        }
    }

    /// At the end of the window: were enough checkpoints completed? `Ok` says what was seen.
    pub fn conclude(&self, window_secs: u64) -> std::result::Result<String, String> {
        let restarts = match self.restarts() {
            Some(n) => format!("{n} restart(s)"),
            None => "restarts not counted".to_owned(),
        };
        let want = u64::from(self.gate.checkpoints);
        let Some((done, failed)) = self.checkpoints() else {
            if want == 0 {
                return Ok(restarts);
            }
            return Err(format!(
                "the checkpoint statistics could not be read within {} ({window_secs}s), so {want} completed checkpoint(s) could not be confirmed",
                i::SETTLE_SECONDS
            ));
        };
        let seen = format!(
            "{restarts}, {done} checkpoint(s) completed and {failed} failed since the job started"
        );
        if done >= want {
            return Ok(seen);
        }
        let failures = match (failed, &self.last.checkpoints) {
            (0, _) => String::new(),
            (
                f,
                Some(Checkpoints {
                    last_failure: Some(m),
                    ..
                }),
            ) => format!(" ({f} failed: {m})"),
            (f, _) => format!(" ({f} failed)"),
        };
        Err(match done {
            0 => format!(
                "no checkpoint completed within {} ({window_secs}s){failures}",
                i::SETTLE_SECONDS
            ),
            _ => format!(
                "only {done} of {want} checkpoints completed within {} ({window_secs}s){failures}",
                i::SETTLE_SECONDS
            ),
        })
    }
}

/// [`wait::settle`] with the gate: the target's `judge` says whether the state holds, the
/// [`Watch`] whether the job stays healthy; at the end of the window the checkpoints are
/// counted. The log says what the gate saw.
pub async fn settle<P>(
    rec: &mut Recorder,
    w: &Wait<'_>,
    probe: &mut P,
    watch: &mut Watch,
    mut judge: impl FnMut(&P::Obs) -> Hold,
) -> Result<Settled<P::Obs>>
where
    P: Probe,
    P::Obs: Vital,
{
    let held = wait::settle(rec, w, probe, |obs| match watch.observe(&obs.vitals()) {
        Hold::Holding => judge(obs),
        lost => lost,
    })
    .await?;
    Ok(match held {
        Settled::Held(obs) => match watch.conclude(w.limit.as_secs()) {
            Ok(seen) => {
                rec.log(&format!("health: {seen}"));
                Settled::Held(obs)
            }
            Err(why) => Settled::Lost {
                last: Some(obs),
                why,
            },
        },
        lost => lost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cps(completed: u64, failed: u64, msg: Option<&str>) -> Option<Checkpoints> {
        Some(Checkpoints {
            completed,
            failed,
            last_failure: msg.map(str::to_owned),
        })
    }

    fn reading(restarts: u64, c: Option<Checkpoints>) -> Vitals {
        Vitals {
            restarts: Some(restarts),
            checkpoints: c,
        }
    }

    const GATE: Gate = Gate {
        checkpoints: 2,
        max_restarts: 0,
    };

    #[test]
    fn a_restart_of_a_job_the_run_started_fails_the_gate_even_at_the_first_reading() {
        let mut w = Watch::new(GATE, Since::Started);
        match w.observe(&reading(2, None)) {
            Hold::Lost(why) => assert_eq!(why, "the job restarted 2 times since it started"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn restarts_within_the_allowance_hold_and_one_more_does_not() {
        let gate = Gate {
            checkpoints: 0,
            max_restarts: 1,
        };
        let mut w = Watch::new(gate, Since::Started);
        assert_eq!(w.observe(&reading(1, None)), Hold::Holding);
        match w.observe(&reading(2, None)) {
            Hold::Lost(why) => assert!(
                why.contains("2 times") && why.contains("healthMaxRestarts allows 1"),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_job_that_ran_before_the_run_is_counted_from_the_first_reading() {
        let mut w = Watch::new(GATE, Since::FirstReading);
        assert_eq!(w.observe(&reading(5, cps(40, 3, None))), Hold::Holding);
        assert_eq!(w.observe(&reading(5, cps(41, 3, None))), Hold::Holding);
        assert!(w.conclude(30).unwrap_err().contains("only 1 of 2"));
        assert!(matches!(w.observe(&reading(6, None)), Hold::Lost(_)));
    }

    #[test]
    fn no_completed_checkpoint_names_the_failures_and_the_newest_reason() {
        let mut w = Watch::new(GATE, Since::Started);
        w.observe(&reading(
            0,
            cps(0, 3, Some("Checkpoint expired before completing.")),
        ));
        assert_eq!(
            w.conclude(10).unwrap_err(),
            "no checkpoint completed within settleSeconds (10s) (3 failed: Checkpoint expired before completing.)"
        );
    }

    #[test]
    fn enough_checkpoints_pass_and_the_log_says_what_was_seen() {
        let mut w = Watch::new(GATE, Since::Started);
        w.observe(&reading(0, cps(1, 0, None)));
        // A reading without statistics (a cached answer missing) keeps the last ones.
        w.observe(&reading(0, None));
        assert!(w.conclude(10).is_err());
        w.observe(&reading(0, cps(2, 1, Some("declined"))));
        assert_eq!(
            w.conclude(10).unwrap(),
            "0 restart(s), 2 checkpoint(s) completed and 1 failed since the job started"
        );
    }

    #[test]
    fn statistics_never_read_cannot_confirm_checkpoints_but_do_not_matter_when_none_are_asked() {
        let w = Watch::new(GATE, Since::Started);
        assert!(w.conclude(10).unwrap_err().contains("could not be read"));
        let off = Watch::new(Gate::default(), Since::Started);
        assert_eq!(off.conclude(10).unwrap(), "restarts not counted");
    }

    #[test]
    fn counters_that_go_back_after_a_jobmanager_fail_over_count_again_from_zero() {
        let mut w = Watch::new(GATE, Since::FirstReading);
        w.observe(&reading(3, cps(10, 0, None)));
        assert_eq!(w.observe(&reading(0, cps(1, 0, None))), Hold::Holding);
        assert!(w.conclude(10).unwrap_err().contains("only 1 of 2"));
        assert!(matches!(w.observe(&reading(1, None)), Hold::Lost(_)));
    }

    #[test]
    fn a_checkpoint_gate_is_refused_where_the_platform_does_not_count_checkpoints() {
        let vvp = Support {
            restarts: Signal::Counted("observedFlinkJobRestarts"),
            checkpoints: Signal::Unseen("its API has no checkpoint statistics"),
        };
        let e = GATE.check("ververica", vvp, 30).unwrap_err();
        assert!(
            e.message.contains("healthCheckpoints")
                && e.message.contains("no checkpoint statistics"),
            "{}",
            e.message
        );
        assert!(Gate::default().check("ververica", vvp, 30).is_ok());
        let flink = Support {
            restarts: Signal::Counted("x"),
            checkpoints: Signal::Counted("y"),
        };
        assert!(GATE.check("flink", flink, 30).is_ok());
        let e = GATE.check("flink", flink, 0).unwrap_err();
        assert!(e.message.contains("settleSeconds"), "{}", e.message);
    }
}
